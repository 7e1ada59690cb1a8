"""The run store: an append-only JSON-lines log per process.

Every batch is written and flushed to the OS at once, so a killed process (``kill -9``,
out of memory, a pre-empted job) loses nothing it finished. ``fsync`` - which only matters
if the machine itself goes down - is a group commit: at most once per ``fsync_every_s``
(default 1 s) and on close, so small fast batches do not each wait for the disk.

Why a log and not SQLite: each process (rank) appends to its own file, so data-parallel
runs need no locking; a record is one line, so a ``kill -9`` can only ever leave a partial
last line, which is detected and cut off on reopen; and the files are readable with
``jq``/``grep``. Reading the run back merges all ranks' files, which is also what lets a run
started on N processes resume on M.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from evalsuite.types import RunRecord


class RunStore:
    def __init__(self, run_dir: str | Path, rank: int = 0, fsync_every_s: float = 1.0):
        self.dir = Path(run_dir)
        self.fsync_every_s = fsync_every_s
        self._synced_at = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.rank = rank
        self.path = self.dir / f"records-r{rank}.jsonl"
        self._repair_tail(self.path)
        self._fh = open(self.path, "a", encoding="utf-8")

    @staticmethod
    def _repair_tail(path: Path) -> None:
        """Cut a partial last line left by a crash so the next append starts clean."""
        if not path.exists() or path.stat().st_size == 0:
            return
        with open(path, "rb+") as fh:
            data = fh.read()
            if data.endswith(b"\n"):
                return
            cut = data.rfind(b"\n") + 1  # 0 when no complete line at all
            fh.truncate(cut)

    def append(self, records: Iterable[RunRecord]) -> None:
        lines = "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in records)
        if not lines:
            return
        self._fh.write(lines)
        self._fh.flush()  # in the OS from here on: survives the death of this process
        if time.monotonic() - self._synced_at >= self.fsync_every_s:
            self._sync()

    def _sync(self) -> None:
        os.fsync(self._fh.fileno())
        self._synced_at = time.monotonic()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            self._sync()
            self._fh.close()

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def read_records(run_dir: str | Path) -> dict[tuple[str, str], RunRecord]:
    """All complete records of a run, from every rank, keyed by (kind, item_id).

    A record for the same key may appear twice only if a run was resumed with
    ``--retry-errors``; then a success replaces an earlier error.
    """
    out: dict[tuple[str, str], RunRecord] = {}
    for path in sorted(Path(run_dir).glob("records-r*.jsonl")):
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if not line.endswith("\n"):
                    break  # partial tail from a crash: not a record
                rec = RunRecord.from_json(json.loads(line))
                key = (rec.kind, rec.item_id)
                prev = out.get(key)
                if prev is None or (prev.error is not None and rec.error is None):
                    out[key] = rec
    return out
