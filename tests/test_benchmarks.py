"""Preference benchmarks on fixture copies in the exact hub schemas (same loaders as the hub
copies): item counts, label distributions, categories, bad rows, and the exact accuracies
of three tiny judges (always tie, always A, oracle) computed by hand."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from evalsuite import media
from evalsuite.judges.base import Judge
from evalsuite.media import load_image, load_video
from evalsuite.registry import BENCHMARKS
from evalsuite.runner import RunConfig, execute, swap_for
from evalsuite.types import FrameSpec, ItemError, Label, Verdict

SHARED = str(Path(__file__).resolve().parents[2] / "shared" / "data")


# --- tiny judges ------------------------------------------------------------------------------

class MediaJudge(Judge):
    """A pairwise judge that decodes every image / video it is shown (real decoder), so bad
    media becomes that item's error in prepare_pair."""

    pairwise = True
    modalities = frozenset({"image", "video"})
    tasks = frozenset({"generation", "edit", "understanding"})
    requires = ()
    default_batch_size = 4

    def prepare_pair(self, item):
        for ref in (item.context, item.a.media, item.b.media):
            if ref is None:
                continue
            if ref.kind == "video":
                load_video(ref, FrameSpec(num_frames=4))
            else:
                load_image(ref)
        return item

    def compare_batch(self, prepared):
        return [self.answer(it) for it in prepared]


class AlwaysTie(MediaJudge):
    name = "always-tie"

    def answer(self, it):
        return Verdict.from_choice("tie", "Both are equally good.")


class AlwaysA(MediaJudge):
    name = "always-a"

    def answer(self, it):
        return Verdict.from_choice("A", "1 is better.")


class Oracle(MediaJudge):
    """Returns the human label of the presented pair (per-dimension margins too)."""

    name = "oracle"

    def answer(self, it):
        return Verdict.from_choice(it.label.value, "oracle",
                                   margins={d: float(lab.sign) for d, lab in it.labels.items()})


def run(fx, tmp_path, bench, judge_cls, **kw):
    cfg = RunConfig(judge=judge_cls.name, bench=bench, data_path=str(fx(bench)),
                    out_dir=str(tmp_path / judge_cls.name), progress=False, max_error_rate=1.0,
                    **kw)
    out = execute(cfg, judge=judge_cls(device="cpu"))
    samples = [json.loads(x) for x in (out.run_dir / "samples.jsonl").read_text().splitlines()]
    return out.results, samples


def load(fx, bench):
    items, bad = [], []
    for x in BENCHMARKS.create(bench).load(str(fx(bench))):
        (bad if isinstance(x, ItemError) else items).append(x)
    return items, bad


def value(res, name, where=None):
    m = (res["breakdown"][where] if where else res["metrics"])[name]
    return None if m is None else m["value"]


def a_correct(items):
    """Items an always-A judge gets right: the human side was the one presented first."""
    return [it for it in items if (it.label == Label.A and not swap_for(it.item_id, 0)) or
            (it.label == Label.B and swap_for(it.item_id, 0))]


def check_generic(fx, tmp_path, bench, judged_ids, labels, dim=None):
    """The four accuracies for tie / A / oracle judges over the judged items.

    Tie judge: every margin is 0, so the tie-calibrated accuracy is the human-tie share and
    both no-tie accuracies are 0. Always-A: every |margin| is 1, the only threshold ties
    everything, so tie-calibrated accuracy is again the human-tie share; the no-tie
    accuracies count the items whose preferred side was shown first. Oracle: all 1.
    """
    n = len(judged_ids)
    ties = sum(lab == Label.TIE for lab in labels.values())
    res, _ = run(fx, tmp_path, bench, AlwaysTie)
    where = dim
    assert res["counts"]["judged"] == n
    assert value(res, "accuracy_with_ties", where) == pytest.approx(ties / n)
    assert value(res, "accuracy_without_ties", where) == 0.0
    assert value(res, "upstream_simple_accuracy_with_ties", where) == pytest.approx(ties / n)
    assert value(res, "upstream_simple_accuracy_without_ties", where) == 0.0
    res, _ = run(fx, tmp_path, bench, AlwaysA)
    ok = sum(1 for i in judged_ids if (labels[i] == Label.A and not swap_for(i, 0)) or
             (labels[i] == Label.B and swap_for(i, 0)))
    assert value(res, "accuracy_with_ties", where) == pytest.approx(ties / n)
    assert value(res, "accuracy_without_ties", where) == pytest.approx(ok / (n - ties))
    assert value(res, "upstream_simple_accuracy_with_ties", where) == pytest.approx(ok / n)
    assert value(res, "upstream_simple_accuracy_without_ties", where) == pytest.approx(
        ok / (n - ties))
    res, _ = run(fx, tmp_path, bench, Oracle)
    for k in ("accuracy_with_ties", "accuracy_without_ties",
              "upstream_simple_accuracy_with_ties", "upstream_simple_accuracy_without_ties"):
        assert value(res, k, where) == 1.0, k
    return res


