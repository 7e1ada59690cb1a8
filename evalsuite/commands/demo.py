"""`evalsuite demo`: build offline fixtures and run a small judge x benchmark grid."""

from __future__ import annotations

from pathlib import Path

import typer

# (judge, benchmark); each runs on the fixtures its plugin class declares (``fixture``).
# Tiny random-weight models: the numbers show the pipeline works, not how good any judge is.
DEMO_GRID: list[tuple[str, str]] = [
    ("pickscore", "genai-bench"),
    ("hpsv2", "genai-bench"),
    ("hpsv2.1", "genai-bench"),
    ("imagereward", "genai-bench"),
    ("pickscore", "genai-bench-edit"),
    ("videoscore", "genai-bench-video"),
    ("videoscore", "videogen-rewardbench"),
    ("unifiedreward", "genai-bench"),
    ("unifiedreward", "vlrewardbench"),
    ("unifiedreward", "genai-bench-video"),
    ("unifiedreward-llava-7b", "genai-bench"),
    ("llava-critic", "vlrewardbench"),
]


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    out: Path = typer.Option(Path("demo-output"), "--out", help="Fixtures and runs go here."),
    only: list[str] = typer.Option(None, "--judge", help="Only these judges (repeat)."),
) -> None:
    """Offline demo: tiny fixture judges on fixture benchmarks, then a results table.

    Builds tiny random-weight checkpoints and mini datasets, runs every fixture judge on
    every fixture benchmark it supports, and prints the table. No network.

    The fixture data contain deliberately broken rows (corrupt image, a path escaping the
    dataset root, an unknown label): each run reports them as data errors, on purpose.
    Random weights: the generative judges' answers are noise, so most are unparsed (their
    new tokens are capped at 16), and no number says how good a judge is.

    Examples:

      evalsuite demo --out demo-output

      evalsuite demo --judge pickscore
    """
    from rich.console import Console

    from evalsuite.commands.common import fixture_token_cap, results_table
    from evalsuite.fixtures import BUILDERS, build
    from evalsuite.registry import BENCHMARKS, JUDGES
    from evalsuite.runner import RunConfig, execute

    console = Console()
    rows = []
    for judge, bench in DEMO_GRID:
        if only and judge not in only:
            continue
        jfx, bfx = declared_fixture(JUDGES, judge), declared_fixture(BENCHMARKS, bench)
        if jfx not in BUILDERS or bfx not in BUILDERS:
            console.print(f"[yellow]skipping {judge} x {bench}: fixture not available[/yellow]")
            continue
        with console.status(f"building fixtures {jfx}, {bfx}"):
            mpath, dpath = build(jfx, out / "fixtures"), build(bfx, out / "fixtures")
        console.print(f"[bold]{judge}[/bold] x [bold]{bench}[/bold]")
        opts: dict = {}
        fixture_token_cap(judge, str(mpath), opts)  # random weights: cap the babbling
        cfg = RunConfig(judge=judge, bench=bench, model_path=str(mpath), data_path=str(dpath),
                        out_dir=str(out / "runs"), max_error_rate=1.0, device="cpu",
                        judge_options=opts)
        rows.append(execute(cfg).results)
    console.print(results_table(rows, title="evalsuite demo (tiny random-weight judges)"))
    console.print(f"runs: {out / 'runs'}   (per-item answers in each run's samples.jsonl)")
    console.print("Random weights: these numbers show the pipeline works, not how good a "
                  "judge is; generative judges' answers are mostly unparsed.")


def declared_fixture(registry, name: str) -> str | None:
    """The fixture the registered plugin's class declares for this entry."""
    entry = registry.entry(name)
    return entry.load().fixture_for(**entry.kwargs)
