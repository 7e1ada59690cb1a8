"""The policy contract and the capability-benchmark contract.

Two kinds of policy benchmark:

* ``kind = "mcq"`` (MMBench, Video-MME): the benchmark yields :class:`McqItem`; a VLM policy
  answers with free text (``prepare_mcq`` per item in prefetch threads, ``answer_batch`` one
  batched greedy ``generate``); the benchmark extracts a letter (no API judge) and scores.
* ``kind = "generation"`` (T2I-CompBench, VBench): the benchmark yields :class:`GenItem`
  (prompts); a generative policy makes ``samples_per_prompt`` images/videos per prompt, each
  with its own seed; the benchmark's scorer (its own evaluation models) scores every sample.

Every benchmark's ``metrics`` builds its numbers with :func:`metric`, passing each metric's
per-item values (``per_item``); the runner then adds a seeded, vectorised percentile-bootstrap
95% CI to each (:func:`add_cis`) and writes the per-item values to ``samples.jsonl``, where
``evalsuite regress`` / ``compare`` pair two runs item by item.

Policies follow the judge plugins' conventions: lazy imports, ``load()`` once,
``prepare_*`` may raise (that item's recorded error), ``*_batch`` may raise (the runner
retries one by one).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from evalsuite.plugin import Fixtured, Plugin
from evalsuite.types import FrameSpec, ItemError, MediaRef


@dataclass(frozen=True)
class McqItem:
    """One multiple-choice question about images or a video."""

    item_id: str
    question: str
    options: dict[str, str]  # letter -> option text, in letter order
    answer: str  # the correct letter
    media: tuple[MediaRef, ...] = ()
    frames: FrameSpec | None = None  # how to sample a video
    hint: str | None = None
    category: str | None = None
    group: str | None = None  # CircularEval: copies of one question share a group
    prompt: str = ""  # the full text shown to the model (built by the benchmark)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GenItem:
    """One generation prompt (``samples_per_prompt`` samples are generated for it)."""

    item_id: str
    prompt: str
    category: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GenUnit:
    """One sample to generate: a prompt and the seed of its ``k``-th sample."""

    item: GenItem
    k: int
    seed: int

    @property
    def unit_id(self) -> str:
        return f"{self.item.item_id}#{self.k}"


def sample_seed(base_seed: int, item_id: str, k: int) -> int:
    """The seed of sample ``k`` of a prompt: a function of (run seed, prompt id, k) only, so a
    rerun - any batch size, any number of processes - reproduces the same images."""
    h = hashlib.sha256(f"{base_seed}:{item_id}:{k}".encode()).digest()
    return int.from_bytes(h[:4], "big") & 0x7FFFFFFF


class Policy(Plugin):
    """A model under evaluation: a VLM that answers, or a generator of images/videos (the
    policy kind of :class:`evalsuite.plugin.Plugin`)."""

    name: ClassVar[str] = "policy"
    role: ClassVar[str] = "policy"
    task: ClassVar[str] = "mcq"  # "mcq" | "text-to-image" | "text-to-video"
    modalities: ClassVar[frozenset[str]] = frozenset({"image"})

    def _card(self) -> dict[str, Any]:
        return {"policy": self.name, "task": self.task}

    # -- multiple choice ------------------------------------------------------------------
    def prepare_mcq(self, item: McqItem) -> Any:
        raise NotImplementedError(f"{self.name} does not answer questions")

    def answer_batch(self, prepared: list[Any]) -> list[str]:
        raise NotImplementedError(f"{self.name} does not answer questions")

    # -- generation -----------------------------------------------------------------------
    def generate_batch(self, units: list[GenUnit]) -> list[Any]:
        """One image (PIL) or video ((T, H, W, 3) uint8 array) per unit, in order."""
        raise NotImplementedError(f"{self.name} does not generate")


class PolicyBenchmark(Fixtured):
    """A capability benchmark. ``load_items`` yields items or :class:`ItemError`."""

    name: ClassVar[str] = "policy-benchmark"
    kind: ClassVar[str] = "mcq"  # "mcq" | "generation"
    policy_task: ClassVar[str] = "mcq"  # the Policy.task it needs
    hub_id: ClassVar[str] = ""
    revision: ClassVar[str | None] = None
    splits: ClassVar[tuple[str, ...]] = ("dev",)
    default_split: ClassVar[str] = "dev"
    modality: ClassVar[str] = "image"
    task: ClassVar[str] = "policy"  # shown by `evalsuite list`
    requires: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str | None] = None
    availability_note: ClassVar[str | None] = None
    metric_notes: ClassVar[dict[str, str]] = {}
    samples_per_prompt: ClassVar[int] = 1

    def __init__(self, **options: Any):
        self.options = options

    # The judge runner calls load(); a policy benchmark is not a preference benchmark.
    def load(self, data_path: str | None = None, split: str | None = None):
        raise ValueError(f"{self.name} is a policy benchmark: run it with "
                         f"`evalsuite eval-policy --bench {self.name} --policy ...`")

    def load_items(self, data_path: str | None, split: str | None
                   ) -> list[McqItem | GenItem | ItemError]:
        raise NotImplementedError

    def info(self, data_path: str | None, split: str | None) -> dict[str, Any]:
        return {"benchmark": self.name, "kind": self.kind, "hub_id": self.hub_id,
                "revision": None if data_path else self.revision, "data_path": data_path,
                "split": split or self.default_split,
                "options": {k: v for k, v in self.options.items()
                            if isinstance(v, (str, int, float, bool))}}

    def describe(self, data_path: str | None = None, split: str | None = None
                 ) -> dict[str, Any]:
        from collections import Counter
        items = self.load_items(data_path, split)
        good = [x for x in items if not isinstance(x, ItemError)]
        bad = [x for x in items if isinstance(x, ItemError)]
        answers = Counter(x.answer for x in good if isinstance(x, McqItem))
        return {**self.info(data_path, split), "splits": list(self.splits),
                "modality": self.modality, "task": f"policy ({self.policy_task})",
                "rows": len(items), "items": len(good), "bad_rows": len(bad),
                "bad_row_reasons": dict(Counter(e.reason for e in bad)),
                "labels": {f"answer {k}": v for k, v in sorted(answers.items())},
                "raw_labels": {}, "dimensions": {},
                "categories": dict(sorted(Counter(getattr(x, "category", None) or "-"
                                                  for x in good).items())),
                "metrics": dict(self.metric_notes)}

    # -- mcq ------------------------------------------------------------------------------
    def extract(self, raw: str, item: McqItem):
        from evalsuite.capabilities.letters import extract_letter
        return extract_letter(raw, item.options)

    # -- generation -------------------------------------------------------------------------
    def scorer(self, device: str, dtype: str):
        """The object that scores generated samples (``prepare`` / ``score_batch``)."""
        raise NotImplementedError

    def metrics(self, items: list, records: dict) -> dict[str, Any]:
        raise NotImplementedError


class Metric(dict):
    """A metric as results.json stores it: ``{"value", "n", ...}`` (a plain dict to JSON).

    ``units`` rides along without being serialised: each unit's contribution, unit id ->
    (numerator, denominator), with ``value = sum(num) / sum(den)`` (a mean when every
    denominator is 1; a pooled ratio such as VBench's per-frame similarity otherwise). The
    policy runner bootstraps the 95% CI over these units (:func:`add_cis`) and writes them to
    ``samples.jsonl`` so two runs can be compared item by item (``evalsuite regress`` /
    ``compare``). Unit ids are the samples' ``item_id`` (an ``McqItem.item_id`` or a
    ``GenUnit.unit_id``).
    """

    units: dict[str, tuple[float, float]] | None = None


def metric(value: float | None, n: int, per_item: Mapping[str, Any] | None = None,
           **extra: Any) -> Metric:
    """A metric as results.json stores it (``value`` in [0, 1] or a raw score; ``n`` items).

    ``per_item`` (unit id -> value, or -> ``(numerator, denominator)``) makes the metric
    bootstrappable; ``value`` must then equal the mean (or the pooled ratio) of the units -
    a mismatch is a bug in the caller and raises.
    """
    out = Metric(value=None if value is None else float(value), n=n, **extra)
    if per_item is not None:
        units = {str(k): (float(v[0]), float(v[1])) if isinstance(v, (tuple, list))
                 else (float(v), 1.0) for k, v in per_item.items()}
        num = math.fsum(u[0] for u in units.values())
        den = math.fsum(u[1] for u in units.values())
        pooled = num / den if den else None
        if (value is None) != (pooled is None) or (
                pooled is not None and not math.isclose(pooled, value, rel_tol=1e-9,
                                                        abs_tol=1e-12)):
            raise ValueError(f"metric value {value} is not the pooled value {pooled} of its "
                             f"{len(units)} per-item values")
        out.units = units
    return out


def units_arrays(units: Mapping[str, tuple[float, float]]
                 ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(ids, numerators, denominators) in sorted id order (a fixed order makes the seeded
    bootstrap independent of dict order)."""
    ids = sorted(units)
    num = np.array([units[i][0] for i in ids], dtype=np.float64)
    den = np.array([units[i][1] for i in ids], dtype=np.float64)
    return ids, num, den


