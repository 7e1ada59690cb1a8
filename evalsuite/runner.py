"""The runner: benchmark items -> batches -> judge -> run store -> results.

One straight flow:

1. the benchmark yields ``PairItem``/``ItemError``; this process keeps its shard (by a hash
   of the item id, so any number of processes covers the same items);
2. finished records are read back from the run store and skipped (resume);
3. pointwise judges score each unique (prompt, media) once; pairwise judges see each pair
   in a presentation order chosen by a swap seeded by item id (``--both-orders``: both);
4. media decoding/preprocessing (``judge.prepare_points``/``prepare_pairs``, one job per
   batch) runs in a prefetch thread pool while the model works on the previous batch;
   every finished batch is appended and flushed (fsync as a 1 s group commit, see
   store.py);
5. rank 0 joins the records onto the pairs and writes ``results.json`` + ``samples.jsonl``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from evalsuite.registry import BENCHMARKS, JUDGES
from evalsuite.store import (RunStore, StoreError, read_records, run_lock, set_aside,
                             unique_tmp)
from evalsuite.types import (ItemError, PairItem, ParseStatus, PointItem, RunRecord, Score,
                             Verdict)


class RunIdentity:
    """What names a run: the fields in ``_IDENTITY`` (those that change results), hashed."""

    _IDENTITY: tuple[str, ...] = ()
    run_name: str | None
    out_dir: str
    bench: str

    def identity(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._IDENTITY}

    def fingerprint(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:10]


def run_dir_for(cfg: RunIdentity, who: str) -> Path:
    """``<out>/<who>__<bench>__<fingerprint>`` (or ``--run-name``): re-running resumes."""
    return Path(cfg.out_dir) / (cfg.run_name or f"{who}__{cfg.bench}__{cfg.fingerprint()}")


@dataclass
class RunConfig(RunIdentity):
    judge: str
    bench: str
    model: str | None = None
    model_path: str | None = None
    revision: str | None = None
    data_path: str | None = None
    split: str | None = None
    batch_size: int | None = None
    seed: int = 0
    both_orders: bool = False
    mode: str = "auto"  # auto | pairwise | pointwise
    limit: int | None = None
    out_dir: str = "runs"
    run_name: str | None = None
    max_error_rate: float = 0.05
    device: str | None = None
    dtype: str | None = None
    retry_errors: bool = False
    prefetch_workers: int = 2
    judge_options: dict[str, Any] = field(default_factory=dict)
    bench_options: dict[str, Any] = field(default_factory=dict)
    progress: bool = True
    save_inputs: bool = False  # samples.jsonl: the request each verdict came from
    wait: bool = False  # another process holds the run: wait for it instead of refusing

    # Fields that change what is computed. The batch size does (batched float paths: padding
    # and kernel choice move scores in the last bits, which can flip a near-tie), so a run
    # is one batch size; the effective one (default resolved) is what counts. Device and
    # workers do not enter.
    _IDENTITY = ("judge", "bench", "model", "model_path", "revision", "data_path", "split",
                 "seed", "both_orders", "mode", "limit", "dtype", "batch_size",
                 "judge_options", "bench_options")

    def run_dir(self) -> Path:
        return run_dir_for(self, self.judge)


@dataclass
class RunOutcome:
    run_dir: Path
    results: dict[str, Any] | None  # None on ranks other than 0
    computed: int  # units of work done in this invocation (not read back from the store)
    errors: int
    failed: bool  # error rate above the limit


def swap_for(item_id: str, seed: int) -> bool:
    """Whether to present a pair as (B, A): a coin seeded by item id, same on every machine."""
    return hashlib.sha256(f"{seed}:{item_id}".encode()).digest()[0] & 1 == 1


def shard_of(item_id: str, world_size: int) -> int:
    return int.from_bytes(hashlib.sha256(item_id.encode()).digest()[:8], "big") % world_size


def dist_info() -> tuple[int, int]:
    """(rank, world size) from torchrun/accelerate's environment; (0, 1) otherwise."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def init_distributed() -> bool:
    """Join the process group torchrun / ``accelerate launch`` describe in the environment.

    Called by :func:`execute` when WORLD_SIZE > 1: NCCL when CUDA is available (each rank on
    ``cuda:LOCAL_RANK``), gloo otherwise, rendezvous from MASTER_ADDR/MASTER_PORT (``env://``).
    Returns True when this call created the group (the caller then destroys it), False when
    there is nothing to do (one process, or a group already initialised by the caller).
    The barrier timeout (default 6 h, ``EVALSUITE_DIST_TIMEOUT_S``) bounds how long a rank
    whose shard finished early waits for the slowest one.
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


# --- batching with prefetch -----------------------------------------------------------------

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

    chunks = [units[i:i + batch_size] for i in range(0, len(units), batch_size)]
    if workers <= 0:
        yield from map(job, chunks)
        return
    ahead = max(2, workers)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prepare") as pool:
        futures = [pool.submit(job, c) for c in chunks[:ahead]]
        for nxt in range(ahead, len(chunks) + ahead):
            batch = futures.pop(0).result()
            if nxt < len(chunks):
                futures.append(pool.submit(job, chunks[nxt]))
            yield batch


def _first(prepare: Callable[[list[Any]], list[Any]], unit: Any) -> Any:
    try:
        return prepare([unit])[0]
    except Exception as e:  # noqa: BLE001
        return e


def per_item(prepare: Callable[[Any], Any]) -> Callable[[list[Any]], list[Any]]:
    """A batch ``prepare`` for :func:`prefetched` from a one-item function."""
    from evalsuite.judges.base import prepare_each
    return lambda units: prepare_each(prepare, units)


def run_batch(fn: Callable[[list[Any]], list[Any]], prepared: list[Any]
              ) -> list[tuple[Any, str | None]]:
    """Call a judge's batch function; on failure retry one by one to isolate the culprit."""
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


