"""Core objects, run store, registry, and the runner end to end on fixtures."""

from __future__ import annotations

import json

import pytest
from _tolerance import clip_path, f32_atol

from evalsuite.judges.base import Judge
from evalsuite.registry import JUDGES, Registry
from evalsuite.runner import RunConfig, execute, swap_for
from evalsuite.store import RunStore, read_records
from evalsuite.types import (Candidate, Label, PairItem, ParseStatus, RunRecord,
                             Score, Verdict)


def _pair(i: int, label: Label = Label.A) -> PairItem:
    return PairItem(item_id=f"p{i}", prompt="x", a=Candidate(text="left"),
                    b=Candidate(text="right"), label=label)


def test_swapped_and_flipped_round_trip():
    it = PairItem("p", "q", Candidate(text="1"), Candidate(text="2"), Label.A,
                  labels={"VQ": Label.B})
    sw = it.swapped()
    assert (sw.a.text, sw.b.text, sw.label, sw.labels["VQ"]) == ("2", "1", Label.B, Label.A)
    v = Verdict.from_margin(2.0, score_a=3.0, score_b=1.0, margins={"VQ": 1.0})
    f = v.flipped()
    assert (f.preferred, f.margin, f.score_a, f.score_b, f.margins) == ("B", -2.0, 1.0, 3.0,
                                                                        {"VQ": -1.0})
    assert Verdict.from_choice(None, "??").status == ParseStatus.UNPARSED
    assert Verdict.from_choice(None, "??").margin is None
    assert Verdict.from_choice("tie", "eq").margin == 0.0


def test_record_json_round_trip():
    rec = RunRecord("x", "point", score=Score(1.5, raw="Final Score: 1.5",
                                              extras={"dims": {"a": 1}}))
    back = RunRecord.from_json(json.loads(json.dumps(rec.to_json())))
    assert back.score.value == 1.5 and back.score.extras == {"dims": {"a": 1}}
    rec = RunRecord("y", "pair", verdict=Verdict.from_choice("B", "Image 2 is better."),
                    swapped=True)
    back = RunRecord.from_json(json.loads(json.dumps(rec.to_json())))
    assert back.verdict.preferred == "B" and back.swapped


def test_store_cuts_partial_tail(tmp_path):
    with RunStore(tmp_path) as s:
        s.append([RunRecord("a", "pair", error="boom"), RunRecord("b", "pair", error="x")])
    path = tmp_path / "records-r0.jsonl"
    with open(path, "a") as fh:
        fh.write('{"item_id": "c", "kind": "pa')  # a kill -9 in the middle of a write
    assert set(i for _, i in read_records(tmp_path)) == {"a", "b"}
    with RunStore(tmp_path) as s:  # reopening repairs the tail before appending
        s.append([RunRecord("c", "pair", error=None, verdict=Verdict.from_margin(1.0))])
    recs = read_records(tmp_path)
    assert set(i for _, i in recs) == {"a", "b", "c"}
    assert all(line.endswith("}") for line in path.read_text().splitlines())


def test_success_replaces_error_on_retry(tmp_path):
    with RunStore(tmp_path) as s:
        s.append([RunRecord("a", "pair", error="oom")])
        s.append([RunRecord("a", "pair", verdict=Verdict.from_margin(-1.0))])
    assert read_records(tmp_path)[("pair", "a")].error is None


def test_swap_is_seeded_by_item_id():
    flips = [swap_for(f"item{i}", 0) for i in range(400)]
    assert 150 < sum(flips) < 250  # a fair coin
    assert flips == [swap_for(f"item{i}", 0) for i in range(400)]  # deterministic
    assert flips != [swap_for(f"item{i}", 1) for i in range(400)]  # seed matters


def test_registry_lazy_and_entry_points(monkeypatch):
    import importlib.metadata as md

    reg = Registry("judge", "evalsuite.test-group")

    class EP:
        name, value, dist = "thirdparty", "tests.test_core:AlwaysA", None

    monkeypatch.setattr(md, "entry_points", lambda group: [EP] if group ==
                        "evalsuite.test-group" else [])
    assert reg.names() == ["thirdparty"]
    assert reg.entry("thirdparty").load().__qualname__ == "AlwaysA"
    with pytest.raises(KeyError, match="Did you mean"):
        JUDGES.entry("pickscor")


def test_listing_imports_no_weights():
    import subprocess
    import sys
    code = ("import sys; import evalsuite.registry as r; r.JUDGES.entry('pickscore').load(); "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]


class AlwaysA(Judge):
    """A pairwise test judge: always prefers the presented A (position-biased on purpose)."""

    name = "always-a"
    pairwise = True
    modalities = frozenset({"image"})
    requires = ()

    def prepare_pair(self, item):
        return item

    def compare_batch(self, prepared):
        return [Verdict.from_choice("A", "Image 1 is better.") for _ in prepared]


