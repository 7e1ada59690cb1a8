"""Throughput of the CLIP-based score judges (PickScore, HPSv2, HPSv2.1, ImageReward):
images/s at batch size 1 and 32 on the same items, in one process.

Each timed step does the judge's full work on a batch: decode the PNGs + preprocess +
tokenize (``prepare_points``, as the prefetch job does) and one batched forward pass
(``score_batch``), as the harness does
(without the run store, registry or progress bar). Batch size 1 is the "upstream style"
loop of the papers' scripts. By default the tiny random-weight fixture checkpoints are used
(offline); pass ``--model-path judge=PATH`` for real weights.

    python scripts/score_judges_throughput.py --items 64 --batch-sizes 1 32

Run with evalsuite installed (``pip install -e .``).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the checkout: its fixtures-cache/
JUDGES = ("pickscore", "hpsv2", "hpsv2.1", "imagereward")


def make_items(n: int):
    from evalsuite.fixtures.media import COLORS, SHAPES, shape_image
    from evalsuite.types import Candidate, MediaRef, PointItem

    colors, items = list(COLORS), []
    for i in range(n):
        shape, color = SHAPES[i % len(SHAPES)], colors[i % len(colors)]
        img = shape_image(shape, color, ("left", "right", "center")[i % 3], size=(256, 192),
                          seed=i)
        items.append(PointItem(f"perf-{i}", f"a {color} {shape}",
                               Candidate(media=MediaRef.from_pil(img))))
    return items


def measure(judge, items, batch_size: int, repeats: int = 1) -> float:
    """Best-of-``repeats`` images/s for prepare + batched score over all items."""
    judge.score_batch([judge.prepare_point(items[0])])  # warm-up
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(0, len(items), batch_size):
            chunk = items[i:i + batch_size]
            judge.score(chunk)  # prepare_points + one score_batch
        best = max(best, len(items) / (time.perf_counter() - t0))
    return best


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--judges", nargs="+", default=list(JUDGES), choices=JUDGES)
    ap.add_argument("--items", type=int, default=64)
    ap.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 32])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--fixtures", default=str(ROOT / "fixtures-cache"),
                    help="where the tiny fixture checkpoints are built/reused")
    ap.add_argument("--model-path", action="append", default=[],
                    help="judge=PATH: a real checkpoint instead of the fixture")
    ap.add_argument("--device", default=None)
    ap.add_argument("--dtype", default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args(argv)

    import torch

    from evalsuite.fixtures import build
    from evalsuite.registry import JUDGES as REGISTRY

    if args.threads:
        torch.set_num_threads(args.threads)
    paths = dict(kv.split("=", 1) for kv in args.model_path)
    items = make_items(args.items)
    rows = []
    for name in args.judges:
        path = paths.get(name) or str(build(name, Path(args.fixtures)))
        judge = REGISTRY.create(name, model_path=path, device=args.device, dtype=args.dtype)
        judge.load()
        for bs in args.batch_sizes:
            rate = measure(judge, items, bs, args.repeats)
            rows.append({"judge": name, "batch_size": bs, "images_per_s": round(rate, 2),
                         "items": len(items), "device": judge.device, "dtype": judge.dtype,
                         "model_path": path})
        del judge
    report = {"hardware": {"cpu": platform.processor() or platform.machine(),
                           "torch_threads": torch.get_num_threads(),
                           "cuda": torch.cuda.get_device_name(0)
                           if torch.cuda.is_available() else None},
              "results": rows}
    width = max(len(r["judge"]) for r in rows)
    print(f"{'judge':<{width}}  batch  images/s  device  dtype")
    for r in rows:
        print(f"{r['judge']:<{width}}  {r['batch_size']:>5}  {r['images_per_s']:>8.1f}  "
              f"{r['device']:<6}  {r['dtype']}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