# --- the run ---------------------------------------------------------------------------------

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


def load_items(cfg: RunConfig, bench) -> tuple[list[PairItem], list[ItemError]]:
    items, errors = [], []
    seen: dict[str, int] = {}
    for x in bench.load(cfg.data_path, cfg.split):
        # Item ids key the run store: a repeated id (a duplicated upstream row) gets a
        # deterministic suffix so neither row's record can shadow the other's.
        n = seen.get(x.item_id, 0)
        seen[x.item_id] = n + 1
        if n:
            x = dataclasses.replace(x, item_id=f"{x.item_id}~{n}")
        (errors if isinstance(x, ItemError) else items).append(x)
        if cfg.limit is not None and len(items) + len(errors) >= cfg.limit:
            break
    return items, errors


def use_pairwise(cfg: RunConfig, judge) -> bool:
    if cfg.mode == "pairwise":
        if not judge.pairwise:
            raise ValueError(f"judge {cfg.judge} has no pairwise mode")
        return True
    if cfg.mode == "pointwise":
        if not judge.pointwise:
            raise ValueError(f"judge {cfg.judge} has no pointwise mode")
        return False
    return judge.pairwise


def point_items(items: list[PairItem]) -> tuple[list[PointItem], dict[str, tuple[str, str]]]:
    """Unique PointItems for all pair candidates, and pair id -> (key A, key B)."""
    points: dict[str, PointItem] = {}
    pair_keys = {}
    for it in items:
        keys = []
        for cand in (it.a, it.b):
            key = PointItem.key_for(it.prompt, cand, it.context)
            points.setdefault(key, PointItem(key, it.prompt, cand, it.context, it.task))
            keys.append(key)
        pair_keys[it.item_id] = (keys[0], keys[1])
    return list(points.values()), pair_keys


def execute(cfg: RunConfig, judge=None, bench=None) -> RunOutcome:
    """Run (or resume) one judge x benchmark evaluation.

    Under torchrun / ``accelerate launch`` (WORLD_SIZE > 1) each process judges its shard of
    the items (by a hash of the item id), appends to its own ``records-r{rank}.jsonl``, and
    after a barrier rank 0 reads every rank's records and writes the results once. Records
    of all ranks are read on resume, so a run started on N processes resumes on M.
    """
    owns_group = init_distributed()
    try:
        return _execute(cfg, judge, bench)
    finally:
        if owns_group:
            import torch.distributed as dist
            dist.destroy_process_group()


