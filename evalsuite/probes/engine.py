"""Running probes: benchmark items -> probe cases -> the judge -> run store -> report card.

The same flow as :mod:`evalsuite.runner` and its pieces: items come from
:func:`runner.load_items`, the judge is asked through :func:`runner.prefetched` (media
preparation ahead in threads) and :func:`runner.run_batch` (a failing batch is retried item
by item), records go to a :class:`store.RunStore` and are read back with
:func:`store.read_records`, so an interrupted probe run resumes where it stopped. A score
judge scores each unique (prompt, media) once (:meth:`PointItem.key_for`), so the probes
share the scores of the benchmark media they all start from; a pairwise judge sees each case
in the order its seeded coin (:func:`runner.swap_for`) picked.

Everything is a function of the seed: the items sampled (a hash of seed and item id), the
presentation order, the edited media (stored under ``<run dir>/media`` by content hash).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalsuite.probes import DEFAULT_PROBES, PROBES
from evalsuite.probes.base import Case, Context, Outcome
from evalsuite.registry import BENCHMARKS, JUDGES
from evalsuite.runner import (Progress, RunIdentity, _write_config, load_items, prefetched,
                              run_batch, run_dir_for, use_pairwise, verdict_from_scores)
from evalsuite.store import RunStore, read_records
from evalsuite.types import PointItem, RunRecord


@dataclass
class ProbeConfig(RunIdentity):
    judge: str
    bench: str
    model: str | None = None
    model_path: str | None = None
    revision: str | None = None
    data_path: str | None = None
    split: str | None = None
    batch_size: int | None = None
    seed: int = 0
    mode: str = "auto"  # auto | pairwise | pointwise, as for `run`
    limit: int | None = None  # rows read from the benchmark (smoke tests)
    sample: int = 64  # items each probe starts from (a seeded sample)
    probes: list[str] = field(default_factory=lambda: list(DEFAULT_PROBES))
    out_dir: str = "runs"
    run_name: str | None = None
    device: str | None = None
    dtype: str | None = None
    prefetch_workers: int = 2
    retry_errors: bool = False  # on resume, judge again the cases that failed
    judge_options: dict[str, Any] = field(default_factory=dict)
    bench_options: dict[str, Any] = field(default_factory=dict)
    progress: bool = True

    # What changes a case's verdict. The probe list is not part of it: running more probes
    # later adds cases to the same store (and reuses the scores already there).
    _IDENTITY = ("judge", "bench", "model", "model_path", "revision", "data_path", "split",
                 "seed", "mode", "limit", "sample", "dtype", "judge_options", "bench_options")

    def run_dir(self) -> Path:
        return run_dir_for(self, f"probe-{self.judge}")


@dataclass
class ProbeOutcome:
    run_dir: Path
    card: dict[str, Any]
    computed: int  # judge calls made in this invocation (not read back from the store)


def sample_items(items: list, n: int, seed: int) -> list:
    """``n`` items in a seeded order that does not depend on the benchmark's row order."""
    key = lambda it: hashlib.sha256(f"{seed}:{it.item_id}".encode()).hexdigest()  # noqa: E731
    return sorted(items, key=key)[:n]


