"""Running probes: benchmark items -> probe cases -> the judge -> run store -> report card.

The same flow as :mod:`evalsuite.runner`: items come from :func:`runner.load_items`, the
judge is asked through the executor's stages (:mod:`evalsuite.executor`: media preparation
ahead in threads, a failing batch retried item by item), records go to a
:class:`store.RunStore` and are read back with :func:`store.read_records`, so an
interrupted probe run resumes where it stopped. A score
judge scores each unique (prompt, media) once (:meth:`PointItem.key_for`), so the probes
share the scores of the benchmark media they all start from; a pairwise judge sees each case
in the order its seeded coin (:func:`runner.swap_for`) picked.

Everything is a function of the seed: the items sampled (a hash of seed and item id), the
presentation order, the edited media (stored under ``<run dir>/media`` by content hash).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalsuite.executor import Session, Stage, write_config
from evalsuite.probes import PROBES
from evalsuite.probes.base import Case, Context, Outcome
from evalsuite.registry import BENCHMARKS, JUDGES
from evalsuite.results import verdict_from_scores
from evalsuite.runconfig import ProbeConfig  # noqa: F401 - where callers find it
from evalsuite.runner import load_items, use_pairwise
from evalsuite.store import RunStore, read_records
from evalsuite.types import PointItem, RunRecord


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
    # The batch size is part of the identity: the default, once resolved, names the run too.
    cfg = dataclasses.replace(cfg, batch_size=cfg.batch_size or judge.default_batch_size)
    run_dir = cfg.run_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    write_config(run_dir, cfg)
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
    batch_size = cfg.batch_size
    t0 = time.perf_counter()
    # Probes are not sharded: one process, the executor's session on rank 0's store.
    session = Session(run_dir, read_records(run_dir), retry_errors=cfg.retry_errors,
                      workers=cfg.prefetch_workers, progress=cfg.progress)
    with RunStore(run_dir) as store:
        session.store = store
        session.run(pair_stage(cfg, judge, session, cases, batch_size) if pairwise
                    else point_stage(cfg, judge, session, cases, batch_size))
    outcomes = case_outcomes(cases, read_records(run_dir), pairwise)
    card = build_card(cfg, bench, judge, pairwise, ctx, plans, outcomes,
                      bad_rows=len(bad_rows), seconds=time.perf_counter() - t0)
    write_card(run_dir, card)
    return ProbeOutcome(run_dir, card, session.computed)


def _points_of(case: Case) -> list[PointItem]:
    p = case.pair
    return [PointItem(PointItem.key_for(prompt, cand, p.context), prompt, cand, p.context, p.task)
            for prompt, cand in ((p.prompt, p.a), (case.prompt_b or p.prompt, p.b))]


def point_stage(cfg, judge, session: Session, cases: list[Case], batch_size: int) -> Stage:
    """Each unique (prompt, media) of the cases, scored once."""
    units: dict[str, PointItem] = {}
    for c in cases:
        for pt in _points_of(c):
            units.setdefault(pt.item_id, pt)
    todo = session.todo("point", list(units))

    def finish(results, dt):
        return [RunRecord(u.item_id, "point", score=score, error=err)
                for u, score, err in results]
    return Stage(f"{cfg.judge} scoring", [units[k] for k in todo], judge.score_batch, finish,
                 batch_size, prepare=judge.prepare_points, load=judge.load)


def pair_stage(cfg, judge, session: Session, cases: list[Case], batch_size: int) -> Stage:
    """Each case in the order its seeded coin picked, its verdict mapped back."""
    by_id = {c.case_id: c for c in cases}
    todo = session.todo("pair", [c.case_id for c in cases])

    def finish(results, dt):
        recs = []
        for c, v, err in results:
            if v is not None and c.swap:
                v = v.flipped()  # back to the logical order, as the runner does
            recs.append(RunRecord(c.case_id, "pair", verdict=v if err is None else None,
                                  error=err, swapped=c.swap))
        return recs
    return Stage(f"{cfg.judge} probing", [by_id[i] for i in todo], judge.compare_batch, finish,
                 batch_size, prepare=lambda cs: judge.prepare_pairs([c.shown() for c in cs]),
                 load=judge.load)


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
