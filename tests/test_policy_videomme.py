"""Video-MME against lmms-eval itself (the test-only extract
``reference/lmms_eval_videomme.py``): prompts with and without subtitles, the subtitle lines
picked from generated ``.srt`` files, ``extract_characters_regex`` on hundreds of generated
answers, and the aggregation's log; then the CLI end to end on the tiny Qwen2.5-VL."""

from __future__ import annotations

import json
import random

import pytest
from reference import lmms_eval_videomme as ref

from evalsuite.policies.base import McqItem
from evalsuite.capabilities.videomme import VideoMME
from evalsuite.types import ItemError, RunRecord, Score

# lmms_eval_specific_kwargs "default" of videomme.yaml / videomme_w_subtitle.yaml
KWARGS = {"pre_prompt": "",
          "post_prompt": "\nAnswer with the option's letter from the given choices directly."}
KWARGS_SUB = {"frame_num": 32, "pre_prompt": "",
              "post_prompt": "\nAnswer the question using a single word or phrase."}
OPTION_TEXTS = ["Up.", "Left to right.", "Daily life", "A dog", "Because of the rain", "3",
                "Basketball", "CD player", "It does not move.", "答案", "(B) shirt", "None"]


def gen_answer(rng: random.Random, options: list[str]) -> str:
    x, y = rng.choice("ABCD"), rng.choice("ABCD")
    text = options["ABCD".index(x)].split(". ", 1)[1]
    filler = rng.choice(["Looking at the video, a Dog runs", "In the first scene the man",
                         "After watching carefully I think", "Both options"])
    return rng.choice([
        x, f"({x})", f"{x}.", f"{x}:", f"{x})", f"{x} ", x.lower(), f"**{x}**", f" {x}\n",
        f"{x}. {text}", f"({x}) {text}", text, text.lower(), f"{text}.", f"The answer is {x}.",
        f"the answer is {x.lower()}", f"The best answer is: {x}", f"Answer: {x}",
        f"I choose {x}", f"My answer is ({x})", f"答案是{x}", f"选{x}", f"정답은 {x}",
        f"{filler}, so the answer is {x}.", f"{filler} {x}", f"Option {y} is wrong; {x} is "
        f"right", f"{x} or {y}", f"{x} and {y}", f"{x}.{y}.", f"{filler}", "", "   ", "None",
        f"{x}{y}", f"\"{x}\"", f"'{x}'", f"{x}!", f"{x}?", f"{x},", f"The correct option is "
        f"{x}, not {y}.", f"{filler}: {x}", f"Daily", f"CD", f"{x}\n\n{filler}",
        f"<think>{y}</think>{x}", f"Probably {x}. Not sure", f"Probably {x}: maybe",
        f"Probably {x}) maybe", f"Not {y} but {x},", f"Not {y} but {x}!?"])


def gen_doc(rng: random.Random, i: int) -> dict:
    opts = [f"{c}. {t}" for c, t in zip("ABCD", rng.sample(OPTION_TEXTS, 4))]
    return {"question_id": f"{i:03d}-1", "videoID": f"v{i}", "video_id": str(i),
            "duration": rng.choice(ref.VIDEO_TYPE), "domain": rng.choice(ref.CATEGORIES),
            "sub_category": rng.choice(ref.SUB_CATEGORIES),
            "task_type": rng.choice(ref.TASK_CATEGORIES),
            "question": rng.choice(["What happens?", "How many?\nCount.", "为什么?"]),
            "options": opts, "answer": rng.choice("ABCD")}


def test_extraction_agrees_with_lmms_eval_on_generated_answers():
    rng = random.Random(0)
    bench = VideoMME()
    rules = set()
    for _ in range(1500):
        opts = [f"{c}. {t}" for c, t in zip("ABCD", rng.sample(OPTION_TEXTS, 4))]
        raw = gen_answer(rng, opts)
        it = McqItem("q", "?", {c: o[3:] for c, o in zip("ABCD", opts)}, "A")
        got = bench.extract(raw, it)
        assert (got.letter or "") == ref.extract_characters_regex(raw), raw
        rules.add(got.rule)
    assert rules == {"start", "end", "phrase", "parentheses", "period", "colon", "right_paren",
                     "space", "fallback", None}


