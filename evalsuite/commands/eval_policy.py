"""`evalsuite eval-policy`: score a policy on a capability benchmark (resumable)."""

from __future__ import annotations

from typing import Literal, Optional

import typer

from evalsuite.commands.run import check_device


def register(app: typer.Typer) -> None:
    app.command("eval-policy")(eval_policy)


def eval_policy(
    policy: str = typer.Option(..., "--policy", "-p", help="Policy name (see `evalsuite list "
                               "policies`) or a local checkpoint folder (its kind is read "
                               "from the folder: a diffusers pipeline or a Qwen2.5-VL model)."),
    bench: str = typer.Option(..., "--bench", "-b", help="mmbench | video-mme | t2i-compbench "
                              "| vbench"),
    model: Optional[str] = typer.Option(None, help="Hub id of another checkpoint."),
    model_path: Optional[str] = typer.Option(None, help="Local checkpoint folder."),
    revision: Optional[str] = typer.Option(None, help="Hub revision of --model."),
    data_path: Optional[str] = typer.Option(None, help="Local copy of the benchmark data."),
    split: Optional[str] = typer.Option(None, help="Split (default: the benchmark's)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-B", min=1,
                                             help="Policy batch size."),
    score_batch_size: int = typer.Option(8, min=1, help="Batch size of the benchmark's "
                                         "scorers."),
    samples_per_prompt: Optional[int] = typer.Option(None, min=1, help="Images/videos per "
                                                     "prompt (default: the benchmark's)."),
    seed: int = typer.Option(0, help="Base seed; each sample's seed derives from it and the "
                                     "prompt id."),
    limit: Optional[int] = typer.Option(None, min=1, help="Only the first N rows/prompts."),
    out: str = typer.Option("runs", help="Folder that holds run directories."),
    run_name: Optional[str] = typer.Option(None, help="Run directory name."),
    max_error_rate: float = typer.Option(0.05, min=0.0, max=1.0, help="Exit 1 when the policy "
                                         "or a scorer failed on more than this fraction (data "
                                         "errors - bad rows, unreadable media - are reported "
                                         "apart)."),
    retry_errors: bool = typer.Option(False, "--retry-errors", help="Redo failed items."),
    device: Optional[str] = typer.Option(None, callback=check_device,
                                         help="cpu | cuda | cuda:N."),
    dtype: Optional[Literal["bfloat16", "float16", "float32"]] = typer.Option(
        None, help="Default: bfloat16 on GPU, float32 on CPU."),
    workers: int = typer.Option(2, min=0, help="Prefetch threads."),
    option: Optional[list[str]] = typer.Option(None, "--option", "-o",
                                               help="Policy option key=value."),
    bench_option: Optional[list[str]] = typer.Option(None, "--bench-option",
                                                     help="Benchmark option key=value."),
    save_inputs: bool = typer.Option(False, "--save-inputs", help="samples.jsonl keeps each "
                                     "item's input (prompt text, media identities, settings)."),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
) -> None:
    """Evaluate a policy; re-running the same command resumes (finished answers and
    generated samples are kept).

    Options, sources (hub, local paths), scorer weights and free disk space are checked
    before any model loads; a failed check is one line and exit 2.

    Example (offline, fixtures from `evalsuite fixtures --out fx`):

      evalsuite eval-policy --policy qwen2.5-vl --model-path fx/unifiedreward-qwen \\
          --bench mmbench --data-path fx/mmbench/MMBench_DEV_EN.tsv
    """
    from pathlib import Path

    from rich.console import Console

    from evalsuite.commands.common import fail, parse_options
    from evalsuite.commands.preflight import PreflightError
    from evalsuite.commands.run import gate
    from evalsuite.policies.runner import PolicyRunConfig, execute_policy

    console = Console(stderr=True)
    try:
        if Path(policy).exists() and model_path is None:  # --policy <path>
            from evalsuite.policies.diffusion import policy_for_path
            model_path, policy = policy, policy_for_path(policy)
        cfg = PolicyRunConfig(policy=policy, bench=bench, model=model, model_path=model_path,
                              revision=revision, data_path=data_path, split=split,
                              batch_size=batch_size, score_batch_size=score_batch_size,
                              samples_per_prompt=samples_per_prompt, seed=seed, limit=limit,
                              out_dir=out, run_name=run_name, max_error_rate=max_error_rate,
                              device=device, dtype=dtype, retry_errors=retry_errors,
                              prefetch_workers=workers, policy_options=parse_options(option),
                              bench_options=parse_options(bench_option),
                              progress=not no_progress, save_inputs=save_inputs)
        check_policy_run(cfg)
    except (KeyError, ValueError, PreflightError) as e:
        fail(console, e)
    try:
        outcome = execute_policy(cfg)
    except (KeyError, ValueError, FileNotFoundError, NotImplementedError, ConnectionError,
            OSError) as e:
        fail(console, str(e).strip(chr(39) + chr(34)))
    if outcome.results is None:
        return
    Console().print(policy_table([outcome.results]))
    c = outcome.results["counts"]
    console.print(f"run directory: {outcome.run_dir}  (computed now: {outcome.computed}, "
                  f"errors: {c['errors']}, unparsed: {c['unparsed']})", soft_wrap=True)
    judged = c["units"] - c["errors"]
    gate(console, outcome.run_dir, c["units"], judged, max_error_rate)