def _execute(cfg: RunConfig, judge=None, bench=None) -> RunOutcome:
    rank, world = dist_info()
    if judge is None:
        JUDGES.entry(cfg.judge)  # fail on a typo before loading any data
    bench = bench or BENCHMARKS.create(cfg.bench, **cfg.bench_options)
    items, bad_rows = load_items(cfg, bench)
    judge = judge or JUDGES.create(cfg.judge, model=cfg.model, model_path=cfg.model_path,
                                   revision=cfg.revision, device=cfg.device, dtype=cfg.dtype,
                                   **cfg.judge_options)
    pairwise = use_pairwise(cfg, judge)
    # The batch size is part of the identity: the default, once resolved, names the run too.
    cfg = dataclasses.replace(cfg, batch_size=cfg.batch_size or judge.default_batch_size)
    run_dir = cfg.run_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    # One writer per run (and rank): held from the config check to the last file written.
    with run_lock(run_dir, rank, wait=cfg.wait, what=f"{cfg.judge} on {cfg.bench}",
                  on_wait=_note):
        return _execute_locked(cfg, judge, bench, items, bad_rows, pairwise, run_dir)


def _note(msg: str) -> None:
    import sys
    print(msg, file=sys.stderr, flush=True)


def _execute_locked(cfg: RunConfig, judge, bench, items: list[PairItem],
                    bad_rows: list[ItemError], pairwise: bool, run_dir: Path) -> RunOutcome:
    rank, world = dist_info()
    _write_config(run_dir, cfg)
    done = read_records(run_dir)

    def todo(kind: str, ids: list[str]) -> list[str]:
        return [i for i in ids if shard_of(i, world) == rank and not _finished(
            done.get((kind, i)), cfg.retry_errors)]

    batch_size = cfg.batch_size
    computed = 0
    t0 = time.perf_counter()
    with RunStore(run_dir, rank) as store:
        # Rows that could not become items are recorded once, as errors.
        bad_todo = set(todo("pair", [e.item_id for e in bad_rows]))
        store.append(RunRecord(e.item_id, "pair", error=f"bad row: {e.reason}")
                     for e in bad_rows if e.item_id in bad_todo)
        if pairwise:
            by_id = {it.item_id: it for it in items}
            units = [by_id[i] for i in todo("pair", list(by_id))]
            computed = _run_pairs(cfg, judge, store, units, batch_size)
        else:
            points, _ = point_items(items)
            by_key = {p.item_id: p for p in points}
            units = [by_key[k] for k in todo("point", list(by_key))]
            computed = _run_points(cfg, judge, store, units, batch_size)
    elapsed = time.perf_counter() - t0
    _barrier()
    if rank != 0:
        return RunOutcome(run_dir, None, computed, 0, False)
    from evalsuite.results import finalize
    results = finalize(cfg, bench, judge, items, bad_rows, read_records(run_dir), pairwise,
                       run_dir)
    _write_run_meta(run_dir, computed, elapsed, batch_size, world)
    err = results["counts"]["errors"]
    total = max(results["counts"]["items"], 1)
    return RunOutcome(run_dir, results, computed, err, err / total > cfg.max_error_rate)


def _finished(rec: RunRecord | None, retry_errors: bool) -> bool:
    return rec is not None and not (retry_errors and rec.error is not None)


def _run_points(cfg: RunConfig, judge, store: RunStore, units: list[PointItem],
                batch_size: int) -> int:
    if not units:
        return 0
    judge.load()
    prog = Progress(cfg.progress, f"{cfg.judge} scoring", len(units))
    try:
        for batch in prefetched(units, judge.prepare_points, batch_size, cfg.prefetch_workers):
            t = time.perf_counter()
            ok = [(u, p) for u, p, e in batch if e is None]
            outs = iter(run_batch(judge.score_batch, [p for _, p in ok]) if ok else [])
            dt = (time.perf_counter() - t) / max(len(batch), 1)
            recs = []
            for u, _, prep_err in batch:
                if prep_err is not None:
                    recs.append(RunRecord(u.item_id, "point", error=prep_err, seconds=dt))
                    continue
                score, err = next(outs)
                recs.append(RunRecord(u.item_id, "point", score=score, error=err, seconds=dt))
            store.append(recs)
            prog.advance(len(batch))
    finally:
        prog.close()
    return len(units)