@pytest.mark.parametrize("raw,letter", [
    ("Left to right.", ""),  # option text only: no letter, wrong (as upstream)
    ("Daily life", "D"),  # upstream's last resort: any capital choice letter
    ("(A) is wrong, the answer is B", "B"),
])
def test_reported_cases(raw, letter):
    assert ref.extract_characters_regex(raw) == letter
    assert (VideoMME().extract(raw, McqItem("q", "?", {}, "A")).letter or "") == letter


def test_scores_agree_with_lmms_eval_aggregation():
    """Generated questions over every duration / domain / sub-category / task type (names
    that contain one another included), answered by generated text: the log lines of
    videomme_aggregate_results and its overall score."""
    rng = random.Random(1)
    docs = [gen_doc(rng, i) for i in range(600)]
    preds = [gen_answer(rng, d["options"]) for d in docs]
    ref.LOG.clear()
    overall = ref.videomme_aggregate_results(
        [ref.videomme_process_results(d, [p])["videomme_perception_score"]
         for d, p in zip(docs, preds)])
    bench = VideoMME()
    items, records = [], {}
    for d, p in zip(docs, preds):
        it = McqItem(d["question_id"], d["question"],
                     {c: o[3:] for c, o in zip("ABCD", d["options"])}, d["answer"],
                     category=d["duration"], meta=d)
        r = bench.extract(p, it)
        items.append(it)
        records[("answer", it.item_id)] = RunRecord(it.item_id, "answer", score=Score(
            None, r.status, p, {"letter": r.letter, "rule": r.rule}))
    m = bench.metrics(items, records)
    assert m["reference_log"] == ref.LOG
    assert 100 * m["metrics"]["accuracy"]["value"] == pytest.approx(overall, rel=1e-12)
    assert m["metrics"]["accuracy"]["n"] == 600
    # "Multilingual" is a domain and a sub-category: upstream counts each over the keys
    # that contain the name
    multi = [ok for ok in (records[("answer", it.item_id)].score.extras["letter"] == it.answer
                           for it in items if "Multilingual" in (it.meta["domain"],
                                                                it.meta["sub_category"]))]
    assert m["breakdown"]["domain:Multilingual"]["accuracy"]["n"] == len(multi)


def test_prompts_are_lmms_eval_doc_to_text(fx):
    root = fx("video-mme")
    ref.CACHE_DIR = str(root)
    import pandas as pd
    docs = {r["question_id"]: {**r, "options": list(r["options"])} for r in
            pd.read_parquet(root / "videomme" / "test-00000-of-00001.parquet").to_dict("records")}
    plain = VideoMME().load_items(str(root), None)
    subs = VideoMME(subtitles="true").load_items(str(root), None)
    assert len(plain) == len(subs) == len(docs) == 7
    for a, b in zip(plain, subs):
        assert a.prompt == ref.videomme_doc_to_text(docs[a.item_id], KWARGS)
        assert b.prompt == ref.videomme_doc_to_text_subtitle(docs[b.item_id], KWARGS_SUB)
    shown = {x.meta["videoID"]: x.prompt.split("\nSelect")[0] for x in subs}
    assert shown["fx0001short"].endswith("Look at the square\nIt moves")
    assert shown["fx0003long"].endswith("No subtitles available")


def _srt(rng: random.Random) -> str:
    blocks = []
    for n in range(rng.randint(1, 8)):
        a = rng.randint(0, 1600)
        b = a + rng.randint(1, 900)
        stamp = [f"00:00:{t // 1000:02d},{t % 1000:03d}" for t in (a, b)]
        if rng.random() < 0.15 and blocks:
            stamp = blocks[-1][1]  # the same span again: the later block replaces it
        lines = [f'<font color="white" size=".72c">line {n}.{k}</font>' if rng.random() < 0.8
                 else f"plain {n}.{k}" for k in range(rng.randint(1, 2))]
        blocks.append((str(n + 1), stamp, lines))
    return "\n\n".join("\n".join([i, " --> ".join(s), *ls]) for i, s, ls in blocks) + "\n"


