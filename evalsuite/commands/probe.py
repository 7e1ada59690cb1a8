"""`evalsuite probe`: a judge's report card - sanity, robustness and reward-hacking probes on
a benchmark's own media (resumable)."""

from __future__ import annotations

import dataclasses
from typing import Optional

import typer

from evalsuite.runconfig import ProbeConfig, cli_option


def register(app: typer.Typer) -> None:
    app.command("probe")(probe)


def probe(
    judge: str = cli_option(ProbeConfig, "judge"),
    bench: str = cli_option(ProbeConfig, "bench"),
    model: Optional[str] = cli_option(ProbeConfig, "model"),
    model_path: Optional[str] = cli_option(ProbeConfig, "model_path"),
    revision: Optional[str] = cli_option(ProbeConfig, "revision"),
    data_path: Optional[str] = cli_option(ProbeConfig, "data_path"),
    split: Optional[str] = cli_option(ProbeConfig, "split"),
    probes: Optional[list[str]] = cli_option(ProbeConfig, "probes"),
    sample: int = cli_option(ProbeConfig, "sample"),
    batch_size: Optional[int] = cli_option(ProbeConfig, "batch_size"),
    mode: str = cli_option(ProbeConfig, "mode"),
    seed: int = cli_option(ProbeConfig, "seed"),
    limit: Optional[int] = cli_option(ProbeConfig, "limit"),
    out_dir: str = cli_option(ProbeConfig, "out_dir"),
    run_name: Optional[str] = cli_option(ProbeConfig, "run_name"),
    results: Optional[str] = typer.Option(None, "--results", help="Also copy the card into "
                                          "<results>/<run name>/ (where `evalsuite leaderboard` "
                                          "finds it)."),
    device: Optional[str] = cli_option(ProbeConfig, "device"),
    dtype: Optional[str] = cli_option(ProbeConfig, "dtype"),
    prefetch_workers: int = cli_option(ProbeConfig, "prefetch_workers"),
    judge_options: Optional[list[str]] = cli_option(ProbeConfig, "judge_options"),
    bench_options: Optional[list[str]] = cli_option(ProbeConfig, "bench_options"),
    backend: Optional[str] = typer.Option(None, help="Generative judges: hf (default) | vllm "
                                          "| openai (an OpenAI-compatible server at "
                                          "--base-url), as for `run`."),
    base_url: Optional[str] = typer.Option(None, help="API root of an OpenAI-compatible "
                                           "server, e.g. http://127.0.0.1:8000/v1."),
    retry_errors: bool = cli_option(ProbeConfig, "retry_errors"),
    progress: bool = cli_option(ProbeConfig, "progress"),
) -> None:
    """Probe a judge: order flips and position bias, ties on identical media, prompt
    sensitivity, rewards raised by edits that do not improve the media, frame shuffling and
    freezing (video), and score resolution against re-encoding noise. Writes probe.json,
    probe.md and plots/ in the run directory; re-running the same command resumes.

    Example (offline, on fixtures built by `evalsuite fixtures --out fx`):

      evalsuite probe --judge pickscore --bench genai-bench \\
          --data-path fx/genai-bench --model-path fx/pickscore
    """
    from pathlib import Path

    from rich.console import Console

    from evalsuite.commands.preflight import PreflightError
    from evalsuite.commands.run import apply_backend, check_run
    from evalsuite.probes import DEFAULT_PROBES, PROBES
    from evalsuite.probes.engine import execute_probes

    console = Console(stderr=True)
    if mode not in ("auto", "pairwise", "pointwise"):
        raise typer.BadParameter(f"{mode!r}: auto | pairwise | pointwise", param_hint="--mode")
    if sample < 1:
        raise typer.BadParameter("must be at least 1", param_hint="--sample")
    given = dict(locals(), probes=list(probes or DEFAULT_PROBES))
    try:
        cfg = ProbeConfig.from_cli(**given)
        judge, model = apply_backend(cfg.judge, cfg.model, backend, base_url,
                                     cfg.judge_options)
        cfg = dataclasses.replace(cfg, judge=judge, model=model)
        for name in cfg.probes:
            PROBES.entry(name)  # an unknown probe fails before anything is checked or loaded
        check_run(cfg)  # the same preflight as `run`: options, compatibility, hub, paths
    except (KeyError, ValueError, PreflightError) as e:
        console.print(f"[red]error:[/red] {str(e).strip(chr(39))}", highlight=False)
        raise typer.Exit(2)
    try:
        outcome = execute_probes(cfg)
    except (KeyError, ValueError, FileNotFoundError, NotImplementedError, ConnectionError,
            OSError) as e:
        msg = str(e).strip("'\"")
        if isinstance(e, (ConnectionError, OSError)) and not data_path:
            msg += "\n(no network? build a local copy and pass --data-path / --model-path; "\
                   "`evalsuite fixtures` makes offline ones)"
        console.print(f"[red]error:[/red] {msg}")
        raise typer.Exit(2)
    card = outcome.card
    console.print(f"report card: {outcome.run_dir / 'probe.md'}  (judge calls now: "
                  f"{outcome.computed})")
    for f in card["findings"] or ["no finding at the 95% level"]:
        console.print(f"  - {f}")
    if results:
        from evalsuite.probes.card import copy_card
        dest = copy_card(outcome.run_dir, Path(results) / outcome.run_dir.name)
        console.print(f"copied to {dest}")
