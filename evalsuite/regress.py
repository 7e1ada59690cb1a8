"""The regression gate: a paired comparison of two runs on the same items.

``regress(candidate, baseline)`` reads ``results.json`` + ``samples.jsonl`` of both runs,
checks they are comparable (same benchmark, config, split, dataset revision, item ids and
human labels: anything else is a ``Mismatch``, exit 2), recomputes each metric per item from
the samples and bootstraps the difference over items, resampling the same item indices for
both runs (a paired bootstrap).

Per-item conventions (the same as results.json, plus one for errors):

* a judged item is correct when its verdict equals the human label; an unparsed verdict is
  wrong, except in VL-RewardBench's official overall/macro accuracy, where unparsed items
  leave the denominator (as the benchmark's cal.py does);
* an item that failed (status ``error``) counts as wrong in that run (results.json leaves it
  out): a candidate must not pass the gate by crashing on the hard items;
* ``accuracy_with_ties`` (tie-calibrated) is not a mean of per-item scores: it is recomputed
  with ``evalsuite.metrics.accuracy_with_ties`` on each resample of items, for both runs.

A metric undefined for the candidate but defined for the baseline (e.g. no parsed verdict
left) fails; undefined in both runs it is skipped.

Decision rule, per metric (d = candidate - baseline in percentage points, [lo, hi] its
95% paired-bootstrap CI):

    FAIL (regression)  when  d < -max_drop  and  hi < 0
    PASS               otherwise

i.e. the observed drop is larger than the tolerance *and* the CI rules out "no drop". A drop
inside the tolerance never fails; a larger drop that the CI cannot tell from noise (a small
subset) passes with a warning. The gate fails (exit 1) when any gated metric fails.

The gate never passes vacuously: when no metric could be compared (every one undefined in
both runs, or no metric with per-item values) :func:`gate` raises :class:`NothingCompared`
(exit 2, with the reason).

Policy runs (``results.json`` with ``policy``): every metric with per-item values in
``samples.jsonl`` (``values``: unit id -> value, or [numerator, denominator] for a pooled
ratio; see :class:`evalsuite.policies.base.Metric`) is compared on the units both runs have,
with the same paired bootstrap (the same resampled units for both runs; the statistic is
``sum(num) / sum(den)`` of each run on the resample). Points are 100 x the metric (accuracy in
percentage points; scores such as CLIPScore on the same 0-100 scale). Both runs must cover
the same items of the same benchmark (same ids and, for multiple choice, the same answers).
Diagnostics (``unparsed_rate``, ``videos_decodable``) are not gated unless named with
``--metric``; ``unparsed_rate`` is lower-is-better (a rise beyond the tolerance fails).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evalsuite import metrics as M

# Metrics recomputable from samples.jsonl. Default gate: the benchmark's published pair.
WITH_TIES, WITHOUT_TIES = "accuracy_with_ties", "accuracy_without_ties"
SIMPLE_WITH, SIMPLE_WITHOUT = ("upstream_simple_accuracy_with_ties",
                               "upstream_simple_accuracy_without_ties")
OVERALL, MACRO, SIMPLE = "overall_accuracy", "macro_accuracy", "upstream_simple_accuracy"
DEFAULT_METRICS = {"vlrewardbench": (OVERALL, MACRO)}
DEFAULT_PAIR = (WITH_TIES, WITHOUT_TIES)
VLR_CATEGORIES = ("general", "hallucination", "reasoning")


class Mismatch(ValueError):
    """The two runs are not comparable (exit 2)."""


class NothingCompared(Mismatch):
    """No metric could be compared: the gate would pass without having checked anything."""


@dataclass
class Run:
    path: Path  # results.json
    results: dict[str, Any]
    samples: list[dict[str, Any]]

    @property
    def bench(self) -> dict[str, Any]:
        return self.results.get("benchmark", {})


def load_run(p: str | Path) -> Run:
    """A results.json path or the run folder holding it (samples.jsonl must sit beside it)."""
    p = Path(p)
    res = p / "results.json" if p.is_dir() else p
    if not res.is_file():
        raise FileNotFoundError(f"no results.json at {p}")
    samples_path = res.parent / "samples.jsonl"
    if not samples_path.is_file():
        raise FileNotFoundError(f"{res.parent} has no samples.jsonl: the gate needs per-item "
                                "records")
    from evalsuite.results import ResultsInvalid, read_results, validate_sample

    results = read_results(res)
    samples = []
    try:
        lines = samples_path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ResultsInvalid(f"{samples_path}: unreadable ({type(e).__name__}: {e})") from None
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ResultsInvalid(f"{samples_path}:{n}: not JSON ({e.msg})") from None
        samples.append(validate_sample(row, f"{samples_path}:{n}", policy="policy" in results))
    return Run(res, results, samples)


# --- per-item arrays ---------------------------------------------------------------------------

@dataclass
class Items:
    """Per-item columns of one run, in the shared item order."""

    h: np.ndarray  # human sign +1 / -1 / 0
    margin: np.ndarray  # judge margin (0 where not usable)
    usable: np.ndarray  # parsed and judged (a margin exists)
    correct: np.ndarray  # preferred == label (False for unparsed / error)
    parsed: np.ndarray  # verdict parsed (unparsed and errors: False)
    category: np.ndarray


SIGN = {"A": 1, "B": -1, "tie": 0}


def _items(run: Run, ids: list[str]) -> Items:
    by_id = {s["item_id"]: s for s in run.samples if s.get("label") is not None}
    rows = [by_id[i] for i in ids]
    h = np.array([SIGN[r["label"]] for r in rows], dtype=int)
    status = [r.get("status") for r in rows]
    margin_raw = [r.get("margin") for r in rows]
    usable = np.array([st in ("parsed", "tie") and m is not None
                       for st, m in zip(status, margin_raw)], dtype=bool)
    margin = np.array([float(m) if ok else 0.0 for m, ok in zip(margin_raw, usable)])
    correct = np.array([st in ("parsed", "tie") and r.get("preferred") == r["label"]
                        for st, r in zip(status, rows)], dtype=bool)
    parsed = np.array([st in ("parsed", "tie") and r.get("preferred") is not None
                       for st, r in zip(status, rows)], dtype=bool)
    cat = np.array([str(r.get("category")) for r in rows], dtype=object)
    return Items(h, margin, usable, correct, parsed, cat)


# --- metric functions on an index set (idx: item indices, possibly repeated) --------------------

def _with_ties(x: Items, idx: np.ndarray) -> float:
    """Tie-calibrated accuracy; unusable items (unparsed / error) count as wrong, as in
    results.json: the threshold search runs on usable items, rescaled by usable / all."""
    if idx.size == 0:
        return float("nan")
    ok = x.usable[idx]
    if not ok.any():
        return 0.0
    return M.accuracy_with_ties(x.h[idx][ok], x.margin[idx][ok]) * ok.sum() / idx.size


def _per_item(kind: str) -> Callable[[Items], tuple[np.ndarray, np.ndarray]]:
    """(per-item score, mask of items in the denominator) for mean-type metrics."""
    def f(x: Items):
        if kind == "without_ties":
            return x.correct.astype(float), x.h != 0
        if kind == "with_ties_simple":
            return x.correct.astype(float), np.ones_like(x.correct, dtype=bool)
        if kind == "overall":  # cal.py: unparsed items leave the denominator
            return x.correct.astype(float), x.parsed
        raise KeyError(kind)
    return f


PER_ITEM = {WITHOUT_TIES: _per_item("without_ties"), SIMPLE_WITHOUT: _per_item("without_ties"),
            SIMPLE_WITH: _per_item("with_ties_simple"), SIMPLE: _per_item("with_ties_simple"),
            OVERALL: _per_item("overall")}


def _macro(x: Items, idx: np.ndarray) -> float:
    accs = []
    for k in VLR_CATEGORIES:
        m = x.parsed[idx] & (x.category[idx] == k)
        if not m.any():
            return float("nan")
        accs.append(x.correct[idx][m].mean())
    return float(np.mean(accs))


def _mean_on(fn) -> Callable[[Items, np.ndarray], float]:
    def f(x: Items, idx: np.ndarray) -> float:
        score, mask = fn(x)
        m = mask[idx]
        return float(score[idx][m].mean()) if m.any() else float("nan")
    return f


SET_METRICS: dict[str, Callable[[Items, np.ndarray], float]] = {
    WITH_TIES: _with_ties, MACRO: _macro, **{k: _mean_on(v) for k, v in PER_ITEM.items()}}
SUPPORTED = tuple(sorted(SET_METRICS))


# --- comparability -------------------------------------------------------------------------

def check_comparable(cand: Run, base: Run) -> list[str]:
    """Raise Mismatch unless both runs cover the same items of the same dataset; returns the
    shared item ids (labelled items, in baseline order)."""
    problems = []
    for key in ("benchmark", "config", "split", "revision", "hub_id"):
        a, b = cand.bench.get(key), base.bench.get(key)
        if a != b:
            problems.append(f"benchmark {key}: candidate {a!r} vs baseline {b!r}")
    ao, bo = cand.bench.get("options") or {}, base.bench.get("options") or {}
    ao = {k: v for k, v in ao.items() if k != "media_root"}
    bo = {k: v for k, v in bo.items() if k != "media_root"}
    if ao != bo:
        problems.append(f"benchmark options: candidate {ao!r} vs baseline {bo!r}")
    if problems:
        raise Mismatch("runs are not comparable:\n  " + "\n  ".join(problems))
    # Rows that never became items (bad rows: no label) are listed apart; they may share an
    # id with a real item, so only labelled rows must have unique ids.
    ca = [s["item_id"] for s in cand.samples if s.get("label") is not None]
    ba = [s["item_id"] for s in base.samples if s.get("label") is not None]
    for name, ids in (("candidate", ca), ("baseline", ba)):
        if len(set(ids)) != len(ids):
            raise Mismatch(f"{name} samples.jsonl repeats item ids")
    cs, bs = set(ca), set(ba)
    if cs != bs:
        only_c, only_b = sorted(cs - bs), sorted(bs - cs)
        raise Mismatch(
            f"item sets differ: {len(only_c)} only in the candidate (e.g. {only_c[:3]}), "
            f"{len(only_b)} only in the baseline (e.g. {only_b[:3]}); compare runs on the same "
            "items (same --limit, split and dataset copy)")
    cbad = sorted(s["item_id"] for s in cand.samples if s.get("label") is None)
    bbad = sorted(s["item_id"] for s in base.samples if s.get("label") is None)
    if cbad != bbad:
        raise Mismatch(f"the rows that could not be read differ ({len(cbad)} in the candidate, "
                       f"{len(bbad)} in the baseline): not the same dataset copy")
    cl = {s["item_id"]: s["label"] for s in cand.samples if s.get("label") is not None}
    bl = {s["item_id"]: s["label"] for s in base.samples if s.get("label") is not None}
    diff = sorted(i for i in bl if cl[i] != bl[i])
    if diff:
        raise Mismatch(f"{len(diff)} item(s) have different human labels in the two runs "
                       f"(e.g. {diff[:3]}): not the same dataset")
    return ba


# --- the comparison ------------------------------------------------------------------------

@dataclass
class MetricResult:
    metric: str
    baseline: float
    candidate: float
    diff: float  # points
    lo: float
    hi: float
    n: int
    failed: bool
    note: str = ""
    skipped: bool = False

    def line(self, max_drop: float) -> str:
        if self.skipped or np.isnan(self.diff):
            return f"{'FAIL' if self.failed else 'SKIP'} {self.metric}: {self.note}"
        verdict = "FAIL" if self.failed else "PASS"
        s = (f"{verdict} {self.metric}: {self.baseline:.1f} -> {self.candidate:.1f} "
             f"(diff {self.diff:+.2f} pp, 95% CI [{self.lo:+.2f}, {self.hi:+.2f}], n={self.n})")
        if self.failed:
            s += (f": {'rise' if self.metric in LOWER_IS_BETTER else 'drop'} beyond "
                  f"{max_drop:g} pp and the CI excludes 0")
        elif self.note:
            s += f": {self.note}"
        return s


def default_metrics(run: Run) -> list[str]:
    bench = run.bench.get("benchmark")
    return list(DEFAULT_METRICS.get(bench, DEFAULT_PAIR))


def compare(cand: Run, base: Run, metrics: list[str] | None = None, max_drop: float = 0.5,
            n_boot: int = 2000, seed: int = 0, alpha: float = 0.05) -> list[MetricResult]:
    ids = check_comparable(cand, base)
    metrics = metrics or default_metrics(base)
    unknown = [m for m in metrics if m not in SET_METRICS]
    if unknown:
        raise Mismatch(f"cannot gate on {unknown}: supported metrics are {list(SUPPORTED)}")
    c, b = _items(cand, ids), _items(base, ids)
    n = len(ids)
    rng = np.random.default_rng(seed)
    boot = rng.integers(0, n, (n_boot, n)) if n else np.zeros((0, 0), dtype=int)
    full = np.arange(n)
    out = []
    for name in metrics:
        fn = SET_METRICS[name]
        vb, vc = fn(b, full), fn(c, full)
        if np.isnan(vb) or np.isnan(vc):
            # Undefined (e.g. no parsed verdict at all). The candidate losing a metric the
            # baseline had is a regression; undefined in both is skipped.
            lost = not np.isnan(vb)
            out.append(MetricResult(
                name, 100 * vb, 100 * vc, float("nan"), float("nan"), float("nan"), n, lost,
                "undefined for the candidate (e.g. no parsed verdict) but defined for the "
                "baseline" if lost else "undefined in " + ("both runs" if np.isnan(vc)
                                                           else "the baseline") + ": skipped",
                skipped=not lost))
            continue
        if name in PER_ITEM:
            # A mean over a fixed item mask: the paired per-item bootstrap.
            sc, mc = PER_ITEM[name](c)
            sb, mb = PER_ITEM[name](b)
            if name != OVERALL:
                keep = mc  # same mask in both runs (it depends on human labels only)
                d, lo, hi = M.paired_bootstrap_diff(sc[keep], sb[keep], n_boot=n_boot,
                                                    alpha=alpha, seed=seed)
                m_n = int(keep.sum())
            else:  # the denominators differ per run (parsed items): recompute on resamples
                d, lo, hi = _resampled_diff(fn, c, b, boot, alpha)
                m_n = n
        else:
            d, lo, hi = _resampled_diff(fn, c, b, boot, alpha)
            m_n = n
        d, lo, hi = 100 * (vc - vb), 100 * lo, 100 * hi
        failed = d < -max_drop and hi < 0
        note = ""
        if not failed and d < -max_drop:
            note = (f"drop beyond {max_drop:g} pp but the CI includes 0 (not significant on "
                    f"{m_n} items)")
        out.append(MetricResult(name, 100 * vb, 100 * vc, d, lo, hi, m_n, failed, note))
    return out


def _resampled_diff(fn, c: Items, b: Items, boot: np.ndarray, alpha: float
                    ) -> tuple[float, float, float]:
    full = np.arange(len(c.h))
    d0 = fn(c, full) - fn(b, full)
    diffs = np.array([fn(c, idx) - fn(b, idx) for idx in boot])
    diffs = diffs[~np.isnan(diffs)]
    if diffs.size == 0:
        return d0, float("nan"), float("nan")
    lo, hi = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    return float(d0), float(lo), float(hi)


def _who(run: Run) -> str:
    kind = "policy" if is_policy_run(run) else "judge"
    j = run.results.get(kind, {})
    return f"`{j.get(kind)}` (`{j.get('model_path') or j.get('model')}`) from `{run.path}`"


def _n_errors(run: Run) -> int:
    if is_policy_run(run):
        return sum(1 for s in run.samples if s.get("error"))
    return sum(1 for s in run.samples if s.get("label") is not None and s.get("status") == "error")


def _n_items(run: Run) -> int:
    if is_policy_run(run):
        return len(run.samples)
    return len([x for x in run.samples if x.get("label") is not None])


def report_markdown(cand: Run, base: Run, results: list[MetricResult], max_drop: float,
                    n_boot: int) -> str:
    b = base.bench
    failed = any(r.failed for r in results)
    lines = [f"# Regression check: {'FAIL' if failed else 'PASS'}", "",
             f"- benchmark: `{b.get('benchmark')}` split `{b.get('split')}` "
             f"revision `{b.get('revision')}`",
             f"- candidate: {_who(cand)}",
             f"- baseline: {_who(base)}",
             f"- rule: a metric fails when candidate - baseline < -{max_drop:g} points and the "
             f"upper end of its 95% paired-bootstrap CI ({n_boot} resamples over items) is "
             "below 0; " + ("compared on the units both runs scored" if is_policy_run(base)
                            else "failed items count as wrong"),
             f"- items: {_n_items(base)} {'' if is_policy_run(base) else 'labelled'}; "
             f"failed (counted wrong): candidate {_n_errors(cand)}, baseline {_n_errors(base)}",
             "",
             "| metric | baseline | candidate | diff (pp) | 95% CI | n | verdict |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        verdict = "FAIL" if r.failed else ("SKIP" if r.skipped else "PASS")
        lines.append(f"| {r.metric} | {r.baseline:.1f} | {r.candidate:.1f} | {r.diff:+.2f} | "
                     f"[{r.lo:+.2f}, {r.hi:+.2f}] | {r.n} | {verdict} |")
    notes = [f"- {r.metric}: {r.note}" for r in results if r.note]
    if notes:
        lines += ["", *notes]
    lines.append("")
    return "\n".join(lines)


# --- policy runs -------------------------------------------------------------------------------

LOWER_IS_BETTER = frozenset({"unparsed_rate"})
DIAGNOSTIC = frozenset({"unparsed_rate", "videos_decodable"})  # not gated unless asked


def is_policy_run(run: Run) -> bool:
    return "policy" in run.results


def unit_values(run: Run) -> dict[str, dict[str, tuple[float, float]]]:
    """metric -> unit id -> (numerator, denominator), from samples.jsonl ``values``."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for row in run.samples:
        for name, v in (row.get("values") or {}).items():
            num, den = (v[0], v[1]) if isinstance(v, list) else (v, 1.0)
            out.setdefault(name, {})[row["item_id"]] = (float(num), float(den))
    return out


