"""`evalsuite eval-policy`: score a policy on a capability benchmark (resumable)."""

from __future__ import annotations

from typing import Optional

import typer


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
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-B",
                                             help="Policy batch size."),
    score_batch_size: int = typer.Option(8, help="Batch size of the benchmark's scorers."),
    samples_per_prompt: Optional[int] = typer.Option(None, help="Images/videos per prompt "
                                                     "(default: the benchmark's)."),
    seed: int = typer.Option(0, help="Base seed; each sample's seed derives from it and the "
                                     "prompt id."),
    limit: Optional[int] = typer.Option(None, help="Only the first N rows/prompts."),
    out: str = typer.Option("runs", help="Folder that holds run directories."),
    run_name: Optional[str] = typer.Option(None, help="Run directory name."),
    max_error_rate: float = typer.Option(0.05, help="Exit 1 above this error fraction."),
    retry_errors: bool = typer.Option(False, "--retry-errors", help="Redo failed items."),
    device: Optional[str] = typer.Option(None, help="cuda | cpu."),
    dtype: Optional[str] = typer.Option(None, help="bfloat16 | float16 | float32."),
    workers: int = typer.Option(2, help="Prefetch threads."),
    option: Optional[list[str]] = typer.Option(None, "--option", "-o",
                                               help="Policy option key=value."),
    bench_option: Optional[list[str]] = typer.Option(None, "--bench-option",
                                                     help="Benchmark option key=value."),
    save_inputs: bool = typer.Option(False, "--save-inputs", help="samples.jsonl keeps each "
                                     "item's input (prompt text, media identities, settings)."),
    no_progress: bool = typer.Option(False, "--no-progress"),
) -> None:
    """Evaluate a policy; re-running the same command resumes (finished answers and
    generated samples are kept).

    Example (offline, fixtures from `evalsuite fixtures --out fx`):

      evalsuite eval-policy --policy qwen2.5-vl --model-path fx/unifiedreward-qwen \\
          --bench mmbench --data-path fx/mmbench/MMBench_DEV_EN.tsv
    """
    from pathlib import Path

    from rich.console import Console

    from evalsuite.commands.common import parse_options
    from evalsuite.policies.runner import PolicyRunConfig, execute_policy

    console = Console(stderr=True)
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
                          bench_options=parse_options(bench_option), progress=not no_progress,
                          save_inputs=save_inputs)
    try:
        outcome = execute_policy(cfg)
    except (KeyError, ValueError, FileNotFoundError, NotImplementedError, ConnectionError,
            OSError) as e:
        console.print(f"[red]error:[/red] {str(e).strip(chr(39) + chr(34))}")
        raise typer.Exit(2)
    if outcome.results is None:
        return
    Console().print(policy_table([outcome.results]))
    c = outcome.results["counts"]
    console.print(f"run directory: {outcome.run_dir}  (computed now: {outcome.computed}, "
                  f"errors: {c['errors']}, unparsed: {c['unparsed']})")
    if outcome.failed:
        console.print(f"[red]error rate {c['errors']}/{c['units']} exceeds "
                      f"--max-error-rate {max_error_rate}[/red]; see samples.jsonl")
        raise typer.Exit(1)


def policy_table(rows):
    from rich.table import Table

    names: list[str] = []
    for r in rows:
        for k, v in r["metrics"].items():
            if isinstance(v, dict) and k not in names:
                names.append(k)
    t = Table(title="Policy results", caption="'n/a: ...' = not computable here (see README)")
    for col in ["policy", "benchmark", "items", "errors", *names]:
        t.add_column(col, overflow="fold")
    for r in rows:
        cells = []
        for n in names:
            m = r["metrics"].get(n) or {}
            if m.get("unavailable"):
                cells.append("n/a")
            elif m.get("value") is None:
                cells.append("-")
            else:
                cells.append(f"{m['value']:.4f} (n={m.get('n')})")
        t.add_row(r["policy"]["policy"], r["benchmark"]["benchmark"],
                  str(r["counts"]["items"]), str(r["counts"]["errors"]), *cells)
    return t
