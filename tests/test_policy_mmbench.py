"""MMBench / Video-MME with a VLM policy: letter extraction, CircularEval by hand, and the
CLI end to end on the tiny Qwen2.5-VL (scripted to answer "B") and fixture data."""

from __future__ import annotations

import json

import pytest

from evalsuite.policies.letters import extract_letter
from evalsuite.policies.mmbench import circular_eval, circular_groups
from evalsuite.types import ParseStatus

OPTS = {"A": "red", "B": "green", "C": "blue", "D": "yellow"}


@pytest.mark.parametrize("raw,letter,rule", [
    ("B", "B", "exact"), ("(C)", "C", "exact"), ("D.", "D", "exact"),
    ("B. green", "B", "prefix"), ("(A) red", "A", "prefix"),
    ("The answer is C.", "C", "phrase"), ("Answer: (D)", "D", "phrase"),
    ("I think it is B here", "B", "single"),
    ("It looks blue to me", "C", "text"),
])
def test_letter_extraction(raw, letter, rule):
    r = extract_letter(raw, OPTS)
    assert (r.letter, r.rule, r.status) == (letter, rule, ParseStatus.PARSED)


@pytest.mark.parametrize("raw", ["", "no idea", "A or B", "It is a red or green thing",
                                 "E", "A cat sits on a mat"])
def test_letter_unparsed_never_guessed(raw):
    r = extract_letter(raw, OPTS)
    assert r.letter is None and r.status == ParseStatus.UNPARSED


def test_circular_eval_by_hand():
    # question 7: 4 copies (7, 1000007, 2000007, 3000007), one wrong -> 0
    # question 8: 2 copies both right -> 1; question 9: single row right -> 1
    # 5000010: a copy without its main row is not a question
    correct = {7: True, 1000007: True, 2000007: False, 3000007: True,
               8: True, 1000008: True, 9: True, 5000010: True}
    assert circular_groups(list(correct))[7] == [7, 1000007, 2000007, 3000007]
    assert circular_eval(correct) == {7: False, 8: True, 9: True}


@pytest.fixture(scope="module")
def vlm_b(tmp_path_factory):
    """The tiny Qwen2.5-VL fixture with greedy decoding scripted to answer 'B'."""
    from evalsuite.fixtures.qwen_vl import build_qwen_vl
    return build_qwen_vl(tmp_path_factory.mktemp("vlm") / "qwen-b", scripted_reply="B")


def _cli(args):
    from typer.testing import CliRunner

    from evalsuite.cli import app
    return CliRunner().invoke(app, ["eval-policy", "--no-progress", *args])


def test_mmbench_end_to_end_circular(fx, vlm_b, tmp_path):
    """Every answer is 'B'. Fixture questions (answer of the main row, copies): q0 A x4,
    q1 B x2, q2 C x3, q3 B x4. Vanilla: q1, q3 right = 2/4. Circular: no question has B
    as the answer in every rotation -> 0/4. The bad row (answer D with 2 options) is an
    error, not a question."""
    args = ["--policy", "qwen2.5-vl", "--model-path", str(vlm_b), "--bench", "mmbench",
            "--data-path", str(fx("mmbench") / "MMBench_DEV_EN.tsv"), "--out", str(tmp_path),
            "--run-name", "mmb", "-B", "3", "--max-error-rate", "0.2"]
    r = _cli(args)
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "mmb" / "results.json").read_text())
    assert res["policy"]["policy"] == "qwen2.5-vl" and "judge" not in res
    assert res["benchmark"]["benchmark"] == "mmbench"
    m = res["metrics"]
    # 95% bootstrap CIs over the 4 questions: a resample is all-wrong (or all-right) with
    # probability 1/2**4 = 6.25% > 2.5%, so the vanilla CI is [0, 1]; circular is 0 always.
    assert m["vanilla_accuracy"] == {"value": 0.5, "n": 4, "ci95": [0.0, 1.0]}
    assert m["circular_accuracy"] == {"value": 0.0, "n": 4, "ci95": [0.0, 0.0]}
    assert m["unparsed_rate"]["value"] == 0.0
    assert res["counts"] == {"items": 14, "units": 14, "answered": 13, "errors": 1,
                             "unparsed": 0}
    assert res["circular"]["copies_per_question"] == {"2": 1, "3": 1, "4": 2}
    rows = [json.loads(x) for x in (tmp_path / "mmb" / "samples.jsonl").read_text().splitlines()]
    assert {x["prediction"] for x in rows if x.get("status") == "parsed"} == {"B"}
    assert any("not one of the options" in (x.get("error") or "") for x in rows)
    # resume: nothing is recomputed, results.json is byte-identical
    before = (tmp_path / "mmb" / "results.json").read_bytes()
    r = _cli(args)
    assert r.exit_code == 0 and "computed now: 0" in " ".join(r.output.split())
    assert (tmp_path / "mmb" / "results.json").read_bytes() == before


def test_video_mme_end_to_end(fx, vlm_b, tmp_path):
    """Fixture: 3 videos (short/medium/long) x 2 questions, answers A then B; a 7th question's
    video is missing (recorded error). All answers 'B' -> 3/7 overall, 1/3 short (the failed
    one is short), 1/2 medium, 1/2 long."""
    r = _cli(["--policy", "qwen2.5-vl", "--model-path", str(vlm_b), "--bench", "video-mme",
              "--data-path", str(fx("video-mme")), "--bench-option", "num_frames=4",
              "--out", str(tmp_path), "--run-name", "vm", "--max-error-rate", "0.2"])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "vm" / "results.json").read_text())
    m = res["metrics"]
    assert m["accuracy"]["value"] == pytest.approx(3 / 7)
    assert m["accuracy_short"]["value"] == pytest.approx(1 / 3)
    assert m["accuracy_medium"]["value"] == 0.5 and m["accuracy_long"]["value"] == 0.5
    assert res["counts"]["errors"] == 1
    assert "missing file" in res["errors_sample"][0]["error"]


def test_vlm_batched_left_padding_matches_one_by_one(fx):
    """Greedy answers of a padded batch (prompts of different lengths, with and without a
    hint) equal the answers generated one at a time: left padding + attention mask are right."""
    from evalsuite.policies.mmbench import MMBench
    from evalsuite.policies.vlm import QwenVLPolicy

    items = {}
    for x in MMBench().load_items(str(fx("mmbench")), None):
        if hasattr(x, "prompt"):
            items.setdefault(x.group, x)  # one row per question: different prompt lengths
    items = list(items.values())[:3]
    assert len({len(x.prompt) for x in items}) > 1
    pol = QwenVLPolicy(model_path=str(fx("unifiedreward-qwen")), device="cpu",
                       max_new_tokens=6)
    pol.load()
    prepared = [pol.prepare_mcq(x) for x in items]
    batched = pol.answer_batch(prepared)
    single = [pol.answer_batch([p])[0] for p in prepared]
    assert batched == single