def check_comparable_policy(cand: Run, base: Run) -> None:
    """Raise Mismatch unless both policy runs cover the same items of the same benchmark."""
    problems = []
    for key in ("benchmark", "config", "split", "revision", "hub_id"):
        a, b = cand.bench.get(key), base.bench.get(key)
        if a != b:
            problems.append(f"benchmark {key}: candidate {a!r} vs baseline {b!r}")
    # Where the data and scorer weights live does not change the items; anything else does.
    local = {"media_root", "video_dir", "scorer_path"}
    ao = {k: v for k, v in (cand.bench.get("options") or {}).items() if k not in local}
    bo = {k: v for k, v in (base.bench.get("options") or {}).items() if k not in local}
    if ao != bo:
        problems.append(f"benchmark options: candidate {ao!r} vs baseline {bo!r}")
    if problems:
        raise Mismatch("runs are not comparable:\n  " + "\n  ".join(problems))
    ids = {}
    for name, run in (("candidate", cand), ("baseline", base)):
        ids[name] = [s["item_id"] for s in run.samples]
        if len(set(ids[name])) != len(ids[name]):
            raise Mismatch(f"{name} samples.jsonl repeats item ids")
    cs, bs = set(ids["candidate"]), set(ids["baseline"])
    if cs != bs:
        only_c, only_b = sorted(cs - bs), sorted(bs - cs)
        raise Mismatch(
            f"item sets differ: {len(only_c)} only in the candidate (e.g. {only_c[:3]}), "
            f"{len(only_b)} only in the baseline (e.g. {only_b[:3]}); compare runs on the same "
            "items (same --limit, split, seed, samples per prompt and dataset copy)")
    ca = {s["item_id"]: s.get("answer") for s in cand.samples}
    diff = sorted(s["item_id"] for s in base.samples if s.get("answer") != ca[s["item_id"]])
    if diff:
        raise Mismatch(f"{len(diff)} item(s) have different answers in the two runs "
                       f"(e.g. {diff[:3]}): not the same dataset")


