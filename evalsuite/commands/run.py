"""`evalsuite run`: score one judge on one preference benchmark (resumable)."""

from __future__ import annotations

from typing import Literal, Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("run")(run)


def check_device(value: str | None) -> str | None:
    import re
    if value is not None and not re.fullmatch(r"cpu|cuda(:\d+)?|mps", value):
        raise typer.BadParameter(f"{value!r} is not cpu, cuda, cuda:N or mps")
    return value


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
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-B", min=1,
                                             help="Items per batch (default: the judge's)."),
    mode: Literal["auto", "pairwise", "pointwise"] = typer.Option(
        "auto", help="auto: pairwise when the judge can, else scores -> margins."),
    seed: int = typer.Option(0, help="Seed of the per-item position swap."),
    both_orders: bool = typer.Option(False, "--both-orders", help="Judge each pair in both "
                                     "orders and report order consistency (pairwise judges)."),
    limit: Optional[int] = typer.Option(None, min=1, help="Only the first N rows (smoke "
                                        "tests)."),
    out: str = typer.Option("runs", help="Folder that holds run directories."),
    run_name: Optional[str] = typer.Option(None, help="Run directory name (default: derived "
                                           "from the configuration, so re-running resumes)."),
    max_error_rate: float = typer.Option(0.05, min=0.0, max=1.0, help="Exit 1 when the judge "
                                         "failed on more than this fraction of the items (data "
                                         "errors - bad rows, unreadable media - are reported "
                                         "apart)."),
    retry_errors: bool = typer.Option(False, "--retry-errors", help="On resume, redo items "
                                      "that failed before."),
    device: Optional[str] = typer.Option(None, callback=check_device, help="cpu | cuda | "
                                         "cuda:N (default: cuda if available)."),
    dtype: Optional[Literal["bfloat16", "float16", "float32"]] = typer.Option(
        None, help="Default: bfloat16 on GPU, float32 on CPU."),
    workers: int = typer.Option(2, min=0, help="Threads that decode/preprocess media ahead of "
                                "the model (0: none)."),
    option: Optional[list[str]] = typer.Option(None, "--option", "-o", help="Judge option "
                                               "key=value (repeatable)."),
    bench_option: Optional[list[str]] = typer.Option(None, "--bench-option", help="Benchmark "
                                                     "option key=value (repeatable)."),
    backend: Optional[Literal["hf", "vllm", "openai"]] = typer.Option(
        None, help="Generative judges: hf (default) | vllm (GPU, the `vllm` extra) | openai "
                   "(an OpenAI-compatible server at --base-url, e.g. `vllm serve "
                   "<checkpoint>`; the judge's own prompts)."),
    base_url: Optional[str] = typer.Option(None, help="API root of an OpenAI-compatible "
                                           "server, e.g. http://127.0.0.1:8000/v1."),
    save_inputs: bool = typer.Option(False, "--save-inputs", help="samples.jsonl keeps each "
                                     "item's input (prompt text, media identities, settings)."),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
    wait: bool = typer.Option(False, "--wait", help="When another process is working on the "
                              "same run directory, wait for it instead of refusing."),
) -> None:
    """Run a judge on a benchmark; re-running the same command resumes where it stopped.

    Before any model loads, every option, the judge x benchmark pairing and the sources
    (hub, local paths, --base-url) are checked; a failed check is one line and exit 2.

    Example (offline, on fixtures built by `evalsuite fixtures --out fx`):

      evalsuite run --judge pickscore --bench genai-bench \\
          --data-path fx/genai-bench --model-path fx/pickscore

    A UnifiedReward checkpoint served by `vllm serve CodeGoat24/UnifiedReward-qwen-7b`:

      evalsuite run --judge unifiedreward --backend openai \\
          --base-url http://127.0.0.1:8000/v1 --bench genai-bench
    """
    from rich.console import Console

    from evalsuite.commands.common import fail, fixture_token_cap, parse_options, results_table
    from evalsuite.commands.preflight import PreflightError
    from evalsuite.runner import RunConfig, execute

    console = Console(stderr=True)
    judge_options = parse_options(option)
    try:
        judge, model = apply_backend(judge, model, backend, base_url, judge_options)
        note = fixture_token_cap(judge, model_path, judge_options)
        cfg = RunConfig(judge=judge, bench=bench, model=model, model_path=model_path,
                        revision=revision, data_path=data_path, split=split,
                        batch_size=batch_size, seed=seed, both_orders=both_orders, mode=mode,
                        limit=limit, out_dir=out, run_name=run_name,
                        max_error_rate=max_error_rate, device=device, dtype=dtype,
                        retry_errors=retry_errors, prefetch_workers=workers,
                        judge_options=judge_options,
                        bench_options=parse_options(bench_option), progress=not no_progress,
                        save_inputs=save_inputs, wait=wait)
        check_run(cfg)
    except (KeyError, ValueError, PreflightError) as e:
        fail(console, e)
    if note:
        console.print(note)
    try:
        outcome = execute(cfg)
    except (KeyError, ValueError, FileNotFoundError, NotImplementedError, ConnectionError,
            OSError) as e:
        msg = str(e).strip("'\"")
        if isinstance(e, (ConnectionError, OSError)) and not data_path:
            msg += "\n(no network? build a local copy and pass --data-path / --model-path; "\
                   "`evalsuite fixtures` makes offline ones)"
        fail(console, msg)
    if outcome.results is None:
        return
    Console().print(results_table([outcome.results]))
    c = outcome.results["counts"]
    console.print(f"run directory: {outcome.run_dir}  (computed now: {outcome.computed}, "
                  f"errors: {c['errors']}, unparsed: {c['unparsed']})", soft_wrap=True)
    gate(console, outcome.run_dir, c["items"], c["judged"], max_error_rate)


