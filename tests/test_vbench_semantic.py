"""VBench's GRiT / Tag2Text dimension checks against the upstream code (test-only extract in
tests/reference/vbench_semantic_dims.py), on many generated detections, adversarial ones
included (substrings, plural forms, colour words inside words, empty frames, degenerate
boxes)."""

from __future__ import annotations

import random

import pytest

from evalsuite.capabilities.vbench import formulas as D
from tests.reference import vbench_semantic_dims as R

WORDS = ["cat", "cats", "dog", "a cat", "car", "red car", "blue", "bird", "person", "",
         "umbrella", "bicycle", "tv", "cat dog", "scat"]
DESCS = ["a red car", "blue umbrella", "reddish cat", "white and grey bird", "", "cat",
         "greyhound dog", "a silver tv", "greenhouse", "pinkish bicycle", "orange cat",
         "black dog on grass", "blue"]


def _boxes(rng: random.Random, n: int, side: int = 64) -> list[list[int]]:
    out = []
    for _ in range(n):
        x0, y0 = rng.randrange(side), rng.randrange(side)
        out.append([x0, y0, x0 + rng.randrange(1, side), y0 + rng.randrange(1, side)])
    return out


def _frame(rng: random.Random, dense: bool) -> tuple:
    """A frame's ``run_caption_tensor`` result: (list of (desc, int box, det_obj), vis)."""
    n = rng.choice([0, 0, 1, 2, 3, 5])
    det = [rng.choice(WORDS) for _ in range(n)]
    descs = [rng.choice(DESCS) for _ in range(n)] if dense else det
    return ([(d, b, det) for d, b in zip(descs, _boxes(rng, n))], None)


@pytest.mark.parametrize("seed", range(40))
def test_object_checks_match_upstream(seed):
    rng = random.Random(seed)
    frames = [_frame(rng, dense=False) for _ in range(16)]
    sets = [D.frame_objects(f[0]) for f in frames]
    assert sets == [R.object_class_frame(f) for f in frames]
    assert sets == [R.multiple_objects_frame(f) for f in frames]
    for obj in WORDS:
        assert D.object_class_count(obj, sets) == R.object_class_check_generate(obj, sets)
    for key in ("cat and dog", "red car and bird", "cat and  cats ", "dog and ", " and cat"):
        assert D.multiple_objects_count(key, sets) == \
            R.multiple_objects_check_generate(key, sets)


def test_multiple_objects_needs_exactly_one_and():
    for key in ("cat", "cat and dog and bird"):
        with pytest.raises(ValueError):
            R.multiple_objects_check_generate(key, [set()])
        with pytest.raises(ValueError):
            D.multiple_objects_count(key, [set()])


@pytest.mark.parametrize("seed", range(40))
def test_color_matches_upstream(seed):
    rng = random.Random(seed)
    frames = [_frame(rng, dense=True) for _ in range(16)]
    pairs = [D.color_frame_pairs(f[0]) for f in frames]
    assert [[list(p) for p in fp] for fp in pairs] == [R.color_frame(f) for f in frames]
    for prompt, color in (("a red car", "red"), ("a blue umbrella", "blue"),
                          ("an orange cat", "orange"), ("a man with a red hat", "red"),
                          ("a white and grey bird", "white"), ("a pizza on a table", "red")):
        obj = D.color_object(prompt, color)
        assert obj == R.color_object_info(prompt, color)
        assert D.color_counts(color, obj, pairs) == R.color_check_generate(color, obj, pairs)
        for name in WORDS:  # the object name against every detection name
            assert D.color_counts(color, name, pairs) == R.color_check_generate(color, name,
                                                                                pairs)


def test_color_by_hand():
    # the frame's first ObjectDet name labels every box: "cat" here, so the "dog" box counts
    frames = [[("blue dog", "cat"), ("red cat", "cat")], [("", "")], [("blue cat", "dog")]]
    assert D.color_counts("blue", "cat", frames) == (1, 1)
    assert D.color_counts("green", "cat", frames) == (1, 0)
    assert D.color_counts("blue", "dog", frames) == (1, 1)


@pytest.mark.parametrize("seed", range(60))
def test_spatial_matches_upstream(seed):
    rng = random.Random(seed)
    frames = [_frame(rng, dense=False) for _ in range(16)]
    preds = [R.spatial_frame(f) for f in frames]
    for rel in ("on the left of", "on the right of", "on the top of", "on the bottom of",
                "left", "of", "near", ""):
        key = {"object_a": rng.choice(WORDS), "object_b": rng.choice(WORDS),
               "relationship": rel}
        try:
            want = R.spatial_check_generate(key, preds)
        except ZeroDivisionError:
            with pytest.raises(ZeroDivisionError):
                D.spatial_frame_scores(key, [f[0] for f in frames])
            continue
        got = D.spatial_frame_scores(key, [f[0] for f in frames])
        assert got == want


def test_position_score_adversarial():
    rng = random.Random(0)
    boxes = _boxes(rng, 300, side=8) + [[0, 0, 4, 4], [4, 0, 8, 4], [0, 4, 4, 8],
                                         [1, 1, 3, 3], [0.5, 0.5, 3.5, 3.5]]
    for rel in ("on the left of", "on the top of", "on the right of", "in front of", "o"):
        for _ in range(2000):
            a, b = rng.choice(boxes), rng.choice(boxes)
            assert D.position_score(rel, a, b) == R.get_position_score(rel, a, b)
    # identical boxes: IoU 1 -> threshold / IoU, but centres equal: not along either axis
    assert D.position_score("on the left of", [0, 0, 4, 4], [0, 0, 4, 4]) == 0
    # touching side by side: IoU 0 -> 1; half overlap: IoU 1/3 -> 0.1 / (1/3)
    assert D.position_score("on the left of", [0, 0, 4, 4], [4, 0, 8, 4]) == 1
    assert D.position_score("on the left of", [0, 0, 4, 4], [2, 0, 6, 4]) == \
        pytest.approx(0.3, rel=1e-12)
    for f in (D.position_score, R.get_position_score):  # two empty boxes: upstream raises
        with pytest.raises(ZeroDivisionError):
            f("on the left of", [1, 1, 1, 5], [2, 2, 2, 9])


@pytest.mark.parametrize("seed", range(20))
def test_scene_matches_upstream(seed):
    rng = random.Random(seed)
    vocab = ["a", "an alley", "alley", "kitchen", "the", "beach", "at night", "bar", "barn",
             "living room", "room", "living"]
    caps = [" ".join(rng.choice(vocab) for _ in range(rng.randrange(0, 6))) for _ in range(16)]
    for scene in ("alley", "living room", "bar", "ocean", "a", "", "room  living"):
        assert D.scene_count(scene, caps) == R.scene_check_generate({"scene": scene}, caps)


def test_grit_resize_rule():
    assert D.grit_resize_size(720, 1280) is None and D.grit_resize_size(768, 1000) is None
    assert D.grit_resize_size(1080, 1920) == (720, 1280)
    assert D.grit_resize_size(769, 1000) == (int(720 / 769 * 769), int(720 / 769 * 1000))
