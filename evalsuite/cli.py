"""`python -m evalsuite <verb>`: one Typer app; each verb lives in evalsuite/commands/.

Command modules import nothing heavy at module level, so `--help` is instant.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer
from typer.core import TyperCommand, TyperGroup


class _FlagsShowNoType:
    """Flags take no value: their help shows no ``<bool>`` beside them."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        for p in params:
            if getattr(p, "is_flag", False) and p.metavar is None:
                p.metavar = ""
        return params


class Command(_FlagsShowNoType, TyperCommand):
    pass


class Group(_FlagsShowNoType, TyperGroup):
    pass


app = typer.Typer(
    name="evalsuite", no_args_is_help=True, add_completion=False, cls=Group,
    help="Evaluate reward models (judges) on preference benchmarks, train UnifiedReward and "
         "DPO policies, and evaluate policies on capability benchmarks.\n\n"
         "Start with `evalsuite demo` (offline) or `evalsuite list`.")


def _version(value: bool) -> None:
    if value:
        from evalsuite import __version__
        typer.echo(f"evalsuite {__version__}")
        raise typer.Exit()


def quiet_dependencies() -> None:
    """No tqdm bars from huggingface_hub / transformers / datasets when stderr is not a
    terminal (a log file or CI): they print one line per update there. An explicit setting
    of these variables wins."""
    if not sys.stderr.isatty():
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")


@app.callback()
def _root(version: bool = typer.Option(False, "--version", is_eager=True, callback=_version,
                                       help="Print the version and exit.")) -> None:
    """Keeps Typer in multi-command mode even while only one verb is registered."""
    quiet_dependencies()


# Verb modules, in the order `--help` lists them. Each defines register(app).
COMMANDS = ["run", "list_cmd", "describe", "demo", "fixtures", "rescore", "leaderboard",
            "regress", "perf", "eval_policy", "train", "doctor"]
COMMANDS += ["prepare", "sweep", "compare"]  # data preparation, grids, base-vs-tuned reports
COMMANDS += ["serve"]  # reward service for online RL (evalsuite/serve/)
COMMANDS += ["probe"]  # judge report cards: sanity, robustness, reward hacking

for _name in COMMANDS:
    try:
        _mod = importlib.import_module(f"evalsuite.commands.{_name}")
    except ModuleNotFoundError as _e:
        if _e.name != f"evalsuite.commands.{_name}":
            raise
        continue  # verb not implemented yet
    _mod.register(app)


def _use_command_classes(t: typer.Typer) -> None:
    """Every verb (and sub-app) renders its help through the classes above, unless it
    chose its own class."""

    def default(cls, base) -> bool:  # unset (None / Typer's placeholder) or Typer's own
        return not isinstance(cls, type) or cls is base

    if default(t.info.cls, TyperGroup):
        t.info.cls = Group
    for info in t.registered_commands:
        if default(info.cls, TyperCommand):
            info.cls = Command
    for group in t.registered_groups:
        if default(group.cls, TyperGroup):
            group.cls = Group
        _use_command_classes(group.typer_instance)


_use_command_classes(app)


def main() -> None:
    app()
