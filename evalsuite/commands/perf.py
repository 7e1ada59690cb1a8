"""`evalsuite perf`: harness overhead - bare batched loop vs runner.execute vs batch-1 loop;
with ``--scale``, the harness alone (a judge without a model) at 10^4..10^6 pairs."""

from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("perf")(perf)


def perf(
    judge: str = typer.Option("pickscore", "--judge", "-j", help="A pointwise judge."),
    model: str = typer.Option("fixture", help="fixture (tiny random-weight checkpoint, runs "
                              "anywhere) | vit-h-14 (random-weight CLIP with PickScore's real "
                              "shapes, for a GPU) | a local checkpoint directory."),
    pairs: int = typer.Option(512, help="Synthetic pairs (2 distinct images each)."),
    batch_size: Optional[int] = typer.Option(
        None, "--batch-size", "-B", min=1, help="Default 32 (judge comparison), 256 (--scale)."),
    workers: int = typer.Option(2, help="Harness prefetch threads."),
    repeats: int = typer.Option(3, help="Interleaved repetitions; the best is kept."),
    image_size: str = typer.Option("64x48", help="WxH of the synthetic images."),
    upstream_items: int = typer.Option(128, help="Images timed in the slow batch-1 loop."),
    device: Optional[str] = typer.Option(None), dtype: Optional[str] = typer.Option(None),
    threads: Optional[int] = typer.Option(None, help="torch intra-op threads."),
    fixtures: Optional[str] = typer.Option(None, help="Where fixture checkpoints are built."),
    json_out: str = typer.Option("perf.json", "--json", help="Write the numbers here."),
    scale: Optional[str] = typer.Option(
        None, help="Comma-separated pair counts (e.g. 10000,100000,1000000): instead of the "
        "judge comparison, time a judge without a model over that many generated pairs, "
        "then the resume of the finished run, and report peak RSS per pair."),
    check: bool = typer.Option(False, "--check", help="Exit 1 unless harness/bare >= "
                               "--min-overhead-ratio and harness/upstream >= --min-speedup."),
    min_overhead_ratio: float = typer.Option(0.9, help="--check target for harness/bare."),
    min_speedup: float = typer.Option(3.0, help="--check target for harness/upstream."),
) -> None:
    """Harness overhead: items/s of the bare loop, the harness and a batch-1 loop.

    (a) the bare batched loop, (b) the full harness, (c) an upstream-style batch-1 loop, on
    the same items and model in one process; ratios (b)/(a), (b)/(c).

    Example (the fixture CLIP on CPU, seconds; more --pairs for a stable number):

      evalsuite perf --judge pickscore --pairs 64 --repeats 1 --json perf.json

    Check the speed targets (exit 1 when missed; a GPU run with PickScore's real shapes):

      evalsuite perf --model vit-h-14 --device cuda --dtype bfloat16 --check

    Harness cost at scale (each size in its own process; 10^6 pairs takes minutes):

      evalsuite perf --scale 1000,10000 --json scale.json
    """
    from evalsuite.perf import (PerfConfig, format_report, format_scale, run_perf, run_scale,
                                write_json)

    if scale is not None:
        if check:
            raise typer.BadParameter("--check applies to the judge comparison, not --scale")
        try:
            sizes = [int(x) for x in scale.split(",")]
        except ValueError:
            raise typer.BadParameter(f"--scale takes comma-separated integers, got {scale!r}")
        if not sizes or min(sizes) < 1:
            raise typer.BadParameter("--scale sizes must be positive")
        res = run_scale(sizes, batch_size=batch_size or 256,
                        workers=workers)
        write_json(res, json_out)
        typer.echo(format_scale(res))
        typer.echo(f"written: {json_out}")
        return

    w, h = (int(x) for x in image_size.lower().split("x"))
    res = run_perf(PerfConfig(judge=judge, model=model, pairs=pairs, batch_size=batch_size or 32,
                              workers=workers, repeats=repeats, image_size=(w, h),
                              upstream_items=upstream_items, device=device, dtype=dtype,
                              threads=threads, fixtures=fixtures))
    write_json(res, json_out)
    typer.echo(format_report(res))
    typer.echo(f"written: {json_out}")
    if check:
        r = res["ratios"]
        ok = r["harness/bare"] >= min_overhead_ratio and r["harness/upstream"] >= min_speedup
        typer.echo(f"check: {'PASS' if ok else 'FAIL'} (harness/bare >= {min_overhead_ratio}, "
                   f"harness/upstream >= {min_speedup})")
        if not ok:
            raise typer.Exit(1)