def execute_probes(cfg: ProbeConfig, judge=None, bench=None) -> ProbeOutcome:
    """Run (or resume) the probes of one judge on one benchmark's media; write the card."""
    from evalsuite.probes.card import build_card, write_card
    from evalsuite.probes.media_ops import MediaFolder

    for name in cfg.probes:
        PROBES.entry(name)  # fail on a typo before loading anything
    if judge is None:
        JUDGES.entry(cfg.judge)
    bench = bench or BENCHMARKS.create(cfg.bench, **cfg.bench_options)
    items, bad_rows = load_items(cfg, bench)
    judge = judge or JUDGES.create(cfg.judge, model=cfg.model, model_path=cfg.model_path,
                                   revision=cfg.revision, device=cfg.device, dtype=cfg.dtype,
                                   **cfg.judge_options)
    pairwise = use_pairwise(cfg, judge)
    run_dir = cfg.run_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_config(run_dir, cfg)
    ctx = Context(items=sample_items(items, cfg.sample, cfg.seed), pairwise=pairwise,
                  modality=bench.modality, judge_modalities=frozenset(judge.modalities),
                  seed=cfg.seed, media=MediaFolder(run_dir / "media"))
    plans: dict[str, Any] = {}
    for name in cfg.probes:
        probe = PROBES.create(name)
        reason = probe.skip_reason(ctx)
        plans[name] = (probe, None, reason) if reason else (probe, probe.build(ctx), None)
    # a pairwise judge sees one prompt: cases judging B under another need scores
    cases = [c for _, built, _ in plans.values() if built for c in built.cases
             if not (pairwise and c.prompt_b)]
    done = {k: r for k, r in read_records(run_dir).items()
            if not (cfg.retry_errors and r.error is not None)}
    batch_size = cfg.batch_size or judge.default_batch_size
    t0 = time.perf_counter()
    with RunStore(run_dir) as store:
        if pairwise:
            computed = _judge_pairs(cfg, judge, store, cases, done, batch_size)
        else:
            computed = _judge_points(cfg, judge, store, cases, done, batch_size)
    outcomes = case_outcomes(cases, read_records(run_dir), pairwise)
    card = build_card(cfg, bench, judge, pairwise, ctx, plans, outcomes,
                      bad_rows=len(bad_rows), seconds=time.perf_counter() - t0)
    write_card(run_dir, card)
    return ProbeOutcome(run_dir, card, computed)


def _judge_all(cfg: ProbeConfig, units: list, prepare, fn, record, store: RunStore,
               batch_size: int, what: str) -> int:
    """Prefetched batches -> the judge's batch function -> one record per unit."""
    if not units:
        return 0
    prog = Progress(cfg.progress, f"{cfg.judge} {what}", len(units))
    try:
        for batch in prefetched(units, prepare, batch_size, cfg.prefetch_workers):
            ok = [p for _, p, e in batch if e is None]
            outs = iter(run_batch(fn, ok) if ok else [])
            store.append(record(u, *((None, err) if err is not None else next(outs)))
                         for u, _, err in batch)
            prog.advance(len(batch))
    finally:
        prog.close()
    return len(units)


def _points_of(case: Case) -> list[PointItem]:
    p = case.pair
    return [PointItem(PointItem.key_for(prompt, cand, p.context), prompt, cand, p.context, p.task)
            for prompt, cand in ((p.prompt, p.a), (case.prompt_b or p.prompt, p.b))]


def _judge_points(cfg, judge, store, cases, done, batch_size) -> int:
    units: dict[str, PointItem] = {}
    for c in cases:
        for pt in _points_of(c):
            if ("point", pt.item_id) not in done:
                units.setdefault(pt.item_id, pt)
    if units:
        judge.load()
    return _judge_all(cfg, list(units.values()), judge.prepare_points, judge.score_batch,
                      lambda u, score, err: RunRecord(u.item_id, "point", score=score, error=err),
                      store, batch_size, "scoring")


def _judge_pairs(cfg, judge, store, cases, done, batch_size) -> int:
    units = [c for c in cases if ("pair", c.case_id) not in done]
    if units:
        judge.load()

    def record(c: Case, v, err):
        if v is not None and c.swap:
            v = v.flipped()  # back to the logical order, as the runner does
        return RunRecord(c.case_id, "pair", verdict=v if err is None else None, error=err,
                         swapped=c.swap)
    return _judge_all(cfg, units, lambda cs: judge.prepare_pairs([c.shown() for c in cs]),
                      judge.compare_batch, record, store, batch_size, "probing")


def case_outcomes(cases: list[Case], records: dict, pairwise: bool) -> dict[str, Outcome]:
    """Each case's verdict in logical order (scores -> margin for a score judge)."""
    out: dict[str, Outcome] = {}
    for c in cases:
        if pairwise:
            rec = records.get(("pair", c.case_id))
            if rec is None:
                out[c.case_id] = Outcome(None, "not judged (run incomplete)")
            else:
                out[c.case_id] = Outcome(rec.verdict, rec.error)
            continue
        recs = [records.get(("point", pt.item_id)) for pt in _points_of(c)]
        problems = [f"{side}: {r.error if r else 'not scored (run incomplete)'}"
                    for side, r in zip("AB", recs) if r is None or r.error is not None]
        out[c.case_id] = (Outcome(None, "; ".join(problems)) if problems
                          else Outcome(verdict_from_scores(recs[0].score, recs[1].score)))
    return out
