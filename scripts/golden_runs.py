"""Run the same fixture configurations on one copy of the evalsuite code; print the sha256 of
each run's ``results.json`` and ``samples.jsonl``.

Used to check that a restructuring leaves the outputs byte for byte: run it once on a copy
of the code before the change and once after, on the same machine, and compare the two
digest files (model outputs are float computations: digests from another CPU differ).

Each configuration runs twice (the second invocation resumes the finished run, which must
rewrite the same bytes). ``git`` in results.json is the commit of the code, so every run is
made with ``GIT_DIR`` pointing nowhere: it is recorded as null for both copies.

    python scripts/golden_runs.py --tree <code dir> --fixtures <fixtures dir> --out <dir>
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path


def configs(fx: Path) -> dict[str, list[str]]:
    """name -> CLI arguments (the run directory is ``--out <out>/<name> --run-name r``)."""
    gs = fx / "geneval-scorers"
    return {
        "pointwise-judge": ["run", "--judge", "pickscore", "--bench", "genai-bench",
                            "--data-path", str(fx / "genai-bench"),
                            "--model-path", str(fx / "pickscore"), "--batch-size", "4",
                            "--max-error-rate", "1"],
        "pairwise-generative-judge": ["run", "--judge", "unifiedreward", "--bench",
                                      "genai-bench", "--data-path", str(fx / "genai-bench"),
                                      "--model-path", str(fx / "unifiedreward-qwen"),
                                      "--limit", "6", "--both-orders", "--save-inputs",
                                      "--max-error-rate", "1"],
        "mcq-policy": ["eval-policy", "--policy", "qwen2.5-vl",
                       "--model-path", str(fx / "unifiedreward-qwen"), "--bench", "mmbench",
                       "--data-path", str(fx / "mmbench" / "MMBench_DEV_EN.tsv"),
                       "--limit", "8", "--save-inputs", "--max-error-rate", "1"],
        "generation-benchmark": ["eval-policy", "--policy", str(fx / "policy-t2i"),
                                 "--bench", "geneval", "--data-path", str(fx / "geneval"),
                                 "--bench-option", "tags=position",
                                 "--bench-option", f"detector_path={gs / 'detector'}",
                                 "--bench-option", f"clip_path={gs / 'clip'}",
                                 "--limit", "1", "-o", "num_inference_steps=2",
                                 "--max-error-rate", "1"],
    }


FIXTURES = ("genai-bench", "pickscore", "unifiedreward-qwen", "mmbench", "policy-t2i",
            "geneval", "geneval-scorers")


def environment() -> dict[str, str]:
    """What the model outputs depend on besides the code (float kernels)."""
    import torch
    cpu = "unknown"
    try:
        cpu = next(x.split(":", 1)[1].strip() for x in
                   Path("/proc/cpuinfo").read_text().splitlines() if x.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"torch": torch.__version__, "machine": platform.machine(), "cpu": cpu}


def digests_of(run: Path) -> dict[str, str]:
    """sha256 of results.json and samples.jsonl, and of results.json with its run
    fingerprint blanked (for a change that is meant to change the fingerprint only)."""
    res = (run / "results.json").read_bytes()
    blank = re.sub(rb'"fingerprint": "[0-9a-f]+"', b'"fingerprint": ""', res)
    return {"results.json": hashlib.sha256(res).hexdigest(),
            "results.json without fingerprint": hashlib.sha256(blank).hexdigest(),
            "samples.jsonl": hashlib.sha256((run / "samples.jsonl").read_bytes()).hexdigest()}


def run_all(tree: Path, fx: Path, out: Path) -> dict[str, dict[str, str]]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(PYTHONPATH=str(tree), GIT_DIR=str(out / "no-git"), HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1", OMP_NUM_THREADS="1",
               CUDA_VISIBLE_DEVICES="")
    digests: dict[str, dict[str, str]] = {}
    for name, args in configs(fx).items():
        for attempt in ("first", "resume"):
            cmd = [sys.executable, "-m", "evalsuite", *args, "--out", str(out / name),
                   "--run-name", "r", "--no-progress", "--device", "cpu"]
            p = subprocess.run(cmd, cwd=out, env=env, capture_output=True, text=True,
                               timeout=900)
            if p.returncode != 0:
                raise RuntimeError(f"{name} ({attempt}) exited {p.returncode}:\n"
                                   f"{p.stdout[-2000:]}\n{p.stderr[-4000:]}")
            run = out / name / "r"
            got = digests_of(run)
            if attempt == "resume" and got != digests[name]:
                raise RuntimeError(f"{name}: the resumed run rewrote different bytes")
            digests[name] = got
    return digests


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", required=True, help="root of the evalsuite code to run")
    ap.add_argument("--fixtures", required=True, help="fixture folder (built if missing)")
    ap.add_argument("--out", required=True, help="empty folder for the run directories")
    ap.add_argument("--json", help="write the digests here")
    a = ap.parse_args()
    sys.path.insert(0, a.tree)
    from evalsuite.fixtures import build
    fx = Path(a.fixtures)
    for name in FIXTURES:
        build(name, fx)
    out = Path(a.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    res = {"environment": environment(), "digests": run_all(Path(a.tree).resolve(), fx, out)}
    text = json.dumps(res, indent=2) + "\n"
    if a.json:
        Path(a.json).write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