# --- GenAI-Bench image / edit -------------------------------------------------------------------

def test_genai_bench_image_judges(fx, tmp_path):
    items, bad = load(fx, "genai-bench")
    assert (len(items), len(bad)) == (30, 1)
    judged = items[:28]  # the corrupt PNG and the path escaping the root fail when decoded
    assert Counter(it.raw_label for it in judged) == {"leftvote": 10, "rightvote": 6,
                                                      "tievote": 6, "bothbad_vote": 6}
    check_generic(fx, tmp_path, "genai-bench", [it.item_id for it in judged],
                  {it.item_id: it.label for it in judged})


def test_genai_bench_edit_load_and_judges(fx, tmp_path):
    items, bad = load(fx, "genai-bench-edit")
    assert (len(items), len(bad)) == (10, 1)
    assert "unknown vote_type 'skipvote'" in bad[0].reason
    assert Counter(it.raw_label for it in items) == {"leftvote": 3, "rightvote": 3,
                                                     "tievote": 2, "bothbad_vote": 2}
    it = items[0]
    assert it.task == "edit" and it.context is not None and it.context.kind == "image"
    assert it.prompt == it.meta["instruct_prompt"] == "make the square green"
    assert {"source_prompt", "target_prompt", "left_model", "right_model", "vote_type"} <= \
        set(it.meta)
    assert "source_image" not in it.meta  # bytes are not copied into the meta
    res = check_generic(fx, tmp_path, "genai-bench-edit", [i.item_id for i in items[:9]],
                        {i.item_id: i.label for i in items[:9]})
    assert res["counts"]["errors"] == 2  # corrupt output PNG + unknown vote
    test_v1 = list(BENCHMARKS.create("genai-bench-edit").load(str(fx("genai-bench-edit")),
                                                               "test_v1"))
    assert len(test_v1) == 4


# --- GenAI-Bench video ------------------------------------------------------------------------

def test_genai_bench_video_load(fx):
    real = {r["video_right"]: r
            for r in json.load(open(f"{SHARED}/genai-bench-video/metadata.json"))}
    items, bad = load(fx, "genai-bench-video")
    assert (len(items), len(bad)) == (15, 1)
    good = items[:10]
    assert Counter(it.raw_label for it in good) == {"leftvote": 3, "rightvote": 3,
                                                    "tievote": 2, "bothbad_vote": 2}
    assert Counter(it.label for it in good) == {Label.A: 3, Label.B: 3, Label.TIE: 4}
    for it in good:  # real rows: prompt and vote, and the URL's file name resolves locally
        r = real[it.b.media.path]
        assert (it.prompt, it.raw_label) == (r["prompt"], r["vote_type"])
        assert it.b.media.path == r["video_right"]
        assert it.meta["right_video"].endswith("/" + r["video_right"])  # URL kept for tracing
        assert it.b.media.root.endswith("video_generation/videos")
    assert good[1].a.media.identity() == good[0].a.media.identity()  # a shared video
    with pytest.raises(FileNotFoundError, match="stores the videos as URLs"):
        next(iter(BENCHMARKS.create("genai-bench-video").load(None)))
    # media_root: the videos from another folder (the hub metadata, here the local parquet)
    vids = fx("genai-bench-video") / "video_generation" / "videos"
    alt = [x for x in BENCHMARKS.create("genai-bench-video", media_root=str(vids)).load(
        str(fx("genai-bench-video"))) if not isinstance(x, ItemError)]
    assert [i.item_id for i in alt] == [i.item_id for i in items]
    assert {i.a.media.root for i in alt} == {str(vids)}


def test_genai_bench_video_judges_and_bad_videos(fx, tmp_path, monkeypatch):
    cache = media.VideoCache()
    monkeypatch.setattr(media, "VIDEO_CACHE", cache)
    items, _ = load(fx, "genai-bench-video")
    good = items[:10]
    res = check_generic(fx, tmp_path, "genai-bench-video", [it.item_id for it in good],
                        {it.item_id: it.label for it in good})
    _, samples = run(fx, tmp_path / "again", "genai-bench-video", AlwaysTie)
    errs = {s["meta"]["prompt"]: s["error"] for s in samples if s["error"]}
    assert "undecodable video" in errs["a corrupt video"]
    assert "empty file" in errs["an empty video file"]
    assert "zero frames" in errs["a video with zero frames"]
    assert "missing file" in errs["a missing video"]
    assert "escapes the dataset root" in errs["a path escaping the dataset root"]
    assert "unknown vote_type 'skipvote'" in errs["a row with an unknown vote"]
    assert res["counts"]["errors"] == 6
    # 10 good pairs show 20 videos, 19 distinct: each decoded once over the 4 runs above.
    distinct = {c.media.identity() for it in good for c in (it.a, it.b)}
    assert len(distinct) == 19 and cache.decodes == 19