def ratio_ci(num: np.ndarray, den: np.ndarray, n_boot: int = 1000, alpha: float = 0.05,
             seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of ``sum(num) / sum(den)`` resampling units with replacement.

    Vectorised over resamples (count matrices, :func:`evalsuite.metrics.bootstrap_counts`),
    with exactly the draws of :func:`evalsuite.metrics.bootstrap_ci` for the same seed, so it
    equals the loop over resamples (a test checks it); a resample whose denominator is 0 is
    dropped, as ``bootstrap_ci`` drops NaN statistics.
    """
    from evalsuite.metrics import _percentile, bootstrap_counts

    n = num.size
    if n == 0:
        return (float("nan"), float("nan"))
    stats = []
    for w in bootstrap_counts(n, n_boot, seed):
        top, bottom = w @ num, w @ den
        with np.errstate(invalid="ignore", divide="ignore"):
            stats.append(np.where(bottom != 0, top / np.where(bottom != 0, bottom, 1), np.nan))
    return _percentile(np.concatenate(stats), alpha)


def add_cis(metrics: Mapping[str, Any], n_boot: int = 1000, seed: int = 0,
            alpha: float = 0.05) -> None:
    """Give every :class:`Metric` with per-item values its ``ci95`` (in place)."""
    for m in metrics.values():
        if isinstance(m, Metric) and m.units is not None and m.get("value") is not None:
            _, num, den = units_arrays(m.units)
            lo, hi = ratio_ci(num, den, n_boot=n_boot, alpha=alpha, seed=seed)
            m["ci95"] = [lo, hi]


def unavailable(reason: str) -> dict[str, Any]:
    """A metric that cannot be computed here: never a made-up number."""
    return {"value": None, "n": 0, "unavailable": reason}
