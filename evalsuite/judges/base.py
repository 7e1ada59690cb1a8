"""The judge contract.

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
from evalsuite.registry import missing_modules
from evalsuite.types import PairItem, PointItem, Score, Verdict


class Judge:
    name: ClassVar[str] = "judge"
    pointwise: ClassVar[bool] = False
    pairwise: ClassVar[bool] = False
    modalities: ClassVar[frozenset[str]] = frozenset({"image"})
    tasks: ClassVar[frozenset[str]] = frozenset({"generation"})
    requires: ClassVar[tuple[str, ...]] = ("torch", "transformers")  # modules, for `list`
    extra: ClassVar[str | None] = None  # the pip extra that provides ``requires``
    default_model: ClassVar[str] = ""
    default_revision: ClassVar[str | None] = None  # pinned hub commit of default_model
    # Pinned hub commits of the other checkpoints this class serves (hub id -> 40-hex SHA).
    pinned_revisions: ClassVar[dict[str, str]] = {}
    default_batch_size: ClassVar[int] = 8

    def __init__(self, model: str | None = None, model_path: str | None = None,
                 revision: str | None = None, device: str | None = None,
                 dtype: str | None = None, **options: Any):
        self.model_id = model or self.default_model
        self.model_path = model_path
        # default_revision pins only default_model; another --model uses its own pin
        # (pinned_revisions) or none. An explicit --revision always wins.
        self.revision = revision or self.pinned_revision(self.model_id)
        self.device = device or default_device()
        self.dtype = dtype or ("bfloat16" if self.device.startswith("cuda") else "float32")
        self.options = options

    @classmethod
    def pinned_revision(cls, model_id: str) -> str | None:
        """The pinned hub commit of ``model_id`` for this class, or None when unpinned."""
        if model_id == cls.default_model and cls.default_revision:
            return cls.default_revision
        return cls.pinned_revisions.get(model_id)

    # -- lifecycle ------------------------------------------------------------------------
    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this judge cannot run here (missing extra ...), or None when it can."""
        miss = missing_modules(cls.requires)
        if miss:
            extra = f" (pip install 'evalsuite[{cls.extra}]')" if cls.extra else ""
            return f"missing {', '.join(miss)}{extra}"
        return None

    @property
    def source(self) -> str:
        """Where the weights come from: a local path or hub id (for from_pretrained)."""
        return self.model_path or self.model_id

    def load(self) -> None:
        """Load weights once. Called by the runner before the first batch."""

    def info(self) -> dict[str, Any]:
        """What results.json records about the model."""
        return {"judge": self.name, "model": self.model_id, "model_path": self.model_path,
                "revision": None if self.model_path else self.revision, "dtype": self.dtype,
                "device": self.device, "options": {k: v for k, v in self.options.items()
                                                   if isinstance(v, (str, int, float, bool))}}

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


def default_device() -> str:
    try:
        import torch
        if torch.cuda.is_available():
            return "cuda"
    except ImportError:
        pass
    return "cpu"


def torch_dtype(name: str):
    import torch
    return {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
            "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}[name]
