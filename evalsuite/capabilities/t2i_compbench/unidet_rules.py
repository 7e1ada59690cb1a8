"""T2I-CompBench's per-image rules on UniDet detections: spatial, 3d_spatial, numeracy and the
spatial term of complex, as the official scripts compute them.

Reference: github Karine-Huang/T2I-CompBench @ 1b7094991a57f3c22abdd4f6e8ba6c1a15517073,
``UniDet_eval/2D_spatial_eval.py`` (spatial; ``--complex True`` for the complex category),
``UniDet_eval/3D_spatial_eval.py`` (3d_spatial) and ``UniDet_eval/numeracy_eval.py``
(numeracy). Every quirk of those scripts is kept, because the published numbers come from
them:

* detections are in the detector's order (score descending); ``list.index`` / the first
  match picks the best-scoring detection of a class;
* a prompt's objects are spaCy ``en_core_web_sm`` tokens: the first and the last ``NOUN``
  (simple prompts), or the nouns around a preposition (complex); ``girl/boy/man/woman`` are
  looked up as ``person``;
* spatial: ``0.25 * score1 + 0.25 * score2 + relation / 2`` when both objects are detected,
  ``0.25 * score`` when one is, else 0; then a score under 0.5 becomes 0 (2D script only);
  the relation is the first of :data:`SPATIAL_WORDS` contained in the prompt - ``on top of``
  is matched but scores 0 (the rule knows only ``on the top of``); ``on the bottom of`` /
  ``on the top of`` give 0 (not 0.0 checks) when the vertical order is wrong;
* 3d_spatial: objects match by *substring* of the detected class names, and the position
  loop keeps overwriting the first object's index until both are found; the depth map is
  indexed ``depth[x_min:x_max, y_min:y_max]`` (x on the row axis, as upstream); the mean of
  an empty slice is NaN, which makes every depth comparison false; no 0.5 floor;
* numeracy: detections of one class overlapping by IoU > 0.9 (or covering > 90 % of either
  box, with the ``+ 1`` pixel areas) are merged first; number words are the exact tokens
  ``a an one two ... eight`` (case-sensitive), converted by ``word2number`` (``a`` / ``an``
  raise there and the count is skipped, which shifts the count list against the object list
  exactly as upstream); each object weighs ``1 / #objects``: half for being detected, half
  for the exact count.

Where an upstream script would raise (a prompt with no noun, no counted object, a number word
as the last token, a count list shorter than the object list), :class:`UpstreamRaises` is
raised here with the reason, and the image is a per-item error - never a made-up score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple, Sequence

SPATIAL_WORDS = ("on side of", "next to", "near", "on the left of", "on the right of",
                 "on the bottom of", "on the top of", "on top of")  # 2D_spatial_eval.py order
SPATIAL_3D_WORDS = ("in front of", "behind", "hidden")  # 3D_spatial_eval.py order
COMPLEX_PREPOSITIONS = ("on top of", "on bottom of", "on the left", "on the right", "next to",
                        "on side of", "near")
PERSON_WORDS = ("girl", "boy", "man", "woman")
NUMBER_WORDS = ("a", "an", "one", "two", "three", "four", "five", "six", "seven", "eight")
SINGLE_WORDS = ("a", "an", "one")
# numeracy_eval.py's renames of prompt objects to detector class names (in this order)
NUMERACY_RENAMES = {"boy": "person", "girl": "person", "man": "person", "woman": "person",
                    "ship": "boat", "telivision": "tv", "goldfish": "fish",
                    "painting": "picture"}
IOU_THRESHOLD = 0.1  # determine_position defaults
DISTANCE_THRESHOLD = 150
IOU_THRESHOLD_3D = 0.5
SPATIAL_FLOOR = 0.5  # 2D_spatial_eval.py: score < 0.5 -> 0


class UpstreamRaises(ValueError):
    """The official script raises on this image (the reason says where)."""


class Token(NamedTuple):
    """One spaCy token: text, coarse POS (``token.pos_``) and trailing whitespace."""
    text: str
    pos: str
    ws: str = " "


def span_text(tokens: Sequence[Token], start: int, stop: int) -> str:
    """spaCy's ``doc[start:stop].text``: the tokens with their whitespace, minus the last
    token's."""
    part = tokens[start:stop]
    return "".join(t.text + t.ws for t in part[:-1]) + (part[-1].text if part else "")