# --- VL-RewardBench ---------------------------------------------------------------------------

def test_vlrewardbench_load(fx):
    from evalsuite.benchmarks.vlrewardbench import category_of, unifiedreward_category_of

    real = json.load(open(f"{SHARED}/vl-rewardbench/metadata.json"))
    # Official categories over all 1,250 real rows: 749 / 318 / 183 (cal.py after the fix);
    # the UnifiedReward grouping files hallucination_pair under general: 631 / 301 / 318.
    assert Counter(category_of(r["id"]) for r in real) == {
        "hallucination": 749, "reasoning": 318, "general": 183}
    assert Counter(unifiedreward_category_of(r["id"]) for r in real) == {
        "general": 631, "hallucination": 301, "reasoning": 318}
    items, bad = load(fx, "vlrewardbench")
    assert (len(items), len(bad)) == (19, 1)
    assert "unknown human_ranking [1, 1]" in bad[0].reason
    assert Counter(it.category for it in items) == {"general": 8, "hallucination": 7,
                                                   "reasoning": 4}
    assert Counter(it.label for it in items) == {Label.A: 14, Label.B: 5}
    by_id = {r["id"] + r["query"] + "\t".join(sorted(r["response"])): r for r in real}
    for it in items:  # every field of a real row survives; the label follows human_ranking
        r = by_id[it.meta["id"] + it.meta["query"] + "\t".join(sorted(it.meta["response"]))]
        assert it.raw_label == r["human_ranking"]
        assert it.label == (Label.A if r["human_ranking"] == [0, 1] else Label.B)
        assert (it.a.text, it.b.text) == tuple(r["response"])
        assert (it.a.model, it.b.model) == tuple(r["models"])
        for k in ("judge", "rationale", "query_source", "ground_truth"):
            assert it.meta[k] == r[k]
    dup = [it for it in items if it.meta["id"] == "mmmu_pro_test_Marketing_150"]
    assert len(dup) == 2 and dup[0].item_id != dup[1].item_id  # ids repeat; keys do not
    assert len({it.item_id for it in items}) == 19
    prefixes = {it.meta["id"].split("-")[0].split("_")[0] for it in items}
    assert prefixes == {"hallucination", "RLAIF", "RLHF", "mathverse", "mmmu", "wildvision",
                        "jailbreak", "LRVInstruction", "politics", "svit"}


def test_vlrewardbench_judges(fx, tmp_path):
    items, _ = load(fx, "vlrewardbench")
    judged = [it for it in items if it.context.data[:8] != b"\x89PNG\r\n\x1a\n" or
              b"garbage" not in it.context.data]
    assert len(judged) == 18  # the corrupt image is a per-item error
    cats = Counter(it.category for it in judged)
    assert cats == {"general": 7, "hallucination": 7, "reasoning": 4}

    res, samples = run(fx, tmp_path, "vlrewardbench", Oracle)
    m = res["metrics"]
    assert (value(res, "overall_accuracy"), value(res, "macro_accuracy")) == (1.0, 1.0)
    assert value(res, "upstream_simple_accuracy") == 1.0
    assert res["counts"]["errors"] == 2 and m["excluded_unparsed"] == 0
    assert any("unreadable image" in (s["error"] or "") for s in samples)

    res, _ = run(fx, tmp_path, "vlrewardbench", AlwaysTie)  # no ties here: a tie is wrong
    assert value(res, "overall_accuracy") == 0.0 and value(res, "macro_accuracy") == 0.0
    assert res["metrics"]["judge_ties"] == 18 and res["metrics"]["excluded_unparsed"] == 0

    res, _ = run(fx, tmp_path, "vlrewardbench", AlwaysA)
    ok = a_correct(judged)
    per = {c: sum(it.category == c for it in ok) / cats[c] for c in cats}
    assert value(res, "overall_accuracy") == pytest.approx(len(ok) / 18)
    assert value(res, "macro_accuracy") == pytest.approx(sum(per.values()) / 3)
    for c, v in per.items():
        assert res["breakdown"][f"category:{c}"]["overall_accuracy"]["value"] == \
            pytest.approx(v)
    assert value(res, "upstream_simple_accuracy") == pytest.approx(len(ok) / 18)


class HalfUnparsed(Oracle):
    name = "half-unparsed"

    def answer(self, it):
        if it.category == "hallucination":
            return Verdict.from_choice(None, "I cannot decide")
        return super().answer(it)


