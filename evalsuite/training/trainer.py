"""What every trainer kind shares: the recipe it reads, the job it runs, what it prints.

A recipe's ``kind`` names a trainer in :data:`evalsuite.registry.TRAINERS` (entry-point group
``evalsuite.trainers``). A trainer answers the ``evalsuite train`` verbs it lists in
``verbs`` with a method of the same name: ``reward``, ``policy``, ``dpo`` or ``offline``,
each ``(recipe, job) -> Outcome``. It raises :class:`TrainError` for a problem with its
inputs (one line, nothing trained); the command prints it and exits 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

VERBS = ("reward", "policy", "dpo", "offline")

# The repository checkout that holds training/ (an editable install): recipes and their
# sample files are found from any working directory.
REPO = Path(__file__).resolve().parents[2]


def find(path: str, *bases: Path) -> Path:
    """``path`` as given (from the working directory), else under each base in turn."""
    p = Path(path)
    if p.exists() or p.is_absolute():
        return p
    for base in (*bases, REPO):
        if (base / p).exists():
            return base / p
    return p


class TrainError(Exception):
    """A recipe or input a trainer refuses before training (the message is one line)."""


@dataclass(frozen=True)
class Recipe:
    """A parsed recipe YAML; ``folder`` is where relative paths in it are found."""
    kind: str
    folder: Path
    raw: dict[str, Any]  # the YAML as read, plus "_folder"

    @property
    def seed(self) -> int:
        return int(self.raw.get("seed", 0))

    def section(self, key: str) -> dict[str, Any]:
        """One section of settings (``reward:``, ``dpo:``, ``train:`` ...), empty if absent."""
        return dict(self.raw.get(key) or {})


@dataclass(frozen=True)
class Job:
    """What the verb's flags say: where to write, and the inputs some verbs take."""
    out: Path
    progress: bool = True
    base: str | None = None  # train reward --base
    steps: int | None = None  # train reward --steps
    policy: str | None = None  # train dpo --policy
    pairs: Path | None = None  # train dpo --pairs


@dataclass(frozen=True)
class Outcome:
    """Lines for stdout (the result) and for stderr (notes about skipped inputs)."""
    lines: list[str]
    notes: list[str] = field(default_factory=list)


class Trainer:
    kind: ClassVar[str] = "trainer"
    verbs: ClassVar[tuple[str, ...]] = ()  # the `evalsuite train` verbs it answers
    requires: ClassVar[tuple[str, ...]] = ("torch",)  # modules, for `evalsuite list`
    extra: ClassVar[str | None] = None  # the pip extra that provides ``requires``

    def __init__(self, **preset: Any):
        self.preset = preset  # the registry entry's keyword arguments

    def run(self, verb: str, recipe: Recipe, job: Job) -> Outcome:
        if verb not in self.verbs:
            raise TrainError(f"`train {verb}` does not take a {recipe.kind!r} recipe")
        return getattr(self, verb)(recipe, job)


def check_source(model: str, flag: str) -> None:
    """A local folder must exist; a hub id must be cached or reachable (preflight)."""
    from evalsuite.commands.preflight import PreflightError
    from evalsuite.commands.preflight import check_source as check
    try:
        check(model, flag)
    except PreflightError as e:
        raise TrainError(str(e)) from None
