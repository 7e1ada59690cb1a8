"""The judge runner: benchmark items -> batches -> judge -> run store -> results.

The judge's units of work on the executor (:mod:`evalsuite.executor`, which owns batching,
prefetch, the run store, resume, sharding and the run lock). One straight flow:

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
from operator import attrgetter
from dataclasses import asdict  # noqa: F401 - callers import it from here

from evalsuite.executor import (Outcome, Session, Stage, dist_info, distributed,  # noqa: F401
                                execute_run, init_distributed, per_item, prefetched,
                                rare_full_collections,
                                read_run_meta, run_batch, shard_of)
from evalsuite.registry import BENCHMARKS, JUDGES
from evalsuite.results import point_items, verdict_from_scores  # noqa: F401
from evalsuite.runconfig import RunConfig  # noqa: F401 - where callers find it
from evalsuite.types import ItemError, PairItem, PointItem, RunRecord, Verdict


RunOutcome = Outcome  # the judge runner's name for the executor's outcome


def swap_for(item_id: str, seed: int) -> bool:
    """Whether to present a pair as (B, A): a coin seeded by item id, same on every machine."""
    return hashlib.sha256(f"{seed}:{item_id}".encode()).digest()[0] & 1 == 1


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


def execute(cfg: RunConfig, judge=None, bench=None) -> RunOutcome:
    """Run (or resume) one judge x benchmark evaluation.

    Under torchrun / ``accelerate launch`` (WORLD_SIZE > 1) each process judges its shard of
    the items (by a hash of the item id), appends to its own ``records-r{rank}.jsonl``, and
    after a barrier rank 0 reads every rank's records and writes the results once. Records
    of all ranks are read on resume, so a run started on N processes resumes on M.
    """
    with distributed(), rare_full_collections():  # the items too, not only the run
        return _execute(cfg, judge, bench)


def _execute(cfg: RunConfig, judge=None, bench=None) -> RunOutcome:
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

    def work(session: Session) -> None:
        # Rows that could not become items are recorded once, as errors.
        bad_todo = set(session.todo("pair", [e.item_id for e in bad_rows]))
        session.append(RunRecord(e.item_id, "pair", error=f"bad row: {e.reason}")
                       for e in bad_rows if e.item_id in bad_todo)
        unit_id = attrgetter("item_id")
        if pairwise:
            session.run(pair_stage(cfg, judge, session.pending("pair", items, unit_id)))
        else:
            points, _ = point_items(items)
            session.run(point_stage(cfg, judge, session.pending("point", points, unit_id)))

    def finalize_run(records):
        from evalsuite.results import finalize
        results = finalize(cfg, bench, judge, items, bad_rows, records, pairwise, run_dir)
        return results, results["counts"]["errors"], results["counts"]["items"]

    run_dir = cfg.run_dir()
    # Pair records are keyed by item id: read back, they share the items' id strings.
    return execute_run(cfg, run_dir, f"{cfg.judge} on {cfg.bench}", work, finalize_run,
                       cfg.batch_size, unit_ids=(lambda: (it.item_id for it in items))
                       if pairwise else None)


def point_stage(cfg: RunConfig, judge, units: list[PointItem]) -> Stage:
    """Score each unique (prompt, media) once."""
    def finish(results, dt):
        return [RunRecord(u.item_id, "point", score=score, error=err, seconds=dt)
                for u, score, err in results]
    return Stage(f"{cfg.judge} scoring", units, judge.score_batch, finish, cfg.batch_size,
                 prepare=judge.prepare_points, load=judge.load)


def pair_stage(cfg: RunConfig, judge, units: list[PairItem]) -> Stage:
    """Each pair in the presentation order its seeded swap chooses (``--both-orders``: both,
    and one record once both are judged)."""
    plan = []  # (item, swapped): the presented item is made when its batch is prepared
    for it in units:
        sw = swap_for(it.item_id, cfg.seed)
        plan.append((it, sw))
        if cfg.both_orders:
            plan.append((it, not sw))
    pending: dict[str, list[tuple[bool, Verdict | None, str | None]]] = {}
    per_item = 2 if cfg.both_orders else 1

    def finish(results, dt):
        recs = []
        for (it, sw), v, err in results:
            if err is None and v is not None and sw:
                v = v.flipped()  # back to the original A/B order
            pending.setdefault(it.item_id, []).append((sw, v, err))
            if len(pending[it.item_id]) == per_item:
                recs.append(_pair_record(it, pending.pop(it.item_id), cfg, dt * per_item))
        return recs

    return Stage(f"{cfg.judge} judging", plan, judge.compare_batch, finish, cfg.batch_size,
                 prepare=lambda us: judge.prepare_pairs([it.swapped() if sw else it
                                                         for it, sw in us]), load=judge.load,
                 advance=lambda batch, recs: len(recs))


def _pair_record(it: PairItem, outs: list[tuple[bool, Verdict | None, str | None]],
                 cfg: RunConfig, seconds: float) -> RunRecord:
    # Results come back in plan order: the seeded presentation first, then (--both-orders)
    # the other one.
    primary = outs[0]
    other = outs[1] if len(outs) > 1 else None
    err = primary[2] or (other[2] if other else None)
    return RunRecord(it.item_id, "pair", verdict=primary[1] if err is None else None,
                     error=err, swapped=primary[0],
                     verdict_other_order=other[1] if (other and err is None) else None,
                     seconds=seconds)


__all__ = ["RunConfig", "RunOutcome", "execute", "swap_for", "shard_of", "verdict_from_scores",
           "point_items", "init_distributed", "load_items", "use_pairwise", "prefetched",
           "per_item", "run_batch", "dist_info", "read_run_meta"]
