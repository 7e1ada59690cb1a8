"""`evalsuite serve`: any judge as a reward service for online RL (HTTP, dynamic batching)."""

from __future__ import annotations

import dataclasses
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    judge: str = typer.Option(..., "--judge", "-j", help="Judge name, or several with weights "
                              "for a combined reward: pickscore:0.5,unifiedreward:1.0"),
    model: Optional[list[str]] = typer.Option(None, help="Hub id of another checkpoint; with "
                                              "several judges NAME=ID (repeatable)."),
    model_path: Optional[list[str]] = typer.Option(None, help="Local checkpoint; with several "
                                                   "judges NAME=PATH (repeatable)."),
    revision: Optional[list[str]] = typer.Option(None, help="Hub revision of --model; with "
                                                 "several judges NAME=REV (repeatable)."),
    backend: Optional[str] = typer.Option(None, help="Generative judges: hf (default) | vllm "
                                          "| openai (a server at --base-url), as `run`."),
    base_url: Optional[str] = typer.Option(None, help="OpenAI-compatible API root for "
                                           "--backend openai."),
    option: Optional[list[str]] = typer.Option(None, "--option", "-o", help="Judge option "
                                               "key=value (repeatable; every judge gets it)."),
    device: Optional[str] = typer.Option(None, help="cuda | cpu (default: cuda if available)."),
    dtype: Optional[str] = typer.Option(None, help="bfloat16 | float16 | float32."),
    mode: str = typer.Option("auto", help="auto | pairwise | pointwise: how verdicts are made "
                             "(as `run --mode`)."),
    seed: int = typer.Option(0, help="Seed of the runner's per-item position swap."),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    max_batch_size: Optional[int] = typer.Option(None, help="Most units per model call "
                                                 "(default: the judge's batch size; 1 "
                                                 "disables batching)."),
    max_wait_ms: float = typer.Option(5.0, help="Longest wait for a batch to fill, after its "
                                      "oldest unit arrived."),
    max_queue: int = typer.Option(4096, help="Units queued per judge before HTTP 429."),
    workers: int = typer.Option(2, help="Threads that decode media ahead of the model."),
    unparsed: str = typer.Option("report", help="Unreadable answers: report (no number, "
                                 "counted) | tie (half a win, as Pref-GRPO) | zero | error."),
    media_root: Optional[str] = typer.Option(None, help="Allow media as file paths under "
                                             "this folder (refused otherwise)."),
    allow_urls: bool = typer.Option(False, "--allow-urls", help="Fetch media given as "
                                    "http(s) URLs (refused otherwise)."),
    max_request_mb: float = typer.Option(64.0, help="Largest request body (HTTP 413 above)."),
    max_items: int = typer.Option(1024, help="Most items per /v1/score or pairs per "
                                  "/v1/compare request."),
    max_group: int = typer.Option(64, help="Most candidates per /v1/group request."),
    token: Optional[str] = typer.Option(None, envvar="EVALSUITE_SERVE_TOKEN", show_envvar=True,
                                        help="Require 'Authorization: Bearer <token>' on /v1/* "
                                        "and /metrics (prefer the environment variable: a "
                                        "flag is visible to other users of the machine)."),
    ray: bool = typer.Option(False, "--ray", help="Serve on Ray Serve replicas (the "
                             "`serve-ray` extra)."),
    replicas: int = typer.Option(1, help="--ray: number of replicas."),
    gpus_per_replica: float = typer.Option(0.0, help="--ray: GPUs per replica."),
    cpus_per_replica: float = typer.Option(1.0, help="--ray: CPUs per replica."),
    ray_address: Optional[str] = typer.Option(None, help="--ray: an existing cluster "
                                              "(default: start a local one)."),
    log_level: str = typer.Option("info", help="uvicorn log level."),
) -> None:
    """Serve a judge's rewards over HTTP for online RL (Flow-GRPO, Pref-GRPO, TRL GRPO).

    Endpoints: POST /v1/score, /v1/compare, /v1/group (win-rate | score | score-zscore),
    GET /health, /metrics. Example, offline on the fixtures (`evalsuite fixtures --out fx`):

      evalsuite serve --judge pickscore --model-path fx/pickscore --port 8000

    Two judges, one combined reward:

      evalsuite serve --judge pickscore:0.5,unifiedreward:1.0 \\
          --model-path pickscore=fx/pickscore --model-path unifiedreward=fx/unifiedreward-qwen
    """
    from rich.console import Console

    from evalsuite.commands.common import parse_options
    from evalsuite.serve.config import ServeConfig, parse_judges

    err = Console(stderr=True)
    try:
        judges = parse_judges(judge)
        per_judge = {k: _per_judge(v, [j.name for j in judges], k)
                     for k, v in (("model", model), ("model_path", model_path),
                                  ("revision", revision))}
        judges = [dataclasses.replace(j, **{k: per_judge[k].get(j.name) for k in per_judge})
                  for j in judges]
        cfg = ServeConfig(judges=judges, backend=backend, base_url=base_url,
                          options=parse_options(option), device=device, dtype=dtype,
                          mode=mode, seed=seed, max_batch_size=max_batch_size,
                          max_wait_ms=max_wait_ms, max_queue=max_queue, workers=workers,
                          unparsed=unparsed, media_root=media_root, allow_urls=allow_urls,
                          max_request_bytes=int(max_request_mb * 2**20), max_items=max_items,
                          max_group=max_group, token=token or None)
    except ValueError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2)
    if ray:
        try:
            from evalsuite.serve import ray_app
        except ImportError:
            err.print("[red]error:[/red] --ray needs Ray Serve: pip install 'evalsuite[serve-ray]'")
            raise typer.Exit(2)
        ray_app.deploy(cfg, host=host, port=port, replicas=replicas, num_gpus=gpus_per_replica,
                       num_cpus=cpus_per_replica, address=ray_address, blocking=True)
        return
    try:
        import uvicorn

        from evalsuite.serve.app import create_app
    except ImportError as e:
        err.print(f"[red]error:[/red] {e.name} is missing: pip install 'evalsuite[serve]'")
        raise typer.Exit(2)
    uvicorn.run(create_app(cfg), host=host, port=port, log_level=log_level)


def _per_judge(values: list[str] | None, names: list[str], what: str) -> dict[str, str]:
    """``--model-path PATH`` (one judge) or ``--model-path NAME=PATH`` per judge."""
    out: dict[str, str] = {}
    for v in values or []:
        name, sep, rest = v.partition("=")
        if sep and name in names:
            out[name] = rest
        elif len(names) == 1 and not out:
            out[names[0]] = v
        else:
            raise ValueError(f"--{what.replace('_', '-')} {v!r}: with several judges write "
                             f"NAME=VALUE, NAME one of {names}")
    return out
