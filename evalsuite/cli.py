"""`python -m evalsuite <verb>`: one Typer app; each verb lives in evalsuite/commands/.

Command modules import nothing heavy at module level, so `--help` is instant.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="evalsuite", no_args_is_help=True, add_completion=False,
    help="Evaluate reward models (judges) on preference benchmarks, train UnifiedReward and "
         "DPO policies, and evaluate policies on capability benchmarks.\n\n"
         "Start with `evalsuite demo` (offline) or `evalsuite list`.")



@app.callback()
def _root() -> None:
    """Keeps Typer in multi-command mode even while only one verb is registered."""


# Verb modules, in the order `--help` lists them. Each defines register(app).
COMMANDS = ["run", "list_cmd", "describe", "demo", "fixtures", "rescore", "leaderboard",
            "regress", "perf", "eval_policy", "train"]
COMMANDS += ["prepare", "sweep", "compare"]  # data preparation, grids, base-vs-tuned reports
COMMANDS += ["probe"]  # judge report cards: sanity, robustness, reward hacking

for _name in COMMANDS:
    try:
        _mod = importlib.import_module(f"evalsuite.commands.{_name}")
    except ModuleNotFoundError as _e:
        if _e.name != f"evalsuite.commands.{_name}":
            raise
        continue  # verb not implemented yet
    _mod.register(app)


def main() -> None:
    app()
