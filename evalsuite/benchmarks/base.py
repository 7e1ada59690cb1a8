"""The preference-benchmark contract and the metrics every pairwise benchmark reports.

A benchmark yields ``PairItem`` (or ``ItemError`` for a row that cannot become an item)
from the real dataset - the hub id at a pinned revision, or ``data_path``, a local copy in
the hub's own layout - and turns the judge's verdicts into named metrics.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

from evalsuite import metrics as M
from evalsuite.plugin import Fixtured
from evalsuite.types import ItemError, Label, PairItem, ParseStatus, Verdict

# Metric names as written to results.json; each is documented in README "Results".
WITH_TIES = "accuracy_with_ties"  # tie-calibrated (Deutsch et al. 2023), published "tau"
WITHOUT_TIES = "accuracy_without_ties"  # human ties dropped, published "diff"
SIMPLE_WITH_TIES = "upstream_simple_accuracy_with_ties"  # UnifiedReward scripts' definition
SIMPLE_WITHOUT_TIES = "upstream_simple_accuracy_without_ties"


class Benchmark(Fixtured):
    name: ClassVar[str] = "benchmark"
    # The options it reads (-o / --bench-option key=value); any other key is an error.
    option_help: ClassVar[dict[str, str]] = {
        "revision": "full dataset commit to pin the hub copy to",
    }
    hub_id: ClassVar[str] = ""
    revision: ClassVar[str | None] = None  # pinned dataset commit
    splits: ClassVar[tuple[str, ...]] = ("test",)
    default_split: ClassVar[str] = "test"
    modality: ClassVar[str] = "image"  # "image" | "video"
    task: ClassVar[str] = "generation"  # "generation" | "understanding" | "edit"
    dimensions: ClassVar[tuple[str, ...]] = ()  # extra per-dimension labels (VQ, MQ, TA)
    requires: ClassVar[tuple[str, ...]] = ("datasets",)
    extra: ClassVar[str | None] = None
    primary_metrics: ClassVar[tuple[str, ...]] = (WITH_TIES, WITHOUT_TIES)
    # Every metric name results.json carries for this benchmark (``describe`` lists them).
    metric_names: ClassVar[tuple[str, ...]] = (WITH_TIES, WITHOUT_TIES, SIMPLE_WITH_TIES,
                                               SIMPLE_WITHOUT_TIES)
    metric_notes: ClassVar[dict[str, str]] = {
        WITH_TIES: "tie-calibrated accuracy (Deutsch et al. 2023; VideoAlign calc_accuracy), "
                   "published 'w/ ties' / 'tau'",
        WITHOUT_TIES: "human ties dropped, sign(margin) == label; a judge tie is wrong "
                      "(published 'w/o ties' / 'diff')",
        SIMPLE_WITH_TIES: "UnifiedReward scripts: correct / all items, a judge tie matching a "
                          "human tie is correct",
        SIMPLE_WITHOUT_TIES: "UnifiedReward scripts: same, human ties excluded",
    }

    def __init__(self, **options: Any):
        self.options = options
        if options.get("revision"):  # --bench-option revision=<commit>: pin the hub copy
            self.revision = str(options["revision"])

    def load(self, data_path: str | None = None, split: str | None = None
             ) -> Iterator[PairItem | ItemError]:
        raise NotImplementedError

    def info(self, data_path: str | None, split: str | None) -> dict[str, Any]:
        return {"benchmark": self.name, "hub_id": self.hub_id,
                "revision": None if data_path else self.revision,
                "data_path": data_path, "split": split or self.default_split,
                "options": {k: v for k, v in self.options.items()
                            if isinstance(v, (str, int, float, bool))}}

    def describe(self, data_path: str | None = None, split: str | None = None
                 ) -> dict[str, Any]:
        """Size, splits, label distributions, categories and the metrics reported."""
        items: list[PairItem] = []
        bad: list[ItemError] = []
        for x in self.load(data_path, split):
            (bad if isinstance(x, ItemError) else items).append(x)
        out: dict[str, Any] = {
            **self.info(data_path, split), "splits": list(self.splits),
            "modality": self.modality, "task": self.task,
            "rows": len(items) + len(bad), "items": len(items), "bad_rows": len(bad),
            "bad_row_reasons": dict(Counter(e.reason for e in bad)),
            "labels": count_labels(items),
            "raw_labels": dict(Counter(_label_key(it.raw_label) for it in items)),
            "dimensions": {d: dict(Counter(it.labels[d].value for it in items
                                           if d in it.labels)) for d in self.dimensions},
            "categories": dict(sorted(Counter(it.category for it in items
                                              if it.category).items())),
            "metrics": {m: self.metric_notes.get(m, "") for m in self.metric_names},
        }
        return out

    # -- metrics ----------------------------------------------------------------------------
    def metrics(self, items: list[PairItem], verdicts: dict[str, Verdict]) -> dict[str, Any]:
        """Named metrics with 95% bootstrap CIs, plus counts and breakdowns.

        Items without a verdict (errors) are left out and counted by the caller. An unparsed
        verdict is a wrong answer in every accuracy here (it never matches a human label) and
        is counted in ``unparsed``; benchmarks whose official protocol drops unparsed items
        override this and say so.
        """
        judged = [it for it in items if it.item_id in verdicts]
        out: dict[str, Any] = {"metrics": {}, "breakdown": {}}
        out["metrics"].update(pair_metrics(judged, verdicts, label_of=lambda it: it.label))
        for dim in self.dimensions:
            out["breakdown"][dim] = pair_metrics(
                judged, verdicts, label_of=lambda it, d=dim: it.labels.get(d), dimension=dim)
        cats = sorted({it.category for it in judged if it.category})
        for cat in cats:
            sub = [it for it in judged if it.category == cat]
            out["breakdown"][f"category:{cat}"] = pair_metrics(sub, verdicts,
                                                               label_of=lambda it: it.label)
        return out


_SIGN = {lab: lab.sign for lab in Label}


def _margin_for(v: Verdict, dimension: str | None) -> float | None:
    if dimension is not None and dimension in v.margins:
        return v.margins[dimension]
    return v.margin


def pair_metrics(items: list[PairItem], verdicts: dict[str, Verdict], label_of,
                 dimension: str | None = None, n_boot: int = 1000) -> dict[str, Any]:
    """The four accuracies (+CIs) over ``items``; unparsed verdicts count as wrong.

    Unparsed items stay in every denominator and are never right; the tie threshold of the
    tie-calibrated accuracy is searched over the parsed items' |m|. The CIs come from one
    set of bootstrap resamples, vectorised (:func:`metrics.pair_accuracies_ci`).
    """
    labels, judged = [], []
    for it in items:
        lab = label_of(it)
        if lab is not None:
            labels.append(lab)
            judged.append(verdicts[it.item_id])
    n = len(labels)
    unparsed = ParseStatus.UNPARSED
    # Each verdict's margin, None when unparsed (the array columns are built from these).
    margins = [None if v.status == unparsed else
               v.margin if dimension is None else _margin_for(v, dimension) for v in judged]
    h_all = np.fromiter(map(_SIGN.__getitem__, labels), dtype=int, count=n)
    parsed = np.fromiter((x is not None for x in margins), dtype=bool, count=n)
    m = np.fromiter((0.0 if x is None else x for x in margins), dtype=float, count=n)
    n_parsed = int(parsed.sum())
    res: dict[str, Any] = {
        "n": n, "unparsed": n - n_parsed,
        "human_labels": dict(Counter(lab.value for lab in labels)),
        "judge_ties": sum(v.status == ParseStatus.TIE for v in judged),
    }
    # Unparsed items count as wrong: they stay in every denominator (metrics.py).
    keys = {WITH_TIES: "with_ties", WITHOUT_TIES: "without_ties",
            SIMPLE_WITH_TIES: "simple_with_ties", SIMPLE_WITHOUT_TIES: "simple_without_ties"}
    values = M.weighted_pair_accuracies(h_all, m, parsed, np.ones((1, n), dtype=np.int64))
    cis = M.pair_accuracies_ci(h_all, m, parsed, n_boot=n_boot) if n else {}
    has_non_ties = bool((h_all != 0).any())
    for name, key in keys.items():
        if n == 0 or (name in (WITHOUT_TIES, SIMPLE_WITHOUT_TIES) and not has_non_ties):
            res[name] = None
            continue
        res[name] = {"value": float(values[key][0]), "ci95": list(cis[key])}
    return res


def _label_key(raw: Any) -> str:
    return raw if isinstance(raw, str) else str(list(raw) if isinstance(raw, tuple) else raw)


def count_labels(items: list[PairItem]) -> dict[str, int]:
    return dict(Counter(it.label.value for it in items))


LABEL_FROM_VOTE = {"leftvote": Label.A, "rightvote": Label.B,
                   "tievote": Label.TIE, "bothbad_vote": Label.TIE}
