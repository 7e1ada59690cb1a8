"""Join run-store records onto benchmark items; write results.json and samples.jsonl.

``results.json`` is a pure function of the run's configuration and records (no timestamps,
no timings: those go to ``run.json``), so a resumed run produces a byte-identical file.
"""

from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path
from typing import Any

from evalsuite.redact import redact_obj
from evalsuite.types import ItemError, PairItem, ParseStatus, RunRecord, Verdict

SCHEMA_VERSION = 1


def pair_verdicts(items: list[PairItem], records: dict[tuple[str, str], RunRecord],
                  pairwise: bool) -> tuple[dict[str, Verdict], dict[str, str], dict[str, RunRecord]]:
    """(verdict per judged pair, error per failed pair, pair record per pairwise item)."""
    from evalsuite.runner import point_items, verdict_from_scores

    verdicts, errors, pair_recs = {}, {}, {}
    if pairwise:
        for it in items:
            rec = records.get(("pair", it.item_id))
            if rec is None:
                errors[it.item_id] = "not judged (run incomplete)"
            elif rec.error is not None:
                errors[it.item_id] = rec.error
            else:
                verdicts[it.item_id] = rec.verdict
                pair_recs[it.item_id] = rec
        return verdicts, errors, pair_recs
    _, keys = point_items(items)
    for it in items:
        ka, kb = keys[it.item_id]
        ra, rb = records.get(("point", ka)), records.get(("point", kb))
        problems = [f"{side}: {r.error if r else 'not scored (run incomplete)'}"
                    for side, r in (("A", ra), ("B", rb)) if r is None or r.error is not None]
        if problems:
            errors[it.item_id] = "; ".join(problems)
        else:
            verdicts[it.item_id] = verdict_from_scores(ra.score, rb.score)
    return verdicts, errors, pair_recs


def versions() -> dict[str, str | None]:
    import importlib.metadata as md
    out: dict[str, str | None] = {"python": platform.python_version()}
    for pkg in ("evalsuite", "torch", "transformers", "open_clip_torch", "datasets"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def git_hash() -> str | None:
    try:
        root = Path(__file__).resolve().parent.parent
        r = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                           text=True, timeout=5)
        return r.stdout.strip() or None if r.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def finalize(cfg, bench, judge, items: list[PairItem], bad_rows: list[ItemError],
             records: dict[tuple[str, str], RunRecord], pairwise: bool, run_dir: Path
             ) -> dict[str, Any]:
    verdicts, errors, pair_recs = pair_verdicts(items, records, pairwise)
    for e in bad_rows:
        errors[e.item_id] = f"bad row: {e.reason}"
    m = bench.metrics(items, verdicts)
    statuses = [v.status for v in verdicts.values()]
    counts = {
        "items": len(items) + len(bad_rows), "judged": len(verdicts), "errors": len(errors),
        "unparsed": sum(s == ParseStatus.UNPARSED for s in statuses),
        "judge_ties": sum(s == ParseStatus.TIE for s in statuses),
        "human_ties": sum(it.label.sign == 0 for it in items),
    }
    if not pairwise:
        counts["unique_points"] = sum(1 for kind, _ in records if kind == "point")
    results: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "judge": judge.info(),
        "benchmark": bench.info(cfg.data_path, cfg.split),
        "run": {"fingerprint": cfg.fingerprint(), "mode": "pairwise" if pairwise else "pointwise",
                "seed": cfg.seed, "position_swap": "seeded by item id" if pairwise else "n/a",
                "both_orders": cfg.both_orders, "batch_size": cfg.batch_size or
                judge.default_batch_size, "limit": cfg.limit},
        "versions": versions(),
        "git": git_hash(),
        "counts": counts,
        "metrics": m["metrics"],
        "breakdown": m.get("breakdown", {}),
    }
    for k, v in m.items():
        if k not in ("metrics", "breakdown"):
            results[k] = v
    if pairwise and cfg.both_orders:
        pairs = [r for r in pair_recs.values() if r.verdict_other_order is not None]
        agree = sum(r.verdict.preferred == r.verdict_other_order.preferred for r in pairs)
        results["order_consistency"] = {"value": agree / len(pairs) if pairs else None,
                                        "n": len(pairs)}
    errs = sorted(errors.items())
    results["errors_sample"] = [{"item_id": i, "error": e} for i, e in errs[:20]]
    _write_json(run_dir / "results.json", results)
    _write_samples(run_dir / "samples.jsonl", items, bad_rows, verdicts, errors, pair_recs)
    return results


def _write_json(path: Path, obj: Any) -> None:
    """Atomic (a temp file of this process and thread, then a rename), secrets masked."""
    from evalsuite.runner import unique_tmp
    tmp = unique_tmp(path)
    tmp.write_text(json.dumps(redact_obj(obj), indent=2, sort_keys=False, ensure_ascii=False,
                              default=str) + "\n")
    tmp.replace(path)


def _write_samples(path: Path, items, bad_rows, verdicts, errors, pair_recs) -> None:
    from evalsuite.runner import unique_tmp
    tmp = unique_tmp(path)
    with open(tmp, "w", encoding="utf-8") as fh:
        for it in items:
            v = verdicts.get(it.item_id)
            rec = pair_recs.get(it.item_id)
            row = {
                "item_id": it.item_id, "category": it.category, "label": it.label.value,
                "raw_label": it.raw_label, "labels": {k: x.value for k, x in it.labels.items()},
                "model_a": it.a.model, "model_b": it.b.model,
                "preferred": v.preferred if v else None,
                "status": v.status.value if v else "error",
                "margin": v.margin if v else None,
                "score_a": v.score_a if v else None, "score_b": v.score_b if v else None,
                "margins": v.margins if v else {},
                "raw": v.raw if v else None,
                "swapped": rec.swapped if rec else None,
                "other_order": rec.verdict_other_order.preferred
                if rec and rec.verdict_other_order else None,
                "error": errors.get(it.item_id),
                "meta": it.meta,
            }
            fh.write(json.dumps(redact_obj(row), ensure_ascii=False, default=str) + "\n")
        for e in bad_rows:
            fh.write(json.dumps(redact_obj({"item_id": e.item_id, "status": "error",
                                            "error": f"bad row: {e.reason}", "meta": e.meta}),
                                ensure_ascii=False, default=str) + "\n")
    tmp.replace(path)
