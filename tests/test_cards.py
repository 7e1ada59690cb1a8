"""models/README.md's model-card table is generated from the judge classes.

Oracles: the README itself (a table a new judge is missing from, or a stale pin, fails the
first test), the registry's list of built-in judges parsed back out of the README, and a
hand-written table for a registry of stand-in judges.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

import pytest
from typer.testing import CliRunner

from evalsuite import cards
from evalsuite.judges.base import Judge
from evalsuite.registry import JUDGES, Registry

README = Path(__file__).resolve().parents[1] / "models" / "README.md"


def test_models_readme_table_is_the_generated_one():
    text = README.read_text()
    assert cards.with_table(text) == text, (
        "models/README.md's table differs from the judge classes: run `python -m "
        "evalsuite.cards` and review the diff")


def test_every_builtin_judge_has_exactly_one_row():
    block = README.read_text().split(cards.BEGIN)[1].split(cards.END)[0]
    rows = [line for line in block.splitlines() if line.startswith("| `")]
    named = [n for row in rows for n in re.findall(r"`([^`]+)`", row.split(" | ")[0])]
    builtin = [n for n in JUDGES.names() if JUDGES.entry(n).source == "builtin"]
    assert sorted(named) == sorted(builtin)


class _Plain(Judge):
    default_model = "org/plain"
    default_revision = "a" * 40
    requires = ("torch",)


class _WithBase(Judge):
    default_model = "org/head"
    pinned_revisions = {"org/head-large": "b" * 40}
    companions = {"base": ("org/base", "c" * 40), "tokenizer": ("org/tok", None)}
    requires = ("torch", "peft")
    extra = "train"


class _Endpoint(Judge):
    card_note: ClassVar[str] = "none: a web service"
    requires = ()


def test_rendered_from_a_registry_of_stand_ins(monkeypatch):
    reg = Registry("judge", "evalsuite.judges.none")
    reg.register("plain", "tests.test_cards:_Plain")
    reg.register("plain-alias", "tests.test_cards:_Plain")
    reg.register("head", "tests.test_cards:_WithBase")
    reg.register("head-large", "tests.test_cards:_WithBase", model="org/head-large")
    reg.register("head-other", "tests.test_cards:_WithBase", model="org/other")
    reg.register("web", "tests.test_cards:_Endpoint")
    monkeypatch.setattr("evalsuite.registry.JUDGES", reg)
    assert cards.card_table() == (
        "| judge name (`evalsuite run --judge ...`) | hub checkpoint | pinned revision | needs |\n"
        "|---|---|---|---|\n"
        "| `head` | `org/head` (+ base `org/base`) (+ tokenizer `org/tok`) | unpinned "
        f"(base `{'c' * 40}`) (tokenizer unpinned) | torch, peft (`evalsuite[train]`) |\n"
        "| `head-large` | `org/head-large` (+ base `org/base`) (+ tokenizer `org/tok`) | "
        f"`{'b' * 40}` (base `{'c' * 40}`) (tokenizer unpinned) | torch, peft "
        "(`evalsuite[train]`) |\n"
        "| `head-other` | `org/other` (+ base `org/base`) (+ tokenizer `org/tok`) | unpinned "
        f"(base `{'c' * 40}`) (tokenizer unpinned) | torch, peft (`evalsuite[train]`) |\n"
        f"| `plain`, `plain-alias` | `org/plain` | `{'a' * 40}` | torch |\n"
        "| `web` | none: a web service | n/a | standard library |\n")


def test_with_table_keeps_the_prose_and_needs_the_markers():
    text = f"intro\n\n{cards.BEGIN}\nold table\n{cards.END}\n\noutro\n"
    assert cards.with_table(text) == (f"intro\n\n{cards.BEGIN}\n{cards.card_table()}"
                                      f"{cards.END}\n\noutro\n")
    with pytest.raises(ValueError, match="markers"):
        cards.with_table("no table here\n")


def test_cli_prints_the_table():
    from evalsuite.cli import app
    r = CliRunner().invoke(app, ["list", "--cards"])
    block = README.read_text().split(cards.BEGIN + "\n")[1].split(cards.END)[0]
    assert r.exit_code == 0 and r.output == block, r.output