class ListBench:
    """A minimal in-memory benchmark for runner tests."""

    name = "list-bench"
    dimensions = ()

    def __init__(self, items):
        self.items = items

    def load(self, data_path=None, split=None):
        yield from self.items

    def info(self, data_path, split):
        return {"benchmark": self.name, "split": split}

    def metrics(self, items, verdicts):
        from evalsuite.benchmarks.base import Benchmark
        return Benchmark.metrics(self, items, verdicts)


def test_seeded_swap_defeats_position_bias_and_both_orders(tmp_path):
    items = [_pair(i, Label.A) for i in range(200)]
    cfg = RunConfig(judge="always-a", bench="list-bench", out_dir=str(tmp_path),
                    progress=False, both_orders=True)
    out = execute(cfg, judge=AlwaysA(device="cpu"), bench=ListBench(items))
    acc = out.results["metrics"]["accuracy_without_ties"]["value"]
    n_unswapped = sum(not swap_for(it.item_id, 0) for it in items)
    assert acc == pytest.approx(n_unswapped / 200)  # right only when A was shown first
    assert 0.35 < acc < 0.65
    assert out.results["order_consistency"]["value"] == 0.0  # flips with the order every time


def test_pickscore_end_to_end_with_errors_and_resume(fx, tmp_path):
    data, model = fx("genai-bench"), fx("pickscore")
    cfg = RunConfig(judge="pickscore", bench="genai-bench", data_path=str(data),
                    model_path=str(model), out_dir=str(tmp_path), batch_size=8, progress=False,
                    max_error_rate=0.5)
    first = execute(cfg)
    res = first.results
    assert res["counts"]["items"] == 31 and res["counts"]["errors"] == 3
    assert res["counts"]["unique_points"] == 60
    samples = [json.loads(x) for x in (first.run_dir / "samples.jsonl").read_text().splitlines()]
    errs = {s["item_id"]: s["error"] for s in samples if s["error"]}
    assert "unreadable image" in errs["image_generation/test/28"]
    assert "escapes the dataset root" in errs["image_generation/test/29"]
    assert "unknown vote_type 'skipvote'" in errs["image_generation/test/30"]
    # CMYK / 16-bit / RGBA / palette rows were converted and scored, not rejected.
    assert all(s["status"] == "parsed" for s in samples[24:28])
    for k in ("accuracy_with_ties", "accuracy_without_ties",
              "upstream_simple_accuracy_with_ties", "upstream_simple_accuracy_without_ties"):
        v = res["metrics"][k]["value"]
        assert 0.0 <= v <= 1.0 and res["metrics"][k]["ci95"][0] <= v
    before = (first.run_dir / "results.json").read_bytes()
    again = execute(cfg)  # same command: resumes, nothing recomputed
    assert again.computed == 0
    assert (first.run_dir / "results.json").read_bytes() == before


def test_batch_size_does_not_change_scores(fx, tmp_path):
    common = dict(judge="pickscore", bench="genai-bench", data_path=str(fx("genai-bench")),
                  model_path=str(fx("pickscore")), progress=False, max_error_rate=1.0,
                  limit=10)
    a = execute(RunConfig(**common, batch_size=1, out_dir=str(tmp_path / "a")))
    b = execute(RunConfig(**common, batch_size=7, out_dir=str(tmp_path / "b")))
    sa = [json.loads(x)["margin"] for x in (a.run_dir / "samples.jsonl").read_text().split("\n")
          if x]
    sb = [json.loads(x)["margin"] for x in (b.run_dir / "samples.jsonl").read_text().split("\n")
          if x]
    # Margins are logit_scale (100) x cosine differences; batch size changes only the order
    # of float32 sums in the fixture CLIP (tests/_tolerance.py).
    assert sa == pytest.approx(sb, abs=2 * f32_atol(100.0, *clip_path(32, 2, 50, 3 * 32 * 32),
                                                    *clip_path(32, 2, 77)))


def test_cli_run_and_list(fx, tmp_path):
    from typer.testing import CliRunner

    from evalsuite.cli import app

    r = CliRunner().invoke(app, ["run", "--judge", "pickscore", "--bench", "genai-bench",
                                 "--data-path", str(fx("genai-bench")), "--model-path",
                                 str(fx("pickscore")), "--out", str(tmp_path), "--no-progress"])
    # 3 of 31 rows are broken on purpose (corrupt image, path escaping the root, unknown
    # label): data errors, reported and left out of the --max-error-rate gate.
    assert r.exit_code == 0, r.output
    assert "3 item(s) have unusable data" in " ".join(r.output.split())
    r = CliRunner().invoke(app, ["list", "judges"])
    assert r.exit_code == 0 and "pickscore" in r.output
    r = CliRunner().invoke(app, ["run", "--judge", "nope", "--bench", "genai-bench"])
    assert r.exit_code == 2 and "unknown judge" in r.output
