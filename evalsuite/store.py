"""The run store: an append-only JSON-lines log per process, one writer per log.

Every batch is written and flushed to the OS at once, so a killed process (``kill -9``,
out of memory, a pre-empted job) loses nothing it finished. ``fsync`` - which only matters
if the machine itself goes down - is a group commit: at most once per ``fsync_every_s``
(default 1 s) and on close, so small fast batches do not each wait for the disk.

Why a log and not SQLite: each process (rank) appends to its own file, so data-parallel
runs need no locking between ranks; a record is one line, so a ``kill -9`` can only ever
leave a partial last line, which is set aside on reopen; and the files are readable with
``jq``/``grep``. Reading the run back merges all ranks' files, which is also what lets a run
started on N processes resume on M.

One writer per log: each rank holds an advisory lock (``fcntl.flock`` on
``<run>/.lock-r<rank>``) for as long as it works on the run, so a second process started on
the same run directory (the same command twice, or a different judge given the same
``--run-name``) is refused with the holder's pid, or waits for it (``wait=True``). The lock
is released by the kernel when its holder dies, however it dies.

Damage: a line of a log that is not a record (garbage, NUL bytes, invalid UTF-8, a
wrong-typed field, a JSON object that is not a record) is reported with its file and line,
moved to ``records-r<rank>.jsonl.quarantined`` (the exact bytes, base64, with the reason;
never deleted) and its item is computed again. A partial last line left by a crash is
quarantined the same way when the log is reopened.
"""

from __future__ import annotations

import base64
import json
import math
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalsuite.redact import dump_lines
from evalsuite.types import EMPTY, RECORD_KINDS, STATUS_BY_VALUE, RunRecord, Score, Verdict

QUARANTINE_SUFFIX = ".quarantined"


class StoreError(ValueError):
    """A run directory that cannot be used as it is (exit 2: the run cannot start)."""


class RunLocked(StoreError):
    """Another process is working on the same run (same rank) right now."""


# --- one writer per run --------------------------------------------------------------------

def lock_path(run_dir: str | Path, rank: int) -> Path:
    return Path(run_dir) / f".lock-r{rank}"


_held: dict[str, list[Any]] = {}  # lock path -> [fd, depth]: re-entrant within a process
_held_guard = threading.Lock()


def _try_flock(fd: int, block: bool) -> bool:
    import fcntl
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
        return True
    except BlockingIOError:
        return False


