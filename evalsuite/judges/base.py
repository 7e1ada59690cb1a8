"""The judge contract (the judge kind of :class:`evalsuite.plugin.Plugin`).

A judge declares what it can do (``pointwise`` / ``pairwise``, modalities, tasks) and
implements two steps per capability:

* ``prepare_*(item)`` - per item, CPU only (decode media, preprocess, build the prompt).
  The runner calls it in a prefetch thread so decoding overlaps the model's compute. An
  exception here becomes that item's recorded error; the run goes on. The runner actually
  calls ``prepare_points`` / ``prepare_pairs`` on a whole batch (one prefetch job per
  batch); by default they call ``prepare_*`` per item, and a judge whose preprocessor is
  faster on a list (HF image processors batch same-size images) overrides them.
* ``*_batch(prepared)`` - one batched forward pass for many prepared items. If a batch
  raises, the runner retries its items one by one so only the culprit is marked as failed.

The harness turns pointwise scores into pairwise verdicts (margin = s(A) - s(B)), so every
judge runs on every preference benchmark.
"""

from __future__ import annotations

from typing import Any, ClassVar

from evalsuite.executor import prepare_each  # noqa: F401 - judges import it from here
from evalsuite.plugin import Plugin, default_device  # noqa: F401 - as for prepare_each
from evalsuite.types import PairItem, PointItem, Score, Verdict


class Judge(Plugin):
    """A reward model: scores (pointwise) or compares (pairwise) candidates."""

    name: ClassVar[str] = "judge"
    role: ClassVar[str] = "judge"
    pointwise: ClassVar[bool] = False
    pairwise: ClassVar[bool] = False
    modalities: ClassVar[frozenset[str]] = frozenset({"image"})
    tasks: ClassVar[frozenset[str]] = frozenset({"generation"})

    # -- pointwise ------------------------------------------------------------------------
    def prepare_point(self, item: PointItem) -> Any:
        raise NotImplementedError(f"{self.name} is not a pointwise judge")

    def prepare_points(self, items: list[PointItem]) -> list[Any]:
        """``prepare_point`` for a batch: per item, its prepared value or the exception it
        raised (which becomes that item's recorded error)."""
        return prepare_each(self.prepare_point, items)

    def score_batch(self, prepared: list[Any]) -> list[Score]:
        raise NotImplementedError(f"{self.name} is not a pointwise judge")

    # -- pairwise -------------------------------------------------------------------------
    def prepare_pair(self, item: PairItem) -> Any:
        raise NotImplementedError(f"{self.name} is not a pairwise judge")

    def prepare_pairs(self, items: list[PairItem]) -> list[Any]:
        """``prepare_pair`` for a batch, like :meth:`prepare_points`."""
        return prepare_each(self.prepare_pair, items)

    def compare_batch(self, prepared: list[Any]) -> list[Verdict]:
        raise NotImplementedError(f"{self.name} is not a pairwise judge")

    # -- convenience for callers outside the runner ---------------------------------------
    def score(self, items: list[PointItem]) -> list[Score]:
        """Prepare (as the prefetch job does) and score ``items``; the first item that
        fails to prepare raises."""
        return self.score_batch(raise_first(self.prepare_points(items)))

    def compare(self, items: list[PairItem]) -> list[Verdict]:
        return self.compare_batch(raise_first(self.prepare_pairs(items)))


def raise_first(prepared: list[Any]) -> list[Any]:
    """``prepared`` (from ``prepare_points``/``prepare_pairs``) unless an item failed: then
    that first item's exception is raised."""
    for x in prepared:
        if isinstance(x, Exception):
            raise x
    return prepared


def torch_dtype(name: str):
    import torch
    return {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
            "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}[name]
