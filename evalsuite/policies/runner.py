"""Running a policy on a capability benchmark: the policy's units of work on the executor.

Same run directory layout and guarantees as ``evalsuite run`` (:mod:`evalsuite.executor`):
``config.json`` (refuses a different configuration), the run lock, the append-only fsynced
run store (:mod:`evalsuite.store`, records of kind ``answer`` / ``gen`` / ``eval``),
sharding by item id, prefetching and batch-then-one-by-one error isolation,
``results.json`` (``policy`` instead of ``judge``; the same top-level ``benchmark`` /
``counts`` / ``metrics`` keys), ``samples.jsonl``, ``run.json``.

Multiple choice: answer (records ``answer``: raw text + extracted letter) -> metrics.
Generation: generate (``samples/`` + ``manifest.jsonl``: prompt, seed, path; a sample already
in the manifest with its file present is never regenerated) -> score every sample with the
benchmark's scorer (records ``eval``) -> metrics.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from evalsuite.executor import (Outcome, Session, Stage, distributed, execute_run, per_item,
                                write_config)
from evalsuite.policies.base import (GenItem, GenUnit, McqItem, Metric, add_cis,
                                     sample_seed)
from evalsuite.registry import BENCHMARKS, POLICIES
from evalsuite.runconfig import LOCATION_OPTIONS, PolicyRunConfig  # noqa: F401
from evalsuite.runconfig import safe_name as _safe
from evalsuite.store import repair_tail
from evalsuite.types import ItemError, ParseStatus, RunRecord, Score


PolicyOutcome = Outcome  # the policy runner's name for the executor's outcome


def execute_policy(cfg: PolicyRunConfig, policy=None, bench=None) -> PolicyOutcome:
    """Run (or resume) one policy x capability-benchmark evaluation on the executor."""
    if policy is None:
        POLICIES.entry(cfg.policy)
    bench = bench or BENCHMARKS.create(cfg.bench, **cfg.bench_options)
    if not hasattr(bench, "load_items"):
        raise ValueError(f"{cfg.bench} is a preference benchmark: run it with `evalsuite run`")
    loaded = bench.load_items(cfg.data_path, cfg.split)
    if cfg.limit is not None:
        loaded = loaded[:cfg.limit]
    items = [x for x in loaded if not isinstance(x, ItemError)]
    bad = [x for x in loaded if isinstance(x, ItemError)]
    policy = policy or POLICIES.create(cfg.policy, model=cfg.model, model_path=cfg.model_path,
                                       revision=cfg.revision, device=cfg.device,
                                       dtype=cfg.dtype, **cfg.policy_options)
    if policy.task != bench.policy_task:
        raise ValueError(f"{cfg.bench} needs a {bench.policy_task} policy; {cfg.policy} is "
                         f"a {policy.task} policy")
    if hasattr(bench, "preflight"):
        bench.preflight()  # a missing scorer dependency fails before any generation
    # The batch size is part of the identity: the default, once resolved, names the run too.
    cfg = dataclasses.replace(cfg, batch_size=cfg.batch_size or policy.default_batch_size)
    run_dir = cfg.run_dir()
    if hasattr(bench, "run_policy"):  # drives its own evaluation harness (lmms-eval tasks)
        run_dir.mkdir(parents=True, exist_ok=True)
        write_config(run_dir, cfg)
        return bench.run_policy(cfg, policy, run_dir)
    batch_size = cfg.batch_size
    first_kind = "answer" if bench.kind == "mcq" else "gen"

    def work(session: Session) -> None:
        bad_todo = set(session.todo(first_kind, [e.item_id for e in bad]))
        session.append(RunRecord(e.item_id, first_kind, error=f"bad row: {e.reason}")
                       for e in bad if e.item_id in bad_todo)
        if bench.kind == "mcq":
            by_id = {it.item_id: it for it in items}
            session.run(answer_stage(cfg, policy, bench, [by_id[i] for i in session.todo(
                "answer", list(by_id))], batch_size))
        else:
            gen_units = plan_units(cfg, bench, items)
            _generate(cfg, policy, session, gen_units, batch_size)
            _score(cfg, bench, session, gen_units)

    def finalize(records):
        results = finalize_policy(cfg, bench, policy, items, bad, records, run_dir)
        return results, results["counts"]["errors"], results["counts"]["units"]

    with distributed():
        return execute_run(cfg, run_dir, f"{cfg.policy} on {cfg.bench}", work, finalize,
                           batch_size)


# --- multiple choice -------------------------------------------------------------------------

def answer_stage(cfg, policy, bench, units: list[McqItem], batch_size: int) -> Stage:
    """Answer each question; the benchmark extracts the letter."""
    def finish(results, dt):
        recs = []
        for it, raw, err in results:
            if err is not None:
                recs.append(RunRecord(it.item_id, "answer", error=err, seconds=dt))
                continue
            r = bench.extract(raw, it)
            recs.append(RunRecord(it.item_id, "answer", seconds=dt,
                                  score=Score(value=None, status=r.status, raw=raw,
                                              extras={"letter": r.letter, "rule": r.rule})))
        return recs
    return Stage(f"{cfg.policy} answering", units, policy.answer_batch, finish, batch_size,
                 prepare=per_item(policy.prepare_mcq), load=policy.load)


# --- generation ------------------------------------------------------------------------------

def plan_units(cfg: PolicyRunConfig, bench, items: list[GenItem]) -> list[GenUnit]:
    n = cfg.samples_per_prompt or bench.samples_per_prompt
    return [GenUnit(it, k, sample_seed(cfg.seed, it.item_id, k)) for it in items
            for k in range(n)]


def sample_relpath(unit: GenUnit, ext: str) -> str:
    template = unit.item.meta.get("sample_path")
    if template:  # a benchmark's own output layout (GenEval: <index>/samples/<k:04d>.png)
        return template.format(k=unit.k, ext=ext)
    cat = _safe(unit.item.category or "all")
    return f"samples/{cat}/{_safe(unit.item.item_id)}_{unit.k}.{ext}"


def read_manifest(run_dir: Path) -> dict[str, dict[str, Any]]:
    """unit id -> manifest row, for rows whose file exists (a partial last line is ignored)."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(run_dir.glob("manifest*.jsonl")):
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if not line.endswith("\n"):
                    break
                row = json.loads(line)
                if (run_dir / row["path"]).is_file():
                    out[row["unit_id"]] = row
    return out


