"""Regression gate: identical runs pass (0), injected wrong answers fail (1), runs that are
not comparable are an error (2); the decision rule and the paired bootstrap."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from evalsuite import metrics as M
from evalsuite.cli import app
from evalsuite.regress import Mismatch, compare, load_run

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "results"
runner = CliRunner()


def _committed(judge: str, bench: str) -> Path:
    for p in sorted(RESULTS.rglob("results.json")):
        r = json.loads(p.read_text())
        if r["judge"]["judge"] == judge and r["benchmark"]["benchmark"] == bench:
            return p.parent
    raise LookupError(f"no committed run of {judge} on {bench}")


def _regress(*args: str):
    return runner.invoke(app, ["regress", *args])


def _write_run(dest: Path, results: dict, samples: list[dict]) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "results.json").write_text(json.dumps(results))
    (dest / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    return dest


def _load(run: Path) -> tuple[dict, list[dict]]:
    return (json.loads((run / "results.json").read_text()),
            [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines() if x])


def _inject_wrong(samples: list[dict], every: int = 1) -> list[dict]:
    """Turn correct answers on non-tie items wrong (every k-th of them)."""
    out, k = [], 0
    for s in samples:
        s = dict(s)
        if s.get("label") in ("A", "B") and s.get("preferred") == s["label"]:
            if k % every == 0:
                h = 1 if s["label"] == "A" else -1
                s["preferred"] = "B" if s["label"] == "A" else "A"
                s["margin"] = -h * max(abs(s.get("margin") or 1.0), 1e-3)
            k += 1
        out.append(s)
    return out


def test_identical_runs_pass(tmp_path):
    run = _committed("pickscore", "genai-bench")
    rep = tmp_path / "report.md"
    res = _regress("--candidate", str(run), "--baseline", str(run / "results.json"),
                   "--report", str(rep))
    assert res.exit_code == 0, res.output
    assert "PASS accuracy_with_ties" in res.output and "PASS accuracy_without_ties" in res.output
    assert "regression gate: PASS" in res.output
    text = rep.read_text()
    assert text.startswith("# Regression check: PASS") and "| accuracy_with_ties |" in text


def test_nothing_comparable_is_exit_2_not_a_pass():
    """The committed VL-RewardBench fixture run has no parsed verdict, so overall / macro are
    undefined in both runs: the gate compared nothing and must not pass."""
    run = _committed("unifiedreward-llava", "vlrewardbench")
    res = _regress("-c", str(run), "-b", str(run))
    assert res.exit_code == 2, res.output
    assert "nothing compared" in res.output and "overall_accuracy" in res.output
    assert "PASS" not in res.output
    # A metric that is defined (unparsed = wrong) is compared, and identical runs pass.
    res = _regress("-c", str(run), "-b", str(run), "--metric", "upstream_simple_accuracy")
    assert res.exit_code == 0, res.output
    assert "PASS upstream_simple_accuracy" in res.output


def test_injected_wrong_answers_fail(tmp_path):
    run = _committed("pickscore", "genai-bench")
    results, samples = _load(run)
    # A baseline that is right on every non-tie item, and the candidate with all those
    # answers turned wrong: a large drop the CI cannot explain away.
    base_samples = []
    for s in samples:
        s = dict(s)
        if s.get("label") in ("A", "B"):
            h = 1 if s["label"] == "A" else -1
            s.update(preferred=s["label"], status="parsed",
                     margin=h * max(abs(s.get("margin") or 1.0), 1e-3))
        base_samples.append(s)
    base = _write_run(tmp_path / "base", results, base_samples)
    cand = _write_run(tmp_path / "cand", results, _inject_wrong(base_samples))
    rep = tmp_path / "r.md"
    res = _regress("-c", str(cand), "-b", str(base), "--report", str(rep))
    assert res.exit_code == 1, res.output
    assert "FAIL accuracy_without_ties" in res.output and "regression gate: FAIL" in res.output
    assert rep.read_text().startswith("# Regression check: FAIL")
    # The same candidate compared with itself passes.
    assert _regress("-c", str(cand), "-b", str(cand)).exit_code == 0


def test_mismatched_benchmarks_exit_2():
    a = _committed("pickscore", "genai-bench")
    b = _committed("unifiedreward-llava", "vlrewardbench")
    res = _regress("-c", str(a), "-b", str(b))
    assert res.exit_code == 2
    assert "not comparable" in res.output and "benchmark benchmark" in res.output


@pytest.mark.parametrize("change", ["split", "revision", "items", "labels", "metric"])
def test_other_mismatches_exit_2(tmp_path, change):
    run = _committed("pickscore", "genai-bench")
    results, samples = _load(run)
    base = _write_run(tmp_path / "base", results, samples)
    r2, s2 = json.loads(json.dumps(results)), [dict(s) for s in samples]
    args = []
    if change == "split":
        r2["benchmark"]["split"] = "test_v1"
    elif change == "revision":
        r2["benchmark"]["revision"] = "0123456789abcdef"
    elif change == "items":
        s2 = s2[1:]
    elif change == "labels":
        s2[0]["label"] = "B" if s2[0]["label"] != "B" else "A"
    else:
        args = ["--metric", "no_such_metric"]
    cand = _write_run(tmp_path / "cand", r2, s2)
    res = _regress("-c", str(cand), "-b", str(base), *args)
    assert res.exit_code == 2, res.output
    assert "error" in res.output


def test_missing_samples_is_an_error(tmp_path):
    run = _committed("pickscore", "genai-bench")
    d = tmp_path / "r"
    d.mkdir()
    shutil.copy(run / "results.json", d / "results.json")
    assert _regress("-c", str(d), "-b", str(run)).exit_code == 2


# --- the rule and the statistics, on synthetic runs with many items ---------------------------

def _synthetic(n: int, acc: float, seed: int, ties: float = 0.2) -> tuple[dict, list[dict]]:
    rng = np.random.default_rng(seed)
    labels = rng.choice(["A", "B", "tie"], size=n, p=[(1 - ties) / 2, (1 - ties) / 2, ties])
    samples = []
    for i, lab in enumerate(labels):
        right = rng.random() < acc
        h = {"A": 1, "B": -1, "tie": 0}[lab]
        m = float(rng.uniform(0.1, 2.0)) * ((h or 1) if right else -(h or 1))
        if lab == "tie" and right:
            m = float(rng.uniform(0, 0.05))
        pref = "A" if m > 0 else "B" if m < 0 else "tie"
        samples.append({"item_id": f"i{i}", "label": lab, "preferred": pref,
                        "status": "parsed", "margin": m, "category": None})
    results = {"schema_version": 1, "counts": {"items": n, "errors": 0},
               "judge": {"judge": "synthetic"}, "metrics": {},
               "benchmark": {"benchmark": "genai-bench", "config": "image_generation",
                             "split": "test", "revision": None, "hub_id": "x", "options": {}}}
    return results, samples


def _runs(tmp_path, base, cand):
    return (load_run(_write_run(tmp_path / "c", *cand)),
            load_run(_write_run(tmp_path / "b", *base)))


def test_rule_small_drop_within_tolerance_passes(tmp_path):
    results, samples = _synthetic(2000, 0.7, 0)
    cand = _inject_wrong(samples, every=200)  # ~0.4 points worse on the no-tie items
    c, b = _runs(tmp_path, (results, samples), (results, cand))
    out = {r.metric: r for r in compare(c, b, max_drop=1.0, n_boot=300)}
    r = out["accuracy_without_ties"]
    assert -1.0 < r.diff < 0 and not r.failed
    # The same drop with no tolerance and a significant CI fails.
    out = {r.metric: r for r in compare(c, b, max_drop=0.0, n_boot=300)}
    assert out["accuracy_without_ties"].failed and out["accuracy_without_ties"].hi < 0


def test_rule_large_but_insignificant_drop_passes_with_a_note(tmp_path):
    results, samples = _synthetic(12, 0.7, 1, ties=0.0)
    cand = _inject_wrong(samples, every=4)
    c, b = _runs(tmp_path, (results, samples), (results, cand))
    (r,) = [x for x in compare(c, b, metrics=["accuracy_without_ties"], max_drop=0.5,
                               n_boot=500) if x.metric == "accuracy_without_ties"]
    assert r.diff < -0.5 and r.hi >= 0 and not r.failed and "CI includes 0" in r.note


def test_tie_calibrated_values_and_paired_ci(tmp_path):
    results, base = _synthetic(400, 0.65, 2)
    _, other = _synthetic(400, 0.55, 3)
    cand = [dict(s, margin=o["margin"], preferred=o["preferred"]) if s["label"] == o["label"]
            else s for s, o in zip(base, other)]
    c, b = _runs(tmp_path, (results, base), (results, cand))
    (r,) = compare(c, b, metrics=["accuracy_with_ties"], n_boot=400)
    h = [{"A": 1, "B": -1, "tie": 0}[s["label"]] for s in base]
    vb = M.accuracy_with_ties(h, [s["margin"] for s in base])
    vc = M.accuracy_with_ties(h, [s["margin"] for s in cand])
    assert r.baseline == pytest.approx(100 * vb) and r.candidate == pytest.approx(100 * vc)
    assert r.lo <= r.diff <= r.hi and r.hi - r.lo > 0
    # Without-ties CI equals metrics.paired_bootstrap_diff on per-item correctness.
    (w,) = compare(c, b, metrics=["accuracy_without_ties"], n_boot=400)
    keep = [x != 0 for x in h]
    cc = [float(s["preferred"] == s["label"]) for s, k in zip(cand, keep) if k]
    bc = [float(s["preferred"] == s["label"]) for s, k in zip(base, keep) if k]
    d, lo, hi = M.paired_bootstrap_diff(cc, bc, n_boot=400)
    assert (w.diff, w.lo, w.hi) == pytest.approx((100 * d, 100 * lo, 100 * hi))


def test_errors_count_as_wrong(tmp_path):
    results, samples = _synthetic(300, 0.9, 4, ties=0.0)
    cand = [dict(s, status="error", preferred=None, margin=None) if i % 3 == 0 else s
            for i, s in enumerate(samples)]
    c, b = _runs(tmp_path, (results, samples), (results, cand))
    out = {r.metric: r for r in compare(c, b, n_boot=200)}
    assert out["accuracy_without_ties"].failed and out["accuracy_with_ties"].failed


def test_mismatch_is_raised_by_the_api(tmp_path):
    results, samples = _synthetic(20, 0.7, 5)
    r2 = json.loads(json.dumps(results))
    r2["benchmark"]["benchmark"] = "videogen-rewardbench"
    c, b = _runs(tmp_path, (results, samples), (r2, samples))
    with pytest.raises(Mismatch):
        compare(c, b)


def test_vlrewardbench_overall_leaves_unparsed_out_and_macro_averages_categories(tmp_path):
    rng = np.random.default_rng(6)
    cats = ["general", "hallucination", "reasoning"]
    samples = []
    for i in range(300):
        lab = "A" if rng.random() < 0.5 else "B"
        st = "unparsed" if i % 10 == 0 else "parsed"
        pref = None if st == "unparsed" else (lab if rng.random() < 0.6 else
                                              ("B" if lab == "A" else "A"))
        samples.append({"item_id": f"v{i}", "label": lab, "preferred": pref, "status": st,
                        "margin": None if pref is None else (1.0 if pref == "A" else -1.0),
                        "category": cats[i % 3]})
    results = {"schema_version": 1, "counts": {"items": 0, "errors": 0},
               "judge": {"judge": "x"}, "metrics": {"overall_accuracy": {"value": 0.5}},
               "benchmark": {"benchmark": "vlrewardbench", "split": "test", "revision": None,
                             "hub_id": "MMInstruction/VL-RewardBench", "options": {}}}
    c, b = _runs(tmp_path, (results, samples), (results, samples))
    out = {r.metric: r for r in compare(c, b, n_boot=100)}
    assert set(out) == {"overall_accuracy", "macro_accuracy"}
    parsed = [s for s in samples if s["status"] == "parsed"]
    overall = np.mean([s["preferred"] == s["label"] for s in parsed])
    macro = np.mean([np.mean([s["preferred"] == s["label"] for s in parsed
                              if s["category"] == k]) for k in cats])
    assert out["overall_accuracy"].baseline == pytest.approx(100 * overall)
    assert out["macro_accuracy"].baseline == pytest.approx(100 * macro)
    assert all(r.diff == 0 and not r.failed for r in out.values())


def test_candidate_that_loses_every_parsed_verdict_fails(tmp_path):
    results = {"schema_version": 1, "counts": {"items": 0, "errors": 0},
               "judge": {"judge": "x"}, "metrics": {},
               "benchmark": {"benchmark": "vlrewardbench", "split": "test", "revision": None,
                             "hub_id": "h", "options": {}}}
    base = [{"item_id": f"v{i}", "label": "A", "preferred": "A", "status": "parsed",
             "margin": 1.0, "category": ["general", "hallucination", "reasoning"][i % 3]}
            for i in range(30)]
    cand = [dict(s, preferred=None, status="unparsed", margin=None) for s in base]
    b = _write_run(tmp_path / "b", results, base)
    c = _write_run(tmp_path / "c", results, cand)
    res = _regress("-c", str(c), "-b", str(b))
    assert res.exit_code == 1 and "FAIL overall_accuracy" in res.output, res.output


def test_ci_recipe_offline_fresh_run_gates_against_committed_baseline(fx, tmp_path):
    """The docs/ci-regression.md flow on fixtures: judge the benchmark with the checkpoint,
    then gate on the committed baseline run of the same judge and data."""
    res = runner.invoke(app, ["run", "--judge", "pickscore", "--bench", "genai-bench",
                              "--data-path", str(fx("genai-bench")),
                              "--model-path", str(fx("pickscore")), "--out", str(tmp_path),
                              "--run-name", "cand", "--max-error-rate", "1", "--no-progress"])
    assert res.exit_code == 0, res.output
    base = _committed("pickscore", "genai-bench")
    res = _regress("-c", str(tmp_path / "cand"), "-b", str(base), "--max-drop", "0.5")
    assert res.exit_code == 0, ("committed fixture results look stale (regenerate them as "
                                "results/README.md says):\n" + res.output)
    # The same run against a baseline on another benchmark: a clear error, not a comparison.
    other = _committed("videoscore", "genai-bench-video")
    assert _regress("-c", str(tmp_path / "cand"), "-b", str(other)).exit_code == 2