def paired_ratio_diff(cand: tuple[np.ndarray, np.ndarray], base: tuple[np.ndarray, np.ndarray],
                      n_boot: int = 2000, alpha: float = 0.05, seed: int = 0
                      ) -> tuple[float, float, float]:
    """``sum(num)/sum(den)`` of the candidate minus the baseline on the same units, and its
    percentile CI from a paired bootstrap: each resample draws units with replacement (the
    draws of :func:`evalsuite.metrics.bootstrap_ci` for the seed) and applies them to both
    runs. Vectorised over resamples; a resample with a zero denominator is dropped."""
    (nc, dc), (nb, db) = cand, base
    n = nc.size
    if n == 0 or dc.sum() == 0 or db.sum() == 0:
        return (float("nan"),) * 3
    d0 = nc.sum() / dc.sum() - nb.sum() / db.sum()
    stats = []
    for w in M.bootstrap_counts(n, n_boot, seed):
        tc, bc, tb, bb = w @ nc, w @ dc, w @ nb, w @ db
        ok = (bc != 0) & (bb != 0)
        stats.append(np.where(ok, tc / np.where(ok, bc, 1) - tb / np.where(ok, bb, 1), np.nan))
    lo, hi = M._percentile(np.concatenate(stats), alpha)
    return float(d0), lo, hi


