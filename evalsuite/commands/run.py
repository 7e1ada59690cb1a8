"""`evalsuite run`: score one judge on one preference benchmark (resumable)."""

from __future__ import annotations

import dataclasses
from typing import Literal, Optional

import typer

from evalsuite.runconfig import RunConfig, cli_option


def register(app: typer.Typer) -> None:
    app.command("run")(run)


def check_device(value: str | None) -> str | None:
    import re
    if value is not None and not re.fullmatch(r"cpu|cuda(:\d+)?|mps", value):
        raise typer.BadParameter(f"{value!r} is not cpu, cuda, cuda:N or mps")
    return value


def run(
    judge: str = cli_option(RunConfig, "judge"),
    bench: str = cli_option(RunConfig, "bench"),
    model: Optional[str] = cli_option(RunConfig, "model"),
    model_path: Optional[str] = cli_option(RunConfig, "model_path"),
    revision: Optional[str] = cli_option(RunConfig, "revision"),
    data_path: Optional[str] = cli_option(RunConfig, "data_path"),
    split: Optional[str] = cli_option(RunConfig, "split"),
    batch_size: Optional[int] = cli_option(RunConfig, "batch_size"),
    mode: Literal["auto", "pairwise", "pointwise"] = cli_option(RunConfig, "mode"),
    seed: int = cli_option(RunConfig, "seed"),
    both_orders: bool = cli_option(RunConfig, "both_orders"),
    limit: Optional[int] = cli_option(RunConfig, "limit"),
    out_dir: str = cli_option(RunConfig, "out_dir"),
    run_name: Optional[str] = cli_option(RunConfig, "run_name"),
    max_error_rate: float = cli_option(RunConfig, "max_error_rate"),
    retry_errors: bool = cli_option(RunConfig, "retry_errors"),
    device: Optional[str] = cli_option(RunConfig, "device", callback=check_device),
    dtype: Optional[Literal["bfloat16", "float16", "float32"]] = cli_option(RunConfig, "dtype"),
    prefetch_workers: int = cli_option(RunConfig, "prefetch_workers"),
    judge_options: Optional[list[str]] = cli_option(RunConfig, "judge_options"),
    bench_options: Optional[list[str]] = cli_option(RunConfig, "bench_options"),
    backend: Optional[Literal["hf", "vllm", "openai"]] = typer.Option(
        None, help="Generative judges: hf (default) | vllm (GPU, the `vllm` extra) | openai "
                   "(an OpenAI-compatible server at --base-url, e.g. `vllm serve "
                   "<checkpoint>`; the judge's own prompts)."),
    base_url: Optional[str] = typer.Option(None, help="API root of an OpenAI-compatible "
                                           "server, e.g. http://127.0.0.1:8000/v1."),
    save_inputs: bool = cli_option(RunConfig, "save_inputs"),
    progress: bool = cli_option(RunConfig, "progress"),
    wait: bool = cli_option(RunConfig, "wait"),
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

    from evalsuite.commands.common import fail, fixture_token_cap, results_table
    from evalsuite.commands.preflight import PreflightError
    from evalsuite.runner import execute

    console = Console(stderr=True)
    given = dict(locals())
    try:
        cfg = RunConfig.from_cli(**given)
        judge, model = apply_backend(cfg.judge, cfg.model, backend, base_url,
                                     cfg.judge_options)
        cfg = dataclasses.replace(cfg, judge=judge, model=model)
        note = fixture_token_cap(judge, model_path, cfg.judge_options)
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
