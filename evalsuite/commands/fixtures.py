"""`evalsuite fixtures`: build the offline tiny checkpoints and mini datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("fixtures")(fixtures)


def fixtures(
    out: Path = typer.Option(Path("fixtures-cache"), "--out", help="Folder to build into."),
    only: Optional[list[str]] = typer.Option(None, "--only", help="Build just these (repeat)."),
    force: bool = typer.Option(False, "--force", help="Rebuild even if already built."),
    show: bool = typer.Option(False, "--list", help="List the fixtures and exit."),
) -> None:
    """Build the offline tiny checkpoints and mini datasets.

    Tiny random-weight checkpoints of the real architectures and mini datasets in the exact
    upstream schemas (real PNGs/mp4s, plus deliberately broken files). No network.

    Example: evalsuite fixtures --out fx && evalsuite run --judge pickscore \\
        --bench genai-bench --data-path fx/genai-bench --model-path fx/pickscore
    """
    from rich.console import Console

    from evalsuite.fixtures import BUILDERS, build

    console = Console()
    if show:
        for name, (target, kind) in BUILDERS.items():
            console.print(f"{name:28s} {kind:6s} {target}")
        return
    names = only or list(BUILDERS)
    unknown = [n for n in names if n not in BUILDERS]
    if unknown:
        console.print(f"[red]unknown fixtures {unknown}[/red]; known: {sorted(BUILDERS)}")
        raise typer.Exit(2)
    for name in names:
        with console.status(f"building {name}"):
            path = build(name, out, force)
        console.print(f"{BUILDERS[name][1]:6s} {name:28s} -> {path}")