def _ratio(units: dict[str, tuple[float, float]], ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([units[i][0] for i in ids], dtype=np.float64),
            np.array([units[i][1] for i in ids], dtype=np.float64))


def policy_metric_result(name: str, cu: dict[str, tuple[float, float]],
                         bu: dict[str, tuple[float, float]], max_drop: float, n_boot: int,
                         seed: int, alpha: float, ids: set[str] | None = None) -> MetricResult:
    """One metric of two policy runs on their shared units (restricted to ``ids`` if given)."""
    shared = sorted(set(cu) & set(bu) if ids is None else set(cu) & set(bu) & ids)
    only_b = len((set(bu) - set(cu)) & (ids if ids is not None else set(bu)))
    only_c = len((set(cu) - set(bu)) & (ids if ids is not None else set(cu)))
    c, b = _ratio(cu, shared), _ratio(bu, shared)
    d, lo, hi = paired_ratio_diff(c, b, n_boot=n_boot, alpha=alpha, seed=seed)
    vc = c[0].sum() / c[1].sum() if shared and c[1].sum() else float("nan")
    vb = b[0].sum() / b[1].sum() if shared and b[1].sum() else float("nan")
    unpaired = ""
    if only_b or only_c:
        unpaired = (f"{only_b} unit(s) only in the baseline (failed or not scored in the "
                    f"candidate), {only_c} only in the candidate: compared on the {len(shared)} "
                    "shared units")
    if np.isnan(d):
        return MetricResult(name, 100 * vb, 100 * vc, float("nan"), float("nan"), float("nan"),
                            len(shared), False, "no shared unit with a value in both runs"
                            + (f"; {unpaired}" if unpaired else ""), skipped=True)
    d, lo, hi = 100 * d, 100 * lo, 100 * hi
    if name in LOWER_IS_BETTER:  # a rise is the regression
        failed = d > max_drop and lo > 0
        worse = d > max_drop
    else:
        failed = d < -max_drop and hi < 0
        worse = d < -max_drop
    notes = [unpaired] if unpaired else []
    if worse and not failed:
        notes.append(f"change beyond {max_drop:g} pp in the bad direction but the CI includes 0 "
                     f"(not significant on {len(shared)} units)")
    return MetricResult(name, 100 * vb, 100 * vc, d, lo, hi, len(shared), failed,
                        "; ".join(notes))


