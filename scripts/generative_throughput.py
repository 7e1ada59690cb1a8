"""Judged pairs/s of a generative judge at batch sizes 1, 4 and 16, on the tiny fixture.

Same work at every batch size: the same prepared pairs (prompt built, images decoded), the
same greedy generation (``max_new_tokens`` fixed), the same parsing; only the number of pairs
per ``compare_batch`` call changes. Batch size 1 is the upstream scripts' loop.

    python scripts/generative_throughput.py [--judge qwen|llava] [--pairs 32]
        [--tokens 16] [--fixtures DIR]

Prints pairs/s per batch size with hardware, dtype and the ratio to batch size 1; exits 1
when batching is not faster than batch size 1. Run with evalsuite installed
(``pip install -e .``).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path


def make_pairs(n: int):
    from evalsuite.fixtures.media import shape_image
    from evalsuite.types import Candidate, Label, MediaRef, PairItem

    shapes, colors = ["square", "circle", "triangle"], ["red", "green", "blue", "yellow"]
    imgs = [MediaRef.from_pil(shape_image(shapes[i % 3], colors[i % 4], ["left", "right"][i % 2],
                                          seed=i)) for i in range(n)]
    return [PairItem(f"p{i}", f"a {colors[i % 4]} {shapes[i % 3]} " * (1 + i % 3),
                     Candidate(media=imgs[i]), Candidate(media=imgs[(i + 5) % n]), Label.A)
            for i in range(n)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--judge", choices=["qwen", "llava"], default="qwen")
    ap.add_argument("--pairs", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=16)
    ap.add_argument("--batch-sizes", default="1,4,16")
    ap.add_argument("--fixtures", default=os.environ.get("EVALSUITE_FIXTURES"))
    args = ap.parse_args()

    import torch

    from evalsuite.fixtures import build
    from evalsuite.judges.unifiedreward import UnifiedRewardLlava, UnifiedRewardQwen

    root = Path(args.fixtures or tempfile.mkdtemp(prefix="evalsuite-fx-"))
    name, cls = {"qwen": ("unifiedreward-qwen", UnifiedRewardQwen),
                 "llava": ("unifiedreward-llava", UnifiedRewardLlava)}[args.judge]
    judge = cls(model_path=str(build(name, root)), max_new_tokens=args.tokens)
    judge.load()
    prepared = [judge.prepare_pair(p) for p in make_pairs(args.pairs)]
    judge.compare_batch(prepared[:2])  # warm-up

    sizes = [int(x) for x in args.batch_sizes.split(",")]
    rates, raws = {}, {}
    for bs in sizes:
        t = time.perf_counter()
        out = []
        for i in range(0, len(prepared), bs):
            out.extend(judge.compare_batch(prepared[i:i + bs]))
        dt = time.perf_counter() - t
        rates[bs] = len(prepared) / dt
        raws[bs] = [v.raw for v in out]
    hw = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    print(f"judge={judge.name} fixture={name} device={judge.device} dtype={judge.dtype} "
          f"pairs={len(prepared)} max_new_tokens={args.tokens} hardware={hw}")
    base = rates[sizes[0]]
    for bs in sizes:
        print(f"  batch {bs:>3}: {rates[bs]:8.2f} pairs/s  ratio vs batch {sizes[0]}: "
              f"{rates[bs] / base:5.2f}x")
    same = all(raws[bs] == raws[sizes[0]] for bs in sizes)
    print(f"identical raw outputs at every batch size: {same}")
    faster = max(rates[bs] for bs in sizes[1:]) > base if len(sizes) > 1 else True
    return 0 if (faster and same) else 1


if __name__ == "__main__":
    sys.exit(main())
