"""`evalsuite probe`: a judge's report card - sanity, robustness and reward-hacking probes on
a benchmark's own media (resumable)."""

from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("probe")(probe)


def probe(
    judge: str = typer.Option(..., "--judge", "-j", help="Judge name (see `evalsuite list`)."),
    bench: str = typer.Option(..., "--bench", "-b", help="Benchmark whose items and media the "
                              "probes start from (see `evalsuite list`)."),
    model: Optional[str] = typer.Option(None, help="Hub id of another checkpoint of this judge."),
    model_path: Optional[str] = typer.Option(None, help="Local checkpoint directory/file."),
    revision: Optional[str] = typer.Option(None, help="Hub revision of --model (default: pinned)."),
    data_path: Optional[str] = typer.Option(None, help="Local copy of the benchmark in the hub "
                                            "layout. Default: hub, pinned."),
    split: Optional[str] = typer.Option(None, help="Dataset split (default: the benchmark's)."),
    probes: Optional[list[str]] = typer.Option(None, "--probe", "-p", help="Probe to run "
                                               "(repeatable; default: all of position, "
                                               "identical, prompt, perturbation, video, "
                                               "resolution)."),
    sample: int = typer.Option(64, help="Benchmark items each probe starts from (a seeded "
                               "sample)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-B", help="Items per batch "
                                             "(default: the judge's)."),
    mode: str = typer.Option("auto", help="auto | pairwise | pointwise (auto: pairwise when the "
                             "judge can, else scores -> margins)."),
    seed: int = typer.Option(0, help="Seed of the item sample, the presentation order and the "
                             "frame shuffles."),
    limit: Optional[int] = typer.Option(None, help="Only the first N benchmark rows."),
    out: str = typer.Option("runs", help="Folder that holds run directories."),
    run_name: Optional[str] = typer.Option(None, help="Run directory name (default: derived "
                                           "from the configuration, so re-running resumes)."),
    results: Optional[str] = typer.Option(None, "--results", help="Also copy the card into "
                                          "<results>/<run name>/ (where `evalsuite leaderboard` "
                                          "finds it)."),
    device: Optional[str] = typer.Option(None, help="cuda | cpu (default: cuda if available)."),
    dtype: Optional[str] = typer.Option(None, help="bfloat16 | float16 | float32."),
    workers: int = typer.Option(2, help="Threads that decode/preprocess media ahead of the "
                                "model."),
    option: Optional[list[str]] = typer.Option(None, "--option", "-o", help="Judge option "
                                               "key=value (repeatable)."),
    bench_option: Optional[list[str]] = typer.Option(None, "--bench-option", help="Benchmark "
                                                     "option key=value (repeatable)."),
    backend: Optional[str] = typer.Option(None, help="Generative judges: hf (default) | vllm "
                                          "| openai (an OpenAI-compatible server at "
                                          "--base-url), as for `run`."),
    base_url: Optional[str] = typer.Option(None, help="API root of an OpenAI-compatible "
                                           "server, e.g. http://127.0.0.1:8000/v1."),
    retry_errors: bool = typer.Option(False, "--retry-errors", help="On resume, redo cases "
                                      "that failed before."),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
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

    from evalsuite.commands.common import parse_options
    from evalsuite.commands.preflight import PreflightError
    from evalsuite.commands.run import apply_backend, check_run
    from evalsuite.probes import DEFAULT_PROBES, PROBES
    from evalsuite.probes.engine import ProbeConfig, execute_probes

    console = Console(stderr=True)
    if mode not in ("auto", "pairwise", "pointwise"):
        raise typer.BadParameter(f"{mode!r}: auto | pairwise | pointwise", param_hint="--mode")
    if sample < 1:
        raise typer.BadParameter("must be at least 1", param_hint="--sample")
    judge_options = parse_options(option)
    try:
        judge, model = apply_backend(judge, model, backend, base_url, judge_options)
        cfg = ProbeConfig(judge=judge, bench=bench, model=model, model_path=model_path,
                          revision=revision, data_path=data_path, split=split,
                          batch_size=batch_size, seed=seed, mode=mode, limit=limit,
                          sample=sample, probes=list(probes or DEFAULT_PROBES), out_dir=out,
                          run_name=run_name, device=device, dtype=dtype,
                          prefetch_workers=workers, judge_options=judge_options,
                          bench_options=parse_options(bench_option),
                          retry_errors=retry_errors, progress=not no_progress)
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
