"""What judges and policies share: the model card and how its weights are found.

A plugin is a model the executor runs in batches (:mod:`evalsuite.executor`). Two kinds:
:class:`evalsuite.judges.base.Judge` (scores or compares candidates) and
:class:`evalsuite.policies.base.Policy` (answers questions, generates images or videos).
Both are built the same way - ``model`` (a hub id, default ``default_model``),
``model_path`` (a local copy, which wins), ``revision``, ``device``, ``dtype`` and the
declared ``option_help`` keys - and pin their hub checkpoints the same way:
``default_revision`` pins ``default_model``; ``pinned_revisions`` pins the other checkpoints
the class serves; an explicit ``revision`` always wins. The class is the single source of
its model card (models/README.md's table, :mod:`evalsuite.cards`) and names its test fixture.
"""

from __future__ import annotations

from typing import Any, ClassVar

from evalsuite.registry import missing_modules


class Fixtured:
    """A registered plugin names its test fixture: the `evalsuite.fixtures` builder (a
    ``BUILDERS`` name) of a tiny random-weight checkpoint of its real architecture (judges,
    policies) or of a mini dataset in the upstream schema (benchmarks). None only with the
    reason in ``no_fixture``; tests/test_plugin_fixtures.py checks every built-in one."""

    fixture: ClassVar[str | None] = None
    no_fixture: ClassVar[str] = ""

    @classmethod
    def fixture_for(cls, **preset: Any) -> str | None:
        """The fixture of a registry entry with these preset arguments (model, version ...)."""
        return cls.fixture


class Plugin(Fixtured):
    name: ClassVar[str] = "plugin"
    role: ClassVar[str] = "plugin"  # the key naming it in results.json ("judge" | "policy")
    requires: ClassVar[tuple[str, ...]] = ("torch", "transformers")  # modules, for `list`
    extra: ClassVar[str | None] = None  # the pip extra that provides ``requires``
    # The options it reads (-o key=value), merged along the class's bases; any other key is
    # an error (`evalsuite list --options`).
    option_help: ClassVar[dict[str, str]] = {}
    default_model: ClassVar[str] = ""
    default_revision: ClassVar[str | None] = None  # pinned hub commit of default_model
    # Pinned hub commits of the other checkpoints this class serves (hub id -> 40-hex SHA).
    pinned_revisions: ClassVar[dict[str, str]] = {}
    default_batch_size: ClassVar[int] = 8
    # Other hub repos its loader reads (role -> (hub id, pinned commit or None)), e.g. a
    # processor or a base model; the model-card table shows them (`evalsuite list --cards`).
    companions: ClassVar[dict[str, tuple[str, str | None]]] = {}
    card_note: ClassVar[str] = ""  # the card table's text for a plugin without a hub checkpoint

    def __init__(self, model: str | None = None, model_path: str | None = None,
                 revision: str | None = None, device: str | None = None,
                 dtype: str | None = None, **options: Any):
        self.model_id = model or self.default_model
        self.model_path = model_path
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

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this plugin cannot run here (a missing extra ...), or None when it can."""
        miss = missing_modules(cls.requires)
        if miss:
            extra = f" (pip install 'evalsuite[{cls.extra}]')" if cls.extra else ""
            return f"missing {', '.join(miss)}{extra}"
        return None

    @property
    def source(self) -> str:
        """Where the weights come from: a local path or hub id (for from_pretrained)."""
        return self.model_path or self.model_id

    def _revision(self) -> str | None:
        """The revision to load: none for a local copy."""
        return None if self.model_path else self.revision

    def load(self) -> None:
        """Load weights once. Called by the executor before the first batch."""

    def _card(self) -> dict[str, Any]:
        """The entries that name the plugin in results.json (its role first)."""
        return {self.role: self.name}

    def info(self) -> dict[str, Any]:
        """What results.json records about the model."""
        return {**self._card(), "model": self.model_id, "model_path": self.model_path,
                "revision": None if self.model_path else self.revision, "dtype": self.dtype,
                "device": self.device, "options": {k: v for k, v in self.options.items()
                                                   if isinstance(v, (str, int, float, bool))}}


def default_device() -> str:
    try:
        import torch
        if torch.cuda.is_available():
            return "cuda"
    except ImportError:
        pass
    return "cpu"
