"""Reading the chosen option from a free-text answer, exactly as each benchmark's official
scorer reads it (no API call here: MMBench's optional LLM second stage is
:class:`evalsuite.capabilities.mmbench.AnswerExtractor`).

Two rule sets, one per reference implementation:

* :func:`vlmevalkit_letter` - VLMEvalKit's exact matching, ``can_infer`` =
  ``can_infer_option`` then ``can_infer_text`` (open-compass/VLMEvalKit
  ``vlmeval/utils/matching_util.py`` @ ``e8e78f05f3080fe28154f2130321f17951c3be94``), with the
  ``VERBOSE`` environment variable unset, as by default. The answer is split into words after
  replacing ``.()[],:;!*#{}`` by spaces; exactly one option letter among the words, and
  among the last five words, is the answer; a refusal phrase or a lone ``Z`` reads as ``Z``
  (no option: wrong); failing that, ``answer is X`` (any case); failing that, exactly one
  option text contained in the answer (case-insensitive, answer at most twice the options'
  total length). ``Option B is wrong, so the answer is A`` names two letters and reads A
  through ``answer is``; a long explanation whose only letter is its last word reads that
  letter, ``A`` included.
* :func:`lmms_eval_letter` - lmms-eval's ``extract_mcq_answer``
  (EvolvingLMMs-Lab/lmms-eval ``lmms_eval/tasks/_task_utils/mcq_extract.py`` @
  ``75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3``, used by Video-MME's
  ``extract_characters_regex``): candidates in ten formats (``(A)``, ``A.``, ``A:``, ``A)``,
  ``A `` , answer phrases, leading / trailing standalone letter, and any occurrence as a last
  resort); the highest-priority format wins, the last position within it.

Every result records the rule that read it. An answer no rule reads is UNPARSED: wrong and
counted, never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from evalsuite.types import ParseStatus

NO_OPTION = "Z"  # VLMEvalKit's reading of a refusal: a prediction that names no option


@dataclass(frozen=True)
class LetterResult:
    letter: str | None
    rule: str | None
    status: ParseStatus


def unparsed(rule: str | None = None) -> LetterResult:
    return LetterResult(None, rule, ParseStatus.UNPARSED)


# --- VLMEvalKit ---------------------------------------------------------------------------------

_API_FAILURE = "Failed to obtain answer via API"
_REFUSALS = ("Sorry, I can't help with images of people yet.", "I can't process this file.",
             "I'm sorry, but without the image provided", "Cannot determine the answer")
_SEPARATORS = ".()[],:;!*#{}"
_ANSWER_IS = re.compile(r"(?i)(?:correct\s+)?answer\s+is\s+\**([ABCD])\**")


def can_infer_option(answer: str, choices: Sequence[str]) -> str | None:
    """The option letter (or ``Z``) VLMEvalKit's ``can_infer_option`` reads, else None."""
    if _API_FAILURE in answer:
        return None
    if any(r in answer for r in _REFUSALS):
        return NO_OPTION
    words = answer
    for c in _SEPARATORS:
        words = words.replace(c, " ")
    splits = words.split()
    present = [c for c in choices if c in splits]
    if len(present) == 1:
        # the single letter must first occur among the last five words
        if splits.index(present[0]) > len(splits) - 5:
            return present[0]
    elif not present and NO_OPTION in splits:
        return NO_OPTION
    m = _ANSWER_IS.search(answer)
    if m and m.group(1).upper() in choices:
        return m.group(1).upper()
    return None


def can_infer_text(answer: str, choices: Mapping[str, str]) -> str | None:
    """The one option whose text the answer contains (``can_infer_text``), else None."""
    answer = answer.lower()
    if len(answer) > 2 * sum(len(str(v)) for v in choices.values()):
        return None
    hits = [k for k, v in choices.items() if str(v).lower() in answer]
    return hits[0] if len(hits) == 1 else None


def vlmevalkit_letter(answer: str, choices: Mapping[str, str]) -> LetterResult:
    """VLMEvalKit's ``can_infer``: rule ``option`` / ``refusal`` (read as ``Z``) / ``text``."""
    answer = str(answer)
    opt = can_infer_option(answer, list(choices))
    if opt is not None:
        rule = "option" if opt in choices else "refusal"
        return LetterResult(opt, rule, ParseStatus.PARSED)
    txt = can_infer_text(answer, choices)
    if txt is not None:
        return LetterResult(txt, "text", ParseStatus.PARSED)
    return unparsed()


def extract_letter(raw: str | None, options: Mapping[str, str]) -> LetterResult:
    """The default reading of a multiple-choice answer: VLMEvalKit's exact matching."""
    return vlmevalkit_letter(raw or "", options)


# --- lmms-eval ----------------------------------------------------------------------------------

_PHRASES = ("the answer is", "answer is", "the correct answer is", "correct answer is",
            "the best answer is", "best answer is", "the correct option is",
            "correct option is", "the best option is", "best option is", "the choice is",
            "choice is", "the correct choice is", "correct choice is", "i choose", "i select",
            "i pick", "my answer is", "my choice is", "옵션", "정답은", "답은", "답:", "答案是",
            "答案为", "选", "答えは")
_PRIORITY = {"start": 10, "end": 9, "phrase": 7, "parentheses": 6, "period": 5, "colon": 4,
             "right_paren": 3, "space": 2, "fallback": 0}


def extract_mcq_answer(response: str | None, choices: Sequence[str]) -> tuple[str, str | None]:
    """(letter, format) as lmms-eval's ``extract_mcq_answer`` reads it; ``("", None)`` when
    nothing matches."""
    if not response or not response.strip():
        return "", None
    text = response.strip()
    for c in ",.!?;:'\"":
        text = text.strip(c)
    text = f" {text} "
    cands: list[tuple[str, int, str]] = []
    for fmt, pattern in (("parentheses", "({})"), ("period", "{}."), ("colon", "{}:"),
                         ("right_paren", "{})"), ("space", "{} ")):
        for ch in choices:
            pos = text.rfind(pattern.format(ch))
            if pos != -1:
                cands.append((ch, pos, fmt))
    lower = text.lower()
    for phrase in _PHRASES:
        at = lower.find(phrase)
        if at != -1:
            for ch in choices:
                pos = text.find(ch, at + len(phrase))
                if pos != -1:
                    cands.append((ch, pos, "phrase"))
    bare = text.strip()
    for ch in choices:
        if bare.startswith(ch) and (len(bare) == 1 or not bare[1].isalpha()):
            cands.append((ch, 0, "start"))
    for ch in choices:
        if bare.endswith(ch) and (len(bare) == 1 or not bare[-2].isalpha()):
            cands.append((ch, len(text) - 1, "end"))
    if not cands:
        cands = [(ch, text.rfind(ch), "fallback") for ch in choices if ch in text]
    if not cands:
        return "", None
    # highest priority first, then the later position; a stable sort keeps, among equal
    # keys, the candidate listed first (as upstream's sort(reverse=True) does)
    best = sorted(cands, key=lambda c: (_PRIORITY[c[2]], c[1]), reverse=True)[0]
    return best[0], best[2]


def lmms_eval_letter(raw: str | None, choices: Sequence[str]) -> LetterResult:
    letter, fmt = extract_mcq_answer(raw, choices)
    if not letter:
        return unparsed()
    return LetterResult(letter, fmt, ParseStatus.PARSED)
