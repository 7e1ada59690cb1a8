"""`evalsuite run`: score one judge on one preference benchmark (resumable)."""

from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("run")(run)


def run(
    judge: str = typer.Option(..., "--judge", "-j", help="Judge name (see `evalsuite list`)."),
    bench: str = typer.Option(..., "--bench", "-b", help="Benchmark name (see `evalsuite list`)."),
    model: Optional[str] = typer.Option(None, help="Hub id of another checkpoint of this judge."),
    model_path: Optional[str] = typer.Option(None, help="Local checkpoint directory/file."),
    revision: Optional[str] = typer.Option(None, help="Hub revision of --model (default: pinned)."),
    data_path: Optional[str] = typer.Option(None, help="Local copy of the benchmark in the hub "
                                            "layout (<dir>/<config>/<split>-*.parquet) or a "
                                            "save_to_disk directory. Default: hub, pinned."),
    split: Optional[str] = typer.Option(None, help="Dataset split (default: the benchmark's)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-B", help="Items per batch "
                                             "(default: the judge's)."),
    mode: str = typer.Option("auto", help="auto | pairwise | pointwise (auto: pairwise when the "
                             "judge can, else scores -> margins)."),
    seed: int = typer.Option(0, help="Seed of the per-item position swap."),
    both_orders: bool = typer.Option(False, "--both-orders", help="Judge each pair in both "
                                     "orders and report order consistency."),
    limit: Optional[int] = typer.Option(None, help="Only the first N rows (smoke tests)."),
    out: str = typer.Option("runs", help="Folder that holds run directories."),
    run_name: Optional[str] = typer.Option(None, help="Run directory name (default: derived "
                                           "from the configuration, so re-running resumes)."),
    max_error_rate: float = typer.Option(0.05, help="Exit 1 when more than this fraction of "
                                         "items failed."),
    retry_errors: bool = typer.Option(False, "--retry-errors", help="On resume, redo items "
                                      "that failed before."),
    device: Optional[str] = typer.Option(None, help="cuda | cpu (default: cuda if available)."),
    dtype: Optional[str] = typer.Option(None, help="bfloat16 | float16 | float32 (default: "
                                        "bf16 on GPU, fp32 on CPU)."),
    workers: int = typer.Option(2, help="Threads that decode/preprocess media ahead of the "
                                "model."),
    option: Optional[list[str]] = typer.Option(None, "--option", "-o", help="Judge option "
                                               "key=value (repeatable)."),
    bench_option: Optional[list[str]] = typer.Option(None, "--bench-option", help="Benchmark "
                                                     "option key=value (repeatable)."),
    backend: Optional[str] = typer.Option(None, help="Generative judges: hf (default) | vllm "
                                          "(GPU, the `vllm` extra) | openai (an "
                                          "OpenAI-compatible server at --base-url, e.g. "
                                          "`vllm serve <checkpoint>`; the judge's own prompts)."),
    base_url: Optional[str] = typer.Option(None, help="API root of an OpenAI-compatible "
                                           "server, e.g. http://127.0.0.1:8000/v1."),
    save_inputs: bool = typer.Option(False, "--save-inputs", help="samples.jsonl keeps each "
                                     "item's input (prompt text, media identities, settings)."),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
    wait: bool = typer.Option(False, "--wait", help="When another process is working on the "
                              "same run directory, wait for it instead of refusing."),
) -> None:
    """Run a judge on a benchmark; re-running the same command resumes where it stopped.

    Example (offline, on fixtures built by `evalsuite fixtures --out fx`):

      evalsuite run --judge pickscore --bench genai-bench \\
          --data-path fx/genai-bench --model-path fx/pickscore

    A UnifiedReward checkpoint served by `vllm serve CodeGoat24/UnifiedReward-qwen-7b`:

      evalsuite run --judge unifiedreward --backend openai \\
          --base-url http://127.0.0.1:8000/v1 --bench genai-bench
    """
    from rich.console import Console

    from evalsuite.commands.common import parse_options, results_table
    from evalsuite.runner import RunConfig, execute

    judge_options = parse_options(option)
    try:
        judge, model = apply_backend(judge, model, backend, base_url, judge_options)
    except (KeyError, ValueError) as e:
        Console(stderr=True).print(f"[red]error:[/red] {str(e).strip(chr(39))}")
        raise typer.Exit(2)
    cfg = RunConfig(judge=judge, bench=bench, model=model, model_path=model_path,
                    revision=revision, data_path=data_path, split=split, batch_size=batch_size,
                    seed=seed, both_orders=both_orders, mode=mode, limit=limit, out_dir=out,
                    run_name=run_name, max_error_rate=max_error_rate, device=device,
                    dtype=dtype, retry_errors=retry_errors, prefetch_workers=workers,
                    judge_options=judge_options,
                    bench_options=parse_options(bench_option), progress=not no_progress,
                    save_inputs=save_inputs, wait=wait)
    console = Console(stderr=True)
    try:
        outcome = execute(cfg)
    except (KeyError, ValueError, FileNotFoundError, NotImplementedError, ConnectionError,
            OSError) as e:
        msg = str(e).strip("'\"")
        if isinstance(e, (ConnectionError, OSError)) and not data_path:
            msg += "\n(no network? build a local copy and pass --data-path / --model-path; "\
                   "`evalsuite fixtures` makes offline ones)"
        console.print(f"[red]error:[/red] {msg}")
        raise typer.Exit(2)
    if outcome.results is None:
        return
    Console().print(results_table([outcome.results]))
    c = outcome.results["counts"]
    console.print(f"run directory: {outcome.run_dir}  (computed now: {outcome.computed}, "
                  f"errors: {c['errors']}, unparsed: {c['unparsed']})")
    if outcome.failed:
        console.print(f"[red]error rate {c['errors']}/{c['items']} exceeds "
                      f"--max-error-rate {max_error_rate}[/red]; see samples.jsonl")
        raise typer.Exit(1)


def apply_backend(judge: str, model: str | None, backend: str | None, base_url: str | None,
                  options: dict) -> tuple[str, str | None]:
    """Map ``--backend`` / ``--base-url`` onto the judge name, model and options.

    ``--backend openai`` on a generative judge runs the ``openai`` judge with that judge's
    prompt family (``protocol=unifiedreward``) against the served checkpoint, whose name
    defaults to the judge's hub id (what ``vllm serve <hub id>`` serves it as).
    """
    if base_url:
        options["base_url"] = base_url
    if backend in (None, "hf"):
        return judge, model
    if backend == "vllm":
        options["backend"] = "vllm"
        return judge, model
    if backend != "openai":
        raise ValueError(f"unknown --backend {backend!r}: hf | vllm | openai")
    if judge == "openai":
        return judge, model
    from evalsuite.registry import JUDGES

    entry = JUDGES.entry(judge)
    cls = entry.load()
    served = model or entry.kwargs.get("model") or cls.default_model
    card = (getattr(cls, "cards", None) or {}).get(served) or getattr(cls, "default_card", None)
    if card is None:
        raise ValueError(f"--backend openai needs a generative judge; {judge} scores with "
                         "its own head (run it locally)")
    if "base_url" not in options:
        raise ValueError("--backend openai needs --base-url (the server's API root)")
    options.setdefault("protocol", "unifiedreward")
    options.setdefault("family", card.family)
    return "openai", served
