"""Peak memory and time to sample frames from long videos: the seek-based reader
(``evalsuite.media.read_video``, method ``seek``) against ``full-decode``, what
``evalsuite.media`` did before (the file's bytes read into memory, every frame decoded into a
list, then the sampled ones stacked), kept here as the baseline.

    python scripts/long_video.py [--minutes 30 60] [--size 160x90] [--fps 10]
        [--gop 250] [--workdir DIR] [--skip-full] [--json out.json]

Builds one synthetic H.264 video per length with PyAV (noise plus a moving bar, B-frames, a
key frame every ``--gop`` frames; seconds to build at this size), then measures each
(video, sampling, method) in a fresh child process, so each peak RSS (``ru_maxrss``) is that
method's alone. Samplings: 32 frames (``decord-linspace``) and 1 frame per second
(``uniform``, ``fps=1``). Prints a table with the machine and writes everything as JSON.
Run with evalsuite installed (``pip install -e ".[video]"``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SAMPLINGS = {"32 frames": {"num_frames": 32, "rule": "decord-linspace"},
             "1 fps": {"fps": 1.0, "rule": "uniform"}}


def build_video(path: Path, minutes: float, size: tuple[int, int], fps: int, gop: int) -> float:
    """A synthetic H.264 video (ultrafast preset, B-frames on); returns seconds taken."""
    import av
    import numpy as np

    w, h = size
    n = int(minutes * 60 * fps)
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 64, (h, w, 3), dtype=np.uint8) for _ in range(16)]
    t0 = time.perf_counter()
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"preset": "ultrafast", "g": str(gop), "bf": "2"}
        for t in range(n):
            frame = noise[t % 16].copy()
            frame[:, (t * 2) % w] = 255
            frame[: h // 8, : w // 8] = (t // fps) % 256  # the second, readable in the pixels
            for p in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return time.perf_counter() - t0


def full_decode(path: str, spec) -> tuple:
    """The previous reader: bytes in memory, all frames decoded and kept, then indexed."""
    import io

    import av
    import numpy as np

    from evalsuite.media import sample_indices

    data = Path(path).read_bytes()
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    idx = sample_indices(len(frames), fps, spec)
    return np.stack([frames[i] for i in idx]), idx, len(frames)


def measure(path: str, sampling: str, method: str) -> dict:
    """In this (child) process: sample, time it, report peak RSS before and after."""
    from evalsuite import media
    from evalsuite.types import FrameSpec, MediaRef

    ref = MediaRef(kind="video", path=path)
    spec = FrameSpec(**SAMPLINGS[sampling])
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    if method == "full-decode":
        clip, idx, total = full_decode(path, spec)
    else:
        out = media.read_video(ref, spec)
        clip, idx, total = out.frames, out.indices, out.total
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "peak_rss_mb": peak / 1024, "rss_after_imports_mb":
            rss_before / 1024, "frames_kept": int(clip.shape[0]), "video_frames": total,
            "kept_mb": clip.nbytes / 2**20, "indices_head": [int(i) for i in idx[:4]]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, nargs="+", default=[30, 60])
    ap.add_argument("--size", default="160x90", help="WxH of the synthetic video")
    ap.add_argument("--fps", type=int, default=10)
    ap.add_argument("--gop", type=int, default=250, help="frames between key frames")
    ap.add_argument("--workdir", help="where the videos are built (kept; default: a temp dir)")
    ap.add_argument("--skip-full", action="store_true", help="only the seek-based reader")
    ap.add_argument("--json", help="write all numbers here")
    ap.add_argument("--measure", nargs=3, metavar=("PATH", "SAMPLING", "METHOD"),
                    help=argparse.SUPPRESS)  # the child process
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return 0

    size = tuple(int(x) for x in args.size.split("x"))
    work = Path(args.workdir or tempfile.mkdtemp(prefix="long-video-"))
    work.mkdir(parents=True, exist_ok=True)
    methods = ["seek"] + ([] if args.skip_full else ["full-decode"])
    rows = []
    for minutes in args.minutes:
        path = work / f"synthetic-{minutes:g}min-{args.size}-{args.fps}fps-g{args.gop}.mp4"
        built = 0.0 if path.exists() else build_video(path, minutes, size, args.fps, args.gop)
        for sampling in SAMPLINGS:
            for method in methods:
                child = subprocess.run([sys.executable, __file__, "--measure", str(path),
                                        sampling, method], capture_output=True, text=True,
                                       check=True)
                r = json.loads(child.stdout.strip().splitlines()[-1])
                r.update(minutes=minutes, sampling=sampling, method=method,
                         build_seconds=built, file_mb=path.stat().st_size / 2**20)
                rows.append(r)
                print(f"{minutes:>5g} min  {sampling:<9}  {method:<11}  "
                      f"{r['seconds']:8.2f} s  peak RSS {r['peak_rss_mb']:8.0f} MB "
                      f"(after imports {r['rss_after_imports_mb']:.0f} MB)  "
                      f"{r['frames_kept']} of {r['video_frames']} frames", flush=True)
    machine = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
               "python": platform.python_version(), "platform": platform.platform()}
    print(json.dumps(machine))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine, "args": vars(args),
                                               "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
