"""`evalsuite regress`: gate a candidate run against a baseline run (paired, per item)."""

from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("regress")(regress)


def regress(
    candidate: str = typer.Option(..., "--candidate", "-c", help="results.json of the "
                                  "candidate, or its run folder (samples.jsonl beside it)."),
    baseline: str = typer.Option(..., "--baseline", "-b", help="results.json of the baseline, "
                                 "or its run folder."),
    max_drop: float = typer.Option(0.5, "--max-drop", min=0.0, help="Tolerated drop in percentage "
                                   "points."),
    metric: Optional[list[str]] = typer.Option(None, "--metric", "-m", help="Metric to gate "
                                               "on (repeatable). Default: the benchmark's "
                                               "published pair (tau/diff; VL-RewardBench "
                                               "overall/macro)."),
    n_boot: int = typer.Option(2000, "--n-boot", min=1, help="Bootstrap resamples."),
    seed: int = typer.Option(0, help="Bootstrap seed."),
    report: Optional[str] = typer.Option(None, "--report", help="Write a Markdown report "
                                         "here."),
) -> None:
    """Exit 0 when the candidate did not regress, 1 when it did, 2 when the runs differ or
    nothing could be compared.

    A metric regresses when candidate - baseline < -max-drop points AND the upper end of the
    95% paired-bootstrap CI of the difference is below 0. Both runs must cover the same items
    of the same benchmark, config, split and dataset revision, with the same human labels
    (judge runs) or answers (policy runs). Judge items that failed count as wrong. Policy runs
    (`eval-policy`) are compared on every metric with per-item values (default: all but the
    diagnostics), paired on the units both runs scored.

    Example:

      evalsuite regress --candidate results/fixtures/pickscore__genai-bench \\
          --baseline results/fixtures/hpsv2__genai-bench --max-drop 0.5 --report regress.md
    """
    from pathlib import Path

    from rich.console import Console

    from evalsuite.regress import Mismatch, gate, load_run, report_markdown

    err = Console(stderr=True)
    try:
        cand, base = load_run(candidate), load_run(baseline)
        results = gate(cand, base, metrics=metric, max_drop=max_drop, n_boot=n_boot,
                       seed=seed)
    except (Mismatch, FileNotFoundError, KeyError, ValueError) as e:
        err.print(f"[red]error:[/red] {e}", markup=True, highlight=False)
        raise typer.Exit(2)
    for r in results:
        typer.echo(r.line(max_drop))
    failed = any(r.failed for r in results)
    if report:
        Path(report).write_text(report_markdown(cand, base, results, max_drop, n_boot),
                                encoding="utf-8")
    typer.echo(f"regression gate: {'FAIL' if failed else 'PASS'}")
    raise typer.Exit(1 if failed else 0)
