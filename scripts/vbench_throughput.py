"""Seconds per video of each VBench dimension through the scorer (``score_batch`` on a batch
of synthetic videos, models loaded beforehand).

    python scripts/vbench_throughput.py --scorer-path <folder> [--videos 4] [--frames 16]
        [--size 128] [--device cpu] [--dims object_class,scene]

Without ``--scorer-path`` the tiny fixture checkpoints are built in a temporary folder (the
numbers then measure the pipeline around tiny networks, not the real ones).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

AUX = {"object_class": {"object": "cat"}, "multiple_objects": {"object": "cat and dog"},
       "color": {"color": "black"},
       "spatial_relationship": {"spatial_relationship": {
           "object_a": "cat", "object_b": "dog", "relationship": "on the right of"}},
       "scene": {"scene": {"scene": "alley"}},
       "appearance_style": {"appearance_style": "Van Gogh style"}}


def main() -> None:
    from evalsuite.policies.base import GenItem, GenUnit
    from evalsuite.policies.runner import write_video
    from evalsuite.capabilities.vbench.suite import DIMENSIONS, VBench

    ap = argparse.ArgumentParser()
    ap.add_argument("--scorer-path")
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dims", default=",".join(DIMENSIONS))
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    scorers = args.scorer_path
    if not scorers:
        from evalsuite.fixtures.vbench_models import build_vbench_scorers
        scorers = str(build_vbench_scorers(tmp / "scorers"))
    rng = np.random.default_rng(0)
    paths = []
    for k in range(args.videos):
        base = rng.integers(0, 256, (1, args.size, args.size, 3)).astype(np.int16)
        drift = rng.integers(-8, 9, (args.frames, 1, 1, 3)).cumsum(0)
        frames = np.clip(base + drift, 0, 255).astype(np.uint8)
        paths.append(tmp / "run" / "samples" / "v" / f"v{k}.mp4")
        paths[-1].parent.mkdir(parents=True, exist_ok=True)
        write_video(paths[-1], frames)
    for d in args.dims.split(","):
        prompt = "a black cat" if d == "color" else "A person is riding a bike"
        sc = VBench(scorer_path=scorers).scorer(args.device, "float32")
        sc.load()
        units = [GenUnit(GenItem("vbench:0000", prompt, d, {"dimension": [d],
                                                            "auxiliary_info": AUX}), k, 1)
                 for k in range(args.videos)]
        sc.score_batch([sc.prepare(units[0], paths[0])])  # load the models, warm up
        t = time.perf_counter()
        out = sc.score_batch([sc.prepare(u, p) for u, p in zip(units, paths)])
        dt = (time.perf_counter() - t) / args.videos
        errors = sum(1 for s in out if s.extras["errors"] or s.extras["unavailable"])
        print(f"{d:24s} {dt:7.2f} s/video  ({args.frames} frames, {args.size} px, "
              f"{args.videos} videos per batch, {args.device}){' ERRORS' if errors else ''}")


if __name__ == "__main__":
    main()
