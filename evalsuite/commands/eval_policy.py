"""`evalsuite eval-policy`: score a policy on a capability benchmark (resumable)."""

from __future__ import annotations

from typing import Literal, Optional

import typer

from evalsuite.commands.run import check_device
from evalsuite.runconfig import PolicyRunConfig, cli_option


def register(app: typer.Typer) -> None:
    app.command("eval-policy")(eval_policy)


def eval_policy(
    policy: str = cli_option(PolicyRunConfig, "policy"),
    bench: str = cli_option(PolicyRunConfig, "bench"),
    model: Optional[str] = cli_option(PolicyRunConfig, "model"),
    model_path: Optional[str] = cli_option(PolicyRunConfig, "model_path"),
    revision: Optional[str] = cli_option(PolicyRunConfig, "revision"),
    data_path: Optional[str] = cli_option(PolicyRunConfig, "data_path"),
    split: Optional[str] = cli_option(PolicyRunConfig, "split"),
    batch_size: Optional[int] = cli_option(PolicyRunConfig, "batch_size"),
    score_batch_size: int = cli_option(PolicyRunConfig, "score_batch_size"),
    samples_per_prompt: Optional[int] = cli_option(PolicyRunConfig, "samples_per_prompt"),
    seed: int = cli_option(PolicyRunConfig, "seed"),
    limit: Optional[int] = cli_option(PolicyRunConfig, "limit"),
    out_dir: str = cli_option(PolicyRunConfig, "out_dir"),
    run_name: Optional[str] = cli_option(PolicyRunConfig, "run_name"),
    max_error_rate: float = cli_option(PolicyRunConfig, "max_error_rate"),
    retry_errors: bool = cli_option(PolicyRunConfig, "retry_errors"),
    device: Optional[str] = cli_option(PolicyRunConfig, "device", callback=check_device),
    dtype: Optional[Literal["bfloat16", "float16", "float32"]] = cli_option(PolicyRunConfig,
                                                                            "dtype"),
    prefetch_workers: int = cli_option(PolicyRunConfig, "prefetch_workers"),
    policy_options: Optional[list[str]] = cli_option(PolicyRunConfig, "policy_options"),
    bench_options: Optional[list[str]] = cli_option(PolicyRunConfig, "bench_options"),
    save_inputs: bool = cli_option(PolicyRunConfig, "save_inputs"),
    progress: bool = cli_option(PolicyRunConfig, "progress"),
    wait: bool = cli_option(PolicyRunConfig, "wait"),
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

    from evalsuite.commands.common import fail
    from evalsuite.commands.preflight import PreflightError
    from evalsuite.commands.run import gate
    from evalsuite.policies.runner import execute_policy

    console = Console(stderr=True)
    given = dict(locals())
    try:
        if Path(policy).exists() and model_path is None:  # --policy <path>
            from evalsuite.policies.diffusion import policy_for_path
            given.update(model_path=policy, policy=policy_for_path(policy))
        cfg = PolicyRunConfig.from_cli(**given)
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
        from evalsuite.capabilities.t2i_compbench.benchmark import ATTRIBUTE, CompBenchScorer
        scorer = CompBenchScorer(bench, "cpu", "float32")
        cats = set(bench.categories())
        if cats & {*ATTRIBUTE, "complex"}:
            out["blip_model"] = scorer.blip_src
        if cats & {"non_spatial", "complex"}:
            out["clip_model"] = scorer.clip_src
    elif bench.name == "vbench":  # only what was given: the defaults mix hub ids and URLs
        from evalsuite.capabilities.vbench.suite import OPTION
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
