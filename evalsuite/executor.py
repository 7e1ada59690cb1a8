"""The executor: one loop for every kind of run.

A run is a configuration (its identity names the run directory), a plugin (a judge or a
policy) and one or more :class:`Stage` s: units of work of one record kind (score a point,
compare a pair, answer a question, generate a sample, score a generated sample). The
executor owns everything that is the same for all of them:

* the run directory: ``config.json`` (refuses a different configuration), the run lock (one
  writer per run and rank, :func:`evalsuite.store.run_lock`), ``run.json`` (timings);
* resume: finished records are read back (:func:`evalsuite.store.read_records`, damaged
  lines quarantined) and their units skipped; ``retry_errors`` redoes failed ones;
* sharding: under torchrun / ``accelerate launch`` each rank takes the units whose id hashes
  to it (:func:`shard_of`), appends to its own log, and after a barrier rank 0 writes the
  results from every rank's records;
* batching with prefetch: ``prepare`` (decode, preprocess) runs one job per batch in a
  thread pool ahead of the model (:func:`prefetched`); a failing batch is retried unit by
  unit so only the culprit is an error (:func:`run_batch`); every finished batch is appended
  to the crash-safe store (:class:`evalsuite.store.RunStore`);
* progress, and the error gate of the outcome.

What differs between kinds - which units, how an output becomes a record, how records
become results - is given by the caller: :func:`evalsuite.runner.execute` (judges),
:func:`evalsuite.policies.runner.execute_policy` (policies) and
:func:`evalsuite.probes.engine.execute_probes` (judge report cards). The request batcher of
``evalsuite serve`` (:mod:`evalsuite.serve.batching`) uses the same :func:`prefetched` /
:func:`run_batch` primitives, so an item gets the same result there as in a run.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalsuite.store import (RecordTable, RunStore, StoreError, merge, read_records,
                             records_from_text, Sharing, run_lock, set_aside, unique_tmp)
from evalsuite.types import RunRecord

Records = RecordTable  # (kind, unit id) -> record


# --- distributed ----------------------------------------------------------------------------

def dist_info() -> tuple[int, int]:
    """(rank, world size) from torchrun/accelerate's environment; (0, 1) otherwise."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def shard_of(item_id: str, world_size: int) -> int:
    """The rank that computes a unit: a hash of its id, so any number of processes covers
    the same units and a run started on N processes resumes on M."""
    return int.from_bytes(hashlib.sha256(item_id.encode()).digest()[:8], "big") % world_size


def init_distributed() -> bool:
    """Join the process group torchrun / ``accelerate launch`` describe in the environment.

    NCCL when CUDA is available (each rank on ``cuda:LOCAL_RANK``), gloo otherwise,
    rendezvous from MASTER_ADDR/MASTER_PORT (``env://``). Returns True when this call
    created the group (the caller then destroys it), False when there is nothing to do (one
    process, or a group already initialised by the caller). The barrier timeout (default
    6 h, ``EVALSUITE_DIST_TIMEOUT_S``) bounds how long a rank whose shard finished early
    waits for the slowest one.
    """
    _, world = dist_info()
    if world <= 1:
        return False
    import datetime

    import torch
    import torch.distributed as dist

    if not dist.is_available() or dist.is_initialized():
        return False
    backend = "gloo"
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))  # "cuda" = this rank's GPU
        backend = "nccl"
    timeout = datetime.timedelta(seconds=float(os.environ.get("EVALSUITE_DIST_TIMEOUT_S",
                                                              6 * 3600)))
    dist.init_process_group(backend=backend, init_method="env://", timeout=timeout)
    return True