def default_policy_metrics(base: Run) -> list[str]:
    """The baseline's metrics that have per-item values, diagnostics left out, in
    results.json order."""
    have = unit_values(base)
    return [k for k in base.results.get("metrics", {}) if k in have and k not in DIAGNOSTIC]


def compare_policy(cand: Run, base: Run, metrics: list[str] | None = None,
                   max_drop: float = 0.5, n_boot: int = 2000, seed: int = 0,
                   alpha: float = 0.05) -> list[MetricResult]:
    check_comparable_policy(cand, base)
    cu, bu = unit_values(cand), unit_values(base)
    metrics = metrics or default_policy_metrics(base)
    unknown = [m for m in metrics if m not in cu and m not in bu]
    if unknown:
        raise Mismatch(f"cannot compare {unknown}: metrics with per-item values in these runs "
                       f"are {sorted(set(cu) | set(bu))}")
    out = []
    for name in metrics:
        if name not in cu:  # the candidate lost a metric the baseline had
            out.append(MetricResult(name, float("nan"), float("nan"), float("nan"),
                                    float("nan"), float("nan"), 0, True,
                                    "no per-item values in the candidate but in the baseline"))
            continue
        out.append(policy_metric_result(name, cu[name], bu.get(name, {}), max_drop, n_boot,
                                        seed, alpha))
    return out


