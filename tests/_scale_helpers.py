"""Helpers shared by tests/test_scale.py and tests/test_resume.py (not a test module)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# A CLI entry that runs `evalsuite <args>` with every batch slowed down, so a test can kill it
# mid-way; nothing test-only lives in the runner itself.
SLOW_CLI = """
import os, sys, time
import evalsuite.executor as executor
_orig = executor.run_batch
def _slow(fn, prepared):
    time.sleep(float(os.environ.get("EVALSUITE_TEST_BATCH_SLEEP", "0.2")))
    return _orig(fn, prepared)
executor.run_batch = _slow
from evalsuite.cli import main
sys.argv = ["evalsuite", *sys.argv[1:]]
main()
"""


def run_args(fx, out: Path, batch_size: int) -> list[str]:
    return ["run", "--judge", "pickscore", "--bench", "genai-bench",
            "--data-path", str(fx("genai-bench")), "--model-path", str(fx("pickscore")),
            "--out", str(out), "--run-name", "r", "--batch-size", str(batch_size),
            "--max-error-rate", "1", "--no-progress", "--device", "cpu"]


def config(fx, out: Path, batch_size: int):
    """The RunConfig the CLI builds from run_args (for in-process runs of the same run)."""
    from evalsuite.runner import RunConfig
    return RunConfig(judge="pickscore", bench="genai-bench", data_path=str(fx("genai-bench")),
                     model_path=str(fx("pickscore")), out_dir=str(out), run_name="r",
                     batch_size=batch_size, max_error_rate=1.0, progress=False, device="cpu")


def env(**extra: str) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items()
         if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    e["PYTHONPATH"] = str(ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    e.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
              "OMP_NUM_THREADS": "1", **extra})
    return e


def torchrun(nproc: int, *args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc-per-node={nproc}", *args]


def complete_lines(run_dir: Path) -> Counter:
    """(kind, item_id) -> number of complete records over every rank's file."""
    c: Counter = Counter()
    for p in sorted(run_dir.glob("records-r*.jsonl")):
        for line in p.read_text(encoding="utf-8").splitlines(keepends=True):
            if line.endswith("\n"):
                r = json.loads(line)
                c[(r["kind"], r["item_id"])] += 1
    return c


def verdicts(run_dir: Path) -> dict[str, tuple]:
    out = {}
    for line in (run_dir / "samples.jsonl").read_text().splitlines():
        r = json.loads(line)
        out[r["item_id"]] = (r.get("preferred"), r["status"], r.get("error"))
    return out


def run_cli(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, env=env(), capture_output=True, text=True,
                          timeout=300, **kw)