def _save_sample(run_dir: Path, unit: GenUnit, sample: Any) -> str:
    import numpy as np

    if isinstance(sample, np.ndarray):  # a video (T, H, W, 3) uint8
        rel = sample_relpath(unit, "mp4")
        dest = run_dir / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part.mp4")
        write_video(tmp, sample)
    else:
        rel = sample_relpath(unit, "png")
        dest = run_dir / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part.png")
        sample.save(tmp, format="PNG")
    tmp.replace(dest)  # atomic: a listed file is always complete
    return rel


def write_video(path: Path, frames, fps: int = 8) -> None:
    import av
    import numpy as np

    frames = np.asarray(frames, dtype=np.uint8)
    h, w = frames.shape[1] - frames.shape[1] % 2, frames.shape[2] - frames.shape[2] % 2
    with av.open(str(path), mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for f in frames:
            for pkt in stream.encode(av.VideoFrame.from_ndarray(
                    np.ascontiguousarray(f[:h, :w]), format="rgb24")):
                out.mux(pkt)
        for pkt in stream.encode():
            out.mux(pkt)


def _generate(cfg, policy, session: Session, units: list[GenUnit], batch_size: int) -> None:
    run_dir, rank = session.run_dir, session.rank
    manifest = read_manifest(run_dir)
    # The manifest is the source of truth for finished samples: one listed there (file
    # present) is never regenerated, and gets its store record if a crash lost it.
    mine = set(session.todo("gen", [u.unit_id for u in units]))
    session.append(RunRecord(u.unit_id, "gen", score=Score(
        value=None, extras={"path": manifest[u.unit_id]["path"], "seed": u.seed}))
        for u in units if u.unit_id in manifest and u.unit_id in mine)
    pending = [u for u in units if u.unit_id not in manifest and u.unit_id in mine]
    if not pending:
        return
    name = "manifest.jsonl" if rank == 0 else f"manifest-r{rank}.jsonl"
    repair_tail(run_dir / name)
    with open(run_dir / name, "a", encoding="utf-8") as mf:
        def finish(results, dt):
            recs, lines = [], []
            for u, sample, err in results:
                if err is None:
                    try:
                        rel = _save_sample(run_dir, u, sample)
                    except Exception as e:  # noqa: BLE001 - this sample's error
                        err = f"{type(e).__name__}: {e}"
                if err is not None:
                    recs.append(RunRecord(u.unit_id, "gen", error=err, seconds=dt))
                    continue
                lines.append({"unit_id": u.unit_id, "prompt_id": u.item.item_id,
                              "prompt": u.item.prompt, "category": u.item.category,
                              "k": u.k, "seed": u.seed, "path": rel})
                recs.append(RunRecord(u.unit_id, "gen", seconds=dt,
                                      score=Score(value=None, extras={"path": rel,
                                                                      "seed": u.seed})))
            if lines:  # the manifest first: a sample listed there is never made again
                mf.write("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))
                mf.flush()
                os.fsync(mf.fileno())
            return recs
        session.run(Stage(f"{cfg.policy} generating", pending, policy.generate_batch, finish,
                          batch_size, prefetch=False, load=policy.load))


def _score(cfg, bench, session: Session, units: list[GenUnit]) -> None:
    run_dir = session.run_dir
    manifest = read_manifest(run_dir)
    ids = set(session.todo("eval", [u.unit_id for u in units if u.unit_id in manifest]))
    pending = [u for u in units if u.unit_id in ids]
    if not pending:
        return
    from evalsuite.judges.base import default_device
    device = cfg.device or default_device()
    scorer = bench.scorer(device, cfg.dtype or ("bfloat16" if device.startswith("cuda")
                                                else "float32"))

    def prep(u: GenUnit):
        return scorer.prepare(u, run_dir / manifest[u.unit_id]["path"])

    def finish(results, dt):
        return [RunRecord(u.unit_id, "eval", score=score, error=err, seconds=dt)
                for u, score, err in results]
    session.run(Stage(f"{cfg.bench} scoring", pending, scorer.score_batch, finish,
                      cfg.score_batch_size, prepare=per_item(prep), load=scorer.load))


# --- results ---------------------------------------------------------------------------------

def finalize_policy(cfg, bench, policy, items, bad, records, run_dir: Path) -> dict[str, Any]:
    from evalsuite.results import SCHEMA_VERSION, _write_json, git_hash, versions

    m = bench.metrics(items, records)
    add_cis(m["metrics"])  # percentile bootstrap over each metric's units, seeded
    for group in m.get("breakdown", {}).values():
        add_cis(group)
    errors: dict[str, str] = {e.item_id: f"bad row: {e.reason}" for e in bad}
    if bench.kind == "mcq":
        units = [it.item_id for it in items]
        for i in units:
            r = records.get(("answer", i))
            if r is None:
                errors[i] = "not answered (run incomplete)"
            elif r.error is not None:
                errors[i] = r.error
        answered = [records[("answer", i)] for i in units if ("answer", i) in records
                    and records[("answer", i)].error is None]
        counts = {"items": len(items) + len(bad), "units": len(items) + len(bad),
                  "answered": len(answered), "errors": len(errors),
                  "unparsed": sum(r.score.status == ParseStatus.UNPARSED for r in answered)}
    else:
        gen_units = plan_units(cfg, bench, items)
        for u in gen_units:
            g, e = records.get(("gen", u.unit_id)), records.get(("eval", u.unit_id))
            if g is None:
                errors[u.unit_id] = "not generated (run incomplete)"
            elif g.error is not None:
                errors[u.unit_id] = f"generation: {g.error}"
            elif e is None:
                errors[u.unit_id] = "not scored (run incomplete)"
            elif e.error is not None:
                errors[u.unit_id] = f"scoring: {e.error}"
        counts = {"items": len(items) + len(bad), "units": len(gen_units) + len(bad),
                  "generated": sum(1 for u in gen_units if (g := records.get(("gen", u.unit_id)))
                                   and g.error is None),
                  "scored": sum(1 for u in gen_units if (e := records.get(("eval", u.unit_id)))
                                and e.error is None),
                  "errors": len(errors),
                  "unparsed": sum(1 for u in gen_units if (e := records.get(("eval", u.unit_id)))
                                  and e.score is not None
                                  and e.score.status == ParseStatus.UNPARSED),
                  "samples_per_prompt": cfg.samples_per_prompt or bench.samples_per_prompt}
    results: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "policy": policy.info(),
        "benchmark": bench.info(cfg.data_path, cfg.split),
        "run": cfg.recorded(batch_size=cfg.batch_size or policy.default_batch_size),
        "versions": versions(), "git": git_hash(), "counts": counts,
        "metrics": m["metrics"], "breakdown": m.get("breakdown", {}),
    }
    for k, v in m.items():
        if k not in ("metrics", "breakdown"):
            results[k] = v
    results["errors_sample"] = [{"item_id": i, "error": e} for i, e in sorted(errors.items())[:20]]
    _write_json(run_dir / "results.json", results)
    values = samples_values(m["metrics"])
    settings = policy.info() if cfg.save_inputs else None  # model, dtype, device, options
    _write_samples(run_dir / "samples.jsonl", cfg, bench, items, bad, records, errors, values,
                   settings)
    return results


def samples_values(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """unit id -> {metric: its value, or [numerator, denominator] for a pooled ratio}: what
    ``regress`` / ``compare`` pair item by item."""
    out: dict[str, dict[str, Any]] = {}
    for name, m in metrics.items():
        if isinstance(m, Metric) and m.units is not None:
            for uid, (num, den) in m.units.items():
                out.setdefault(uid, {})[name] = num if den == 1.0 else [num, den]
    return out


def _write_samples(path: Path, cfg, bench, items, bad, records, errors, values,
                   settings: dict[str, Any] | None) -> None:
    from evalsuite.results import media_identity
    from evalsuite.store import unique_tmp

    tmp = unique_tmp(path)
    with open(tmp, "w", encoding="utf-8") as fh:
        if bench.kind == "mcq":
            for it in items:
                r = records.get(("answer", it.item_id))
                ok = r is not None and r.error is None
                letter = r.score.extras.get("letter") if ok else None
                row = {
                    "item_id": it.item_id, "group": it.group, "category": it.category,
                    "answer": it.answer, "prediction": letter,
                    "correct": letter == it.answer if ok else None,
                    "status": r.score.status.value if ok else "error",
                    "rule": r.score.extras.get("rule") if ok else None,
                    "raw": r.score.raw if ok else None, "error": errors.get(it.item_id),
                    "values": values.get(it.item_id, {}), "meta": it.meta}
                if settings is not None:
                    row["input"] = {"prompt": it.prompt,
                                    "media": [media_identity(x) for x in it.media],
                                    "frames": asdict(it.frames) if it.frames else None}
                    row["settings"] = settings
                fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        else:
            for u in plan_units(cfg, bench, items):
                g, e = records.get(("gen", u.unit_id)), records.get(("eval", u.unit_id))
                row = {
                    "item_id": u.unit_id, "prompt_id": u.item.item_id, "prompt": u.item.prompt,
                    "category": u.item.category, "seed": u.seed,
                    "path": g.score.extras.get("path") if g and g.score else None,
                    "scores": e.score.extras if e and e.score else None,
                    "error": errors.get(u.unit_id), "values": values.get(u.unit_id, {})}
                if settings is not None:
                    row["input"] = {"prompt": u.item.prompt, "seed": u.seed, "k": u.k}
                    row["settings"] = settings
                fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        for e in bad:  # a row that failed to load can still count (MMBench: a wrong copy)
            fh.write(json.dumps({"item_id": e.item_id, "status": "error",
                                 "error": f"bad row: {e.reason}",
                                 "values": values.get(e.item_id, {}), "meta": e.meta},
                                ensure_ascii=False, default=str) + "\n")
    tmp.replace(path)