def _run_pairs(cfg: RunConfig, judge, store: RunStore, units: list[PairItem],
               batch_size: int) -> int:
    if not units:
        return 0
    judge.load()
    # Each unit is (item, presented item, swapped): both orders when asked.
    plan = []
    for it in units:
        sw = swap_for(it.item_id, cfg.seed)
        plan.append((it, it.swapped() if sw else it, sw))
        if cfg.both_orders:
            plan.append((it, it if sw else it.swapped(), not sw))
    prog = Progress(cfg.progress, f"{cfg.judge} judging", len(units))
    pending: dict[str, list[tuple[bool, Verdict | None, str | None]]] = {}
    per_item = 2 if cfg.both_orders else 1
    try:
        for batch in prefetched(plan, lambda us: judge.prepare_pairs([u[1] for u in us]),
                                batch_size, cfg.prefetch_workers):
            t = time.perf_counter()
            ok = [(u, p) for u, p, e in batch if e is None]
            outs = iter(run_batch(judge.compare_batch, [p for _, p in ok]) if ok else [])
            dt = (time.perf_counter() - t) / max(len(batch), 1)
            recs = []
            for (it, _, sw), _, prep_err in batch:
                if prep_err is not None:
                    v, err = None, prep_err
                else:
                    v, err = next(outs)
                    v = v.flipped() if (v is not None and sw) else v
                pending.setdefault(it.item_id, []).append((sw, v, err))
                if len(pending[it.item_id]) == per_item:
                    recs.append(_pair_record(it, pending.pop(it.item_id), cfg, dt * per_item))
            store.append(recs)
            prog.advance(len(recs))
    finally:
        prog.close()
    return len(units)


def _pair_record(it: PairItem, outs: list[tuple[bool, Verdict | None, str | None]],
                 cfg: RunConfig, seconds: float) -> RunRecord:
    primary_sw = swap_for(it.item_id, cfg.seed)
    primary = next(o for o in outs if o[0] == primary_sw)
    other = next((o for o in outs if o[0] != primary_sw), None)
    err = primary[2] or (other[2] if other else None)
    return RunRecord(it.item_id, "pair", verdict=primary[1] if err is None else None,
                     error=err, swapped=primary_sw,
                     verdict_other_order=other[1] if (other and err is None) else None,
                     seconds=seconds)


def _barrier() -> None:
    """Wait for every rank when running under torch.distributed; no-op otherwise."""
    try:
        import torch.distributed as dist
    except ImportError:
        return
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def _write_config(run_dir: Path, cfg: RunIdentity) -> None:
    """Record the run's identity, or check it against the one recorded: create-if-absent is
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
    _note(f"warning: {path} was unreadable ({reason}); kept as {aside}, history restarted")
    return fresh


def _write_run_meta(run_dir: Path, computed: int, elapsed: float, batch_size: int,
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


def verdict_from_scores(sa: Score, sb: Score) -> Verdict:
    """The harness's pairwise verdict from two pointwise scores: margin = s(A) - s(B)."""
    if sa.value is None or sb.value is None or ParseStatus.UNPARSED in (sa.status, sb.status):
        raw = json.dumps({"A": sa.raw, "B": sb.raw}, ensure_ascii=False) if (sa.raw or sb.raw) \
            else None
        return Verdict(preferred=None, status=ParseStatus.UNPARSED, margin=None,
                       score_a=sa.value, score_b=sb.value, raw=raw)
    margins = {k: float(sa.extras["dims"][k]) - float(sb.extras["dims"][k])
               for k in sa.extras.get("dims", {}) if k in sb.extras.get("dims", {})}
    raw = json.dumps({"A": sa.raw, "B": sb.raw}, ensure_ascii=False) if (sa.raw or sb.raw) \
        else None
    return Verdict.from_margin(sa.value - sb.value, score_a=sa.value, score_b=sb.value,
                               raw=raw, margins=margins)


__all__ = ["RunConfig", "RunOutcome", "execute", "swap_for", "shard_of", "verdict_from_scores",
           "point_items", "init_distributed", "asdict"]
