"""VL-RewardBench (MMInstruction/VL-RewardBench): 1,250 image + question pairs of two answers.

Hub layout: ``data/test-00000-of-00001.parquet`` (one ``default`` config, split ``test``),
columns ``id, query, response`` (two answers), ``image`` (Image feature), ``human_ranking``
(a rank per response, 0 = preferred: ``[0, 1]`` means response 0 wins), ``models, judge,
rationale, query_source, ground_truth``. There are no ties.

* Item key: ids repeat (1,225 distinct over 1,250 rows), so an item is keyed as the official
  ``cal.py`` does, by id + query + the sorted responses (here: the id plus a short hash of
  the rest, so the key stays readable).
* Categories follow the official ``cal.py`` (github vl-rewardbench/VL_RewardBench, commit
  91b241e "Fix povid bug", ``get_dataset_from_id``): the id prefix before the first ``_`` or
  ``-`` gives the source set (RLAIF -> rlaif-v, RLHF -> rlhf-v, mathverse / mmmu ->
  reasoning_tasks, wildvision -> wildvision-battle, hallucination -> povid, anything else ->
  vlfeedback) and the source set the category (povid / rlaif-v / rlhf-v -> hallucination,
  reasoning_tasks -> reasoning, vlfeedback / wildvision-battle -> general): 749 / 318 / 183.
* Metrics (cal.py ``distribution_dataset``): overall accuracy = correct / judged items and
  macro accuracy = mean of the three category accuracies, where an item without a
  parseable verdict is left out of the denominator (counted in ``excluded_unparsed``).
  cal.py has no tie outcome; a judge tie here is a wrong answer, not a left-out one.
  The UnifiedReward scripts (CodeGoat24/UnifiedReward, UnifiedReward-Think/
  benchmark_evaluation/VL-RewardBench/*.py) divide by all items (unparsed = wrong) and file
  ``hallucination_pair`` ids under general (their dict lacks the ``hallucination`` prefix);
  both of their numbers are reported too, under their own names.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

from evalsuite import metrics as M
from evalsuite.benchmarks.base import Benchmark
from evalsuite.benchmarks.hub import (CellError, load_table, raw_media_column, require_columns,
                                      rows, text_cell)
from evalsuite.types import (Candidate, ItemError, Label, MediaRef, PairItem, ParseStatus,
                             Verdict)

OVERALL = "overall_accuracy"
MACRO = "macro_accuracy"
SIMPLE = "upstream_simple_accuracy"
SIMPLE_MACRO = "upstream_macro_accuracy_unifiedreward_grouping"
CATEGORIES = ("general", "hallucination", "reasoning")
SOURCE_TO_CATEGORY = {"povid": "hallucination", "rlaif-v": "hallucination",
                      "rlhf-v": "hallucination", "reasoning_tasks": "reasoning",
                      "vlfeedback": "general", "wildvision-battle": "general"}


def id_prefix(item_id: str) -> str:
    """Text before the first ``_`` or ``-`` (the whole id when it has neither)."""
    cuts = [i for i in (item_id.find("_"), item_id.find("-")) if i != -1]
    return item_id[:min(cuts)] if cuts else item_id


def source_of(item_id: str) -> str:
    """The official cal.py source set of an id."""
    return {"RLAIF": "rlaif-v", "RLHF": "rlhf-v", "mathverse": "reasoning_tasks",
            "mmmu": "reasoning_tasks", "wildvision": "wildvision-battle",
            "hallucination": "povid"}.get(id_prefix(item_id), "vlfeedback")


def category_of(item_id: str) -> str:
    return SOURCE_TO_CATEGORY[source_of(item_id)]


def unifiedreward_category_of(item_id: str) -> str:
    """The UnifiedReward scripts' grouping: ``hallucination_pair`` falls through to general."""
    src = {"RLAIF": "rlaif-v", "RLHF": "rlhf-v", "mathverse": "reasoning_tasks",
           "mmmu": "reasoning_tasks", "wildvision": "wildvision-battle"}.get(
        id_prefix(item_id), "vlfeedback")
    return SOURCE_TO_CATEGORY[src]


