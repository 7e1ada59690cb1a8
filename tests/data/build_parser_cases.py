"""Writes tests/data/parser_cases.jsonl: judge answers and the reading a careful reader gives.

Run from the repository root: ``python tests/data/build_parser_cases.py``. The expected
reading of every case comes from how it is composed, never from the parser: each fragment
below has a meaning (a concluded side, an aspect-only remark, a mention, plain reasoning)
and each composition rule states what the whole answer concludes. Hand-written cases
follow the generated ones. The ``upstream`` column is what the upstream script's rule
reads (tests/reference/unifiedreward_rules.py); ``why`` explains each deliberate difference.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from reference.unifiedreward_rules import (edit_pair_scores, final_score,  # noqa: E402
                                           upstream_verdict)

UNPARSED = "unparsed"

# Why our reading differs from upstream's substring rule, per composition.
WHY = {
    "conclusion": "upstream reads every phrase present; here the concluded side wins",
    "counter": "a qualified counter-phrase after the conclusion is not a second verdict",
    "aspects": "per-aspect verdicts for both sides without a conclusion are not a verdict; "
               "upstream's substring test reads a side (or both)",
    "aspect-one": "an aspect-only remark is not an overall verdict",
    "mention": "a negated, asked or quoted phrase is not asserted",
    "conflict": "conflicting conclusions are unparsed, never guessed",
    "newline": "a conclusion on its own line is read as a sentence",
    "format": "upstream's test is case-sensitive and exact; here case, Markdown and "
              "full-width punctuation are normalised",
    "tie": "a tie is read only where the family's prompt offers one",
    "no-phrase": "upstream's video scripts read an answer without a phrase as a tie",
    "think": "the <answer> block is the verdict; upstream also reads phrases in <think>",
    "critic": "no upstream script reads LLaVA-Critic answers",
    "edit": "no upstream script reads Edit pairwise-rank answers",
    "flex": "no upstream script reads Flex answers",
    "score": "upstream takes the first integer after 'Final Score:' (0 if none), with no "
             "range check; here the stated number, range-checked",
    "score-na": "no upstream script parses this score format",
}


class Unit:
    def __init__(self, scheme, phrase, tie, reasons, group):
        self.scheme, self.phrase, self.tie, self.reasons, self.group = (
            scheme, phrase, tie, reasons, group)

    def x(self, n: int, start: bool = False) -> str:
        p = self.phrase(n)
        return p[0].upper() + p[1:] if start else p


IMAGE_R = ["The first image shows a red cube on a wooden table, as the caption asks.",
           "The second image renders the sphere with visible artifacts around its edge.",
           "Both images capture the main subject of the caption.",
           "The lighting in the second image looks more natural.",
           "The first image misses the small dog mentioned in the caption.",
           "Colours in both images are vivid and well balanced."]
VIDEO_R = ["The first video keeps the dog's shape stable across frames.",
           "The second video flickers in the background around the middle.",
           "Both videos show a car driving along a coastal road.",
           "Motion in the second clip is smoother.",
           "The first clip loses the red umbrella after a few frames.",
           "Neither clip has obvious compression artifacts."]
ANSWER_R = ["Answer 1 says there are three people, but the image shows two.",
            "Answer 2 correctly reads the sign as 'EXIT'.",
            "Both answers describe the red car parked on the left.",
            "The question asks for the colour of the bus.",
            "Answer 2 adds a dog that is not in the image.",
            "Answer 1 is concise and mentions the bench and the tree."]
CRITIC_R = ["The first response identifies the digit as a seven.",
            "The second response claims there are three people in the image.",
            "The image shows two people sitting on a bench.",
            "The second response is more verbose than needed.",
            "The first response is more detailed but contains an error about the colour.",
            "Both responses mention the red car."]
EDIT_R = ["The instruction asks to replace the apples with oranges.",
          "The first edited image keeps the background of the source image intact.",
          "The second edited image changes the table colour, which was not requested.",
          "Both edits remove the watermark.",
          "The first edit leaves a visible seam near the bowl.",
          "Lighting and shadows stay consistent in the second edit."]

UNITS = [
    Unit("image", lambda n: f"Image {n} is better", "Both images are equally good", IMAGE_R,
         "image"),
    Unit("video", lambda n: f"Video {n} is better", "Both videos are equally good", VIDEO_R,
         "video"),
    Unit("answer", lambda n: f"Answer {n} is better", None, ANSWER_R, "answer"),
    Unit("critic", lambda n: f"the {'first' if n == 1 else 'second'} response is better",
         None, CRITIC_R, "critic"),
    Unit("edit", lambda n: f"Image {n} is better", None, EDIT_R, "edit"),
]
TIE_PHRASE = {"answer": "Both answers are equally good", "critic": "Both responses are "
              "equally good", "edit": "Both images are equally good"}

# Conclusions: the sentence concludes side n.
CONCL = ["{X}.", "Overall, {x}.", "Therefore, {x}.", "In conclusion, {x}.", "{X} overall.",
         "Final verdict: {X}.", "So {x}.", "Considering both criteria together, {x}.",
         "{X} because it follows the prompt more faithfully.",
         "Based on the above evaluation, {x}.", "Conclusion: {X}", "{X}, as it has fewer "
         "flaws.", "All things considered, {x}.", "Thus, {x}.",
         "Taking everything into account, {x}.", "{X} in every respect.",
         "{X}, especially in how it handles the lighting.", "{X}!"]
# Aspect-only remarks: side n is better in one respect, or under a condition.
ASPECT = ["{X} only in colour accuracy.", "{X} in terms of style.",
          "In terms of aesthetics, {x}.", "Alignment: {X}.",
          "{X} if we only consider the background.", "At first glance, {x}.",
          "For colour accuracy, {x}.", "{X} at rendering textures.",
          "Regarding sharpness, {x}.", "When it comes to composition, {x}.",
          "{X} in the lighting department.", "Visual quality: {X}.",
          "{X} with respect to detail preservation.", "{X} on the question of realism.",
          "{X} for the background only."]
# Mentions: the phrase is not asserted.
MENTION = ["I would not say {x}.", "It is unclear whether {x}.", "Is it fair to say {x}?",
           "I don't think {x}.", "It is hard to say that {x}."]
EXCEPT = ["{X} except for the colour of the sky.",
          "{X}, apart from a slightly softer background."]


def fill(t: str, u: Unit, n: int) -> str:
    start = t.startswith("{X}")
    return t.format(X=u.x(n, True), x=u.x(n, start and False))


def join(*parts: str) -> str:
    """Fragments as one answer: a space after a finished sentence, else a line break."""
    out = parts[0]
    for p in parts[1:]:
        out += (" " if out.rstrip()[-1:] in ".!?" else "\n") + p
    return out


def side(n: int) -> str:
    return "A" if n == 1 else "B"


def generated(u: Unit):
    cases = []

    def add(text, expect, cat):
        cases.append({"group": u.group, "scheme": u.scheme, "text": text, "expect": expect,
                      "cat": cat})

    R = u.reasons
    for n in (1, 2):
        o = 3 - n
        for j, c in enumerate(CONCL):  # reasoning, then a conclusion
            add(join(R[j % 6], R[(j + 1) % 6], fill(c, u, n)), side(n), "conclusion")
        for j, c in enumerate(CONCL[:15]):  # conclusion, then a qualified counter-phrase
            add(join(fill(c, u, n), fill(ASPECT[j], u, o)), side(n), "counter")
        for k in range(0, 15, 3):  # aspects for both sides, then a conclusion
            add(join(fill(ASPECT[k], u, n), fill(ASPECT[(k + 4) % 15], u, o),
                     fill(CONCL[(k + n) % 18], u, n)), side(n), "counter")
        for k, m in enumerate(MENTION):  # a mention of the other side, then a conclusion
            add(join(fill(m, u, o), R[k], fill(CONCL[(3 * k + 1) % 18], u, n)), side(n),
                "mention")
        for e in EXCEPT:
            add(join(R[n], fill(e, u, n), fill(ASPECT[n + 5], u, o)), side(n), "counter")
        add(f"{R[0]} {R[3]}\n{u.x(n, True)}", side(n), "newline")  # own line, no stop
        add(f"{fill(ASPECT[2], u, o)}\n{u.x(n, True)}", side(n), "newline")
        add(f"{R[1]}\n\nFinal answer\n{u.x(n, True)}", side(n), "newline")
        add(f"{fill(CONCL[0], u, n).upper()}", side(n), "format")
        add(f"**{fill(CONCL[1], u, n)}**", side(n), "format")
        add(f"{fill(CONCL[2], u, n)[:-1]}。", side(n), "format")
        add(f"结论：{u.x(n, True)}。", side(n), "format")
        add(join(fill(CONCL[1], u, n), fill(CONCL[2], u, o)), UNPARSED, "conflict")
        add(f"{u.x(n, True)}. {u.x(o, True)}.", UNPARSED, "conflict")
    for k in range(15):  # aspect-only remarks
        add(join(R[k % 6], fill(ASPECT[k], u, 1 + k % 2)), UNPARSED, "aspect-one")
    for k in range(15):  # per-aspect verdicts for both sides, no conclusion
        add(join(fill(ASPECT[k], u, 1), fill(ASPECT[(k + 7) % 15], u, 2)), UNPARSED,
            "aspects")
    for k, m in enumerate(MENTION):
        add(join(R[k], fill(m, u, 1 + k % 2)), UNPARSED, "mention")
    opts = f"The options are '{u.x(1, True)}.' and '{u.x(2, True)}.'"
    add(opts, UNPARSED, "mention")
    add(join(opts, R[2], fill(CONCL[1], u, 2)), "B", "mention")
    for r in R:
        add(r, UNPARSED, "no-phrase")
    add("", UNPARSED, "no-phrase")
    add("   \n\n ", UNPARSED, "no-phrase")
    tie = u.tie or TIE_PHRASE[u.scheme]
    tie_expect = "tie" if u.tie else UNPARSED
    add(f"{tie}.", tie_expect, "tie")
    add(join(fill(ASPECT[1], u, 1), fill(ASPECT[3], u, 2), f"Overall, {tie.lower()}."),
        tie_expect, "tie")
    add(f"{R[0]} So {tie.lower()}.", tie_expect, "tie")
    add(join(fill(CONCL[1], u, 2), f"{tie} in colour accuracy."), "B", "counter")
    add(f"{tie} in style, but {u.x(1)} overall.", "A", "counter")
    return cases


HAND = [
    # (group, scheme, text, expect, cat) - adversarial cases written one by one
    ("image", "image", "Image 2 is better. Image 1 is better only in colour accuracy.", "B",
     "counter"),
    ("image", "image", "Image 1 is better in colour accuracy, but the caption asks for a "
     "sphere on the right.\nConsidering alignment and quality together, Image 2 is better.",
     "B", "counter"),
    ("image", "image", "While Image 1 is better in colour, Image 2 is better overall.", "B",
     "counter"),
    ("image", "image", "Image 1 is better than Image 2 in colour but Image 2 is better "
     "overall.", "B", "counter"),
    ("image", "image", "Image 1 is better than Image 2.", "A", "conclusion"),
    ("image", "image-than", "Image 2 is better than Image 1.", "B", "conclusion"),
    ("image", "image", "Image 11 is better", UNPARSED, "no-phrase"),
    ("image", "image", "Video 1 is better.", UNPARSED, "no-phrase"),
    ("image", "image", "Image 1 is better and Image 2 is better.", UNPARSED, "conflict"),
    ("image", "image", "'Image 2 is better.'", "B", "format"),
    ("image", "image", "1. Alignment: Image 1 is better.\n2. Quality: Image 2 is better.",
     UNPARSED, "aspects"),
    ("image", "image", "1. Alignment: Image 1 is better.\n2. Quality: Image 2 is better.\n"
     "Final decision: Image 2 is better.", "B", "counter"),
    ("image", "image", "Image 1 is better for alignment; Image 2 is better for quality.",
     UNPARSED, "aspects"),
    ("image", "image", "If the caption asked for a blue sky, Image 1 is better.", UNPARSED,
     "aspect-one"),
    ("image", "image", "Image 1 is better in terms of overall quality.", "A", "conclusion"),
    ("image", "image", "There is no doubt that Image 2 is better.", "B", "conclusion"),
    ("image", "image", "Image 1 is better? No, Image 2 is better.", "B", "mention"),
    ("image", "image", "Neither image is perfect, but Image 2 is better.", "B", "conclusion"),
    ("image", "image", "Image 1 is not better than Image 2.", UNPARSED, "no-phrase"),
    ("image", "image", "Image 1 is better. However, Image 2 is better in terms of alignment, "
     "which matters more, so Image 2 is better overall.", "B", "counter"),
    ("image", "image", "Both images are equally good, but Image 1 is better.", UNPARSED,
     "conflict"),
    ("image", "image", "Image 2 is better, no doubt.", "B", "conclusion"),
    ("video", "video", "Video 1 is better,", "A", "conclusion"),
    ("video", "video", "Video 2 is better in motion smoothness, while Video 1 is better in "
     "caption alignment.", UNPARSED, "aspects"),
    ("video", "video", "Both videos are equally good.", "tie", "tie"),
    ("video", "video", "Video 11 is better", UNPARSED, "no-phrase"),
    ("answer", "answer", "Answer 1 contains a hallucinated dog. Answer 2 describes the "
     "image correctly. Therefore, Answer 2 is better.", "B", "conclusion"),
    ("answer", "answer", "Answer 1 is better at describing colours, Answer 2 is better at "
     "counting.", UNPARSED, "aspects"),
    ("critic", "critic", "The second response is more verbose and repeats itself.",
     UNPARSED, "no-phrase"),
    ("critic", "critic", "The first response is more confusing, while the second response "
     "is more accurate. Overall, the second response is better.", "B", "conclusion"),
    ("critic", "critic", "The first response is more likely to mislead the user.", UNPARSED,
     "no-phrase"),
    ("critic", "critic", "Response 1 is better.", "A", "conclusion"),
    ("critic", "critic", "I prefer the second response because it counts correctly.", "B",
     "conclusion"),
]


def think_cases():
    units = [("image-think", "Image"), ("video-think", "Video"), ("answer-think", "Answer")]
    dims = {"Image": ["Semantic consistency", "Aesthetics", "Authenticity"],
            "Video": ["Semantic consistency", "Temporal coherence", "Authenticity"],
            "Answer": ["Semantic accuracy", "Correctness", "Clarity"]}
    out = []

    def add(scheme, text, expect, cat="think"):
        out.append({"group": "think", "scheme": scheme, "text": text, "expect": expect,
                    "cat": cat})

    for (scheme, U), n, (s1, s2) in itertools.product(units, (1, 2),
                                                     [(9, 7), (6, 8), (8, 8), (5, 9)]):
        o = 3 - n
        d = dims[U]
        body = (f"1. {d[0]}: {U} 1 ({s1}/10) - fine; {U} 2 ({s2}/10) - weaker.\n"
                f"2. {d[1]}: {U} {o} is better in this dimension.\n"
                f"3. {d[2]}: {U} 1 (7/10) - ...; {U} 2 (7/10) - ...\n"
                f"Total score:\n{U} 1: {s1}+7+7\n{U} 2: {s2}+7+7")
        add(scheme, f"<think>\n{body}\n</think>\n<answer>{U} {n} is better</answer>", side(n))
        add(scheme, f"<think>\n{body}\nOverall, {U} {o} is better.\n</think>\n"
                    f"<answer>{U} {n} is better</answer>", side(n))
        add(scheme, f"<think>{body}</think><answer>\n{U} {n} is better.\n</answer>", side(n))
        add(scheme, f"<think>\n{body}\n</think>\n{U} {n} is better", side(n))
        add(scheme, f"<think>\n{body}\n{U} {n} is better overall but the", UNPARSED)
        add(scheme, f"<think>\n{body}\n</think>\n<answer></answer>", UNPARSED)
        add(scheme, f"<think>\n{body}\n</think>\n<answer>{U} {n} is better in "
                    f"{d[1].lower()}</answer>", UNPARSED)
        add(scheme, f"<think>\n{body}\n</think>\n<answer>{U} 1 is better and {U} 2 is "
                    f"better</answer>", UNPARSED)
    for scheme, U in units:
        plural = U.lower() + "s"
        for n in (1, 2):
            add(scheme, f"{U} {n} is better", side(n))
            add(scheme, f"<answer>{U} {n} is better</answer>", side(n))
            add(scheme, f"<think>\n        1. Semantic consistency: \n            {U} 1 (8/10)"
                        f" - ...; \n            {U} 2 (6/10) - ...\n        Total score:\n"
                        f"        {U} 1: 8=8\n        {U} 2: 6=6\n        </think>\n"
                        f"        <answer>{U} {n} is better</answer>", side(n))
            add(scheme, f"<THINK>{U} {3 - n} is better in style.</THINK>"
                        f"<ANSWER>{U} {n} is better</ANSWER>", side(n))
            add(scheme, f"<answer>**{U} {n} is better**</answer>", side(n))
        add(scheme, f"<think>...</think><answer>Both {plural} are equally good</answer>",
            UNPARSED, "tie")
        add(scheme, "<think>The two are close.</think>", UNPARSED)
        add(scheme, "", UNPARSED)
        add(scheme, f"<think>{U} 1 is better in clarity.", UNPARSED)
    return out


def flex_cases():
    out = []

    def add(scheme, text, expect, cat="flex"):
        out.append({"group": "flex", "scheme": scheme, "text": text, "expect": expect,
                    "cat": cat})

    for scheme, U in (("flex-image", "Image"), ("flex-video", "Video")):
        for n, cw in itertools.product((1, 2), (1, 2)):
            obj = {"prompt": "a cat", "categories": [
                {"name": "A. Semantic Alignment", "dims": [
                    {"name": "Subject", "reason_1": "ok", "reason_2": "ok", "score_1": 6,
                     "score_2": 4}], "cat_reason": "...", "cat_winner": f"{U} {cw}"}],
                "reason": "...", "winner": f"{U} {n}"}
            s = json.dumps(obj, indent=2)
            add(scheme, s, side(n))
            add(scheme, f"```json\n{s}\n```", side(n))
            add(scheme, f"Here is my evaluation.\n```json\n{s}\n```\nDone.", side(n))
            add(scheme, s.replace('"reason": "..."', '"reason": "...",'), side(n))  # bad JSON
            add(scheme, s.split('"reason": "...",')[0], UNPARSED)  # cut off: no winner
        for v in (f"{U} 1/2", "Tie", f"Both {U.lower()}s", "", f"{U} 3"):
            add(scheme, json.dumps({"reason": "...", "winner": v}), UNPARSED)
        add(scheme, json.dumps({"reason": "...", "winner": f"{U.lower()} 2."}), "B")
        add(scheme, f"{U} 1 is better", UNPARSED)
        add(scheme, json.dumps({"reason": "...", "cat_winner": f"{U} 1"}), UNPARSED)
    return out


def score_cases():
    out = []

    def add(scheme, text, rng, expect, a=None, b=None):
        out.append({"group": "scores", "scheme": scheme, "text": text, "range": rng,
                    "expect": expect, "a": a, "b": b})

    # v1 Final Score: image 1-5, video 1-10, understanding 0-100
    for v in (1, 2, 3, 4, 5, 2.5, 4.75):
        add("final", f"red cube (object): 1\nleft (spatial): 1\nFinal Score: {v}", [1, 5], v)
        add("final", f"**Final Score:** {v}", [1, 5], v)
        add("final", f"final score：{v}。", [1, 5], v)
        add("final", f"Example: Final Score: 6\nThe image is fine.\nFinal Score: {v}",
            [1, 10], v)
    for v in (0, 6, 7.5, -1, 11):
        add("final", f"Final Score: {v}", [1, 5], UNPARSED)
    for v in (1, 6, 10, 8.5):
        add("final", f"visual quality: 4\ntemporal consistency: 3\nFinal Score: {v}",
            [1, 10], v)
        add("final", f"Final Score: {v}/10", [1, 10], v)
    for v in (0, 55, 85, 100):
        add("final", f"The answer is fine.\nFinal Score: {v}", [0, 100], v)
    for t in ("The image is good. Score: 4", "", "Final Score: none", "Final Score:",
              "Rating 4/5"):
        add("final", t, [1, 5], UNPARSED)
    # 2.0 axes, each 1-5
    for x, y, z in [(2.6947, 2.3715, 2.8025), (5, 5, 5), (1, 1, 1), (3.5, 4, 4.25),
                    (1.2, 4.9, 3.3), (4, 3, 5)]:
        add("acs", f"Alignment Score (1-5): {x}\nCoherence Score (1-5): {y}\nStyle Score "
                   f"(1-5): {z}", [1, 5], (x + y + z) / 3)
        add("acs", f"**Alignment Score (1-5):** {x}\n**Coherence Score (1-5):** {y}\n"
                   f"**Style Score (1-5):** {z}", [1, 5], (x + y + z) / 3)
        add("aps", f"Alignment Score (1-5): {x}\nPhysics Score (1-5): {y}\nStyle Score "
                   f"(1-5): {z}", [1, 5], (x + y + z) / 3)
        add("acs", f"Alignment Score (1-5): {x}\nCoherence Score (1-5): {y}", [1, 5],
            UNPARSED)
        add("aps", f"Alignment Score (1-5): {x}\nCoherence Score (1-5): {y}\nStyle Score "
                   f"(1-5): {z}", [1, 5], UNPARSED)  # video asks for Physics
    for bad in [(6, 1, 2), (0, 3, 3), (3, 3, 7.5), (1, -1, 5), (9, 0, 3)]:
        # mean in range, one axis out of it
        x, y, z = bad
        add("acs", f"Alignment Score (1-5): {x}\nCoherence Score (1-5): {y}\nStyle Score "
                   f"(1-5): {z}", [1, 5], UNPARSED)
        add("aps", f"Alignment Score (1-5): {x}\nPhysics Score (1-5): {y}\nStyle Score "
                   f"(1-5): {z}", [1, 5], UNPARSED)
    # 2.0 pairwise scores (each 0-1)
    for (a1, a2), (c1, c2), (s1, s2) in [((0.4357, 0.5643), (0.418, 0.582), (0.4079, 0.5921)),
                                         ((0.7, 0.3), (0.6, 0.4), (0.5, 0.5)),
                                         ((1, 0), (0.9, 0.1), (0.2, 0.8))]:
        for U in ("Image", "Video"):
            t = (f"Alignment Score:\n {U} 1: {a1}\n {U} 2: {a2}\n\nCoherence Score:\n "
                 f"{U} 1: {c1}\n {U} 2: {c2}\n\nStyle Score:\n {U} 1: {s1}\n {U} 2: {s2}\n")
            ea, eb = (a1 + c1 + s1) / 3, (a2 + c2 + s2) / 3
            add("pair-acs", t, [0, 1], ea - eb, ea, eb)
            add("pair-acs", t.split("Style")[0], [0, 1], UNPARSED)
            add("pair-acs", t.replace(f"{U} 2: {s2}", f"{U} 2: {s2 + 1}"), [0, 1], UNPARSED)
    # Edit pairwise scores
    for x, y in [(7.5, 6.25), (3.0, 8.5), (9.25, 9.25), (-2.5, 4.0), (0.5, 0.75)]:
        add("edit-pair", f"Image 1: {x}\nImage 2: {y}", None, x - y, x, y)
        add("edit-pair", f"Score for Image 1 - {x}\nScore for Image 2 - {y}", None, x - y,
            x, y)
        add("edit-pair", f"**Image 1 score:** {x}\n**Image 2 score:** {y}", None, x - y, x, y)
        add("edit-pair", f"{x}, {y}", None, x - y, x, y)
        add("edit-pair", f"The first edit follows the 2 requested changes. {x} {y}", None,
            UNPARSED)
        add("edit-pair", f"Image 1: {x}", None, UNPARSED)
    # Edit pointwise lists (0-25 each), value = min
    for x, y in [(20, 18), (25, 25), (0, 10), (12.5, 24), (7, 3)]:
        for scheme in ("edit-if", "edit-quality"):
            add(scheme, f'{{\n"reasoning" : "The edit is clean.",\n"score" : [{x}, {y}],\n}}',
                [0, 25], min(x, y))
            add(scheme, f'```json\n{{"reasoning": "...", "score": [{x},{y}]}}\n```', [0, 25],
                min(x, y))
            add(scheme, f'{{"reasoning": "...", "score": [{x + 26}, {y}]}}', [0, 25],
                UNPARSED)
            add(scheme, f'{{"reasoning": "...", "score": [{x}]}}', [0, 25], UNPARSED)
    # LLaVA-Critic out of 100
    for v in (85, 70, 90, 40, 100, 0):
        add("critic", f"The response correctly identifies the digit. Score: {v}", [0, 100], v)
        add("critic", f"I would rate this response {v}/100.", [0, 100], v)
        add("critic", f"Overall, a score of {v} out of 100.", [0, 100], v)
    for t in ("The response is wrong.", "I would rate it 120/100.", ""):
        add("critic", t, [0, 100], UNPARSED)
    return out


def upstream(case: dict) -> str:
    s, t = case["scheme"], case["text"]
    if case["group"] != "scores":
        return upstream_verdict(t, s)
    if s == "final":
        return f"{final_score(t):g}"
    if s == "edit-pair":
        r = edit_pair_scores(t)
        return "error" if r is None else f"{r[0]:g},{r[1]:g}"
    return "n/a"


def why(case: dict) -> str:
    if case["group"] == "scores":
        s = case["scheme"]
        if s == "final":
            same = case["expect"] != UNPARSED and float(case["upstream"]) == case["expect"]
            return "" if same else WHY["score"]
        if s == "edit-pair":
            e = case["expect"]
            same = e != UNPARSED and case["upstream"] == f"{case['a']:g},{case['b']:g}"
            return "" if same else ("upstream takes the first two decimals anywhere in the "
                                    "answer; here labelled scores, or exactly two numbers")
        return WHY["score-na"]
    up = case["upstream"]
    if up == "n/a":
        return WHY[{"critic": "critic", "edit": "edit", "flex": "flex"}.get(
            case["group"], "critic")]
    exp = case["expect"]
    if (exp == UNPARSED and up == "none") or up == exp:
        return ""
    return WHY["think"] if case["group"] == "think" and up not in ("none",) and \
        case["cat"] == "think" else WHY[case["cat"]]


def main() -> None:
    cases = []
    for u in UNITS:
        cases += generated(u)
    cases += [{"group": g, "scheme": s, "text": t, "expect": e, "cat": c}
              for g, s, t, e, c in HAND]
    cases += think_cases() + flex_cases() + score_cases()
    for c in cases:
        c["upstream"] = upstream(c)
        c["why"] = why(c)
    out = HERE / "parser_cases.jsonl"
    with out.open("w", encoding="utf-8") as f:
        for c in cases:
            f.write(json.dumps(c, ensure_ascii=False) + "\n")
    counts: dict[str, int] = {}
    for c in cases:
        counts[c["group"]] = counts.get(c["group"], 0) + 1
    print(out, counts)


if __name__ == "__main__":
    main()