@dataclass(frozen=True)
class Detections:
    """One image's detections in the detector's order: class names, boxes (x1, y1, x2, y2
    in input pixels, as Python floats) and scores."""
    names: list[str]
    boxes: list[tuple[float, float, float, float]]
    scores: list[float]


def _iou(b1, b2) -> float:
    """determine_position's IoU (no +1)."""
    x_overlap = max(0, min(b1[2], b2[2]) - max(b1[0], b2[0]))
    y_overlap = max(0, min(b1[3], b2[3]) - max(b1[1], b2[1]))
    inter = x_overlap * y_overlap
    union = (b1[2] - b1[0]) * (b1[3] - b1[1]) + (b2[2] - b2[0]) * (b2[3] - b2[1]) - inter
    if union == 0:
        raise UpstreamRaises("determine_position: IoU of two empty boxes (division by zero)")
    return inter / union


def _directional(primary: float, secondary: float, iou: float) -> float:
    """The left/right/top/bottom rule once the sign of the primary offset is right."""
    if abs(primary) > abs(secondary):
        return 1 if iou < IOU_THRESHOLD else IOU_THRESHOLD / iou
    return 0


def _mean_depth(depth, box) -> float:
    """``depth_map[int(x_min):int(x_max), int(y_min):int(y_max)].mean()`` on the float32
    torch map (rows indexed by x, as upstream); NaN for an empty slice."""
    region = depth[int(box[0]):int(box[2]), int(box[1]):int(box[3])]
    return float(region.mean()) if region.numel() else math.nan


def relation_score(locality: str | None, box1, box2, depth=None) -> float:
    """``determine_position`` of 3D_spatial_eval.py (its 2D branches are 2D_spatial_eval.py's,
    unchanged): box1 is the first object, box2 the second; ``depth`` a 2-D float32 torch
    tensor for ``in front of`` / ``behind`` / ``hidden``."""
    c1 = ((box1[0] + box1[2]) / 2, (box1[1] + box1[3]) / 2)
    c2 = ((box2[0] + box2[2]) / 2, (box2[1] + box2[3]) / 2)
    dx, dy = c2[0] - c1[0], c2[1] - c1[1]
    iou = _iou(box1, box2)
    if locality in ("next to", "on side of", "near"):
        if abs(dx) < DISTANCE_THRESHOLD or abs(dy) < DISTANCE_THRESHOLD:
            return 1
        return DISTANCE_THRESHOLD / max(abs(dx), abs(dy))
    if locality == "on the right of":
        return _directional(dx, dy, iou) if dx < 0 else 0
    if locality == "on the left of":
        return _directional(dx, dy, iou) if dx > 0 else 0
    if locality == "on the bottom of":
        return _directional(dy, dx, iou) if dy < 0 else 0
    if locality == "on the top of":
        return _directional(dy, dx, iou) if dy > 0 else 0
    if locality in ("in front of", "behind", "hidden"):
        diff = _mean_depth(depth, box1) - _mean_depth(depth, box2)
        right_order = diff > 0 if locality == "in front of" else diff < 0  # NaN: False
        if iou > IOU_THRESHOLD_3D:
            return 1 if right_order else 0
        if 0 < iou < IOU_THRESHOLD_3D:
            return iou / IOU_THRESHOLD_3D if right_order else 0
        return 0
    return 0


def first_contained(prompt: str, words: Sequence[str]) -> str | None:
    return next((w for w in words if w in prompt), None)


def _nouns(tokens: Sequence[Token]) -> list[str]:
    return [t.text for t in tokens if t.pos == "NOUN"]


def simple_objects(tokens: Sequence[Token]) -> tuple[str, str]:
    """The first and the last NOUN token."""
    nouns = _nouns(tokens)
    if not nouns:
        raise UpstreamRaises("no NOUN token in the prompt (upstream: IndexError)")
    return nouns[0], nouns[-1]


