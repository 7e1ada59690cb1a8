"""The probe contract: a probe turns benchmark items into constructed cases whose right
answer (or whose quantity of interest) is known, and turns the judge's verdicts on them
into counts, rates and bootstrap CIs.

A **case** is a pair in *logical* order (A = the side the probe asks about: the original,
the caption's own candidate, the perturbed image, ...), presented as is or swapped (a coin
seeded by the case id, :func:`evalsuite.runner.swap_for`), with its verdict mapped back to
the logical order, exactly as the runner does for benchmark pairs. A case may judge B under
another prompt (``prompt_b``: the same image under a changed caption), which only a score
judge can do.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from evalsuite.metrics import bootstrap_ci
from evalsuite.types import PairItem, ParseStatus, Verdict


@dataclass(frozen=True)
class Case:
    case_id: str  # "<probe>/<variant>/<benchmark item id>[/<more>]": unique in a run
    pair: PairItem  # logical order; pair.item_id is the benchmark item it came from
    variant: str
    swap: bool = False  # presented to a pairwise judge as (B, A)
    prompt_b: str | None = None  # B is judged under this prompt (score judges only)

    def shown(self) -> PairItem:
        """The pair as the judge sees it (id = the case id, so records key on it)."""
        p = dataclasses.replace(self.pair, item_id=self.case_id)
        return p.swapped() if self.swap else p


@dataclass
class Outcome:
    """A case's verdict in logical order, or why there is none."""

    verdict: Verdict | None
    error: str | None = None

    @property
    def parsed(self) -> bool:
        return self.verdict is not None and self.verdict.status is not ParseStatus.UNPARSED

    @property
    def winner(self) -> Literal["A", "B", "tie"] | None:
        return self.verdict.preferred if self.parsed else None


@dataclass
class Built:
    """What a probe asks the judge: its cases, and the items it could not build a case from
    (undecodable media, no attribute word in the caption, ...) with the reason."""

    cases: list[Case] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Context:
    """What every probe sees: the sampled benchmark items, the judge's capabilities, the
    seed, and the folder edited media are written to."""

    items: list[PairItem]
    pairwise: bool  # the judge is asked pairwise (else: scores -> margins)
    modality: str  # the benchmark's: "image" | "video"
    judge_modalities: frozenset[str]
    seed: int
    media: Any  # evalsuite.probes.media_ops.MediaFolder
    # A score judge's noise floor: the p95 |score change| under invisible re-encodings, set
    # by the resolution probe (summarised first) for the probes that compare effects to it.
    noise_level: float | None = None


class Probe:
    name: ClassVar[str] = "probe"
    title: ClassVar[str] = ""
    question: ClassVar[str] = ""  # what a person choosing a reward model learns from it

    def skip_reason(self, ctx: Context) -> str | None:
        """Why this probe does not apply to this judge x benchmark, or None."""
        return None

    def build(self, ctx: Context) -> Built:
        raise NotImplementedError

    def summarize(self, ctx: Context, cases: list[Case], outcomes: dict[str, Outcome]
                  ) -> dict[str, Any]:
        """``{"metrics": {name: stat}, "flags": [finding, ...], ...}``."""
        raise NotImplementedError


# --- statistics -----------------------------------------------------------------------------

def rate_stat(hits: list[bool] | np.ndarray, seed: int = 0, ideal: float | None = None
              ) -> dict[str, Any]:
    """Count, n, rate and its 95% percentile bootstrap CI (:func:`metrics.bootstrap_ci`)."""
    x = np.asarray(hits, dtype=float)
    if x.size == 0:
        return {"count": 0, "n": 0, "rate": None, "ci95": None, "ideal": ideal}
    lo, hi = bootstrap_ci(np.mean, x, seed=seed)
    return {"count": int(x.sum()), "n": int(x.size), "rate": float(x.mean()),
            "ci95": [lo, hi], "ideal": ideal}


def mean_stat(values: list[float] | np.ndarray, seed: int = 0, ideal: float | None = None
              ) -> dict[str, Any]:
    """n, mean and its 95% percentile bootstrap CI."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return {"n": 0, "mean": None, "ci95": None, "ideal": ideal}
    lo, hi = bootstrap_ci(np.mean, x, seed=seed)
    return {"n": int(x.size), "mean": float(x.mean()), "ci95": [lo, hi], "ideal": ideal}


def above(stat: dict[str, Any], level: float) -> bool:
    """The CI lies entirely above ``level``."""
    return stat.get("ci95") is not None and stat["ci95"][0] > level


def below(stat: dict[str, Any], level: float) -> bool:
    return stat.get("ci95") is not None and stat["ci95"][1] < level


def counts(cases: list[Case], outcomes: dict[str, Outcome]) -> dict[str, int]:
    """Cases, judge errors and unparsed verdicts among ``cases``."""
    outs = [outcomes[c.case_id] for c in cases]
    return {"cases": len(cases), "errors": sum(o.error is not None for o in outs),
            "unparsed": sum(o.error is None and not o.parsed for o in outs)}


def preferred_item(it: PairItem):
    """The candidate the humans preferred (A for a tie): the one that shows its prompt."""
    return it.b if it.label.value == "B" else it.a