def test_vlrewardbench_unparsed_left_out_of_official_denominator(fx, tmp_path):
    res, _ = run(fx, tmp_path, "vlrewardbench", HalfUnparsed)
    assert res["metrics"]["excluded_unparsed"] == 7
    assert value(res, "overall_accuracy") == 1.0  # 11 / 11 parsed
    assert res["metrics"]["macro_accuracy"] is None  # a category with no parsed verdict
    assert value(res, "upstream_simple_accuracy") == pytest.approx(11 / 18)  # unparsed wrong


# --- VideoGen-RewardBench ---------------------------------------------------------------------

def test_videogen_rewardbench_load(fx):
    items, bad = load(fx, "videogen-rewardbench")
    assert (len(items), len(bad)) == (11, 1)
    assert "unknown label Overall='C'" in bad[0].reason
    good = items[:9]
    assert Counter(it.raw_label for it in good) == {"A": 3, "B": 3, "same": 3}
    assert Counter(it.labels["VQ"] for it in good) == {Label.A: 4, Label.B: 3, Label.TIE: 2}
    assert Counter(it.labels["MQ"] for it in good) == {Label.A: 4, Label.B: 2, Label.TIE: 3}
    assert Counter(it.labels["TA"] for it in good) == {Label.A: 4, Label.B: 3, Label.TIE: 2}
    it = good[0]
    assert it.a.media.path == "videos/kling1.5/kling1.5_00000.mp4" and it.a.model == "kling1.5"
    assert {"fps_A", "num_frames_A", "fps_B", "num_frames_B", "path_A", "path_B"} <= \
        set(it.meta)
    assert len({c.media.identity() for i in good for c in (i.a, i.b)}) == 9  # 18 refs
    with pytest.raises(FileNotFoundError, match="videos.zip"):
        next(iter(BENCHMARKS.create("videogen-rewardbench").load(None)))


def test_videogen_rewardbench_judges_per_dimension(fx, tmp_path):
    items, _ = load(fx, "videogen-rewardbench")
    good = items[:9]
    res = check_generic(fx, tmp_path, "videogen-rewardbench", [i.item_id for i in good],
                        {i.item_id: i.label for i in good})
    assert res["counts"]["errors"] == 3  # unknown label, corrupt video, missing video
    for d in ("VQ", "MQ", "TA"):  # the oracle's per-dimension margins: 1.0 everywhere
        assert value(res, "accuracy_with_ties", d) == 1.0
        assert value(res, "accuracy_without_ties", d) == 1.0
    res, _ = run(fx, tmp_path / "t", "videogen-rewardbench", AlwaysTie)
    for d, ties in (("VQ", 2), ("MQ", 3), ("TA", 2)):
        assert value(res, "accuracy_with_ties", d) == pytest.approx(ties / 9)
        assert value(res, "accuracy_without_ties", d) == 0.0


# --- describe ---------------------------------------------------------------------------------

@pytest.mark.parametrize("bench,expect", [
    ("genai-bench-video", ["items: 15", "bothbad_vote", "accuracy_with_ties"]),
    ("vlrewardbench", ["items: 19", "hallucination", "macro_accuracy"]),
    ("videogen-rewardbench", ["items: 11", "dimension VQ", "upstream_simple_accuracy_with"]),
])
def test_describe_cli(fx, bench, expect):
    from typer.testing import CliRunner

    from evalsuite.cli import app

    r = CliRunner().invoke(app, ["describe", "--bench", bench, "--data-path", str(fx(bench))],
                           terminal_width=200)
    assert r.exit_code == 0, r.output
    for e in expect:
        assert e in r.output, e
    r = CliRunner().invoke(app, ["describe", "--bench", bench, "--data-path", str(fx(bench)),
                                 "--json"])
    d = json.loads(r.stdout[r.stdout.index("{"):])
    assert d["split"] in ("test", "eval") and d["bad_rows"] == 1


def test_describe_cli_errors(tmp_path):
    from typer.testing import CliRunner

    from evalsuite.cli import app

    r = CliRunner().invoke(app, ["describe", "--bench", "vlrewardbench", "--data-path",
                                 str(tmp_path / "nope")])
    assert r.exit_code == 2 and "does not exist" in r.output
    r = CliRunner().invoke(app, ["describe", "--bench", "vlrewardbench", "--split", "train",
                                 "--data-path", str(tmp_path)])
    assert r.exit_code == 2 and "unknown split" in r.output


def test_bench_option_revision_pins_the_hub_copy():
    from evalsuite.registry import BENCHMARKS
    for name in ("genai-bench", "vlrewardbench", "videogen-rewardbench"):
        b = BENCHMARKS.create(name, revision="0123abc")
        assert b.revision == "0123abc"
        assert b.info(None, None)["revision"] == "0123abc"
        assert BENCHMARKS.create(name).revision == type(b).revision
