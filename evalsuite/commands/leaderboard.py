"""`evalsuite leaderboard`: regenerate the leaderboard from every results.json under a folder."""

from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("leaderboard")(leaderboard)


def leaderboard(
    results: str = typer.Option("results", "--results", "-r", help="Folder searched "
                                "recursively for results.json files."),
    out: str = typer.Option("leaderboard", "--out", "-o", help="Folder the leaderboard is "
                            "written to (README.md, index.html, leaderboard.csv/.parquet, "
                            "plots/)."),
    add: Optional[list[str]] = typer.Option(None, "--add", help="Run directory to copy into "
                                            "the results folder first (results.json, "
                                            "samples.jsonl, run.json; absolute paths "
                                            "rewritten as fixture:<name> / local:<name>). "
                                            "Repeatable."),
    add_under: str = typer.Option("", "--add-under", help="Sub-folder of --results that --add "
                                  "copies into (e.g. fixtures)."),
    published: Optional[str] = typer.Option(None, "--published", help="Published reference "
                                            "numbers (YAML); default: the packaged "
                                            "evalsuite/data/published.yaml."),
    no_plots: bool = typer.Option(False, "--no-plots", help="Skip the matplotlib plots."),
) -> None:
    """Regenerate the leaderboard (deterministic: same results in, same bytes out).

    Duplicate runs of one judge on one benchmark configuration: the newest (run.json
    finished_at) wins, then the last run folder in path order; the tables say which run
    each number came from. Fixture (smoke-test) runs are marked with a dagger.

    Examples (the second adds a run named with --run-name to a results folder of your own):

      evalsuite leaderboard --results results --out leaderboard

      evalsuite run --judge pickscore --bench genai-bench --data-path fx/genai-bench \\
          --model-path fx/pickscore --run-name pickscore-fx

      evalsuite leaderboard --results my-results --out my-leaderboard \\
          --add runs/pickscore-fx --add-under fixtures
    """
    from pathlib import Path

    from rich.console import Console

    from evalsuite.leaderboard import add_run, generate

    console = Console(stderr=True)
    try:
        for run_dir in add or []:
            dest = add_run(Path(run_dir), Path(results) / add_under if add_under
                           else Path(results))
            console.print(f"added {run_dir} -> {dest}")
        info = generate(Path(results), Path(out), Path(published) if published else None,
                        plots=not no_plots)
    except (FileNotFoundError, ValueError) as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2)
    console.print(f"leaderboard: {info['rows']} judge(s) x {info['columns']} benchmark(s), "
                  f"{info['cells']} cell(s) from {info['results_files']} results file(s)"
                  + (f", {info['fixture_cells']} fixture (smoke-test) cell(s)"
                     if info["fixture_cells"] else ""))
    for f in info["files"]:
        console.print(f"  {Path(out) / f}")
