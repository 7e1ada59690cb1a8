"""Preference-benchmark metrics, exactly as defined in REFERENCE.md.

Human labels ``h`` are +1 (A preferred), -1 (B preferred), 0 (tie); judge margins ``m`` are
real numbers (score(A) - score(B), or +1/-1/0 for a generative verdict).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def _arrays(human: Sequence[int], margin: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    h = np.asarray(human, dtype=np.int64).reshape(-1)
    m = np.asarray(margin, dtype=np.float64).reshape(-1)
    if h.shape != m.shape:
        raise ValueError(f"human and margin lengths differ: {h.size} vs {m.size}")
    if not np.isin(h, (-1, 0, 1)).all():
        raise ValueError("human labels must be in {1, -1, 0}")
    if np.isnan(m).any():
        raise ValueError("margins contain NaN: drop or count unparsed items before calling")
    return h, m


def accuracy_with_ties(human: Sequence[int], margin: Sequence[float]) -> float:
    """Tie-calibrated pairwise accuracy (Deutsch et al. 2023, "Ties Matter"; VideoAlign).

    The judge calls a tie when |m| <= eps; eps is chosen among the observed |m| values to
    maximise (C + T_hm) / N, where C counts concordant non-tie items and T_hm items where
    both the human and the judge tie. All items with the same |m| switch together (the exact
    definition; VideoAlign's one-pair-at-a-time sweep can overstate it on repeated |m|).
    O(N log N): sort |m| once, then prefix sums.
    """
    h, m = _arrays(human, margin)
    n = h.size
    if n == 0:
        return float("nan")
    a = np.abs(m)
    order = np.argsort(a, kind="stable")
    a, hs, ms = a[order], h[order], m[order]
    human_tie = (hs == 0).astype(np.int64)
    concordant = ((hs != 0) & (hs * ms > 0)).astype(np.int64)
    # For the eps equal to the k-th distinct |m|, items [0, end_k) are judge ties.
    ends = np.flatnonzero(np.r_[a[1:] != a[:-1], True]) + 1
    tie_hits = np.r_[0, np.cumsum(human_tie)][ends]  # T_hm
    conc_total = concordant.sum()
    conc_below = np.r_[0, np.cumsum(concordant)][ends]
    correct = tie_hits + (conc_total - conc_below)
    return float(correct.max() / n)


def accuracy_without_ties(human: Sequence[int], margin: Sequence[float]) -> float:
    """Accuracy over items the humans did not tie; a judge tie (m == 0) there is wrong."""
    h, m = _arrays(human, margin)
    keep = h != 0
    if not keep.any():
        return float("nan")
    return float((np.sign(m[keep]) == h[keep]).mean())


def simple_accuracy_with_ties(human: Sequence[int], margin: Sequence[float]) -> float:
    """UnifiedReward scripts' accuracy: correct when sign(m) == h, a judge tie matching a
    human tie included; denominator = all items."""
    h, m = _arrays(human, margin)
    if h.size == 0:
        return float("nan")
    return float((np.sign(m) == h).mean())


def simple_accuracy_without_ties(human: Sequence[int], margin: Sequence[float]) -> float:
    """UnifiedReward scripts' accuracy with human ties excluded (same rule otherwise)."""
    return accuracy_without_ties(human, margin)


def macro_accuracy(correct: Sequence[bool], categories: Sequence[str]) -> float:
    """Mean over categories of the per-category accuracy."""
    per = per_category_accuracy(correct, categories)
    return float(np.mean(list(per.values()))) if per else float("nan")


def per_category_accuracy(correct: Sequence[bool], categories: Sequence[str]) -> dict[str, float]:
    c = np.asarray(correct, dtype=float)
    cats = np.asarray(categories, dtype=object)
    return {str(k): float(c[cats == k].mean()) for k in sorted(set(cats.tolist()))}


def bootstrap_ci(metric: Callable[..., float], *columns: Sequence[Any], n_boot: int = 1000,
                 alpha: float = 0.05, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of ``metric(*columns)`` resampling items with replacement."""
    cols = [np.asarray(c) for c in columns]
    n = len(cols[0]) if cols else 0
    if n == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        v = metric(*[c[idx] for c in cols])
        if not np.isnan(v):
            stats.append(v)
    if not stats:
        return (float("nan"), float("nan"))
    lo, hi = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))


def bootstrap_counts(n: int, n_boot: int = 1000, seed: int = 0,
                     max_cells: int = 4_000_000):
    """Bootstrap resamples of ``n`` items as count matrices, in chunks of rows.

    Row ``b`` holds how often each item was drawn in resample ``b``. The draws are exactly
    those of :func:`bootstrap_ci` with the same seed (``n`` indices with replacement per
    resample, in order), so a metric computed on counts gives the same CI as on indices.
    """
    rng = np.random.default_rng(seed)
    step = max(1, max_cells // max(n, 1))
    for start in range(0, n_boot, step):
        k = min(step, n_boot - start)
        idx = rng.integers(0, n, (k, n))  # row by row the same draws as k calls of n
        flat = (idx + (np.arange(k) * n)[:, None]).ravel()
        yield np.bincount(flat, minlength=k * n).reshape(k, n)


def _percentile(stats: np.ndarray, alpha: float) -> tuple[float, float]:
    stats = stats[~np.isnan(stats)]
    if stats.size == 0:
        return (float("nan"), float("nan"))
    lo, hi = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))


def weighted_pair_accuracies(human: Sequence[int], margin: Sequence[float],
                             parsed: Sequence[bool], weights: np.ndarray) -> dict[str, np.ndarray]:
    """The four pair accuracies for each row of ``weights`` (item multiplicities), at once.

    Unparsed items count as wrong and stay in every denominator; the tie threshold of
    :func:`accuracy_with_ties` is searched over the |m| of the parsed items present in the
    row (weight > 0), exactly as that function does on the resampled parsed items. With a
    row of ones this equals the unweighted functions (a test checks it).
    """
    h = np.asarray(human, dtype=np.int64).reshape(-1)
    ok = np.asarray(parsed, dtype=bool).reshape(-1)
    m = np.where(ok, np.asarray(margin, dtype=np.float64).reshape(-1), 0.0)
    w = np.atleast_2d(np.asarray(weights, dtype=np.int64))
    total = w.sum(axis=1).astype(float)
    nontie_total = w[:, h != 0].sum(axis=1).astype(float)
    right = ok & (np.sign(m) == h)
    right_nontie = (w * (right & (h != 0))).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {"simple_with_ties": (w * right).sum(axis=1) / total,
               "without_ties": np.where(nontie_total > 0, right_nontie / nontie_total, np.nan)}
    out["simple_without_ties"] = out["without_ties"]
    # Tie-calibrated: parsed items sorted by |m|; candidate eps = each distinct |m| group end.
    keep = np.flatnonzero(ok)
    order = keep[np.argsort(np.abs(m[keep]), kind="stable")]
    a = np.abs(m[order])
    wp = w[:, order]
    tie_hit = np.cumsum(wp * (h[order] == 0), axis=1)
    conc = np.cumsum(wp * ((h[order] != 0) & (h[order] * m[order] > 0)), axis=1)
    present = np.cumsum(wp, axis=1)
    if order.size:
        ends = np.flatnonzero(np.r_[a[1:] != a[:-1], True])
        correct = tie_hit[:, ends] + (conc[:, -1:] - conc[:, ends])
        # A group absent from the row is no candidate (its eps is not an observed |m| there).
        grp_w = np.diff(np.c_[np.zeros((w.shape[0], 1), np.int64), present[:, ends]], axis=1)
        best = np.where(grp_w > 0, correct, -1).max(axis=1)
        best = np.where(best < 0, 0, best)
    else:
        best = np.zeros(w.shape[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        out["with_ties"] = np.where(total > 0, best / total, np.nan)
    return out


def bootstrap_indices(n: int, n_boot: int = 1000, seed: int = 0, max_cells: int = 4_000_000,
                      width: int | None = None):
    """The resamples of :func:`bootstrap_ci` (same seed, same draws, in order) as index
    matrices, a chunk of rows at a time (rows x ``width`` at most ``max_cells``; ``width``
    defaults to ``n``, the caller's widest per-row array)."""
    rng = np.random.default_rng(seed)
    step = max(1, max_cells // max(width or n, 1))
    for start in range(0, n_boot, step):
        k = min(step, n_boot - start)
        yield rng.integers(0, n, (k, n))  # row by row the same draws as k calls of n


def _row_counts(codes: np.ndarray, bins: int) -> np.ndarray:
    """Per row of ``codes`` (k x n ints in [0, bins)), how often each code occurs: k x bins."""
    return np.stack([np.bincount(row, minlength=bins) for row in codes])


def _small_code(x: np.ndarray, top: int) -> np.ndarray:
    """``x`` (ints in [0, top)) in the narrowest unsigned type: cheaper to gather."""
    for t in (np.uint8, np.uint16, np.uint32):
        if top <= np.iinfo(t).max + 1:
            return x.astype(t)
    return x


# One bincount of (group, class) codes while groups x classes stays this small; beyond it
# (continuous margins: one group per item) classes and groups are counted apart.
_JOINT_BINS = 1 << 16


def pair_accuracies_ci(human: Sequence[int], margin: Sequence[float], parsed: Sequence[bool],
                       n_boot: int = 1000, alpha: float = 0.05, seed: int = 0,
                       max_cells: int = 4_000_000) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap CIs of the four pair accuracies from one set of resamples.

    The same resamples and the same NaN handling as :func:`bootstrap_ci`, so the CIs are
    identical to calling it per metric (a test checks it). Each resample is reduced to
    integer counts - per item class (human tie, concordant, right, non-tie) and per group
    of equal |m| among the parsed items (the tie thresholds of
    :func:`accuracy_with_ties`) - by a ``bincount`` of the resampled items' codes, so the
    cost is O(n + groups) per resample and memory stays at a chunk of ``max_cells``
    indices.
    """
    h = np.asarray(human, dtype=np.int64).reshape(-1)
    n = h.size
    keys = ("with_ties", "without_ties", "simple_with_ties", "simple_without_ties")
    if n == 0:
        nan = (float("nan"), float("nan"))
        return {k: nan for k in keys}
    ok = np.asarray(parsed, dtype=bool).reshape(-1)
    m = np.where(ok, np.asarray(margin, dtype=np.float64).reshape(-1), 0.0)
    tie, nontie = h == 0, h != 0
    conc = ok & nontie & (h * m > 0)
    right = ok & (np.sign(m) == h)
    # Item class: bit 0 human tie, 1 concordant, 2 right, 3 human non-tie.
    cls = tie.astype(np.int64) | conc << 1 | right << 2 | nontie << 3
    bit = (np.arange(16)[:, None] >> np.arange(4)) & 1  # class -> its 4 bits
    # Group of equal |m| among parsed items (ascending); unparsed items: group G (none).
    groups, gid = np.unique(np.abs(m[ok]), return_inverse=True)
    G = groups.size
    g_all = np.full(n, G, dtype=np.int64)
    g_all[ok] = gid.reshape(-1)
    joint = 16 * (G + 1) <= _JOINT_BINS
    if joint:
        code, width = _small_code(g_all * 16 + cls, 16 * (G + 1)), 16 * (G + 1)
    else:
        cls8 = _small_code(cls, 16)
        gcode = _small_code(g_all * 3 + np.where(tie, 1, np.where(conc, 2, 0)), 3 * (G + 1))
        width = max(n, 3 * (G + 1))
    total = float(n)
    stats: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for idx in bootstrap_indices(n, n_boot, seed, max_cells, width=max(n, width)):
        k = idx.shape[0]
        if joint:
            per_cls = _row_counts(code[idx], 16 * (G + 1)).reshape(k, G + 1, 16)
            counts = per_cls.sum(axis=1)  # k x 16 classes
            g = per_cls[:, :G]
            tie_g, conc_g, present_g = g @ bit[:, 0], g @ bit[:, 1], g.sum(axis=2)
        else:
            counts = _row_counts(cls8[idx], 16)
            g = _row_counts(gcode[idx], 3 * (G + 1)).reshape(k, G + 1, 3)[:, :G]
            tie_g, conc_g, present_g = g[:, :, 1], g[:, :, 2], g.sum(axis=2)
        c = counts @ bit  # k x 4: tie, concordant, right, non-tie counts
        right_nontie = counts @ (bit[:, 2] & bit[:, 3])
        nontie_total = c[:, 3].astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            stats["simple_with_ties"].append(c[:, 2] / total)
            without = np.where(nontie_total > 0, right_nontie / nontie_total, np.nan)
        stats["without_ties"].append(without)
        stats["simple_without_ties"].append(without)
        if G:
            tie_hit = np.cumsum(tie_g, axis=1)
            conc_cum = np.cumsum(conc_g, axis=1)
            correct = tie_hit + (conc_cum[:, -1:] - conc_cum)
            best = np.where(present_g > 0, correct, -1).max(axis=1)
            best = np.where(best < 0, 0, best)
        else:
            best = np.zeros(k)
        stats["with_ties"].append(best / total)
    return {k: _percentile(np.concatenate(stats[k]), alpha) for k in keys}


def paired_bootstrap_diff(a: Sequence[float], b: Sequence[float], n_boot: int = 2000,
                          alpha: float = 0.05, seed: int = 0) -> tuple[float, float, float]:
    """Mean of (a - b) over paired items and its percentile bootstrap CI."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if d.size == 0:
        return (float("nan"),) * 3
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, d.size, (n_boot, d.size))
    means = d[idx].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(d.mean()), float(lo), float(hi)