def test_subtitle_selection_agrees_with_lmms_eval(fx, tmp_path):
    """Generated .srt files for the fixture videos (12 frames at 8 fps), sampled at several
    frame counts (-1: every frame)."""
    rng = random.Random(2)
    (tmp_path / "data").symlink_to(fx("video-mme") / "data")
    (tmp_path / "videomme").symlink_to(fx("video-mme") / "videomme")
    ref.CACHE_DIR = str(tmp_path)
    import pandas as pd
    docs = {r["question_id"]: {**r, "options": list(r["options"])} for r in pd.read_parquet(
        tmp_path / "videomme" / "test-00000-of-00001.parquet").to_dict("records")}
    seen = set()
    for trial in range(12):
        sub = tmp_path / f"subtitle{trial}"
        sub.mkdir()
        for vid in {d["videoID"] for d in docs.values()}:
            (sub / f"{vid}.srt").write_text(_srt(rng), encoding="utf-8")
        (tmp_path / "subtitle").unlink(missing_ok=True)
        (tmp_path / "subtitle").symlink_to(sub)
        frames = rng.choice([1, 3, 5, 32, -1])
        items = VideoMME(subtitles="true", subtitle_frames=frames).load_items(str(tmp_path),
                                                                               None)
        for it in items:
            kwargs = {**KWARGS_SUB, "frame_num": frames}
            if isinstance(it, ItemError):  # every frame of a video OpenCV cannot open
                assert frames == -1 and "non-negative" in it.reason
                with pytest.raises(ValueError, match="non-negative"):
                    ref.videomme_doc_to_text_subtitle(docs[it.item_id], kwargs)
                continue
            assert it.prompt == ref.videomme_doc_to_text_subtitle(docs[it.item_id], kwargs)
            seen.add(it.prompt.split("\nSelect")[0].count("\n"))
    assert len(seen) > 3  # zero, one and several subtitle lines were picked


# --- end to end ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def vlm_b(tmp_path_factory):
    from evalsuite.fixtures.qwen_vl import build_qwen_vl
    return build_qwen_vl(tmp_path_factory.mktemp("vlm") / "qwen-b", scripted_reply="B")


@pytest.mark.parametrize("subtitles", ["false", "true"])
def test_video_mme_end_to_end(fx, vlm_b, tmp_path, subtitles):
    """Fixture: 3 videos (short/medium/long; domains Knowledge / Film & Television / Sports
    Competition) x 2 questions (Attribute Perception, answer A; Temporal Reasoning, answer
    B); a 7th question (short, Life Record, Counting Problem, answer A) has no video (a
    recorded error, counted wrong). All answers 'B', by hand: 3/7 overall, 1/3 short, 1/2
    medium and long, 1/2 per video domain, 0/1 Life Record, 0/3 Attribute Perception,
    3/3 Temporal Reasoning."""
    from typer.testing import CliRunner

    from evalsuite.cli import app
    r = CliRunner().invoke(app, [
        "eval-policy", "--no-progress", "--policy", "qwen2.5-vl", "--model-path", str(vlm_b),
        "--bench", "video-mme", "--data-path", str(fx("video-mme")), "--bench-option",
        "num_frames=4", "--bench-option", f"subtitles={subtitles}", "--out", str(tmp_path),
        "--run-name", "vm", "--max-error-rate", "0.2"])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "vm" / "results.json").read_text())
    m, b = res["metrics"], res["breakdown"]
    assert (m["accuracy"]["value"], m["accuracy"]["n"]) == (pytest.approx(3 / 7), 7)
    lo, hi = m["accuracy"]["ci95"]
    assert 0 <= lo <= 3 / 7 <= hi <= 1
    assert m["accuracy_short"]["value"] == pytest.approx(1 / 3)
    assert m["accuracy_medium"]["value"] == 0.5 and m["accuracy_long"]["value"] == 0.5
    assert b["domain:Knowledge"]["accuracy"]["value"] == 0.5
    # a bootstrap of constant values is that constant
    assert b["domain:Life Record"]["accuracy"] == {"value": 0.0, "n": 1, "ci95": [0.0, 0.0]}
    assert b["sub_category:Football"]["accuracy"]["value"] == 0.5
    assert b["task_type:Attribute Perception"]["accuracy"] == {"value": 0.0, "n": 3,
                                                               "ci95": [0.0, 0.0]}
    assert b["task_type:Temporal Reasoning"]["accuracy"] == {"value": 1.0, "n": 3,
                                                             "ci95": [1.0, 1.0]}
    assert res["reference_log"][-1] == "Overall Performance:  42.9%"
    assert "Evaluation on Task Categories: Counting Problem:  0.0%" in res["reference_log"]
    assert res["counts"]["errors"] == 1
    assert "missing file" in res["errors_sample"][0]["error"]