def gate(cand: Run, base: Run, metrics: list[str] | None = None, max_drop: float = 0.5,
         n_boot: int = 2000, seed: int = 0, alpha: float = 0.05) -> list[MetricResult]:
    """The gate for any two runs (judge or policy): the per-metric results, or
    :class:`Mismatch` / :class:`NothingCompared` (exit 2)."""
    kinds = {is_policy_run(cand), is_policy_run(base)}
    if len(kinds) != 1:
        raise Mismatch("one run is a judge run and the other a policy run: nothing to compare")
    fn = compare_policy if is_policy_run(base) else compare
    results = fn(cand, base, metrics=metrics, max_drop=max_drop, n_boot=n_boot, seed=seed,
                 alpha=alpha)
    if not results:
        raise NothingCompared("nothing compared: neither run has a metric with per-item values "
                              "in samples.jsonl (re-run finalisation with this version)")
    if all(r.skipped for r in results):
        why = "; ".join(f"{r.metric}: {r.note}" for r in results)
        raise NothingCompared(f"nothing compared: {why}")
    return results


# --- per-category differences (evalsuite compare) ----------------------------------------------

def _categories(run: Run) -> dict[str, str]:
    return {s["item_id"]: str(s.get("category")) for s in run.samples
            if s.get("category") is not None}