def gate(console, run_dir, items: int, judged: int, max_error_rate: float) -> None:
    """Exit 1 when the judge (not the data) failed on too many items, or judged none.

    Data errors - rows the benchmark loader rejects, media that are missing, unreadable or
    outside the dataset root - are the same for every judge: they are counted and named, and
    left out of the ``--max-error-rate`` gate. Everything else (the model, preprocessing,
    an endpoint) is a judge error and counts.
    """
    from evalsuite.commands.common import data_error_count

    data, judge_errors = data_error_count(run_dir)
    if data:
        console.print(f"{data} item(s) have unusable data (bad rows, unreadable media); they "
                      "are left out of every metric and of the --max-error-rate gate "
                      "(reasons in samples.jsonl)", soft_wrap=True)
    if items and not judged:
        console.print("[red]no item could be judged[/red]; see samples.jsonl", soft_wrap=True)
        raise typer.Exit(1)
    if judge_errors / max(items, 1) > max_error_rate:
        console.print(f"[red]judge errors {judge_errors}/{items} exceed --max-error-rate "
                      f"{max_error_rate}[/red]; see samples.jsonl (--retry-errors redoes them)",
                      soft_wrap=True)
        raise typer.Exit(1)


def check_run(cfg) -> None:
    """Everything that can be known before a model loads or an item runs."""
    from evalsuite.commands.preflight import (check_compatible, check_endpoint, check_hub,
                                              check_local, check_options, is_repo_id)
    from evalsuite.registry import BENCHMARKS, JUDGES

    jentry, bentry = JUDGES.entry(cfg.judge), BENCHMARKS.entry(cfg.bench)
    jcls = jentry.load()
    check_options(jcls, cfg.judge_options, "--option", cfg.judge)
    bcls = bentry.load()
    check_options(bcls, cfg.bench_options, "--bench-option", cfg.bench)
    bench = bcls(**{**bentry.kwargs, **cfg.bench_options})
    if not hasattr(bench, "metrics") or hasattr(bench, "load_items"):
        raise ValueError(f"{cfg.bench} is a policy benchmark: run it with `evalsuite "
                         f"eval-policy --bench {cfg.bench} --policy ...`")
    if cfg.split is not None and cfg.split not in bench.splits:
        raise ValueError(f"--split {cfg.split}: {cfg.bench} has splits "
                         f"{', '.join(bench.splits)}")
    check_compatible(jcls, cfg.judge, bench, cfg.bench, cfg.mode,
                     getattr(cfg, "both_orders", False))  # a probe run has no such option
    reason = jcls.unavailable_reason()
    if reason:
        raise ValueError(f"{cfg.judge} cannot run here: {reason}")
    if cfg.model_path:
        check_local(cfg.model_path, "--model-path")
    elif cfg.judge == "openai":
        check_endpoint(cfg.judge_options.get("base_url") or "")
    else:
        repo = cfg.model or jentry.kwargs.get("model") or jcls.default_model
        if is_repo_id(repo):
            rev = cfg.revision or (jcls.pinned_revision(repo) if hasattr(jcls, "pinned_revision")
                                   else None)
            check_hub(repo, "model", rev, "--model-path")
    if cfg.data_path:
        check_local(cfg.data_path, "--data-path")
    elif is_repo_id(bench.hub_id):
        check_hub(bench.hub_id, "dataset", bench.revision, "--data-path")


def apply_backend(judge: str, model: str | None, backend: str | None, base_url: str | None,
                  options: dict) -> tuple[str, str | None]:
    """Map ``--backend`` / ``--base-url`` onto the judge name, model and options.

    ``--backend openai`` on a generative judge runs the ``openai`` judge with that judge's
    prompt family (``protocol=unifiedreward``) against the served checkpoint, whose name
    defaults to the judge's hub id (what ``vllm serve <hub id>`` serves it as).
    """
    if backend not in (None, "hf", "vllm", "openai"):
        raise ValueError(f"unknown --backend {backend!r}: hf | vllm | openai")
    if base_url:
        options["base_url"] = base_url
    if judge == "openai":
        if backend not in (None, "openai"):
            raise ValueError("the openai judge is an endpoint: --backend does not apply")
        if not model:
            raise ValueError("the openai judge needs --model <served model name>")
        if "base_url" not in options:
            raise ValueError("the openai judge needs --base-url http://host:port/v1")
        return judge, model
    if backend in (None, "hf"):
        if base_url:
            raise ValueError("--base-url needs --backend openai (or --judge openai)")
        return judge, model
    if backend == "vllm":
        if base_url:
            raise ValueError("--base-url needs --backend openai, not vllm")
        options["backend"] = "vllm"
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
