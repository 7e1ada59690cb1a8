"""Group rewards for online RL: pairwise win rates and group-normalised scores.

Pure functions on verdicts and scores (no model, no HTTP), so each number can be checked
against the trainers that define it:

* **win rate** - Pref-GRPO's reward (github CodeGoat24/Pref-GRPO @ 3e787f6,
  ``fastvideo/rewards/unifiedreward_think.py``, ``_pairwise_win_rate`` and
  ``cal_win_rate_images``): the G samples of one prompt are compared on every unordered
  pair (``itertools.combinations``, the lower index shown first); a comparison adds 1 to
  the winner, or 0.5 to each side when the answer names neither; a candidate's reward is
  ``round(wins / comparisons, 3)``, 0.0 when it took part in no comparison.
  Differences, each an option: an **unreadable answer is not half a win by default**
  (``unparsed="report"`` leaves it out of both counts and reports it; ``"tie"`` is
  Pref-GRPO's 0.5 each, ``"zero"`` counts it as lost by both, ``"error"`` fails the two
  candidates); a comparison that failed (bad media, model error) is left out and
  counted; a candidate with no usable comparison gets ``None`` (Pref-GRPO: 0.0), so an
  empty count is never mistaken for "lost every time". ``round_digits=None`` keeps the
  exact fraction.
* **group z-scores** - ``"flow-grpo"``: Flow-GRPO's per-prompt advantage (github
  yifan123/flow_grpo @ ac4c86e, ``flow_grpo/stat_tracking.py``
  ``PerPromptStatTracker.update``, type ``grpo``): ``(r - mean) / (std + 1e-4)`` with the
  population std (``np.std``, ddof 0); ``scripts/train_sd3.py`` clears the tracker after
  every update, so a prompt's statistics are those of its own samples, i.e. one group here.
  ``"pref-grpo"``: Pref-GRPO's
  ``compute_weighted_advantages`` (``fastvideo/rewards/dispatcher.py``, ``use_group``):
  ``(r - mean) / (std + 1e-8)`` with torch's unbiased std (ddof 1). Candidates without a
  reward (``None``) are left out of the statistics and get ``None``.
* **several judges** - Flow-GRPO's ``multi_score`` (``flow_grpo/rewards.py``) sums the
  weighted raw rewards and then normalises the sum; Pref-GRPO normalises each reward and
  then sums the weighted advantages. :func:`combine` follows whichever normaliser is asked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

UnparsedPolicy = Literal["report", "tie", "zero", "error"]
Normalizer = Literal["flow-grpo", "pref-grpo"]
UNPARSED_POLICIES: tuple[str, ...] = ("report", "tie", "zero", "error")
NORMALIZERS: tuple[str, ...] = ("flow-grpo", "pref-grpo")

# (epsilon added to the std, delta degrees of freedom) per normaliser, see the docstring.
_NORM = {"flow-grpo": (1e-4, 0), "pref-grpo": (1e-8, 1)}


@dataclass(frozen=True)
class Comparison:
    """One judged comparison of candidates ``i`` and ``j`` (verdict in the (i, j) order).

    ``outcome``: "i" or "j" (the winner), "tie", "unparsed", or "error".
    """

    i: int
    j: int
    outcome: Literal["i", "j", "tie", "unparsed", "error"]


@dataclass
class WinTally:
    """A candidate's win-rate bookkeeping."""

    wins: float = 0.0
    comparisons: int = 0
    unparsed: int = 0  # unreadable answers this candidate took part in
    errors: int = 0  # failed comparisons (bad media, model error) left out
    policy_applied: int = 0  # unreadable answers turned into a number by the policy
    error: str | None = None  # set under unparsed="error"
    reward: float | None = None
    opponents: list[int] = field(default_factory=list)


def win_rates(n: int, comparisons: Sequence[Comparison], unparsed: UnparsedPolicy = "report",
              round_digits: int | None = 3) -> list[WinTally]:
    """Per-candidate win rate over ``comparisons`` among ``n`` candidates (see module doc)."""
    if unparsed not in UNPARSED_POLICIES:
        raise ValueError(f"unparsed must be one of {UNPARSED_POLICIES}, got {unparsed!r}")
    tally = [WinTally() for _ in range(n)]
    for c in comparisons:
        a, b = tally[c.i], tally[c.j]
        if c.outcome == "error":
            a.errors += 1
            b.errors += 1
            continue
        if c.outcome == "unparsed":
            a.unparsed += 1
            b.unparsed += 1
            if unparsed == "report":
                continue
            if unparsed == "error":
                for t, other in ((a, c.j), (b, c.i)):
                    t.error = t.error or (f"unreadable answer against candidate {other} "
                                          "(--unparsed error)")
                continue
            a.policy_applied += 1
            b.policy_applied += 1
            share = 0.5 if unparsed == "tie" else 0.0
            a.wins += share
            b.wins += share
        elif c.outcome == "tie":
            a.wins += 0.5
            b.wins += 0.5
        elif c.outcome == "i":
            a.wins += 1
        else:
            b.wins += 1
        a.comparisons += 1
        b.comparisons += 1
        a.opponents.append(c.j)
        b.opponents.append(c.i)
    for t in tally:
        if t.error is None and t.comparisons:
            rate = t.wins / t.comparisons
            t.reward = round(rate, round_digits) if round_digits is not None else rate
    return tally


def zscores(values: Sequence[float | None], normalizer: Normalizer = "flow-grpo"
            ) -> list[float | None]:
    """Group-normalised rewards (advantages); ``None`` stays ``None`` and is left out."""
    if normalizer not in _NORM:
        raise ValueError(f"normalizer must be one of {NORMALIZERS}, got {normalizer!r}")
    eps, ddof = _NORM[normalizer]
    xs = [float(v) for v in values if v is not None]
    if not xs:
        return [None] * len(values)
    mean = math.fsum(xs) / len(xs)
    dof = len(xs) - ddof
    # torch.std of one value (ddof 1) is NaN; Pref-GRPO's advantage is then NaN as well.
    var = math.fsum((x - mean) ** 2 for x in xs) / dof if dof > 0 else math.nan
    std = math.sqrt(var)
    return [None if v is None else (float(v) - mean) / (std + eps) for v in values]


def weighted_sum(components: Sequence[Sequence[float | None]], weights: Sequence[float]
                 ) -> list[float | None]:
    """Per candidate sum of ``weight * value`` over judges; ``None`` when any is missing."""
    out: list[float | None] = []
    for vals in zip(*components):
        out.append(None if any(v is None for v in vals)
                   else math.fsum(w * float(v) for w, v in zip(weights, vals)))
    return out


def combine(components: Sequence[Sequence[float | None]], weights: Sequence[float],
            normalizer: Normalizer | None) -> list[float | None]:
    """Several judges' per-candidate rewards -> one reward per candidate.

    No normaliser: the weighted sum. ``"flow-grpo"``: z-score of the weighted sum
    (``multi_score`` then ``PerPromptStatTracker``). ``"pref-grpo"``: weighted sum of each
    judge's z-scores (``compute_weighted_advantages``).
    """
    if normalizer is None:
        return weighted_sum(components, weights)
    if normalizer == "flow-grpo":
        return zscores(weighted_sum(components, weights), "flow-grpo")
    return weighted_sum([zscores(c, "pref-grpo") for c in components], weights)
