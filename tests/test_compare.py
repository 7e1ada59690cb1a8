"""Policy metric CIs, the paired comparison of two policy runs and `evalsuite compare`.

Oracles: brute-force bootstrap loops (one resample at a time, the same seeded draws) for the
vectorised CIs; hand-computed values and bootstrap distributions on tiny inputs; a policy
that always answers "A" (or "B") on the MMBench fixture, whose answers are known row by row.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from evalsuite import metrics as M
from evalsuite.cli import app
from evalsuite.policies.base import Metric, Policy, add_cis, metric, ratio_ci, units_arrays
from evalsuite.regress import load_run, paired_ratio_diff

runner = CliRunner()
REPO = Path(__file__).resolve().parent.parent


# --- metric CIs ----------------------------------------------------------------------------

def _brute_ratio_ci(num, den, n_boot, seed, alpha=0.05):
    """One resample at a time: the draws of evalsuite.metrics.bootstrap_ci."""
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(n_boot):
        idx = rng.integers(0, num.size, num.size)
        if den[idx].sum() != 0:
            stats.append(num[idx].sum() / den[idx].sum())
    return tuple(np.quantile(stats, [alpha / 2, 1 - alpha / 2]))


@pytest.mark.parametrize("case", range(12))
def test_ratio_ci_equals_brute_force_bootstrap(case):
    rng = np.random.default_rng(100 + case)
    n = int(rng.integers(1, 40))
    if case % 3 == 0:  # 0/1 correctness: a mean
        num, den = rng.integers(0, 2, n).astype(float), np.ones(n)
    elif case % 3 == 1:  # pooled ratio with zero-frame units (resamples of only those drop)
        num, den = rng.random(n) * 5, rng.integers(0, 4, n).astype(float)
        den[0] = max(den[0], 1.0)
    else:  # raw scores, repeated values
        num, den = np.round(rng.normal(size=n), 1), np.ones(n)
    got = ratio_ci(num, den, n_boot=300, seed=case)
    want = _brute_ratio_ci(num, den, 300, case)
    tol = 1e-12 * max(1.0, float(np.abs(num).sum()))
    assert got == pytest.approx(want, abs=tol)


def test_ratio_ci_of_a_mean_is_bootstrap_ci_of_the_mean():
    x = np.array([1, 0, 1, 1, 0, 0, 1, 1, 1, 0], dtype=float)
    got = ratio_ci(x, np.ones_like(x), n_boot=500, seed=3)
    assert got == M.bootstrap_ci(np.mean, x, n_boot=500, seed=3)


def test_ci_by_hand_two_items():
    """Items {0, 1}: resample means 0, 1/2, 1 with probabilities 1/4, 1/2, 1/4. Both tails
    hold 25% > 2.5%, so the 95% percentile CI is [0, 1]; one value repeated gives a point."""
    m = {"acc": metric(0.5, 2, per_item={"a": True, "b": False}),
         "same": metric(1.0, 3, per_item={"a": 1, "b": 1, "c": 1}),
         "plain": metric(0.3, 7)}
    add_cis(m)
    assert m["acc"]["ci95"] == [0.0, 1.0] and m["same"]["ci95"] == [1.0, 1.0]
    assert "ci95" not in m["plain"]
    assert json.loads(json.dumps(m["acc"])) == {"value": 0.5, "n": 2, "ci95": [0.0, 1.0]}


def test_metric_value_must_match_its_per_item_values():
    with pytest.raises(ValueError, match="not the pooled value"):
        metric(0.5, 3, per_item={"a": 1, "b": 1, "c": 0})
    with pytest.raises(ValueError):
        metric(None, 1, per_item={"a": 1})
    # pooled: (3 + 1) / (2 + 2) = 1.0
    m = metric(1.0, 2, per_item={"a": (3.0, 2), "b": (1.0, 2)})
    assert isinstance(m, Metric) and m.units == {"a": (3.0, 2.0), "b": (1.0, 2.0)}
    ids, num, den = units_arrays(m.units)
    assert ids == ["a", "b"] and num.tolist() == [3.0, 1.0] and den.tolist() == [2.0, 2.0]


# --- the paired difference -----------------------------------------------------------------

def _brute_paired(c, b, n_boot, seed, alpha=0.05):
    (nc, dc), (nb, db) = c, b
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(n_boot):
        idx = rng.integers(0, nc.size, nc.size)
        if dc[idx].sum() and db[idx].sum():
            stats.append(nc[idx].sum() / dc[idx].sum() - nb[idx].sum() / db[idx].sum())
    lo, hi = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return nc.sum() / dc.sum() - nb.sum() / db.sum(), lo, hi


@pytest.mark.parametrize("case", range(10))
def test_paired_ratio_diff_equals_brute_force(case):
    rng = np.random.default_rng(case)
    n = int(rng.integers(2, 30))
    den = rng.integers(1, 5, n).astype(float) if case % 2 else np.ones(n)
    nb = rng.integers(0, 2, n) * den if case % 2 == 0 else rng.random(n) * den
    nc = np.where(rng.random(n) < 0.3, den - nb, nb)  # flip some items
    got = paired_ratio_diff((nc, den), (nb, den), n_boot=400, seed=case)
    want = _brute_paired((nc, den), (nb, den), 400, case)
    assert got == pytest.approx(want, abs=1e-12 * n)


def test_paired_diff_by_hand():
    """Candidate = baseline except one item turned from right to wrong out of 4: d = -1/4.
    The per-item differences are (0, 0, 0, -1), so a resample's difference is -k/4 with k
    the draws of the flipped item: P(k = 0) = (3/4)^4 = 31.6% > 2.5%, so hi = 0; the 2.5%
    quantile is -3/4, since P(k >= 3) = 13/256 = 5.1% >= 2.5% > P(k = 4) = 1/256 = 0.4%."""
    b = np.array([1.0, 1, 0, 1])
    c = np.array([1.0, 1, 0, 0])
    d, lo, hi = paired_ratio_diff((c, np.ones(4)), (b, np.ones(4)), n_boot=20000, seed=1)
    assert d == -0.25 and hi == 0.0 and lo == -0.75


# --- policy runs end to end ------------------------------------------------------------------

class LetterPolicy(Policy):
    """Answers every question with one letter: the policy runner's path (prepare, batched
    answers, letter extraction, metrics, samples) without a network in the way."""

    name = "letter"
    task = "mcq"
    requires = ()

    def __init__(self, letter: str):
        super().__init__(device="cpu", letter=letter)
        self.letter = letter

    def prepare_mcq(self, item):
        return item

    def answer_batch(self, prepared):
        return [self.letter] * len(prepared)


@pytest.fixture(scope="module")
def mmbench_runs(fx, tmp_path_factory):
    """The MMBench fixture answered 'A' throughout and 'B' throughout."""
    from evalsuite.policies.runner import PolicyRunConfig, execute_policy

    root = tmp_path_factory.mktemp("cmp")
    runs = {}
    for letter in "AB":
        cfg = PolicyRunConfig(policy="letter", bench="mmbench",
                              data_path=str(fx("mmbench") / "MMBench_DEV_EN.tsv"),
                              out_dir=str(root), run_name=letter, max_error_rate=0.2,
                              policy_options={"letter": letter}, progress=False,
                              save_inputs=True)
        assert not execute_policy(cfg, policy=LetterPolicy(letter)).failed
        runs[letter] = root / letter
    return runs


def _rows(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines()]


def test_policy_samples_keep_per_item_values_and_inputs(mmbench_runs):
    rows = {r["item_id"]: r for r in _rows(mmbench_runs["B"])}
    good = [r for r in rows.values() if r.get("status") != "error"]
    for r in good:
        assert r["values"]["unparsed_rate"] == 0.0
        if int(r["item_id"]) < 1_000_000:  # main rows carry vanilla (and circular) values
            assert r["values"]["vanilla_accuracy"] == float(r["answer"] == "B")
        # --save-inputs: the prompt shown (question + options + instruction) and the image
        assert r["input"]["prompt"].endswith("Please select the correct answer from the options "
                                             "above. \n")  # VLMEvalKit's build_prompt
        assert r["input"]["media"][0]["kind"] == "image"
        assert r["settings"]["policy"] == "letter" and r["settings"]["options"] == {"letter": "B"}
        assert len(r["input"]["media"][0]["sha1"]) == 40
    res = json.loads((mmbench_runs["B"] / "results.json").read_text())
    # vanilla: 2 of 6 rows right (the failed row 99 counts wrong). A resample with no right
    # row has probability (4/6)**6 = 8.8% > 2.5%, so the CI starts at 0; five or six right
    # rows have probability 1.8% < 2.5%, so it ends below 5/6.
    lo, hi = res["metrics"]["vanilla_accuracy"]["ci95"]
    assert lo == 0.0 and 2 / 6 <= hi < 5 / 6
    failed = rows["99"]  # a row that failed to load still carries its (wrong) value
    assert failed["status"] == "error" and failed["values"]["vanilla_accuracy"] == 0.0


def test_compare_mmbench_base_vs_tuned_by_hand(mmbench_runs, tmp_path):
    """Rows <= 1e6 (VLMEvalKit's vanilla): main rows q0 A, q1 B, q2 C, q3 B, row 99 (failed
    to load: wrong in both runs) and row 1000000 (q0's rotation, answer D). Always-'B'
    (base): 2/6; always-'A' (tuned): 1/6 -> delta -16.67 points. Circular: no question has
    one letter right in every rotation -> 0 and 0."""
    rep = tmp_path / "compare.md"
    r = runner.invoke(app, ["compare", "--base", str(mmbench_runs["B"]), "--tuned",
                            str(mmbench_runs["A"]), "--report", str(rep)])
    assert r.exit_code == 0, r.output
    data = json.loads(rep.with_suffix(".json").read_text())
    v = data["metrics"]["vanilla_accuracy"]
    assert (v["base"], v["tuned"], v["delta"], v["n"]) == (
        pytest.approx(200 / 6), pytest.approx(100 / 6), pytest.approx(-100 / 6), 6)
    lo, hi = v["ci95"]
    assert lo <= -100 / 6 <= hi
    c = data["metrics"]["circular_accuracy"]
    assert (c["base"], c["tuned"], c["delta"], c["ci95"]) == (0.0, 0.0, 0.0, [0.0, 0.0])
    assert data["metrics"]["vanilla_accuracy"]["categories"]  # per-category rows exist
    text = rep.read_text()
    assert "| vanilla_accuracy | 33.33 | 16.67 | -16.67 |" in text
    assert "per category" in text


def test_regress_policy_runs(mmbench_runs):
    base, tuned = str(mmbench_runs["B"]), str(mmbench_runs["A"])
    same = runner.invoke(app, ["regress", "-c", base, "-b", base])
    assert same.exit_code == 0, same.output
    assert "PASS circular_accuracy" in same.output and "PASS vanilla_accuracy" in same.output
    # a 25-point drop on 4 questions: beyond the tolerance but the CI reaches 0 -> pass, noted
    drop = runner.invoke(app, ["regress", "-c", tuned, "-b", base, "--max-drop", "1"])
    assert drop.exit_code == 0, drop.output
    assert "CI includes 0" in drop.output


def _synthetic_policy_run(dest: Path, values: dict[str, dict[str, float]],
                          bench: str = "t2i-compbench") -> Path:
    """A policy run folder holding only what regress reads."""
    dest.mkdir(parents=True, exist_ok=True)
    names = sorted({k for v in values.values() for k in v})
    res = {"schema_version": 1, "counts": {"items": len(values), "errors": 0},
           "policy": {"policy": "sd-t2i", "model": "x"},
           "benchmark": {"benchmark": bench, "split": "val", "revision": None, "hub_id": "h",
                         "options": {}},
           "metrics": {k: {"value": 0.0, "n": 0} for k in names}}
    (dest / "results.json").write_text(json.dumps(res))
    (dest / "samples.jsonl").write_text("".join(
        json.dumps({"item_id": i, "category": i.split("_")[0], "values": v}) + "\n"
        for i, v in values.items()))
    return dest


def test_policy_gate_fails_on_a_significant_drop_and_compares_pairs(tmp_path):
    """40 samples; the candidate loses 0.5 on 20 of them: d = -25 points exactly, and every
    resample's difference is <= 0 with almost all strictly below -> fail."""
    base = {f"color_{i}": {"color/blip_vqa": 0.9} for i in range(40)}
    cand = {k: {"color/blip_vqa": 0.4 if i % 2 else 0.9} for i, k in enumerate(base)}
    b = _synthetic_policy_run(tmp_path / "b", base)
    c = _synthetic_policy_run(tmp_path / "c", cand)
    r = runner.invoke(app, ["regress", "-c", str(c), "-b", str(b)])
    assert r.exit_code == 1, r.output
    assert "FAIL color/blip_vqa: 90.0 -> 65.0 (diff -25.00 pp" in r.output


def test_policy_gate_never_passes_vacuously(tmp_path):
    vals = {f"color_{i}": {} for i in range(3)}
    b = _synthetic_policy_run(tmp_path / "b", vals)
    r = runner.invoke(app, ["regress", "-c", str(b), "-b", str(b)])
    assert r.exit_code == 2 and "nothing compared" in r.output
    assert "PASS" not in r.output


def test_policy_gate_mismatches_are_exit_2(tmp_path):
    base = {f"color_{i}": {"color/blip_vqa": 0.5} for i in range(4)}
    b = _synthetic_policy_run(tmp_path / "b", base)
    fewer = _synthetic_policy_run(tmp_path / "f", dict(list(base.items())[:3]))
    other = _synthetic_policy_run(tmp_path / "o", base, bench="vbench")
    judge = REPO / "results" / "fixtures" / "pickscore__genai-bench"
    for c, why in ((fewer, "item sets differ"), (other, "benchmark benchmark"),
                   (judge, "judge run and the other a policy run")):
        r = runner.invoke(app, ["regress", "-c", str(c), "-b", str(b)])
        assert r.exit_code == 2 and why in r.output, r.output
    r = runner.invoke(app, ["compare", "--base", str(b), "--tuned", str(fewer)])
    assert r.exit_code == 2


def test_policy_samples_with_bad_values_are_refused(tmp_path):
    base = {f"color_{i}": {"color/blip_vqa": 0.5} for i in range(4)}
    b = _synthetic_policy_run(tmp_path / "b", base)
    for i, bad in enumerate(("nan", [1.0], "x", [1.0, "inf"])):
        c = _synthetic_policy_run(tmp_path / f"c{i}",
                                  {**base, "color_0": {"color/blip_vqa": bad}})
        if bad == "nan":  # json.dumps writes a string: put the NaN token in by hand
            text = (c / "samples.jsonl").read_text().replace('"nan"', "NaN")
            (c / "samples.jsonl").write_text(text)
        r = runner.invoke(app, ["regress", "-c", str(c), "-b", str(b)])
        assert r.exit_code == 2 and "samples.jsonl:1" in r.output.replace("\n", ""), r.output


def test_unpaired_units_are_left_out_and_reported(tmp_path):
    """A sample the candidate failed to score has no value there: the difference is taken
    on the 3 shared samples (by hand: (1 + 0 + 1)/3 - (1 + 1 + 1)/3 = -1/3)."""
    base = {f"shape_{i}": {"shape/blip_vqa": 1.0} for i in range(4)}
    cand = {"shape_0": {"shape/blip_vqa": 1.0}, "shape_1": {"shape/blip_vqa": 0.0},
            "shape_2": {"shape/blip_vqa": 1.0}, "shape_3": {}}
    b = _synthetic_policy_run(tmp_path / "b", base)
    c = _synthetic_policy_run(tmp_path / "c", cand)
    from evalsuite.regress import gate
    (res,) = gate(load_run(c), load_run(b), max_drop=50)
    assert res.n == 3 and res.diff == pytest.approx(-100 / 3)
    assert "1 unit(s) only in the baseline" in res.note


# --- judge runs: per-category deltas ---------------------------------------------------------

def test_judge_compare_per_category_by_hand(tmp_path):
    """VL-RewardBench-like samples, 3 categories x 2 items; the tuned judge gets one more
    reasoning item right: overall (cal.py) 3/6 -> 4/6, reasoning 0/2 -> 1/2, others equal."""
    def run(dest, right):
        cats = ["general", "general", "hallucination", "hallucination", "reasoning",
                "reasoning"]
        samples = [{"item_id": f"i{k}", "category": c, "label": "A",
                    "preferred": "A" if k in right else "B", "status": "parsed",
                    "margin": 1.0 if k in right else -1.0} for k, c in enumerate(cats)]
        res = {"schema_version": 1, "counts": {"items": len(cats), "errors": 0},
               "judge": {"judge": "j"}, "benchmark": {"benchmark": "vlrewardbench",
                                                      "split": "test"},
               "metrics": {"overall_accuracy": {"value": 0}, "macro_accuracy": {"value": 0}}}
        dest.mkdir()
        (dest / "results.json").write_text(json.dumps(res))
        (dest / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
        return dest
    b = run(tmp_path / "b", {0, 2, 3})
    t = run(tmp_path / "t", {0, 2, 3, 4})
    rep = tmp_path / "c.md"
    r = runner.invoke(app, ["compare", "--base", str(b), "--tuned", str(t), "--report",
                            str(rep), "--n-boot", "200"])
    assert r.exit_code == 0, r.output
    data = json.loads(rep.with_suffix(".json").read_text())
    o = data["metrics"]["overall_accuracy"]
    assert (o["base"], o["tuned"]) == pytest.approx((50.0, 200 / 3))
    cats = o["categories"]
    assert cats["reasoning"]["delta"] == 50.0 and cats["general"]["delta"] == 0.0
    assert cats["hallucination"]["ci95"] == [0.0, 0.0]
    m = data["metrics"]["macro_accuracy"]  # (1/2 + 1 + 1/2) / 3 -> (1/2 + 1 + 1) / 3
    assert m["delta"] == pytest.approx(100 / 6) and m["categories"] == {}


# --- judge runs: --save-inputs ---------------------------------------------------------------

def test_judge_samples_keep_the_request_with_save_inputs(fx, tmp_path):
    """A score head records the prompt and both images (the fixture parquet's own cells,
    read here with pyarrow); a generative judge records the chat messages exactly as its
    prepare_pair - the path the runner feeds the model - builds them for the pair in the
    presented (swapped or not) order, plus its decoding settings."""
    import hashlib as H

    import pyarrow.parquet as pq

    data = fx("genai-bench")
    table = pq.read_table(sorted((data / "image_generation").glob("test-*.parquet"))[0])
    rows = table.slice(0, 3).to_pylist()
    base = ["run", "--bench", "genai-bench", "--data-path", str(data), "--limit", "3",
            "--max-error-rate", "1", "--device", "cpu", "--out", str(tmp_path),
            "--no-progress", "--save-inputs"]
    r = runner.invoke(app, [*base, "--judge", "pickscore", "--model-path", str(fx("pickscore")),
                            "--run-name", "pick"])
    assert r.exit_code == 0, r.output
    samples = _rows(tmp_path / "pick")
    for row, s in zip(rows, samples):
        for side, col in (("A", "left_image"), ("B", "right_image")):
            inp = s["input"][side]
            assert inp["prompt"] == row["prompt"] and inp["settings"] == {}
            cell = row[col]
            want = ({"kind": "image", "sha1": H.sha1(cell["bytes"]).hexdigest()}
                    if cell.get("bytes") else {"kind": "image", "path": cell["path"]})
            assert inp["media"] == [want]
    plain = runner.invoke(app, [*base[:-1], "--judge", "pickscore", "--model-path",
                                str(fx("pickscore")), "--run-name", "plain"])
    assert plain.exit_code == 0 and all("input" not in s for s in _rows(tmp_path / "plain"))

    qwen = fx("unifiedreward-qwen")
    r = runner.invoke(app, [*base, "--judge", "unifiedreward", "--model-path", str(qwen),
                            "--option", "max_new_tokens=4", "--run-name", "ur"])
    assert r.exit_code == 0, r.output
    from evalsuite.benchmarks.genai_bench import GenAIBench
    from evalsuite.registry import JUDGES
    judge = JUDGES.create("unifiedreward", model_path=str(qwen), max_new_tokens=4)
    judge.load()  # the processor renders the chat template in prepare_pair
    items = {it.item_id: it for it in GenAIBench().load(str(data), "test")}
    for s in _rows(tmp_path / "ur"):
        if s.get("status") == "error":
            continue
        it = items[s["item_id"]]
        shown = it.swapped() if s["input"]["swapped"] else it
        assert s["input"]["swapped"] == s["swapped"]
        prepared = judge.prepare_pair(shown)
        text = [p["text"] for p in prepared.messages[0]["content"] if p["type"] == "text"]
        got = [p for p in s["input"]["messages"][0]["content"]]
        assert [p["text"] for p in got if p["type"] == "text"] == text
        assert sum(p["type"] == "image" for p in got) == len(prepared.images) == 2
        assert s["input"]["settings"]["max_new_tokens"] == prepared.max_new_tokens == 4
        assert s["input"]["settings"]["decoding"] == "greedy"
