"""Issue 2 resume acceptance: kill -9 mid-run, re-run, byte-identical results; N -> M ranks.

Each killed run is a subprocess of the real CLI (`evalsuite run`, with every batch slowed
by 0.2 s from outside the runner) killed with SIGKILL once some records are on disk.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _scale_helpers import (ROOT, SLOW_CLI, complete_lines, config, env, run_args, torchrun,
                            verdicts)

BS = 2


@pytest.fixture(scope="module")
def baseline(fx, tmp_path_factory, monkeypatch_module):
    from evalsuite.runner import execute
    out = tmp_path_factory.mktemp("baseline")
    outcome = execute(config(fx, out, BS))
    return outcome


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        mp.delenv(k, raising=False)
    yield mp
    mp.undo()


def _descendants(pid: int) -> list[int]:
    """Child processes (recursively), from /proc: torchrun starts each worker in its own
    session, so killing torchrun's process group would leave the workers running."""
    kids: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kids.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _kill_all(proc: subprocess.Popen) -> None:
    """SIGKILL the launched process and every process it started (a crashed node)."""
    victims = _descendants(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()
    # Wait until the orphans are gone (or zombies: their files, run locks included, are
    # closed) before the test reads the files. Tearing down a torch process can take
    # seconds on a loaded machine, so the bound is generous; it is not a timing assertion.
    deadline = time.time() + 120
    for pid in victims:
        while time.time() < deadline:
            try:
                if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                    break
            except OSError:  # gone
                break
            time.sleep(0.01)


def _kill_when(proc: subprocess.Popen, run_dir: Path, at_least: int, timeout: float = 240):
    """SIGKILL everything once ``at_least`` complete records are on disk."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if sum(complete_lines(run_dir).values()) >= at_least:
            _kill_all(proc)
            _wait_until_unlocked(run_dir)
            return
        if proc.poll() is not None:
            raise AssertionError(f"run ended before it could be killed:\n"
                                 f"{proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.02)
    _kill_all(proc)
    raise AssertionError("no records appeared in time")


def _wait_until_unlocked(run_dir: Path, bound: float = 120) -> None:
    """Block until no process holds a run lock. A killed process's thread-group leader can
    show as a zombie while its other threads still hold the open files (the lock among
    them), so the zombie check alone races; the lock itself is the condition that matters."""
    import fcntl
    deadline = time.time() + bound
    for path in run_dir.glob(".lock-r*"):
        fd = os.open(path, os.O_RDWR)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    break
                except BlockingIOError:
                    if time.time() > deadline:
                        raise AssertionError(f"{path} still locked {bound:.0f} s after the kill")
                    time.sleep(0.02)
        finally:
            os.close(fd)


def _slow_cli(tmp_path: Path) -> Path:
    p = tmp_path / "slow_cli.py"
    p.write_text(SLOW_CLI)
    return p


def _assert_same_as_baseline(run_dir: Path, baseline, total_keys: int):
    assert (run_dir / "results.json").read_bytes() == \
        (baseline.run_dir / "results.json").read_bytes()
    assert verdicts(run_dir) == verdicts(baseline.run_dir)
    counts = complete_lines(run_dir)
    assert len(counts) == total_keys, "an item is missing from the records"
    assert set(counts.values()) == {1}, [k for k, n in counts.items() if n > 1]


def test_sigkill_then_resume_is_byte_identical(fx, tmp_path, baseline, monkeypatch_module):
    from evalsuite.runner import execute
    out = tmp_path / "runs"
    run_dir = out / "r"
    total = len(complete_lines(baseline.run_dir))
    proc = subprocess.Popen([sys.executable, str(_slow_cli(tmp_path)),
                             *run_args(fx, out, BS)], cwd=ROOT, env=env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    _kill_when(proc, run_dir, at_least=6)
    done_before = len(complete_lines(run_dir))
    assert 6 <= done_before < total, "the kill did not land mid-run"
    assert not (run_dir / "results.json").exists()

    outcome = execute(config(fx, out, BS))  # the same run, resumed (same command)
    # Only the missing units were computed (bad-row records are written apart from units).
    assert outcome.computed <= total - done_before + 1
    _assert_same_as_baseline(run_dir, baseline, total)


def test_killed_on_two_processes_resumes_on_one(fx, tmp_path, baseline, monkeypatch_module):
    from evalsuite.runner import execute
    out = tmp_path / "runs"
    run_dir = out / "r"
    total = len(complete_lines(baseline.run_dir))
    proc = subprocess.Popen(torchrun(2, str(_slow_cli(tmp_path)), *run_args(fx, out, BS)),
                            cwd=ROOT, env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    _kill_when(proc, run_dir, at_least=8)
    before = complete_lines(run_dir)
    assert {p.name for p in run_dir.glob("records-r*.jsonl")} == {"records-r0.jsonl",
                                                                  "records-r1.jsonl"}
    assert len(before) < total, "the kill did not land mid-run"

    outcome = execute(config(fx, out, BS))  # one process now: shards changed
    after = complete_lines(run_dir)
    # Nothing recomputed: every record from the 2-process run is still its item's only one.
    assert all(after[k] == 1 for k in before)
    assert outcome.computed <= total - len(before) + 1
    _assert_same_as_baseline(run_dir, baseline, total)


def test_bad_media_are_per_item_errors(baseline):
    """The genai-bench fixture's corrupt PNG and path outside the root fail alone."""
    v = verdicts(baseline.run_dir)
    errs = {i: e for i, (_, _, e) in v.items() if e}
    corrupt = [e for e in errs.values() if "unreadable image" in e]
    outside = [e for e in errs.values() if "escapes the dataset root" in e]
    assert len(corrupt) == 1 and "MediaError" in corrupt[0]
    assert len(outside) == 1 and "../../outside.png" in outside[0]
    assert any("unknown vote_type" in e for e in errs.values())
    c = baseline.results["counts"]
    assert c["errors"] == 3 and c["judged"] == c["items"] - 3
    assert all(p in ("A", "B", "tie") for p, s, e in v.values() if e is None)
