"""Metric functions against hand-computed cases, brute force, and the upstream sweep."""

from __future__ import annotations

import numpy as np
import pytest

from evalsuite import metrics as M


def upstream_sweep(h, m):
    """VideoAlign's accuracy-with-ties procedure restated: start with no judge ties, move
    pairs into 'judge tie' one at a time in order of |m|, keep the best accuracy seen."""
    n = len(h)
    state = ["tie" if False else "nontie"] * n
    order = sorted(range(n), key=lambda i: abs(m[i]))
    best = -np.inf
    for i in order:
        state[i] = "tie"
        correct = sum((h[j] == 0) if state[j] == "tie" else (h[j] != 0 and h[j] * m[j] > 0)
                      for j in range(n))
        best = max(best, correct / n)
    return best


def brute_force(h, m):
    """Exact definition: best eps among observed |m|, all equal |m| switch together."""
    best = -np.inf
    for eps in sorted(set(abs(x) for x in m)):
        correct = sum((hi == 0) if abs(mi) <= eps else (hi != 0 and hi * mi > 0)
                      for hi, mi in zip(h, m))
        best = max(best, correct / len(h))
    return best


def test_hand_computed_with_ties():
    # |m| sorted: 0.1(h=0) 0.5(h=1,m>0) 2(h=-1,m>0)
    h, m = [0, 1, -1], [0.1, 0.5, 2.0]
    # eps=0.1: tie item right, 0.5 right, 2.0 wrong -> 2/3 ; eps=0.5 -> 1/3 ; eps=2 -> 1/3
    assert M.accuracy_with_ties(h, m) == pytest.approx(2 / 3)


def test_all_ties_and_no_ties_edge_cases():
    assert M.accuracy_with_ties([0, 0, 0], [0.3, -1.0, 2.0]) == 1.0  # eps = max |m|
    assert np.isnan(M.accuracy_without_ties([0, 0], [1, -1]))
    # No human ties: best eps is the smallest |m|, which still ties one item (upstream too).
    assert M.accuracy_with_ties([1, 1, -1, -1], [3.0, 2.0, -1.0, -0.5]) == 0.75
    assert M.accuracy_without_ties([1, 1, -1, -1], [3.0, -2.0, -1.0, 0.0]) == 0.5  # 0 is wrong


def test_simple_accuracies():
    h, m = [1, -1, 0, 0, 1], [1, 1, 0, 1, 0]
    assert M.simple_accuracy_with_ties(h, m) == pytest.approx(2 / 5)
    assert M.simple_accuracy_without_ties(h, m) == pytest.approx(1 / 3)


