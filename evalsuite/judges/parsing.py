"""Reading verdicts and scores out of a generative judge's free text. Never guesses.

The upstream scripts (github CodeGoat24/UnifiedReward @ff6f520, ``benchmark_evaluation/``
and ``UnifiedReward-Think/benchmark_evaluation/``) test substrings, case-sensitively:
``answer in output`` (GenAI-Bench image, VL-RewardBench, every Think and vLLM script: an
answer holding both phrases counts as right whatever the label) or ``if 'Video 1 is better'
in output ... elif ... else 'same'`` (video scripts: no phrase is read as a tie). Both read
sides an answer does not mean ("Image 2 is better. Image 1 is better only in colour."), so
here a verdict is what the answer *concludes*:

1. Think families read the last ``<answer>...</answer>`` block; without one, the text after
   ``</think>``; an unclosed ``<think>`` (a cut-off answer) is unparsed.
2. The text is split into sentences at ``.!?;`` and at line breaks (a conclusion on its own
   line without punctuation is a sentence), then normalised (case, full-width punctuation,
   Markdown emphasis, whitespace).
3. Every verdict phrase of the family is located and graded by its context in its sentence:

   * ``conclusion`` - marked as the overall decision: "Overall, ...", "Therefore ...",
     "Final verdict: ...", "... is better overall", "In terms of overall quality, ...";
   * ``plain`` - stated without qualification ("Image 2 is better.", "... because ...");
   * ``exception`` - a verdict with a carve-out ("Image 2 is better except for colour");
   * ``aspect`` - restricted to an aspect or a condition ("... only in colour accuracy",
     "In terms of style, ...", "Alignment: ...", "... is better aligned", "... if ...",
     hedges such as "at first glance");
   * ``mention`` - not asserted: negated ("I don't think ..."), asked ("...?"), quoted
     inside a sentence ("the options are 'Image 1 is better' or ...").

4. The strongest grade present among conclusion / plain / exception decides, when all its
   phrases name one side; sides that disagree at that grade are ``UNPARSED``. Aspect
   verdicts alone (for one side or both) are ``UNPARSED``: an answer that only compares
   aspects has not concluded. A tie is read only where the family's prompt offers one.

Flex answers are JSON; the top-level ``"winner"`` field is the verdict.

Scores (pointwise): ``Final Score: X`` (UnifiedReward v1), the UnifiedReward-2.0 axes
(``Alignment / Coherence|Physics / Style Score (1-5): X``, each axis range-checked), the
2.0 pairwise score blocks, UnifiedReward-Edit's ``"score": [a, b]`` lists and two-image
scores, LLaVA-Critic's "out of 100". A number outside the template's range is ``UNPARSED``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from evalsuite.types import ParseStatus

# Full-width / Chinese punctuation -> ASCII (models trained on mixed data emit both).
_PUNCT = str.maketrans({"，": ",", "。": ".", "！": "!", "？": "?", "：": ":", "；": ";",
                        "（": "(", "）": ")", "“": '"', "”": '"', "‘": "'", "’": "'",
                        "【": "[", "】": "]", "　": " ", "１": "1", "２": "2", "「": '"',
                        "」": '"'})


@dataclass(frozen=True)
class VerdictScheme:
    """The verdict phrases of one prompt family (normalised, lower case)."""

    a: tuple[str, ...]
    b: tuple[str, ...]
    tie: tuple[str, ...] = ()  # empty: the family's prompt offers no tie
    answer_tag: bool = False  # Think: the verdict is inside <answer>...</answer>
    json_winner: str | None = None  # Flex: JSON "winner": "<unit> 1" / "<unit> 2"

    def phrases(self) -> list[tuple[str, str]]:
        return ([(p, "A") for p in self.a] + [(p, "B") for p in self.b]
                + [(p, "tie") for p in self.tie])


def _unit(unit: str, tie: bool, think: bool = False) -> VerdictScheme:
    plural = unit + "s"
    return VerdictScheme((f"{unit} 1 is better",), (f"{unit} 2 is better",),
                         (f"both {plural} are equally good",) if tie else (), think)


# Critic: explicit comparative statements about "the first/second response" (the model
# card's wording); "more <positive quality>" counts, "more <anything else>" does not (it is
# as often criticism: "the second response is more verbose").
_CRITIC_GOOD = ("better", "superior", "preferable", "preferred", "the better one",
                "more accurate", "more helpful", "more correct", "more precise")


def _critic(side: str, n: str) -> tuple[str, ...]:
    out = []
    for noun in ("response", "answer"):
        out += [f"{side} {noun} is {g}" for g in _CRITIC_GOOD]
        out += [f"{noun} {n} is better", f"prefer the {side} {noun}"]
    return tuple(out)


VERDICT_SCHEMES: dict[str, VerdictScheme] = {
    # Qwen GenAI-Bench image: "Image 1 is better." / "Image 2 is better." / "Both images are
    # equally good." (test_qwen_genAI_bench_image.py); LLaVA's "Image 1 is better than
    # Image 2." (test_llava_genAI_bench_image.py) starts with the same phrase.
    "image": _unit("image", tie=True),
    "image-than": _unit("image", tie=True),
    # GenAI-Bench video: 'Video 1 is better,' ... 'Both videos are equally good.'
    "video": _unit("video", tie=True),
    # VL-RewardBench: 'Answer 1 is better' or 'Answer 2 is better.' - no tie offered.
    "answer": _unit("answer", tie=False),
    # UnifiedReward-Think: "exactly one of 'Image 1 is better' or 'Image 2 is better'" in
    # <answer> tags (Qwen2.5-VL and Qwen3-VL scripts alike); no tie offered.
    "image-think": _unit("image", tie=False, think=True),
    "video-think": _unit("video", tie=False, think=True),
    "answer-think": _unit("answer", tie=False, think=True),
    # UnifiedReward-Edit pairwise rank (edit_pairwise_rank.py) states no answer format; its
    # checkpoints answer in the family's image phrase. No tie offered.
    "edit": _unit("image", tie=False),
    # UnifiedReward-Flex: JSON with "winner": "Image 1/2" ("Video 1/2").
    "flex-image": VerdictScheme((), (), json_winner="image"),
    "flex-video": VerdictScheme((), (), json_winner="video"),
    # LLaVA-Critic (model card): free text about "the first/second response"; the prompt
    # asks which answer is better, no tie offered.
    "critic": VerdictScheme(_critic("first", "1"), _critic("second", "2")),
}

LEVELS = ("mention", "aspect", "exception", "plain", "conclusion")  # weakest first


@dataclass(frozen=True)
class Hit:
    side: str
    level: str
    sentence: int


@dataclass(frozen=True)
class Parsed:
    status: ParseStatus
    choice: str | None  # "A" | "B" | "tie" | None
    rule: str  # how it was decided (kept in Verdict.extras for audits)
    hits: tuple[Hit, ...] = field(default=(), compare=False)


def normalize(text: str) -> str:
    t = (text or "").translate(_PUNCT)
    t = re.sub(r"(?m)\*\*|__|^\s*#+\s*", "", t)
    return re.sub(r"\s+", " ", t).strip().lower()


def answer_block(text: str) -> str | None:
    """The content of the last ``<answer>...</answer>`` (Think variants), if any."""
    blocks = re.findall(r"<answer>(.*?)(?:</answer>|$)", text or "", flags=re.S | re.I)
    return blocks[-1] if blocks else None


def sentences(text: str) -> list[str]:
    """Sentences of ``text``, split at ``.!?;`` + space and at line breaks, normalised."""
    out = []
    for line in (text or "").translate(_PUNCT).splitlines():
        for s in re.split(r"(?<=[.!?;])\s+", line):
            s = normalize(s)
            if s:
                out.append(s)
    return out


# --- grading a phrase by its context ------------------------------------------------------

_CONCL_WORDS = (r"overall|conclusion|conclude|summary|summari[sz]e|in sum|in short|in the end|"
                r"ultimately|therefore|thus|hence|consequently|accordingly|final(?:ly)?|"
                r"verdict|decision|judg(?:e)?ment|all things considered|on balance|"
                r"on the whole|in general|as a whole|taking everything|everything considered|"
                r"all in all|considering|taken together|based on|after (?:evaluating|comparing|"
                r"considering|weighing|reviewing|analy[sz]ing)|for (?:these|the above|all these|"
                r"this) reasons?|winner|answer|result|outcome|choice|recommendation")
_CONCL = re.compile(rf"\b(?:{_CONCL_WORDS})\b|(?:^|[,;:]\s*|\b)so\b")
# "In terms of X, ...", "For alignment, ..." at a boundary, ending right before the phrase.
_ASPECT_PRE = re.compile(
    r"(?:^|[,;:]\s*|\b(?:but|while|whereas|and|although|though|however)\s+)"
    r"(?:in terms of|in|for|regarding|as for|as to|as regards|when it comes to|"
    r"with respect to|with regard to|on|concerning|considering only|looking only at|"
    r"if|if we|when|where)\b[^,;]{0,60},\s*$")
# "1. Alignment: ..." - a label right before the phrase.
_LABEL = re.compile(r"(?:^|[.;]\s*)(?:\(?\d+[.)]\s*|[-*•]\s*)?([a-z][\w /&()'-]{0,40}):\s*$")
_HEDGE = re.compile(r"\b(?:might|may|could|would)\s+(?:argue|say|think|seem|claim)|"
                    r"\bat first(?: glance| sight)?\b|\binitially\b|\bseemingly\b|"
                    r"\bone could argue\b|\bit may seem\b|\bon the surface\b")
_NEG = re.compile(r"\b(?:not|never|no|neither|nor|hardly|cannot|whether|doubt\w*|unclear|"
                  r"unsure|impossible|hard to (?:say|tell)|difficult to (?:say|tell)|"
                  r"instead of|rather than|wrong to say|false that)\b|n't\b")
# negative words that assert rather than deny ("there is no doubt that ...")
_NEG_IDIOM = re.compile(r"\b(?:no doubt|without (?:a )?doubt|no question|not surprisingly|"
                        r"undoubtedly|doubtless)\b")
_LOCAL_CUT = re.compile(r".*(?:[,;:]|\b(?:but|so|and|therefore|thus|hence|because|since)\b)",
                        re.S)
_THAN = re.compile(r"^\s*than\s+(?:the\s+)?(?:(?:image|video|answer|response)\s*\d|"
                   r"(?:first|second|other)(?:\s+(?:one|response|answer|image|video))?)")
_POST_REASON = re.compile(
    r"^(?:(?:mainly|mostly|primarily|largely|partly|especially|particularly)\s+)?"
    r"(?:because|since|as\b|due to|given|thanks to|owing to|"
    r"for (?:the|these|this|all) (?:above )?reasons?|"
    r"which|and\b|so\b|here|choice|option|one\b|in my (?:opinion|view|judgment|judgement)|"
    r"in this (?:case|comparison|instance|pair)|in comparison|of the two|between the two|"
    r"especially|particularly|notably)")
_POST_OVERALL = re.compile(
    r"^(?:overall|on the whole|in general|as a whole|all things considered|altogether|"
    r"in (?:almost |nearly |virtually )?(?:every|all|most|each|both|many)\b|"
    r"in overall|across (?:the board|all|most|every|both)|by (?:a|far)\b|clearly|"
    r"significantly|much|substantially|considerably)")
_POST_EXCEPT = re.compile(r"^(?:except|apart from|aside from|other than|save for|but for|"
                          r"barring|excluding|with the exception)")
_POST_ASPECT = re.compile(
    r"^(?:only|solely|just|purely|exclusively|if|when|provided|assuming|as long as|unless|"
    r"in terms of|in|for|regarding|with respect to|with regard to|when it comes to|at|on|"
    r"concerning|as far as|as regards|from the (?:perspective|standpoint)|at first)\b")


def _grade(sent: str, start: int, end: int, scope_start: int) -> str:
    """The level of the phrase at ``sent[start:end]``; ``scope_start`` is where the text
    that may qualify it begins (after the previous phrase of the sentence)."""
    if sent.rstrip().endswith("?"):
        return "mention"
    # "the" of "the first response" is outside the critic phrase
    before = re.sub(r"\bthe\s*$", "", sent[scope_start:start])
    # the sentinel keeps '^' from matching right after a previous phrase of the sentence
    pre = before if scope_start == 0 else "\x00" + before
    if re.search(r"\S\s*['\"]\s*$", pre.replace("\x00", "")) and before.strip() not in ("'", '"'):
        return "mention"  # quoted inside a sentence: an option echoed, not a decision
    local = _NEG_IDIOM.sub(" ", _LOCAL_CUT.sub("", before))
    if _NEG.search(local):
        return "mention"
    post = sent[end:]
    post = _THAN.sub("", post)
    punct = re.match(r"^\s*[,:;\-–—(]\s*", post)
    p = post[punct.end():] if punct else post.lstrip()
    concl_pre = bool(_CONCL.search(before))
    if _HEDGE.search(before):
        return "aspect"
    if _POST_EXCEPT.match(p):
        return "conclusion" if concl_pre else "exception"
    if _POST_REASON.match(p):
        kind = "plain"
    elif _POST_OVERALL.match(p):
        return "conclusion"
    elif _POST_ASPECT.match(p):
        # "in terms of overall quality" names the overall criterion, not one aspect
        qualifier = re.split(r"[,;]|\b(?:but|while|whereas|although)\b", p)[0]
        return "conclusion" if re.search(r"\boverall\b", qualifier) else "aspect"
    elif not punct and re.match(r"^[a-z]", p):
        return "aspect"  # "is better aligned", "is better lit": an aspect, not a verdict
    else:
        kind = "plain"
    m = _ASPECT_PRE.search(pre)
    if m:
        return "conclusion" if _CONCL.search(m.group(0)) else "aspect"
    m = _LABEL.search(pre)
    if m:
        return "conclusion" if _CONCL.search(m.group(1)) else "aspect"
    return "conclusion" if concl_pre else kind


def _hits(sents: list[str], scheme: VerdictScheme) -> list[Hit]:
    hits: list[Hit] = []
    for i, sent in enumerate(sents):
        found = []
        for ph, side in scheme.phrases():
            for m in re.finditer(r"(?<![\w])" + re.escape(ph) + r"(?![\w])", sent):
                found.append((m.start(), m.end(), side))
        found.sort()
        scope = 0
        for start, end, side in found:
            if start < scope:
                continue  # nested in a longer phrase already read
            hits.append(Hit(side, _grade(sent, start, end, scope), i))
            scope = end
    return hits


def decide(hits: list[Hit]) -> tuple[str | None, str]:
    """(choice, rule) from graded hits: the strongest decisive grade wins if one-sided."""
    for level in ("conclusion", "plain", "exception"):
        sides = {h.side for h in hits if h.level == level}
        if len(sides) == 1:
            return sides.pop(), level
        if sides:
            return None, f"conflict:{level}"
    if any(h.level == "aspect" for h in hits):
        return None, "aspect-only"
    return None, "mention-only" if hits else "no-phrase"


def parse_verdict(text: str | None, scheme: str) -> Parsed:
    sch = VERDICT_SCHEMES[scheme]
    if not text or not text.strip():
        return Parsed(ParseStatus.UNPARSED, None, "empty")
    if sch.json_winner:
        return _parse_winner(text, sch.json_winner)
    scope, body = "text", text
    if sch.answer_tag:
        block = answer_block(text)
        if block is not None:
            scope, body = "answer-tag", block
        elif re.search(r"</think>", text, re.I):
            scope, body = "after-think", re.split(r"</think>", text, flags=re.I)[-1]
        elif re.search(r"<think>", text, re.I):
            return Parsed(ParseStatus.UNPARSED, None, "think-unclosed")
    body = re.sub(r"</?(?:think|answer)>", "\n", body, flags=re.I)
    hits = _hits(sentences(body), sch)
    choice, rule = decide(hits)
    if choice is None:
        return Parsed(ParseStatus.UNPARSED, None, f"{scope}:{rule}", tuple(hits))
    status = ParseStatus.TIE if choice == "tie" else ParseStatus.PARSED
    return Parsed(status, choice, f"{scope}:{rule}", tuple(hits))


def _json_object(text: str):
    """The JSON object of a Flex answer (fenced or bare), or None."""
    fenced = re.findall(r"```(?:json)?\s*(\{.*?\})\s*```", text, flags=re.S)
    cands = fenced[::-1] + ([text[text.find("{"):text.rfind("}") + 1]] if "{" in text else [])
    for c in cands:
        try:
            obj = json.loads(c)
        except ValueError:
            continue
        if isinstance(obj, dict):
            return obj
    return None


def _parse_winner(text: str, unit: str) -> Parsed:
    obj = _json_object(text)
    if obj is not None:
        value, rule = obj.get("winner"), "json-winner"
    else:
        # malformed JSON (a stray comma, say): one top-level "winner" field still reads
        found = re.findall(r'(?<![\w])"winner"\s*:\s*"([^"]*)"', text)
        value, rule = (found[0], "winner-field") if len(found) == 1 else (None, "no-json")
    if not isinstance(value, str):
        return Parsed(ParseStatus.UNPARSED, None, rule + ":missing")
    v = normalize(value).rstrip(".")
    choice = {f"{unit} 1": "A", f"{unit} 2": "B"}.get(v)
    if choice is None:
        return Parsed(ParseStatus.UNPARSED, None, f"{rule}:not-a-side({v})")
    return Parsed(ParseStatus.PARSED, choice, rule)


# --- scores ------------------------------------------------------------------------------

_NUM = r"([-+]?\d+(?:\.\d+)?)"


@dataclass(frozen=True)
class ParsedScore:
    status: ParseStatus
    value: float | None
    dims: dict[str, float]
    rule: str
    # pairwise score schemes: per-side values
    a: float | None = None
    b: float | None = None


def _last(pattern: str, t: str) -> float | None:
    found = re.findall(pattern, t)
    return float(found[-1]) if found else None


# UnifiedReward-2.0 pointwise axes (point_score_ACS_image_generation.py,
# point_score_APS_video_generation.py); value = their mean.
AXES = {"acs": ("alignment", "coherence", "style"), "aps": ("alignment", "physics", "style")}


def parse_score(text: str | None, scheme: str,
                score_range: tuple[float, float] | None = None) -> ParsedScore:
    """``final``: the last ``Final Score: X`` (``X/10`` allowed); ``acs`` / ``aps``:
    UnifiedReward 2.0 axes, each in range, value = their mean; ``pair-acs``: 2.0 pairwise
    scores (``a``/``b`` = each side's mean over the three axes); ``edit-pair``: Edit's two
    image scores; ``edit-if`` / ``edit-quality``: Edit's ``"score": [x, y]`` list, value =
    min(x, y) (VIEScore's per-prompt aggregate); ``critic``: LLaVA-Critic's last score
    statement (``Final Score: X``, ``score: X``, ``X/100``, ``X out of 100``)."""
    if not text or not text.strip():
        return ParsedScore(ParseStatus.UNPARSED, None, {}, "empty")
    block = answer_block(text)
    t = normalize(block if block is not None else text)
    lo, hi = score_range if score_range is not None else (float("-inf"), float("inf"))

    def bad(v: float) -> bool:
        return not (lo <= v <= hi)

    dims: dict[str, float] = {}
    if scheme in AXES:
        names = AXES[scheme]
        for name in names:
            d = _last(name + r" score(?:\s*\(\s*1\s*-\s*5\s*\))?\s*:\s*" + _NUM, t)
            if d is not None:
                dims[name] = d
        rule = scheme + "-mean"
        if len(dims) < len(names):
            return ParsedScore(ParseStatus.UNPARSED, None, dims, rule + ":missing")
        out = [f"{k}={v:g}" for k, v in dims.items() if bad(v)]
        if out:
            return ParsedScore(ParseStatus.UNPARSED, None, dims,
                               rule + f":out-of-range({','.join(out)})")
        return ParsedScore(ParseStatus.PARSED, sum(dims.values()) / len(names), dims, rule)
    if scheme == "pair-acs":
        return _pair_acs(text, lo, hi)
    if scheme == "edit-pair":
        return _edit_pair(t, lo, hi)
    if scheme in ("edit-if", "edit-quality"):
        m = re.findall(r'"?score"?\s*:\s*\[\s*' + _NUM + r"\s*,\s*" + _NUM + r"\s*\]", t)
        if not m:
            return ParsedScore(ParseStatus.UNPARSED, None, {}, scheme + ":missing")
        x, y = (float(v) for v in m[-1])
        names = ("success", "overediting") if scheme == "edit-if" else ("naturalness",
                                                                         "artifacts")
        dims = dict(zip(names, (x, y)))
        if bad(x) or bad(y):
            return ParsedScore(ParseStatus.UNPARSED, None, dims,
                               scheme + f":out-of-range({x:g},{y:g})")
        return ParsedScore(ParseStatus.PARSED, min(x, y), dims, scheme + "-min")
    if scheme == "final":
        v = _last(r"final score\s*:?\s*\[?" + _NUM, t)
        rule = "final-score"
    elif scheme == "critic":
        cands = []
        for pat in (r"final score\s*:?\s*" + _NUM, r"\bscore\s*(?:of|is|:)\s*" + _NUM,
                    _NUM + r"\s*/\s*100\b", _NUM + r"\s*out of\s*100\b"):
            cands += [(m.start(), float(m.group(1))) for m in re.finditer(pat, t)]
        v = max(cands)[1] if cands else None  # the last-positioned score statement
        rule = "critic-score"
    else:
        raise KeyError(f"unknown score scheme {scheme!r}")
    if v is None:
        return ParsedScore(ParseStatus.UNPARSED, None, dims, rule + ":missing")
    if bad(v):
        return ParsedScore(ParseStatus.UNPARSED, None, dims, rule + f":out-of-range({v:g})")
    return ParsedScore(ParseStatus.PARSED, v, dims, rule)


def _pair_acs(text: str, lo: float, hi: float) -> ParsedScore:
    """2.0 pairwise scores (pair_score_image/video_generation.py): per axis a block
    ``Alignment Score:`` then `` Image 1: X`` / `` Image 2: Y`` (or Video)."""
    t = normalize(text)
    dims: dict[str, float] = {}
    for axis in AXES["acs"]:
        m = re.findall(axis + r" score\s*:\s*(?:image|video) 1\s*:\s*" + _NUM +
                       r"\s*,?\s*(?:image|video) 2\s*:\s*" + _NUM, t)
        if m:
            dims[f"{axis}_1"], dims[f"{axis}_2"] = float(m[-1][0]), float(m[-1][1])
    if len(dims) < 6:
        return ParsedScore(ParseStatus.UNPARSED, None, dims, "pair-acs:missing")
    out = [f"{k}={v:g}" for k, v in dims.items() if not (lo <= v <= hi)]
    if out:
        return ParsedScore(ParseStatus.UNPARSED, None, dims,
                           f"pair-acs:out-of-range({','.join(out)})")
    a = sum(dims[f"{x}_1"] for x in AXES["acs"]) / 3
    b = sum(dims[f"{x}_2"] for x in AXES["acs"]) / 3
    return ParsedScore(ParseStatus.PARSED, a - b, dims, "pair-acs-mean", a, b)


def _edit_pair(t: str, lo: float, hi: float) -> ParsedScore:
    """Edit pairwise score (edit_paiwise_score.py): labelled ``Image 1 ... X`` /
    ``Image 2 ... Y``; without labels, upstream's rule (the first two decimals) only when
    the answer holds exactly two numbers."""
    a = re.findall(r"image 1\b[^0-9\n]{0,30}?" + _NUM, t)
    b = re.findall(r"image 2\b[^0-9\n]{0,30}?" + _NUM, t)
    if a and b:
        x, y, rule = float(a[-1]), float(b[-1]), "edit-pair-labelled"
    elif a or b or re.search(r"image [12]\b", t):
        return ParsedScore(ParseStatus.UNPARSED, None, {}, "edit-pair:one-side")
    else:
        nums = re.findall(r"(?<![\w.])" + _NUM + r"(?![\w.])", t)
        if len(nums) != 2:
            return ParsedScore(ParseStatus.UNPARSED, None, {}, "edit-pair:missing")
        x, y, rule = float(nums[0]), float(nums[1]), "edit-pair-two-numbers"
    dims = {"image_1": x, "image_2": y}
    if not (lo <= x <= hi and lo <= y <= hi):
        return ParsedScore(ParseStatus.UNPARSED, None, dims, rule + ":out-of-range")
    return ParsedScore(ParseStatus.PARSED, x - y, dims, rule, x, y)


SCORE_SCHEMES = ("final", "acs", "aps", "pair-acs", "edit-pair", "edit-if", "edit-quality",
                 "critic")