@contextmanager
def distributed() -> Iterator[None]:
    """The process group for the duration, when this call had to create it."""
    owns_group = init_distributed()
    try:
        yield
    finally:
        if owns_group:
            import torch.distributed as dist
            dist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank when running under torch.distributed; no-op otherwise."""
    if "torch" not in sys.modules:  # no process group without torch (and no import for it)
        return
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


# --- the run directory -----------------------------------------------------

def note(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def write_config(run_dir: Path, cfg: Any) -> None:
    """Record the run's identity (``cfg.identity()``, ``cfg.fingerprint()``), or check it against the one recorded: create-if-absent is
    one atomic step (a hard link of a complete temp file), so of two processes starting
    the same directory at once exactly one writes and the other compares."""
    path = run_dir / "config.json"
    ident = json.loads(json.dumps(cfg.identity(), default=str))
    if not path.exists():
        tmp = unique_tmp(path)
        tmp.write_text(json.dumps({"identity": ident, "fingerprint": cfg.fingerprint()},
                                  indent=2, default=str))
        try:
            os.link(tmp, path)
            return
        except FileExistsError:
            pass  # another process (or rank) was first: compare with what it wrote
        except OSError:  # a file system without hard links: the run lock serialises writers
            tmp.replace(path)
            return
        finally:
            tmp.unlink(missing_ok=True)
    try:
        old = json.loads(path.read_text(encoding="utf-8"))["identity"]
        if not isinstance(old, dict):
            raise TypeError("identity is not an object")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise StoreError(f"{path} is unreadable ({type(e).__name__}: {e}); this run's "
                         "identity is unknown: move the directory aside, or choose another "
                         "--run-name / --out") from None
    if old != ident:
        diff = [f"{k}: {ident.get(k, '(absent)')!r} here, {old.get(k, '(absent)')!r} there"
                for k in sorted(set(old) | set(ident)) if old.get(k) != ident.get(k)]
        raise StoreError(f"{run_dir} holds a run with a different configuration ("
                         + "; ".join(diff) + "); choose another --run-name or --out")


def read_run_meta(path: Path) -> dict[str, Any]:
    """run.json, or a fresh history when it is absent; an unreadable one is kept aside
    (``run.json.quarantined``), reported, and a new history started: it holds timings
    only, nothing the results depend on."""
    fresh: dict[str, Any] = {"invocations": []}
    if not path.exists():
        return fresh
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(meta, dict) and isinstance(meta.get("invocations"), list):
            return meta
        reason = "not a run history"
    except (OSError, ValueError) as e:
        reason = f"{type(e).__name__}: {e}"
    aside = set_aside(path)
    note(f"warning: {path} was unreadable ({reason}); kept as {aside}, history restarted")
    return fresh


def write_run_meta(run_dir: Path, computed: int, elapsed: float, batch_size: int,
                   world: int) -> None:
    """Timing and history (kept out of results.json, which must be reproducible)."""
    path = run_dir / "run.json"
    meta = read_run_meta(path)
    meta["invocations"].append({
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "computed": computed, "seconds": round(elapsed, 3), "batch_size": batch_size,
        "world_size": world,
        "items_per_s": round(computed / elapsed, 3) if elapsed > 0 and computed else None})
    meta["finished_at"] = meta["invocations"][-1]["finished_at"]
    tmp = unique_tmp(path)
    tmp.write_text(json.dumps(meta, indent=2))
    tmp.replace(path)


def finished(rec: RunRecord | None, retry_errors: bool) -> bool:
    """Whether a unit needs no work: it has a record, and not an error being retried."""
    return rec is not None and not (retry_errors and rec.error is not None)


# --- the cyclic garbage collector at scale ------------------------------------------------------

@contextmanager
def rare_full_collections(every: int = 1000) -> Iterator[None]:
    """Full collections of the cyclic GC at most every ``every`` collections of its middle
    generation (about ``every`` x 7,000 new container objects) for the duration.

    A run holds its items and records - millions of objects - for its whole length, and
    each full collection traverses every one of them; CPython's default (one every 10 middle
    collections, once the old generation has grown by a quarter) spent about a tenth of a
    million-pair run there (5 s of 50). The young generations are collected as ever, so
    short-lived cycles still go at once; the thresholds are restored on the way out.
    """
    import gc
    old = gc.get_threshold()
    gc.set_threshold(old[0], old[1], max(old[2], every))
    try:
        yield
    finally:
        gc.set_threshold(*old)


# --- batching with prefetch: the primitives ---------------------------------------------------

def prefetched(units: Sequence[Any], prepare: Callable[[list[Any]], list[Any]],
               batch_size: int, workers: int) -> Iterator[list[tuple[Any, Any, str | None]]]:
    """Batches of (unit, prepared, error), each batch prepared ahead in a thread pool.

    ``prepare`` maps a list of units to, per unit, its prepared value or the exception it
    raised (``Judge.prepare_points``; :func:`per_item` adapts a one-item function). One job
    prepares one batch, so a judge can call its preprocessor once per batch; up to
    ``max(2, workers)`` batches ahead are in flight while the caller runs the model on the
    current one, so decoding overlaps compute. Order is preserved.
    """

    def job(chunk):
        try:
            outs = prepare(chunk)
            if len(outs) != len(chunk):
                raise RuntimeError(f"prepare returned {len(outs)} results for {len(chunk)}")
        except Exception as e:  # noqa: BLE001 - a batch-level failure: retry item by item
            outs = [_first(prepare, u) for u in chunk] if len(chunk) > 1 else [e]
        return [(u, None, f"{type(o).__name__}: {o}") if isinstance(o, Exception)
                else (u, o, None) for u, o in zip(chunk, outs)]

    chunks = (units[i:i + batch_size] for i in range(0, len(units), batch_size))
    if workers <= 0:
        yield from map(job, chunks)
        return
    ahead = max(2, workers)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prepare") as pool:
        futures = [pool.submit(job, c) for _, c in zip(range(ahead), chunks)]
        while futures:
            batch = futures.pop(0).result()
            nxt = next(chunks, None)
            if nxt is not None:
                futures.append(pool.submit(job, nxt))
            yield batch


def _first(prepare: Callable[[list[Any]], list[Any]], unit: Any) -> Any:
    try:
        return prepare([unit])[0]
    except Exception as e:  # noqa: BLE001
        return e


def prepare_each(prepare: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    """``prepare(item)`` per item; an item's exception is returned in its place."""
    out: list[Any] = []
    for it in items:
        try:
            out.append(prepare(it))
        except Exception as e:  # noqa: BLE001 - the item's recorded error
            out.append(e)
    return out