@pytest.mark.parametrize("seed", range(30))
def test_matches_upstream_on_distinct_margins(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    h = rng.choice([-1, 0, 1], n).tolist()
    m = rng.normal(size=n).tolist()  # distinct with probability 1
    assert M.accuracy_with_ties(h, m) == pytest.approx(upstream_sweep(h, m), abs=1e-9)


@pytest.mark.parametrize("seed", range(30))
def test_matches_brute_force_on_repeated_margins(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(1, 60))
    h = rng.choice([-1, 0, 1], n).tolist()
    m = rng.choice([-1.0, 0.0, 1.0, 0.5, -0.5], n).tolist()
    assert M.accuracy_with_ties(h, m) == pytest.approx(brute_force(h, m), abs=1e-9)


def test_upstream_overstates_on_repeated_margins():
    # Generative judge margins in {-1, 0, 1}: the sweep can stop half-way through the
    # |m| = 1 group; the exact definition cannot.
    h, m = [0, 1, 1], [1.0, 1.0, 1.0]
    assert upstream_sweep(h, m) == 1.0  # ties only the first of three equal margins
    assert M.accuracy_with_ties(h, m) == pytest.approx(1 / 3)  # all |m| = 1 are ties
    assert M.accuracy_with_ties(h, m) == pytest.approx(brute_force(h, m))


def test_large_input_is_order_invariant():
    """200k items: equal to the definition evaluated at every distinct |m| (numpy brute
    force, a few hundred thresholds here), and independent of the items' order."""
    rng = np.random.default_rng(0)
    h = rng.choice([-1, 0, 1], 200_000)
    m = np.round(rng.normal(size=200_000), 2)  # many repeated |m|: ties switch together
    perm = rng.permutation(len(h))
    a = M.accuracy_with_ties(h, m)
    want = max(np.where(np.abs(m) <= eps, h == 0, (h != 0) & (h * m > 0)).mean()
               for eps in np.unique(np.abs(m)))
    assert a == pytest.approx(want, abs=1e-12)
    assert a == M.accuracy_with_ties(h[perm], m[perm])


def test_macro_and_bootstrap():
    correct = [1, 0, 1, 1, 0, 0]
    cats = ["a", "a", "b", "b", "c", "c"]
    assert M.per_category_accuracy(correct, cats) == {"a": 0.5, "b": 1.0, "c": 0.0}
    assert M.macro_accuracy(correct, cats) == pytest.approx(0.5)
    lo, hi = M.bootstrap_ci(lambda c: float(np.mean(c)), np.array(correct, float), n_boot=200)
    assert 0.0 <= lo <= 0.5 <= hi <= 1.0
    d, lo, hi = M.paired_bootstrap_diff([1, 1, 1, 1], [1, 0, 1, 0])
    assert d == 0.5 and lo <= d <= hi


def test_input_validation():
    with pytest.raises(ValueError):
        M.accuracy_with_ties([2], [0.1])
    with pytest.raises(ValueError):
        M.accuracy_with_ties([1, 0], [0.1])
    with pytest.raises(ValueError):
        M.accuracy_with_ties([1], [float("nan")])


def _without_ties(h, m):
    """Human ties left out; a judge tie (m == 0) on a human preference is wrong."""
    return sum(hi != 0 and hi * mi > 0 for hi, mi in zip(h, m)) / sum(hi != 0 for hi in h)


def _simple_with_ties(h, m):
    """UnifiedReward scripts: sign(m) == h, judge tie = human tie, over all items."""
    return sum((hi == 0 and mi == 0) or hi * mi > 0 for hi, mi in zip(h, m)) / len(h)


def _percentile_bootstrap(f, h, m, ok, n_boot, seed=0, alpha=0.05):
    """Resample items with replacement (numpy's default_rng(seed) draws), drop NaN
    statistics, take the alpha/2 and 1 - alpha/2 quantiles."""
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(h), len(h))
        v = f(h[idx], m[idx], ok[idx])
        if not np.isnan(v):
            stats.append(v)
    if not stats:
        return (float("nan"), float("nan"))
    return tuple(float(q) for q in np.quantile(stats, [alpha / 2, 1 - alpha / 2]))


def _scaled(fn, non_ties_only):
    """Reference: the metric on parsed items, rescaled so unparsed items count as wrong."""
    def f(h, m, ok):
        total = int((h != 0).sum()) if non_ties_only else len(h)
        keep = ok & (h != 0) if non_ties_only else ok
        if total == 0:
            return float("nan")
        return 0.0 if keep.sum() == 0 else float(fn(h[ok], m[ok]) * keep.sum() / total)
    return f


def test_vectorised_pair_bootstrap_equals_per_metric_bootstrap():
    """The count-matrix bootstrap gives the same values and CIs as resampling indices and
    computing each metric from its definition (brute force, written out above), with
    unparsed items and repeated margins (absent |m| groups of a resample are no threshold
    candidates)."""
    ref = {"with_ties": _scaled(brute_force, False),
           "without_ties": _scaled(_without_ties, True),
           "simple_with_ties": _scaled(_simple_with_ties, False),
           "simple_without_ties": _scaled(_without_ties, True)}
    rng = np.random.default_rng(7)
    for _ in range(60):
        n = int(rng.integers(1, 30))
        h = rng.choice([1, -1, 0], n, p=rng.dirichlet([1, 1, 1]))
        m = (rng.choice([-1.0, 0.0, 1.0], n) if rng.random() < 0.5
             else np.round(rng.normal(size=n), 1))
        ok = rng.random(n) > 0.3 * rng.random()
        m = np.where(ok, m, 0.0)
        point = M.weighted_pair_accuracies(h, m, ok, np.ones((1, n), dtype=np.int64))
        cis = M.pair_accuracies_ci(h, m, ok, n_boot=50)
        for k, f in ref.items():
            assert point[k][0] == pytest.approx(f(h, m, ok), abs=1e-12, nan_ok=True)
            assert cis[k] == pytest.approx(_percentile_bootstrap(f, h, m, ok, n_boot=50),
                                           abs=1e-12, nan_ok=True)