def complex_objects(tokens: Sequence[Token]) -> tuple[str | None, str | None]:
    """2D_spatial_eval.py ``--complex``: for each preposition of
    :data:`COMPLEX_PREPOSITIONS` starting at a token (3-, then 2-, then 1-token spans), the
    nearest NOUN/PROPN before it and the nearest NOUN after it (or, when the scan after it
    reaches the last token without a NOUN, the first PROPN not followed by a PROPN); the pair
    only when exactly two objects were found."""
    objects: list[str] = []
    n = len(tokens)
    for i in range(n):
        k = next((k for k in (3, 2, 1) if span_text(tokens, i, i + k) in COMPLEX_PREPOSITIONS),
                 None)
        if k is None:
            continue
        before = next((tokens[j].text for j in range(i - 1, -1, -1)
                       if tokens[j].pos in ("NOUN", "PROPN")), None)
        if before is not None:
            objects.append(before)
        reached_end = False
        for j in range(i + k, n):
            if tokens[j].pos == "NOUN":
                objects.append(tokens[j].text)
                break
            if j == n - 1:
                reached_end = True
        if reached_end:
            for j in range(i + k, n):
                if j + 1 < n and tokens[j].pos == "PROPN" and tokens[j + 1].pos != "PROPN":
                    objects.append(tokens[j].text)
                    break
    return (objects[0], objects[1]) if len(objects) == 2 else (None, None)


def _as_person(name):
    return "person" if name in PERSON_WORDS else name


def spatial_score(prompt: str, tokens: Sequence[Token], det: Detections,
                  complex_prompt: bool = False) -> float:
    """One image of 2D_spatial_eval.py (``complex_prompt``: its ``--complex True`` mode)."""
    locality = first_contained(prompt, SPATIAL_WORDS)
    obj1, obj2 = complex_objects(tokens) if complex_prompt else simple_objects(tokens)
    obj1, obj2 = _as_person(obj1), _as_person(obj2)
    names = det.names
    if obj1 in names and obj2 in names:
        i, j = names.index(obj1), names.index(obj2)
        score = 0.25 * det.scores[i] + 0.25 * det.scores[j]
        score += relation_score(locality, det.boxes[i], det.boxes[j]) / 2
    elif obj1 in names:
        score = 0.25 * det.scores[names.index(obj1)]
    elif obj2 in names:
        score = 0.25 * det.scores[names.index(obj2)]
    else:
        score = 0
    return 0 if score < SPATIAL_FLOOR else score


def spatial_3d_score(prompt: str, tokens: Sequence[Token], det: Detections, depth) -> float:
    """One image of 3D_spatial_eval.py; ``depth`` is the image's depth map as the script reads
    it back, a float32 torch tensor (see :mod:`evalsuite.capabilities.t2i_compbench.depth`)."""
    locality = first_contained(prompt, SPATIAL_3D_WORDS)
    obj1, obj2 = (_as_person(o) for o in simple_objects(tokens))
    names = det.names
    joined = " ".join(names)
    if obj1 in joined and obj2 in joined:
        i = j = None
        for n, name in enumerate(names):  # upstream keeps overwriting i until j is found
            if obj1 in name:
                i = n
            if obj2 in name:
                j = n
            if i is not None and j is not None:
                break
        if i is None or j is None:
            raise UpstreamRaises("an object name spans two detected class names "
                                 "(upstream: TypeError)")
        score = 0.25 * det.scores[i] + 0.25 * det.scores[j]
        score += relation_score(locality, det.boxes[i], det.boxes[j], depth) / 2
    elif obj1 in joined:
        score = 0.25 * det.scores[next(n for n, s in enumerate(names) if obj1 in s)]
    elif obj2 in joined:
        score = 0.25 * det.scores[next(n for n, s in enumerate(names) if obj2 in s)]
    else:
        score = 0
    return score