def per_item(prepare: Callable[[Any], Any]) -> Callable[[list[Any]], list[Any]]:
    """A batch ``prepare`` for :func:`prefetched` from a one-item function."""
    return lambda units: prepare_each(prepare, units)


def as_is(units: list[Any]) -> list[Any]:
    """The ``prepare`` of a stage whose units go to the model as they are."""
    return units


def run_batch(fn: Callable[[list[Any]], list[Any]], prepared: list[Any]
              ) -> list[tuple[Any, str | None]]:
    """Call a plugin's batch function; on failure retry one by one to isolate the culprit."""
    try:
        outs = fn(prepared)
        if len(outs) != len(prepared):
            raise RuntimeError(f"judge returned {len(outs)} results for {len(prepared)} items")
        return [(o, None) for o in outs]
    except Exception as batch_err:  # noqa: BLE001
        if len(prepared) == 1:
            return [(None, f"{type(batch_err).__name__}: {batch_err}")]
        res = []
        for p in prepared:
            res.extend(run_batch(fn, [p]))
        return res


class Progress:
    """A rich progress bar with items/s, or nothing when disabled."""

    def __init__(self, enabled: bool, description: str, total: int):
        self.bar = None
        if enabled and total:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RP,
                                       TextColumn, TimeRemainingColumn)
            self.bar = RP(TextColumn("[bold]{task.description}"), BarColumn(),
                          MofNCompleteColumn(), TextColumn("{task.fields[rate]} items/s"),
                          TimeRemainingColumn(), transient=False)
            self.task = self.bar.add_task(description, total=total, rate="-")
            self.start = time.perf_counter()
            self.count = 0
            self.bar.start()

    def advance(self, n: int) -> None:
        if self.bar is not None:
            self.count += n
            rate = self.count / max(time.perf_counter() - self.start, 1e-9)
            self.bar.update(self.task, advance=n, rate=f"{rate:.1f}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


# --- stages and the loop ----------------------------------------------------------------------

# One unit's result: (unit, the model's output or None, the error or None).
Result = tuple[Any, Any, "str | None"]


@dataclass
class Stage:
    """Units of work of one kind, and what the plugin does with them.

    ``prepare`` runs in the prefetch threads, one call per batch (per unit: the prepared
    value or the exception it raised); ``run`` is the plugin's batched call; ``finish`` turns
    a batch's results into the records appended to the store (it may hold a unit back until
    its partner is done: both presentation orders of a pair). ``advance`` counts a batch
    for the progress bar (default: its units).
    """

    label: str
    units: Sequence[Any]
    run: Callable[[list[Any]], list[Any]]
    finish: Callable[[list[Result], float], list[RunRecord]]
    batch_size: int
    prepare: Callable[[list[Any]], list[Any]] = as_is
    prefetch: bool = True  # False: prepare in the loop's thread (it is trivial)
    load: Callable[[], None] = lambda: None
    advance: Callable[[list[Result], list[RunRecord]], int] = lambda batch, recs: len(batch)


@dataclass
class Session:
    """One process's part of one run: what is done, where new records go."""

    run_dir: Path
    done: Records
    store: RunStore | None = None
    rank: int = 0
    world: int = 1
    retry_errors: bool = False
    workers: int = 2
    progress: bool = True
    computed: int = field(default=0)
    appended: int = field(default=0)  # records this session added to the store

    def todo(self, kind: str, ids: Sequence[str]) -> list[str]:
        """The ids of ``kind`` this process must compute: its shard, not yet finished."""
        return self.pending(kind, ids, lambda i: i)

    def pending(self, kind: str, units: Sequence[Any], id_of: Callable[[Any], str]
                ) -> list[Any]:
        """The units of ``kind`` (their ids by ``id_of``) this process must compute."""
        done, retry, rank, world = self.done.of(kind), self.retry_errors, self.rank, self.world
        if world == 1:
            return [u for u in units if not finished(done.get(id_of(u)), retry)]
        return [u for u in units if shard_of(id_of(u), world) == rank
                and not finished(done.get(id_of(u)), retry)]

    def append(self, records) -> None:
        assert self.store is not None
        records = list(records)
        text = self.store.append(records)
        self.appended += len(records)
        if self.world == 1:  # the run's records stay known without reading the store again
            share = Sharing()
            back = [share(rec) for rec in records_from_text(text)]
            for rec, written in zip(back, records):  # one id string per unit, not two
                rec.item_id = written.item_id
            merge(back, self.done)

    def run(self, stage: Stage) -> int:
        """Compute a stage's units in prefetched batches; returns how many were computed."""
        if not stage.units:
            return 0
        stage.load()
        prog = Progress(self.progress, stage.label, len(stage.units))
        workers = self.workers if stage.prefetch else 0
        try:
            for batch in prefetched(stage.units, stage.prepare, stage.batch_size, workers):
                t = time.perf_counter()
                ok = [p for _, p, e in batch if e is None]
                outs = iter(run_batch(stage.run, ok) if ok else [])
                results = [(u, None, e) if e is not None else (u, *next(outs))
                           for u, _, e in batch]
                dt = (time.perf_counter() - t) / max(len(batch), 1)
                recs = stage.finish(results, dt)
                self.append(recs)
                prog.advance(stage.advance(results, recs))
        finally:
            prog.close()
        self.computed += len(stage.units)
        return len(stage.units)


@dataclass
class Outcome:
    """What one invocation of a run did."""

    run_dir: Path
    results: dict[str, Any] | None  # None on ranks other than 0
    computed: int  # units of work done in this invocation (not read back from the store)
    errors: int
    failed: bool  # error rate above the limit


def execute_run(cfg: Any, run_dir: Path, what: str, work: Callable[[Session], Any],
                finalize: Callable[[Records], tuple[dict[str, Any], int, int]],
                batch_size: int, unit_ids: Callable[[], Iterable[str]] | None = None
                ) -> Outcome:
    """The run's frame: lock, config check, resume, ``work`` into the store, barrier, and on
    rank 0 ``finalize`` (records -> (results, errors, units)) and run.json.

    ``cfg`` supplies ``wait``, ``retry_errors``, ``prefetch_workers``, ``progress`` and
    ``max_error_rate``. ``unit_ids``, when the caller holds its units already: their ids,
    which the records read back then share (one string per unit).
    """
    rank, world = dist_info()
    run_dir.mkdir(parents=True, exist_ok=True)
    # One writer per run (and rank): held from the config check to the last file written.
    with rare_full_collections(), \
            run_lock(run_dir, rank, wait=getattr(cfg, "wait", False), what=what, on_wait=note):
        return _execute_locked(cfg, run_dir, work, finalize, batch_size, rank, world,
                               unit_ids)


def _execute_locked(cfg: Any, run_dir: Path, work: Callable[[Session], Any],
                    finalize: Callable[[Records], tuple[dict[str, Any], int, int]],
                    batch_size: int, rank: int, world: int,
                    unit_ids: Callable[[], Iterable[str]] | None) -> Outcome:
    write_config(run_dir, cfg)
    ids = {i: i for i in unit_ids()} if unit_ids is not None else None
    done = read_records(run_dir, ids=ids)
    del ids
    session = Session(run_dir, done, rank=rank, world=world,
                      retry_errors=cfg.retry_errors, workers=cfg.prefetch_workers,
                      progress=cfg.progress)
    t0 = time.perf_counter()
    with RunStore(run_dir, rank) as store:
        session.store = store
        work(session)
    elapsed = time.perf_counter() - t0
    # One process: the records read at the start plus those it appended (as read back
    # from their lines) are the run's; several: every rank's are read from the store.
    done = session.done if world == 1 else None
    session.done = RecordTable()
    barrier()
    if rank != 0:
        return Outcome(run_dir, None, session.computed, 0, False)
    results, errors, units = finalize(done if done is not None else read_records(run_dir))
    write_run_meta(run_dir, session.computed, elapsed, batch_size, world)
    return Outcome(run_dir, results, session.computed, errors,
                   errors / max(units, 1) > cfg.max_error_rate)