def item_key(row_id: str, query: str, responses: list[str]) -> str:
    """cal.py keys items by id + query + sorted responses; we keep the id readable."""
    blob = query + "\x1f" + "\t".join(sorted(responses))
    return f"{row_id}#{hashlib.sha1(blob.encode()).hexdigest()[:10]}"


def label_from_ranking(ranking: Any) -> Label | None:
    """``[0, 1]``: response 0 ranked first (A); ``[1, 0]``: response 1 (B); else None."""
    if not isinstance(ranking, (list, tuple)) or not all(
            isinstance(x, int) and not isinstance(x, bool) for x in ranking):
        return None  # a string "01" or floats are not a ranking: never coerced
    return {(0, 1): Label.A, (1, 0): Label.B}.get(tuple(ranking))


class VLRewardBench(Benchmark):
    name: ClassVar[str] = "vlrewardbench"
    fixture: ClassVar[str | None] = "vlrewardbench"
    hub_id: ClassVar[str] = "MMInstruction/VL-RewardBench"
    # Unpinned: the latest main commit seen (0e6e627, "Upload dataset (#7)") is known only by
    # its short hash; no full SHA could be verified offline. Pin it here once verified.
    revision: ClassVar[str | None] = None
    splits: ClassVar[tuple[str, ...]] = ("test",)
    default_split: ClassVar[str] = "test"
    modality: ClassVar[str] = "image"
    task: ClassVar[str] = "understanding"
    primary_metrics: ClassVar[tuple[str, ...]] = (OVERALL, MACRO)
    metric_names: ClassVar[tuple[str, ...]] = (OVERALL, MACRO, SIMPLE, SIMPLE_MACRO)
    metric_notes: ClassVar[dict[str, str]] = {
        OVERALL: "official cal.py: correct / items with a parsed verdict (judge tie = wrong)",
        MACRO: "official cal.py: mean of general / hallucination / reasoning accuracies",
        SIMPLE: "UnifiedReward scripts: correct / all items (unparsed = wrong)",
        SIMPLE_MACRO: "UnifiedReward scripts: macro over their grouping (hallucination_pair "
                      "counted as general); not the official macro",
    }

    def load(self, data_path: str | None = None, split: str | None = None
             ) -> Iterator[PairItem | ItemError]:
        split = split or self.default_split
        if split not in self.splits:
            raise ValueError(f"{self.name}: unknown split {split!r} (has {list(self.splits)})")
        ds = load_table(self.hub_id, None, split, self.revision, data_path)
        require_columns(ds, ("id", "query", "response", "image", "human_ranking"))
        ds = raw_media_column(ds, "image")
        root = str(data_path) if data_path else None
        for idx, row in rows(ds):
            if isinstance(row, CellError):
                yield ItemError(f"row{idx}", str(row), {"idx": idx})
                continue
            rid = str(row.get("id"))
            meta = {k: v for k, v in row.items() if k != "image"}
            meta["idx"] = idx
            try:
                query = text_cell(row, "query")
                responses = row.get("response")
                if not isinstance(responses, (list, tuple)):
                    raise CellError(f"response: {type(responses).__name__}, expected a list "
                                    "of two answers")
                responses = [text_cell({"response": r}, "response") for r in responses]
            except CellError as e:
                yield ItemError(f"{rid}#row{idx}", str(e), meta)
                continue
            key = item_key(rid, query, responses)
            if isinstance(row.get("image"), dict) and row["image"].get("path"):
                meta["image_path"] = row["image"]["path"]
            label = label_from_ranking(row.get("human_ranking"))
            if label is None:
                yield ItemError(key, f"unknown human_ranking {row.get('human_ranking')!r} "
                                     "(expected [0, 1] or [1, 0])", meta)
                continue
            if len(responses) != 2:
                yield ItemError(key, f"expected 2 responses, got {len(responses)}", meta)
                continue
            try:
                image = _image(row.get("image"), root)
            except ValueError as e:
                yield ItemError(key, f"bad image field: {e}", meta)
                continue
            models = list(row.get("models") or [None, None]) + [None, None]
            yield PairItem(item_id=key, prompt=query,
                           a=Candidate(text=responses[0], model=models[0]),
                           b=Candidate(text=responses[1], model=models[1]),
                           label=label, raw_label=list(row.get("human_ranking")),
                           category=category_of(rid), context=image, task="understanding",
                           meta={**meta, "source": source_of(rid)})

    # -- metrics ----------------------------------------------------------------------------
    def metrics(self, items: list[PairItem], verdicts: dict[str, Verdict]) -> dict[str, Any]:
        judged = [it for it in items if it.item_id in verdicts]
        rows = []
        for it in judged:
            v = verdicts[it.item_id]
            parsed = v.status != ParseStatus.UNPARSED and v.preferred is not None
            rows.append((it, parsed, parsed and v.preferred == it.label.value))
        out: dict[str, Any] = {"metrics": {}, "breakdown": {}}
        correct = np.array([c for _, _, c in rows], dtype=bool)
        parsed = np.array([p for _, p, _ in rows], dtype=bool)
        cats = np.array([it.category for it, _, _ in rows], dtype=object)
        ur_cats = np.array([unifiedreward_category_of(str(it.meta.get("id", it.item_id)))
                            for it, _, _ in rows], dtype=object)
        n_unparsed = int((~parsed).sum())

        def overall(c, p):
            return float(c[p].mean()) if p.any() else float("nan")

        def macro(c, p, g):
            accs = [c[p & (g == k)].mean() for k in CATEGORIES if (p & (g == k)).any()]
            return float(np.mean(accs)) if len(accs) == len(CATEGORIES) else float("nan")

        def simple(c):
            return float(c.mean()) if c.size else float("nan")

        def simple_macro(c, g):
            accs = [c[g == k].mean() for k in CATEGORIES if (g == k).any()]
            return float(np.mean(accs)) if len(accs) == len(CATEGORIES) else float("nan")

        specs = {
            OVERALL: (overall, (correct, parsed)),
            MACRO: (macro, (correct, parsed, cats)),
            SIMPLE: (simple, (correct,)),
            SIMPLE_MACRO: (simple_macro, (correct, ur_cats)),
        }
        for name, (fn, cols) in specs.items():
            val = fn(*cols) if rows else float("nan")
            if np.isnan(val):
                out["metrics"][name] = None
                continue
            lo, hi = M.bootstrap_ci(fn, *cols)
            out["metrics"][name] = {"value": val, "ci95": [lo, hi]}
        out["metrics"]["excluded_unparsed"] = n_unparsed
        out["metrics"]["n"] = len(rows)
        out["metrics"]["judge_ties"] = sum(verdicts[it.item_id].status == ParseStatus.TIE
                                           for it, _, _ in rows)
        for k in CATEGORIES:
            m = cats == k
            out["breakdown"][f"category:{k}"] = {
                "n": int(m.sum()), "excluded_unparsed": int((m & ~parsed).sum()),
                OVERALL: _value(correct[m & parsed]), SIMPLE: _value(correct[m])}
        for k in CATEGORIES:
            m = ur_cats == k
            out["breakdown"][f"unifiedreward_category:{k}"] = {
                "n": int(m.sum()), SIMPLE: _value(correct[m])}
        sources = Counter(str(it.meta.get("source")) for it, _, _ in rows)
        src = np.array([str(it.meta.get("source")) for it, _, _ in rows], dtype=object)
        for s in sorted(sources):
            m = src == s
            out["breakdown"][f"source:{s}"] = {
                "n": int(m.sum()), "excluded_unparsed": int((m & ~parsed).sum()),
                OVERALL: _value(correct[m & parsed])}
        return out


def _value(x: np.ndarray) -> dict[str, float] | None:
    return {"value": float(x.mean())} if x.size else None


def _image(value: Any, root: str | None) -> MediaRef:
    if isinstance(value, dict):
        if value.get("bytes"):
            return MediaRef(kind="image", data=value["bytes"])
        if value.get("path"):
            return MediaRef(kind="image", path=value["path"], root=root)
        raise ValueError("empty image cell")
    if isinstance(value, str) and value:
        return MediaRef(kind="image", path=value, root=root)
    raise ValueError(f"unsupported image cell of type {type(value).__name__}")