def same_object(b1, b2) -> bool:
    """numeracy_eval.py ``calculate_iou``: IoU > 0.9, or the intersection covers > 90 % of
    either box (areas with the ``+ 1`` pixel convention)."""
    ix = max(0, min(b1[2], b2[2]) - max(b1[0], b2[0]) + 1)
    iy = max(0, min(b1[3], b2[3]) - max(b1[1], b2[1]) + 1)
    inter = ix * iy
    a1 = (b1[2] - b1[0] + 1) * (b1[3] - b1[1] + 1)
    a2 = (b2[2] - b2[0] + 1) * (b2[3] - b2[1] + 1)
    iou = inter / float(a1 + a2 - inter)
    return iou > 0.9 or inter / float(a1) > 0.9 or inter / float(a2) > 0.9


def merge_duplicates(det: Detections) -> list[str]:
    """The class names left after merging same-class detections that :func:`same_object`
    calls one object (each compared with the kept ones, in order)."""
    kept_names: list[str] = []
    kept_boxes: list[Any] = []
    for name, box in zip(det.names, det.boxes):
        if not any(name == kn and same_object(box, kb) for kn, kb in zip(kept_names, kept_boxes)):
            kept_names.append(name)
            kept_boxes.append(box)
    return kept_names


def read_objects(text: str) -> tuple[list[str], list[str]]:
    """``examples/dataset/new_objects.txt``: ``singular - plural`` per line, lower-cased."""
    singular, plural = [], []
    for n, line in enumerate(text.splitlines(), 1):
        parts = line.split(" - ")
        if len(parts) < 2:
            raise ValueError(f"new_objects.txt line {n} is not 'singular - plural': {line!r}")
        singular.append(parts[0].strip().lower())
        plural.append(parts[1].strip().lower())
    return singular, plural


def _word_to_num(word: str) -> int | None:
    """word2number's ``w2n.word_to_num`` (upstream), None where it raises (``a`` / ``an``)."""
    from word2number import w2n
    try:
        return w2n.word_to_num(word)
    except ValueError:
        return None


def counted_objects(tokens: Sequence[Token], singular: Sequence[str], plural: Sequence[str]
                    ) -> tuple[list[str], list[int]]:
    """numeracy_eval.py's prompt parse: the objects (singular names) and, separately, the
    counts - the two lists are not aligned when a count was skipped (upstream behaviour)."""
    objs: list[str] = []
    counts: list[int] = []
    n = len(tokens)

    def count(word):
        c = _word_to_num(word)
        if c is not None:
            counts.append(c)

    for i, tok in enumerate(tokens):
        if tok.text not in NUMBER_WORDS:
            continue
        two = f"{tokens[i + 1].text} {tokens[i + 2].text}" if i < n - 2 else None
        if two is not None and (two in singular or two in plural):
            if two in plural and tok.text not in SINGLE_WORDS:
                objs.append(singular[plural.index(two)])
                count(tok.text)
            else:
                counts.append(1)
                objs.append(two)
            continue
        if i + 1 >= n:
            raise UpstreamRaises(f"number word {tok.text!r} is the last token "
                                 "(upstream: IndexError)")
        nxt = tokens[i + 1].text
        if nxt in singular or nxt in plural:
            if nxt in singular and tok.text in SINGLE_WORDS:
                counts.append(1)
                objs.append(nxt)
            else:
                if nxt not in plural:
                    raise UpstreamRaises(f"{tok.text!r} {nxt!r}: a count above one before a "
                                         "singular noun (upstream: ValueError in list.index)")
                objs.append(singular[plural.index(nxt)])
                count(tok.text)
    return objs, counts


def numeracy_score(tokens: Sequence[Token], det: Detections, singular: Sequence[str],
                   plural: Sequence[str]) -> float:
    """One image of numeracy_eval.py."""
    objs, counts = counted_objects(tokens, singular, plural)
    if not objs:
        raise UpstreamRaises("no counted object in the prompt (upstream: ZeroDivisionError)")
    detected = merge_duplicates(det)
    weight = 1.0 / len(objs)
    score = 0
    for i, obj in enumerate(objs):
        obj = NUMERACY_RENAMES.get(obj, obj)
        if obj not in detected:  # a detected name containing the object is renamed to it
            detected = [obj if obj in d else d for d in detected]
        if obj in detected:
            score += 0.5 * weight
            if i >= len(counts):
                raise UpstreamRaises("fewer counts than objects (upstream: IndexError)")
            if detected.count(obj) == counts[i]:
                score += 0.5 * weight
    return score
