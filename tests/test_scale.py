"""Issue 7: data-parallel runs (torchrun, 2 processes, gloo) and the harness-overhead bench.

The 2-process run goes through the real CLI under `torchrun --standalone --nproc-per-node 2`
(the runner initialises the gloo group itself from torchrun's environment).
"""

from __future__ import annotations

import json

import pytest

from _scale_helpers import complete_lines, config, run_args, run_cli, torchrun, verdicts


@pytest.fixture(autouse=True)
def _single_process(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)


def test_one_and_two_processes_give_identical_results(fx, tmp_path):
    from evalsuite.runner import execute, shard_of

    one = execute(config(fx, tmp_path / "one", 4))
    assert (tmp_path / "one" / "r" / "records-r0.jsonl").exists()

    out2 = tmp_path / "two"
    p = run_cli(torchrun(2, "-m", "evalsuite", *run_args(fx, out2, 4)))
    assert p.returncode == 0, p.stderr[-3000:]
    run2 = out2 / "r"
    assert (run2 / "results.json").read_bytes() == (one.run_dir / "results.json").read_bytes()
    assert verdicts(run2) == verdicts(one.run_dir)

    # Each rank wrote its own file, holding exactly its shard (by item id), nothing twice.
    for rank in (0, 1):
        recs = [json.loads(x) for x in (run2 / f"records-r{rank}.jsonl").read_text()
                .splitlines()]
        assert recs and all(shard_of(r["item_id"], 2) == rank for r in recs)
    counts = complete_lines(run2)
    assert counts.keys() == complete_lines(one.run_dir).keys()
    assert set(counts.values()) == {1}
    meta = json.loads((run2 / "run.json").read_text())
    assert meta["invocations"][-1]["world_size"] == 2

    # The finished 2-process run, resumed on 1 process: nothing left to compute, same bytes.
    again = execute(config(fx, out2, 4))
    assert again.computed == 0
    assert (run2 / "results.json").read_bytes() == (one.run_dir / "results.json").read_bytes()


def test_shards_are_deterministic_and_cover_all_items():
    from evalsuite.runner import shard_of
    ids = [f"image_generation/test/{i}" for i in range(200)]
    for world in (1, 2, 3, 8):
        shards = [shard_of(i, world) for i in ids]
        assert shards == [shard_of(i, world) for i in ids]
        assert set(shards) == set(range(world))


def test_init_distributed_is_a_noop_for_one_process():
    from evalsuite.runner import init_distributed
    assert init_distributed() is False


def test_harness_overhead_bench(fx, tmp_path):
    """What `evalsuite perf` reports, on the fixture CLIP, batch 32, CPU: every loop's rate,
    the ratios as the quotients of those rates, the hardware line, and the JSON round trip.
    How fast each loop is depends on the machine: speed targets are checked by
    `evalsuite perf --check`, never by a test."""
    from evalsuite.perf import PerfConfig, format_report, run_perf, write_json

    res = run_perf(PerfConfig(pairs=64, repeats=1, upstream_items=16,
                              fixtures=str(fx("pickscore").parent)))
    report = format_report(res)
    write_json(res, tmp_path / "perf.json")
    back = json.loads((tmp_path / "perf.json").read_text())
    assert back["batch_size"] == 32 and back["dtype"] == "float32" and back["hardware"]
    r = res["items_per_s"]
    assert all(r[m] > 0 for m in ("bare", "harness", "harness_workers0", "upstream"))
    assert all(v > 0 for v in res["harness_batch_loop_items_per_s"].values())
    assert res["ratios"]["harness/bare"] == pytest.approx(r["harness"] / r["bare"], rel=1e-2)
    assert res["ratios"]["harness/upstream"] == pytest.approx(r["harness"] / r["upstream"],
                                                              rel=1e-2)
    assert "harness" in report and "upstream" in report


def test_perf_cli_writes_json(fx, tmp_path):
    from typer.testing import CliRunner

    from evalsuite.cli import app
    out = tmp_path / "p.json"
    r = CliRunner().invoke(app, ["perf", "--pairs", "8", "--repeats", "1", "--batch-size", "4",
                                 "--upstream-items", "4", "--fixtures",
                                 str(fx("pickscore").parent), "--json", str(out)])
    assert r.exit_code == 0, r.output
    assert "harness/bare" in r.output and "items/s" in r.output
    assert json.loads(out.read_text())["ratios"]["harness/upstream"] > 0


@pytest.mark.parametrize("min_speedup, code, verdict", [(0.0, 0, "PASS"), (1e12, 1, "FAIL")])
def test_perf_check_exits_1_when_a_target_is_missed(fx, tmp_path, min_speedup, code, verdict):
    """Both ratios are positive rates' quotients: a target of 0 is always met and one of
    10^12 never is, whatever the machine's speed."""
    from typer.testing import CliRunner

    from evalsuite.cli import app
    r = CliRunner().invoke(app, ["perf", "--pairs", "8", "--repeats", "1", "--batch-size", "4",
                                 "--upstream-items", "4", "--fixtures",
                                 str(fx("pickscore").parent), "--json", str(tmp_path / "p.json"),
                                 "--check", "--min-overhead-ratio", "0", "--min-speedup",
                                 str(min_speedup)])
    assert r.exit_code == code, r.output
    assert f"check: {verdict}" in r.output


@pytest.mark.parametrize("workers", [0, 2])
def test_prefetch_prepares_whole_batches_in_order(workers):
    """One prepare job per batch, order kept; an item's exception is its error; a prepare
    that raises for the whole batch is retried item by item so only the culprit fails."""
    from evalsuite.runner import per_item, prefetched

    calls = []

    def batch_prepare(units):
        calls.append(list(units))
        if "boom" in units and len(units) > 1:
            raise RuntimeError("batch-level failure")
        return [ValueError(f"bad {u}") if u == "bad" else u.upper() for u in units]

    units = ["a", "b", "bad", "c", "boom", "d", "e"]
    batches = list(prefetched(units, batch_prepare, 3, workers))
    assert [[u for u, _, _ in b] for b in batches] == [["a", "b", "bad"], ["c", "boom", "d"],
                                                       ["e"]]
    flat = [x for b in batches for x in b]
    assert [p for _, p, _ in flat] == ["A", "B", None, "C", "BOOM", "D", "E"]
    assert [e for _, _, e in flat] == [None, None, "ValueError: bad bad", None, None, None,
                                       None]
    assert ["a", "b", "bad"] in calls and ["boom"] in calls  # batch job, then one by one

    def one(u):
        if u == "bad":
            raise KeyError(u)
        return u * 2

    got = [x for b in prefetched(units, per_item(one), 4, workers) for x in b]
    assert [(p, e) for _, p, e in got][1:3] == [("bb", None), (None, "KeyError: 'bad'")]


def test_scale_mode_runs_then_resumes_in_a_second_process(tmp_path):
    """`evalsuite perf --scale`: each size is run, then invoked again in a fresh process;
    the second invocation computes nothing and rewrites the same bytes."""
    from evalsuite.perf import run_scale

    res = run_scale([300], tmp=str(tmp_path))
    (row,) = res["sizes"]
    assert row["computed"] == 300 and row["resume_computed"] == 0
    assert row["results_identical_on_resume"]
    # GeneratedPairs' labels cycle A, B, tie: a third of the 300 are human ties.
    assert row["counts"]["human_ties"] == 100 and row["counts"]["items"] == 300
    assert row["run"]["sha256"] == row["resume"]["sha256"]
    assert list(tmp_path.iterdir()) == []  # the run folder is removed afterwards