def category_results(cand: Run, base: Run, metrics: list[str], n_boot: int = 2000,
                     seed: int = 0, alpha: float = 0.05
                     ) -> dict[str, list[tuple[str, MetricResult]]]:
    """metric -> [(category, the paired comparison restricted to that category's items)], for
    runs already checked by :func:`gate`. Categories are the baseline samples' ``category``;
    ``macro_accuracy`` (itself a mean over categories) has none."""
    cats = _categories(base)
    names = sorted(set(cats.values()))
    out: dict[str, list[tuple[str, MetricResult]]] = {}
    if is_policy_run(base):
        cu, bu = unit_values(cand), unit_values(base)
        for m in metrics:
            if m in cu and m in bu:
                out[m] = [(c, policy_metric_result(
                    m, cu[m], bu[m], 0.0, n_boot, seed, alpha,
                    ids={i for i, k in cats.items() if k == c})) for c in names]
        return out
    ids = check_comparable(cand, base)
    ci, bi = _items(cand, ids), _items(base, ids)
    rng = np.random.default_rng(seed)
    for m in metrics:
        if m == MACRO or m not in SET_METRICS:
            continue
        fn, rows = SET_METRICS[m], []
        for c in names:
            idx = np.flatnonzero(bi.category == c)
            vb, vc = fn(bi, idx), fn(ci, idx)
            if idx.size == 0 or np.isnan(vb) or np.isnan(vc):
                rows.append((c, MetricResult(m, 100 * vb, 100 * vc, float("nan"), float("nan"),
                                             float("nan"), int(idx.size), False,
                                             "undefined in this category", skipped=True)))
                continue
            boot = idx[rng.integers(0, idx.size, (n_boot, idx.size))]
            diffs = np.array([fn(ci, b) - fn(bi, b) for b in boot])
            lo, hi = M._percentile(diffs, alpha)
            rows.append((c, MetricResult(m, 100 * vb, 100 * vc, 100 * (vc - vb), 100 * lo,
                                         100 * hi, int(idx.size), False)))
        out[m] = rows
    return out
