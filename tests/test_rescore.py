"""`evalsuite rescore` and the official protocols (GenAI-Bench 4-way, VL-RewardBench k-sample
majority). The leaderboard check reads the upstream judge answers from ../shared/data."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from evalsuite.cli import app
from evalsuite.protocols.rescore import rescore
from evalsuite.protocols import genai_bench as G
from evalsuite.protocols import vlrewardbench as V
from evalsuite.types import Candidate, Label, MediaRef, PairItem

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
JUDGMENTS = SHARED / "genai-bench-judgments"

# Published GenAI-Bench leaderboard (github TIGER-AI-Lab/GenAI-Bench genaibench_results.txt).
LEADERBOARD = {
    ("image_generation", "gpt4o"): 45.59, ("image_edition", "gpt4o"): 53.54,
    ("video_generation", "gpt4o"): 48.46,
    ("image_generation", "gemini-1.5-pro"): 44.67, ("image_edition", "gemini-1.5-pro"): 55.93,
    ("video_generation", "gemini-1.5-pro"): 46.21,
    ("image_generation", "random"): 25.36, ("image_edition", "random"): 25.90,
    ("video_generation", "random"): 25.16,
}
BENCH = {"image_generation": "genai-bench", "image_edition": "genai-bench-edit",
         "video_generation": "genai-bench-video"}
SIZES = {"image_generation": 1735, "image_edition": 919, "video_generation": 1069}


@pytest.mark.skipif(not JUDGMENTS.is_dir(), reason="../shared/data not present")
@pytest.mark.parametrize("task,judge", sorted(LEADERBOARD))
def test_official_protocol_reproduces_leaderboard(task, judge):
    out = rescore(BENCH[task], "official", JUDGMENTS / task / f"{judge}.jsonl")
    assert out["format"] == "genai-bench-results" and out["written"] is None
    assert out["items"] == SIZES[task]
    assert round(100 * out["accuracy"], 2) == pytest.approx(LEADERBOARD[(task, judge)], abs=1e-9)
    assert out["parsed"] + out["unparsed"] == out["items"]


@pytest.mark.skipif(not JUDGMENTS.is_dir(), reason="../shared/data not present")
def test_cli_json_is_one_object():
    res = CliRunner().invoke(app, ["rescore", "--bench", "genai-bench", "--protocol", "official",
                                   "--responses", str(JUDGMENTS / "image_generation" /
                                                      "gemini-1.5-pro.jsonl"), "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)  # exactly one JSON document
    assert 0 <= d["accuracy"] <= 1 and round(100 * d["accuracy"], 2) == 44.67
    assert d["items"] == 1735 and d["parsed"] + d["unparsed"] == 1735
    # Gemini: 48 answers with no [[...]] and 2 with a nested "[[Model B ...: [[B>A]] ]]"
    assert d["unparsed_detail"] == {"no_verdict": 48, "unrecognised_verdict": 2,
                                    "run_errors": 0}


def test_cli_rejects_unknown_protocol(tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_text(json.dumps({"idx": 0, "human_vote": "leftvote", "response": "[[A>B]]"}) + "\n")
    res = CliRunner().invoke(app, ["rescore", "--bench", "genai-bench", "--protocol", "greedy",
                                   "--responses", str(f)])
    assert res.exit_code == 2


# --- the GenAI-Bench rule ------------------------------------------------------------------

@pytest.mark.parametrize("text,vote", [
    ("blah [[A>B]] blah", "[[A>B]]"),
    ("first line [[B>A]]\nsecond [[A>B]]", "[[B>A]]"),  # the first line holding one wins
    ("[[A>B]] or maybe [[B>A]]", "[[A>B]] or maybe [[B>A]]"),  # greedy within a line
    ("[[A\n>B]] then [[A=B=Bad]]", "[[A=B=Bad]]"),  # '.' does not cross a newline
    ("no verdict at all", None), ("", None), (None, None),
])
def test_extract_vote_matches_upstream_regex(text, vote):
    assert G.extract_vote(text) == vote


@pytest.mark.parametrize("vote,human,ok", [
    ("[[A>>B]]", "leftvote", True), ("[[A>B]]", "leftvote", True),
    ("[[B>>A]]", "rightvote", True), ("[[B>A]]", "rightvote", True),
    ("[[A=B]]", "tievote", True), ("[[A=B=Good]]", "tievote", True),
    ("[[A=B]]", "bothbad_vote", True), ("[[A=B=Bad]]", "bothbad_vote", True),
    ("[[A=B=Good]]", "bothbad_vote", False), ("[[A=B=Bad]]", "tievote", False),
    ("[[A>B]]", "rightvote", False), (None, "leftvote", False),
    ("[[ A>B ]]", "leftvote", False),  # exact string match, as upstream
])
def test_matching_rule(vote, human, ok):
    assert G.is_correct(vote, human) is ok


def test_swapped_answers_are_mapped_back():
    assert G.judge_answer("x", "[[A>B]]", "rightvote", swapped=True).correct
    assert G.judge_answer("x", "[[B>>A]]", "leftvote", swapped=True).vote == "[[A>>B]]"
    assert G.judge_answer("x", "[[A=B=Bad]]", "bothbad_vote", swapped=True).correct
    assert not G.judge_answer("x", "[[A>B]]", "leftvote", swapped=True).correct


# The git blob ids of genaibench/templates/<task>/pairwise.txt in github TIGER-AI-Lab/GenAI-Bench
# at commit 32fff1f (and f0b0334), as `git ls-tree` lists them: a template equals the upstream
# file exactly when its bytes hash to that blob id.
UPSTREAM_TEMPLATE_BLOBS = {"image_generation": "e10e13a9bfa9838cb029f6754a67937fbeea42e9",
                           "image_edition": "96ad84a4d2d8412963a824eef98d6467dc348dd0",
                           "video_generation": "42b396bf256badea4b40999f0505b274112f6a7f"}


def test_templates_are_the_upstream_files():
    assert set(G.TEMPLATES) == set(UPSTREAM_TEMPLATE_BLOBS)
    for task, text in G.TEMPLATES.items():
        data = text.encode()
        blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        assert blob == UPSTREAM_TEMPLATE_BLOBS[task], task
        assert text.rstrip().endswith("4. Both are bad: [[A=B=Bad]]")


def test_frame_indices_match_upstream():
    for n in range(0, 130):
        up = np.arange(0, n, n / 8).astype(int).tolist() if n > 8 else list(range(n))
        assert G.frame_indices(n) == up


def _img(tag: str) -> MediaRef:
    return MediaRef(kind="image", data=tag.encode())


def test_build_parts_image_edit_video():
    gen = PairItem("g", "a cat", Candidate(_img("L")), Candidate(_img("R")), Label.A)
    parts = G.build_parts(gen)
    assert [p["type"] for p in parts] == ["text", "image", "text", "image", "text"]
    assert parts[1]["media"] is gen.a.media and parts[3]["media"] is gen.b.media
    assert parts[0]["text"].endswith("Text prompt: a cat\nModel A Generated Image: ")
    edit = PairItem("e", "make it red", Candidate(_img("L")), Candidate(_img("R")), Label.B,
                    context=_img("S"), task="edit",
                    meta={"source_prompt": "a car", "target_prompt": "a red car",
                          "instruct_prompt": "make it red"})
    parts = G.build_parts(edit)
    assert [p.get("media") for p in parts if p["type"] == "image"] == \
        [edit.context, edit.a.media, edit.b.media]
    text = "".join(p["text"] for p in parts if p["type"] == "text")
    assert "Source Image prompt: a car\nTarget Image prompt after editing: a red car\n" \
           "Editing instruction: make it red\nSource Image: " in text
    with pytest.raises(ValueError, match="source_prompt"):
        G.build_parts(PairItem("e2", "x", edit.a, edit.b, Label.A, context=_img("S"),
                               task="edit"))
    vid = PairItem("v", "a dog", Candidate(MediaRef("video", path="l.mp4")),
                   Candidate(MediaRef("video", path="r.mp4")), Label.TIE)
    msgs = G.build_messages(vid)
    # genaibench/mllm_tools/gpt4_eval.py @f0b0334, GPT4V.__call__'s system message
    assert msgs[0]["content"][0]["text"] == \
        "You are an AI assistant that helps people find information."
    assert [p["type"] for p in msgs[1]["content"]] == ["text", "video", "text", "video", "text"]
    assert "Model A Generated Video: " in msgs[1]["content"][0]["text"]


# --- our own samples.jsonl -----------------------------------------------------------------

def _sample(i, vote, raw, swapped, status="parsed", error=None):
    return {"item_id": f"image_generation/test_v1/{i}", "category": None,
            "label": {"leftvote": "A", "rightvote": "B"}.get(vote, "tie"), "raw_label": vote,
            "status": status, "raw": raw, "swapped": swapped, "error": error,
            "meta": {"idx": i}}


def test_rescore_samples_writes_new_file_never_edits_old(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    rows = [_sample(0, "leftvote", "x [[A>B]]", False),
            _sample(1, "leftvote", "x [[B>A]]", True),  # presented swapped: right
            _sample(2, "rightvote", "no verdict", False, status="unparsed"),
            _sample(3, "bothbad_vote", "[[A=B=Bad]]", True),
            _sample(4, "tievote", None, None, status="error", error="HTTP 400"),
            {"item_id": "image_generation/test_v1/5", "status": "error",
             "error": "bad row: unknown vote_type 'skipvote'", "meta": {}}]
    (run / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / "results.json").write_text('{"old": true}\n')
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    out = rescore("genai-bench", "official", run / "samples.jsonl")
    assert out["format"] == "samples" and out["items"] == 5 and out["skipped_rows"] == 1
    assert out["accuracy"] == pytest.approx(3 / 5)
    assert out["unparsed_detail"] == {"no_verdict": 1, "unrecognised_verdict": 0,
                                      "run_errors": 1}
    assert Path(out["written"]).name == "results.rescored-official-1.json"
    out2 = rescore("genai-bench", "official", run / "samples.jsonl")
    assert Path(out2["written"]).name == "results.rescored-official-2.json"
    for name, data in before.items():
        assert (run / name).read_bytes() == data
    saved = json.loads(Path(out["written"]).read_text())
    assert saved["accuracy"] == out["accuracy"] and saved["source"]["sha256"]
    assert rescore("genai-bench", "official", run / "samples.jsonl", write=False)["written"] \
        is None


# --- VL-RewardBench ------------------------------------------------------------------------

@pytest.mark.skipif(not (SHARED / "vl-rewardbench").is_dir(), reason="../shared/data absent")
def test_official_categories_from_id_prefix():
    rows = json.loads((SHARED / "vl-rewardbench" / "metadata.json").read_text())
    counts = {c: 0 for c in V.CATEGORIES}
    for r in rows:
        counts[V.category_of(r["id"])] += 1
    assert counts == {"hallucination": 749, "reasoning": 318, "general": 183}


def _vl_lines(tmp_path, as_list: bool) -> Path:
    """Three items, three answers each; presented order swapped for item m1."""
    items = [
        # id, human_ranking, swapped, answers (as the judge wrote them)
        ("RLAIF_1", [0, 1], False, ["Answer 1 is better", "Answer 1 is better", "hmm"]),
        ("mathverse_7", [1, 0], True, ["Answer 1 is better", "Answer 2 is better",
                                       "Answer 1 is better"]),  # swapped: 1 -> B = agree
        ("wildvision_3", [0, 1], False, ["nothing", "no idea", "Answer 2 is better"]),
        ("jailbreak_2", [0, 1], False, ["Answer 2 is better", "Answer 2 is better",
                                        "Answer 1 is better"]),
    ]
    f = tmp_path / ("list.jsonl" if as_list else "rep.jsonl")
    with open(f, "w") as fh:
        for i, hr, sw, ans in items:
            base = {"id": i, "query": "q?", "response": ["r1", "r2"], "human_ranking": hr,
                    "swapped": sw}
            if as_list:
                fh.write(json.dumps({**base, "responses": ans}) + "\n")
            else:
                for a in ans:
                    fh.write(json.dumps({**base, "answer": a}) + "\n")
    return f


def test_vlrewardbench_official_majority(tmp_path):
    a = rescore("vlrewardbench", "official", _vl_lines(tmp_path, True))
    b = rescore("vlrewardbench", "official", _vl_lines(tmp_path, False))
    for k in ("accuracy", "items", "parsed", "unparsed", "categories", "unparsed_detail"):
        assert a[k] == b[k]
    assert a["k"] == 3 and a["items"] == 4
    # RLAIF_1 agree (2/3), mathverse_7 agree (2/3 after unswapping), wildvision_3 majority
    # unparsed -> excluded, jailbreak_2 reject (2/3)
    assert a["parsed"] == 3 and a["unparsed"] == 1
    assert a["unparsed_detail"]["majority_unparsed"] == 1
    assert a["accuracy"] == pytest.approx(2 / 3)
    assert a["categories"]["general"]["accuracy"] == 0.0
    assert a["categories"]["reasoning"]["agree"] == 1
    assert a["macro_accuracy"] == pytest.approx((1 + 1 + 0) / 3)
    one = rescore("vlrewardbench", "official", _vl_lines(tmp_path, True), k=1)
    # k=1: RLAIF agree, mathverse agree ("Answer 1" shown swapped = response 2 = B, the
    # preferred one), wildvision unparsed, jailbreak reject
    assert one["accuracy"] == pytest.approx(2 / 3) and one["unparsed"] == 1
    assert one["answers_used"] == 4


def test_vlrewardbench_greedy_counts_unparsed_wrong(tmp_path):
    g = rescore("vlrewardbench", "greedy", _vl_lines(tmp_path, True))
    assert g["protocol"] == "vlrewardbench-greedy" and g["items"] == 4
    assert g["unparsed"] == 1 and g["accuracy"] == pytest.approx(2 / 4)
    assert g["accuracy_parsed_only"] == pytest.approx(2 / 3)


def test_cal_parser():
    assert V.parse_cal("**Overall Judgment**: Answer 2 is slightly better") == "B"
    assert V.parse_cal("Therefore, Answer 1 is the better one") == "A"
    assert V.parse_cal("Therefore, Answer 1 is worse") is None
    assert V.parse_cal("Therefore,\nAnswer 1 is better.") == "A"
    assert V.parse_cal("Answer 1 is better") is None  # no lead-in phrase


def test_help_lists_rescore():
    out = subprocess.run(["python", "-m", "evalsuite", "rescore", "--help"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--responses" in out.stdout