GEN_DISK_FLOOR = 2 * 2**30  # free bytes a generation run asks for before it starts


def check_policy_run(cfg) -> None:
    """Everything that can be known before a policy or a scorer loads."""
    from evalsuite.commands.preflight import (check_disk, check_hub, check_local,
                                              check_options, check_source, is_repo_id)
    from evalsuite.registry import BENCHMARKS, POLICIES

    pentry, bentry = POLICIES.entry(cfg.policy), BENCHMARKS.entry(cfg.bench)
    pcls, bcls = pentry.load(), bentry.load()
    check_options(pcls, cfg.policy_options, "--option", cfg.policy)
    check_options(bcls, cfg.bench_options, "--bench-option", cfg.bench)
    bench = bcls(**{**bentry.kwargs, **cfg.bench_options})
    if not hasattr(bench, "load_items"):
        raise ValueError(f"{cfg.bench} is a preference benchmark: run it with `evalsuite run "
                         f"--bench {cfg.bench} --judge ...`")
    if pcls.task != bench.policy_task:
        raise ValueError(f"{cfg.bench} needs a {bench.policy_task} policy; {cfg.policy} is a "
                         f"{pcls.task} policy")
    if cfg.split is not None and cfg.split not in bench.splits:
        raise ValueError(f"--split {cfg.split}: {cfg.bench} has splits "
                         f"{', '.join(bench.splits)}")
    reason = pcls.unavailable_reason()
    if reason:
        raise ValueError(f"{cfg.policy} cannot run here: {reason}")
    if hasattr(bench, "preflight"):
        bench.preflight()  # scorer dependencies (spaCy ...)
    if cfg.model_path:
        check_local(cfg.model_path, "--model-path")
    else:
        repo = cfg.model or pentry.kwargs.get("model") or pcls.default_model
        if is_repo_id(repo):
            check_hub(repo, "model", cfg.revision or (pcls.default_revision if repo ==
                                                      pcls.default_model else None),
                      "--model-path (or --policy <folder>)")
    if cfg.data_path:
        check_local(cfg.data_path, "--data-path")
    elif is_repo_id(bench.hub_id):
        check_hub(bench.hub_id, "dataset", bench.revision, "--data-path")
    for key, source in scorer_sources(bench).items():
        check_source(source, f"--bench-option {key}=")
    if bench.kind == "generation":
        check_disk(cfg.out_dir, GEN_DISK_FLOOR, "generating samples")


def scorer_sources(bench) -> dict[str, str]:
    """Scorer weights a generation benchmark will load: option -> local path or hub id."""
    out: dict[str, str] = {}
    if bench.options.get("scorer_path"):
        out["scorer_path"] = str(bench.options["scorer_path"])
    if bench.name == "t2i-compbench":
        from evalsuite.policies.t2i_compbench import ATTRIBUTE, CompBenchScorer
        scorer = CompBenchScorer(bench, "cpu", "float32")
        cats = set(bench.categories())
        if cats & {*ATTRIBUTE, "complex"}:
            out["blip_model"] = scorer.blip_src
        if cats & {"non_spatial", "complex"}:
            out["clip_model"] = scorer.clip_src
    elif bench.name == "vbench":  # only what was given: the defaults mix hub ids and URLs
        from evalsuite.policies.vbench import OPTION
        out.update({o: str(bench.options[o]) for o in OPTION.values() if bench.options.get(o)})
    return out


def policy_table(rows):
    """One line per metric (names are long: color/blip_vqa[np=split-and]), never cut."""
    from rich import box
    from rich.table import Table

    t = Table(title="Policy results", box=box.SIMPLE_HEAD,
              caption="n/a = not computable here (the reason is in results.json)")
    for col in ("policy / benchmark", "metric", "value", "n"):
        t.add_column(col, no_wrap=col != "policy / benchmark",
                     justify="right" if col in ("value", "n") else "left")
    for r in rows:
        c = r["counts"]
        who = (f"{r['policy']['policy']}\n{r['benchmark']['benchmark']}\n"
               f"items {c['items']}, errors {c['errors']}")
        for i, (name, m) in enumerate((k, v) for k, v in r["metrics"].items()
                                      if isinstance(v, dict)):
            if m.get("unavailable"):
                value = "n/a"
            elif m.get("value") is None:
                value = "-"
            else:
                value = f"{m['value']:.4f}"
            t.add_row(who if i == 0 else "", name, value, str(m.get("n", "")))
    return t