def holder_of(run_dir: str | Path, rank: int = 0) -> str:
    """Who holds (or last held) a rank's lock, in words, from the lock file."""
    try:
        info = json.loads(lock_path(run_dir, rank).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another process"
    return f"pid {info.get('pid')} on {info.get('host')} since {info.get('since')}"


@contextmanager
def run_lock(run_dir: str | Path, rank: int = 0, wait: bool = False, what: str = "",
             on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold ``<run_dir>/.lock-r<rank>`` for the duration (re-entrant within a process).

    Busy: raise :class:`RunLocked` naming the holder, or block until it is free (``wait``).
    """
    path = lock_path(run_dir, rank)
    key = str(path.resolve())
    with _held_guard:
        if key in _held:
            _held[key][1] += 1
            entered = True
        else:
            entered = False
    if entered:
        try:
            yield
        finally:
            with _held_guard:
                _held[key][1] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _try_flock(fd, block=False):
            who = holder_of(run_dir, rank)
            if not wait:
                raise RunLocked(f"{Path(run_dir)} is in use by {who}: one process per run "
                                "(rank). Wait for it to finish, pass --wait to queue behind "
                                "it, or choose another --run-name / --out")
            if on_wait:
                on_wait(f"{Path(run_dir)} is in use by {who}; waiting for it to finish")
            _try_flock(fd, block=True)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                  "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                  "rank": rank, "what": what}).encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    with _held_guard:
        _held[key] = [fd, 1]
    try:
        yield
    finally:
        with _held_guard:
            _held[key][1] -= 1
            release = _held[key][1] == 0
            if release:
                del _held[key]
        if release:
            os.close(fd)  # closing the descriptor releases the flock


@contextmanager
def _try_lock(run_dir: Path, rank: int) -> Iterator[bool]:
    """The rank's lock if it is free (or already ours), without waiting: yields whether held."""
    lock = run_lock(run_dir, rank, what="repair")
    try:
        lock.__enter__()
    except RunLocked:
        yield False
        return
    try:
        yield True
    finally:
        lock.__exit__(None, None, None)


# --- reading records back, damage included -------------------------------------------------

@dataclass(frozen=True)
class Damage:
    """A line of a run-store file that is not a record."""

    path: Path
    line: int  # 1-based
    reason: str
    raw: bytes

    def describe(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


def _number(x: Any) -> bool:
    """An int or a float, not a bool (what JSON decodes to is exactly one of these)."""
    t = type(x)
    return t is float or t is int


def _opt_num(x: Any) -> bool:
    t = type(x)
    return x is None or t is float or t is int


def _check_fields(d: dict[str, Any], spec: dict[str, Callable[[Any], bool]], what: str) -> None:
    for k, v in d.items():
        if k not in spec:
            raise ValueError(f"{what}: unknown field {k!r}")
        if not spec[k](v):
            raise ValueError(f"{what}: field {k!r} has a wrong value {_short(v)}")


def _short(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def _opt(pred: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or pred(v)


def _status_text(v: Any) -> bool:
    return isinstance(v, str) and v in STATUS_BY_VALUE  # (a JSON object or list: unhashable)


_VERDICT = {
    "preferred": lambda v: v in ("A", "B", "tie", None), "status": _status_text,
    "margin": _opt_num, "score_a": _opt_num, "score_b": _opt_num,
    "raw": _opt(lambda v: isinstance(v, str)),
    "margins": lambda v: isinstance(v, dict) and all(_number(x) for x in v.values()),
    "extras": lambda v: isinstance(v, dict),
}
_SCORE = {"value": _opt_num, "status": _status_text,
          "raw": _opt(lambda v: isinstance(v, str)), "extras": lambda v: isinstance(v, dict)}
_RECORD = {
    "item_id": lambda v: isinstance(v, str) and bool(v),
    "kind": lambda v: isinstance(v, str) and v in RECORD_KINDS,
    "error": _opt(lambda v: isinstance(v, str)), "swapped": lambda v: isinstance(v, bool),
    "seconds": _number, "verdict": _opt(lambda v: isinstance(v, dict)),
    "verdict_other_order": _opt(lambda v: isinstance(v, dict)),
    "score": _opt(lambda v: isinstance(v, dict)),
}


def parse_record(raw: bytes) -> RunRecord:
    """One log line (bytes, newline included or not) -> a record; ValueError says why not."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"invalid UTF-8 at byte {e.start}") from None
    if "\x00" in text:
        raise ValueError("NUL bytes")
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON ({e.msg} at column {e.colno})") from None
    except RecursionError:
        raise ValueError("not JSON (nested too deeply)") from None
    if not isinstance(d, dict):
        raise ValueError(f"a JSON {type(d).__name__}, not a record object")
    missing = [k for k in ("item_id", "kind") if k not in d]
    if missing:
        raise ValueError(f"not a record: no {', '.join(missing)}")
    _check_fields(d, _RECORD, "record")
    for k in ("verdict", "verdict_other_order"):
        if d.get(k) is not None:
            _check_fields(d[k], _VERDICT, k)
            if "status" not in d[k] or "preferred" not in d[k]:
                raise ValueError(f"{k}: no status / preferred")
    if d.get("score") is not None:
        _check_fields(d["score"], _SCORE, "score")
        if "value" not in d["score"] or "status" not in d["score"]:
            raise ValueError("score: no value / status")
    sec = d.get("seconds", 0.0)
    if isinstance(sec, float) and not math.isfinite(sec):
        raise ValueError("field 'seconds' is not finite")
    return RunRecord.from_json(d)


# The fast path of a log line: the C scanner of the json module on the line (what
# ``json.loads`` calls, without its per-call overhead) and :func:`_record_of` for the checks.
# Anything it does not accept goes through :func:`parse_record`, which accepts exactly what
# it would have accepted (a test compares the two) and says why a line is damaged.
_scan_json = json.JSONDecoder().scan_once
_RECORD_KEYS, _VERDICT_KEYS, _SCORE_KEYS = frozenset(_RECORD), frozenset(_VERDICT), \
    frozenset(_SCORE)
_PREFERRED = frozenset({"A", "B", "tie"})


def _verdict_of(v: Any) -> Verdict | None:
    """``Verdict.from_json(v)`` if ``v`` passes parse_record's checks of a verdict, else
    None."""
    if type(v) is not dict or not _VERDICT_KEYS.issuperset(v) or "status" not in v \
            or "preferred" not in v:
        return None
    g = v.get
    p, status, margin, sa, sb = v["preferred"], v["status"], g("margin"), g("score_a"), \
        g("score_b")
    raw, margins, extras = g("raw"), g("margins", EMPTY), g("extras", EMPTY)
    if ((p is None or (type(p) is str and p in _PREFERRED))
            and type(status) is str and status in STATUS_BY_VALUE
            and _opt_num(margin) and _opt_num(sa) and _opt_num(sb)
            and (raw is None or type(raw) is str) and type(extras) in _DICTS
            and type(margins) in _DICTS and all(map(_number, margins.values()))):
        return Verdict(p, STATUS_BY_VALUE[status], margin, sa, sb, raw, margins or EMPTY,
                       extras or EMPTY)
    return None


def _record_of(d: Any) -> RunRecord | None:
    """``RunRecord.from_json(d)`` if the decoded line ``d`` passes every check of
    :func:`parse_record`, else None (then parse_record decides, and says why)."""
    if type(d) is not dict or not _RECORD_KEYS.issuperset(d):
        return None
    g = d.get
    iid, kind, err, sec, swapped = g("item_id"), g("kind"), g("error"), g("seconds", 0.0), \
        g("swapped", False)
    if type(iid) is not str or not iid or type(kind) is not str or kind not in RECORD_KINDS \
            or (err is not None and type(err) is not str) or type(swapped) is not bool \
            or not (type(sec) is int or (type(sec) is float and math.isfinite(sec))):
        return None
    v, vo, sc = g("verdict"), g("verdict_other_order"), g("score")
    verdict = other = score = None
    if (v is not None and (verdict := _verdict_of(v)) is None) \
            or (vo is not None and (other := _verdict_of(vo)) is None):
        return None
    if sc is not None:
        if type(sc) is not dict or not _SCORE_KEYS.issuperset(sc) or "value" not in sc \
                or "status" not in sc:
            return None
        value, status, raw, extras = sc["value"], sc["status"], sc.get("raw"), \
            sc.get("extras", EMPTY)
        if not (_opt_num(value) and type(status) is str and status in STATUS_BY_VALUE
                and (raw is None or type(raw) is str) and type(extras) in _DICTS):
            return None
        score = Score(value, STATUS_BY_VALUE[status], raw, extras or EMPTY)
    return RunRecord(iid, RECORD_KINDS[kind], verdict, score, err, swapped, other, sec)


_DICTS = (dict, type(EMPTY))


def read_line(raw: bytes) -> RunRecord:
    """:func:`parse_record`, faster on the lines the store writes (the same result)."""
    try:
        text = raw.decode("utf-8")
        if "\x00" not in text and text[:1] == "{":
            d, end = _scan_json(text, 0)
            if end == len(text) or text[end:] == "\n":
                rec = _record_of(d)
                if rec is not None:
                    return rec
    except (UnicodeDecodeError, ValueError, RecursionError, StopIteration):
        pass  # the slow path says why
    return parse_record(raw)


def records_from_text(text: str) -> list[RunRecord]:
    """Lines this process has just written, read back as :func:`parse_record` would read
    them from the file (the same JSON round trip, one decoder call for the batch; its
    checks are for lines from disk)."""
    lines = text.splitlines()
    return [RunRecord.from_json(d) for d in json.loads("[" + ",".join(lines) + "]")] \
        if lines else []


def store_files(run_dir: str | Path) -> list[Path]:
    return sorted(Path(run_dir).glob("records-r*.jsonl"))


def _rank_of(path: Path) -> int | None:
    stem = path.name[len("records-r"):-len(".jsonl")]
    return int(stem) if stem.isdigit() else None


def scan_file(path: Path, ids: Mapping[str, str] | None = None
              ) -> tuple[list[RunRecord], list[Damage]]:
    """The records of one log in order, and its damaged lines (a partial tail is neither).

    ``ids``: see :func:`scan`. Strings and floats are shared line by line, so that what
    each line leaves behind is freed before the next is read."""
    records, damage = [], []
    share = Sharing(ids)
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, start=1):
            if not raw.endswith(b"\n"):
                break  # partial tail: a write in progress, or one a crash cut short
            try:
                records.append(share(read_line(raw)))
            except ValueError as e:
                damage.append(Damage(path, n, str(e), raw))
    return records, damage


class Sharing:
    """Makes a record read back share objects with those already held: its id the unit's
    own string (``ids``: id -> that string), its ``seconds`` one float per distinct value
    (the records of a batch all have the same). 80 bytes a record at a million."""

    __slots__ = ("ids", "seconds")

    def __init__(self, ids: Mapping[str, str] | None = None) -> None:
        self.ids = ids
        self.seconds: dict[float, float] = {}

    def __call__(self, rec: RunRecord) -> RunRecord:
        s = rec.seconds
        if type(s) is float and s > 0.0:  # (an int, 0.0 and -0.0 are kept as they are)
            rec.seconds = self.seconds.setdefault(s, s)
        if self.ids is not None:
            rec.item_id = self.ids.get(rec.item_id, rec.item_id)
        return rec


class RecordTable(MutableMapping):
    """A run's records by ``(kind, unit id)``: a mapping with those keys, held as one dict
    per kind, so that a million records do not each keep a key tuple (56 bytes). Iterating
    makes the tuples on the fly; :meth:`of` is one kind's ``{unit id: record}`` for loops
    over many units."""

    __slots__ = ("_by_kind",)

    def __init__(self, records: Iterable[tuple[tuple[str, str], RunRecord]] = ()) -> None:
        self._by_kind: dict[str, dict[str, RunRecord]] = {}
        for key, rec in records:
            self[key] = rec

    def of(self, kind: str) -> dict[str, RunRecord]:
        """One kind's records by unit id (read it, do not change it)."""
        return self._by_kind.get(kind, _NONE)

    def __getitem__(self, key: tuple[str, str]) -> RunRecord:
        try:
            return self._by_kind[key[0]][key[1]]
        except KeyError:
            raise KeyError(key) from None

    def get(self, key: tuple[str, str], default: Any = None) -> Any:
        return self._by_kind.get(key[0], _NONE).get(key[1], default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, tuple) and len(key) == 2 \
            and key[1] in self._by_kind.get(key[0], _NONE)

    def __setitem__(self, key: tuple[str, str], rec: RunRecord) -> None:
        kind, unit = key
        self._by_kind.setdefault(kind, {})[unit] = rec

    def __delitem__(self, key: tuple[str, str]) -> None:
        try:
            del self._by_kind[key[0]][key[1]]
        except KeyError:
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for kind, recs in self._by_kind.items():
            for unit in recs:
                yield kind, unit

    def __len__(self) -> int:
        return sum(map(len, self._by_kind.values()))

    def __repr__(self) -> str:
        return f"RecordTable({len(self)} records: " + ", ".join(
            f"{len(v)} {k}" for k, v in self._by_kind.items()) + ")"


_NONE: dict[str, RunRecord] = {}  # the records of a kind that has none (never written to)


def merge(records: Iterable[RunRecord], out: RecordTable) -> None:
    """A record for the same key may appear twice only if a run was resumed with
    ``--retry-errors``; then a success replaces an earlier error."""
    tables = out._by_kind
    for rec in records:
        table = tables.get(rec.kind)
        if table is None:
            table = tables[rec.kind] = {}
        prev = table.get(rec.item_id)
        if prev is None or (prev.error is not None and rec.error is None):
            table[rec.item_id] = rec


def scan(run_dir: str | Path, ids: Mapping[str, str] | None = None
         ) -> tuple[RecordTable, list[Damage]]:
    """All good records of a run (every rank, keyed by (kind, item_id)) and all damage.

    ``ids``: the unit ids the run expects, each mapped to itself; a record of one of them
    takes that string object as its id (one string per unit, not one per record as well).
    """
    out = RecordTable()
    damage: list[Damage] = []
    for path in store_files(run_dir):
        recs, dmg = scan_file(path, ids)
        merge(recs, out)
        damage += dmg
    return out, damage


def _stderr(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr, flush=True)


def read_records(run_dir: str | Path, repair: bool = True,
                 report: Callable[[str], None] = _stderr,
                 ids: Mapping[str, str] | None = None) -> RecordTable:
    """All complete, well-formed records of a run, from every rank, keyed by (kind, item_id)
    (``ids``: see :func:`scan`).

    Damaged lines are left out (their items count as not done, so they are computed again)
    and reported with file and line; with ``repair`` each damaged line is moved to the
    file's quarantine when its rank's lock is free or ours (a live writer's file is left
    alone and read around).
    """
    out, damage = scan(run_dir, ids)
    for d in damage:
        report(f"damaged record {d.describe()}; its item will be computed again")
    if repair and damage:
        quarantine_damage(run_dir, damage, report)
    return out


# --- quarantine ----------------------------------------------------------------------------

def quarantine_path(path: Path) -> Path:
    return path.with_name(path.name + QUARANTINE_SUFFIX)


def _append_quarantine(path: Path, entries: list[dict[str, Any]]) -> Path:
    q = quarantine_path(path)
    with open(q, "a", encoding="utf-8") as fh:
        for e in entries:
            fh.write(json.dumps(e, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return q


def _entry(path: Path, line: int | None, reason: str, raw: bytes) -> dict[str, Any]:
    return {"file": path.name, "line": line, "reason": reason,
            "quarantined_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "bytes_b64": base64.b64encode(raw).decode("ascii"),
            "text": raw.decode("utf-8", "replace")[:2000]}


_open_logs: set[str] = set()  # logs this process has open for appending


def quarantine_damage(run_dir: str | Path, damage: list[Damage],
                      report: Callable[[str], None] = _stderr) -> list[Path]:
    """Move damaged lines out of their logs (a copy first, then the log rewritten without
    them, atomically); returns the logs repaired. A log whose rank's lock another process
    holds, or that this process is appending to, is left as it is."""
    repaired = []
    by_file: dict[Path, list[Damage]] = {}
    for d in damage:
        by_file.setdefault(d.path, []).append(d)
    for path, dmg in by_file.items():
        rank = _rank_of(path)
        if rank is None or str(path.resolve()) in _open_logs:
            continue
        with _try_lock(Path(run_dir), rank) as ok:
            if not ok:
                report(f"{path} is being written by {holder_of(run_dir, rank)}; its damaged "
                       "lines are skipped, not quarantined")
                continue
            # Scan again under the lock: the file is stable now.
            _, dmg = scan_file(path)
            if not dmg:
                continue
            q = _append_quarantine(path, [_entry(path, d.line, d.reason, d.raw) for d in dmg])
            bad = {d.line for d in dmg}
            tmp = unique_tmp(path)
            with open(path, "rb") as src, open(tmp, "wb") as dst:
                for n, raw in enumerate(src, start=1):
                    if n not in bad:
                        dst.write(raw)
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(tmp, path)
            _fsync_dir(path.parent)
            report(f"{len(dmg)} damaged line(s) of {path} moved to {q}")
            repaired.append(path)
    return repaired


def set_aside(path: Path) -> Path:
    """Rename a damaged file to ``<name>.quarantined`` (``.quarantined.<n>`` when taken):
    kept, never deleted."""
    aside, n = quarantine_path(path), 0
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}{QUARANTINE_SUFFIX}.{n}")
    os.replace(path, aside)
    return aside


def unique_tmp(path: Path) -> Path:
    """A temp name beside ``path`` that no other process or thread uses (atomic writes)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def repair_tail(path: Path) -> bytes:
    """Cut a partial last line left by a crash (kept in the quarantine) so the next append
    starts clean; returns the bytes set aside."""
    if not path.exists() or path.stat().st_size == 0:
        return b""
    with open(path, "rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":  # the common case, without reading the log
            return b""
        fh.seek(0)
        data = fh.read()
        cut = data.rfind(b"\n") + 1  # 0 when no complete line at all
        tail = data[cut:]
        _append_quarantine(path, [_entry(path, data.count(b"\n") + 1,
                                         "partial last line (an interrupted write)", tail)])
        fh.truncate(cut)
        return tail


# --- writing -------------------------------------------------------------------------------

class RunStore:
    """Rank ``rank``'s log of a run; holds the rank's run lock while open."""

    def __init__(self, run_dir: str | Path, rank: int = 0, fsync_every_s: float = 1.0):
        self.dir = Path(run_dir)
        self.fsync_every_s = fsync_every_s
        self._synced_at = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.rank = rank
        self.path = self.dir / f"records-r{rank}.jsonl"
        self._lock = run_lock(self.dir, rank, what="store")
        self._lock.__enter__()
        try:
            repair_tail(self.path)
            self._fh = open(self.path, "a", encoding="utf-8")
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        _open_logs.add(str(self.path.resolve()))

    # Kept for callers that repair other logs of theirs (the policy runner's manifests).
    _repair_tail = staticmethod(repair_tail)

    def append(self, records: Iterable[RunRecord]) -> str:
        """Append records (one line each); returns the text written."""
        lines = dump_lines((r.to_compact() for r in records), ensure_ascii=False,
                           separators=(",", ":"))
        if not lines:
            return lines
        self._fh.write(lines)
        self._fh.flush()  # in the OS from here on: survives the death of this process
        if time.monotonic() - self._synced_at >= self.fsync_every_s:
            self._sync()
        return lines

    def _sync(self) -> None:
        os.fsync(self._fh.fileno())
        self._synced_at = time.monotonic()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            self._sync()
            self._fh.close()
            _open_logs.discard(str(self.path.resolve()))
            self._lock.__exit__(None, None, None)

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
