"""Join run-store records onto benchmark items; write results.json and samples.jsonl.

``results.json`` is a pure function of the run's configuration and records (no timestamps,
no timings: those go to ``run.json``), so a resumed run produces a byte-identical file.
With ``--save-inputs`` each sample also records the request behind its verdict
(:func:`judge_input`): messages, media identities and decoding settings.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any

from evalsuite.redact import dump_lines, redact_obj
from evalsuite.store import RecordTable, unique_tmp
from evalsuite.types import (ItemError, MediaRef, PairItem, ParseStatus, PointItem, RunRecord,
                             Score, Verdict)

SCHEMA_VERSION = 1


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



def pair_verdicts(items: list[PairItem], records: RecordTable,
                  pairwise: bool) -> tuple[dict[str, Verdict], dict[str, str]]:
    """(verdict per judged pair, error per failed pair)."""
    verdicts, errors = {}, {}
    if pairwise:
        get = records.of("pair").get
        for it in items:
            rec = get(it.item_id)
            if rec is None:
                errors[it.item_id] = "not judged (run incomplete)"
            elif rec.error is not None:
                errors[it.item_id] = rec.error
            else:
                verdicts[it.item_id] = rec.verdict
        return verdicts, errors
    _, keys = point_items(items)
    points = records.of("point")
    for it in items:
        ka, kb = keys[it.item_id]
        ra, rb = points.get(ka), points.get(kb)
        problems = [f"{side}: {r.error if r else 'not scored (run incomplete)'}"
                    for side, r in (("A", ra), ("B", rb)) if r is None or r.error is not None]
        if problems:
            errors[it.item_id] = "; ".join(problems)
        else:
            verdicts[it.item_id] = verdict_from_scores(ra.score, rb.score)
    return verdicts, errors


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
             records: RecordTable, pairwise: bool, run_dir: Path) -> dict[str, Any]:
    verdicts, errors = pair_verdicts(items, records, pairwise)
    for e in bad_rows:
        errors[e.item_id] = f"bad row: {e.reason}"

    pair_records = records.of("pair")

    def pair_record(item_id: str) -> RunRecord | None:
        """The record of a judged pair (pairwise runs): its swap and other-order verdict."""
        return pair_records.get(item_id) if pairwise and item_id in verdicts else None

    inputs = (lambda it, rec: judge_input(judge, it, pairwise, rec)) if cfg.save_inputs \
        else None
    # samples.jsonl does not depend on the metrics: it is written while they are computed
    # (their bootstrap is mostly numpy work that leaves the interpreter to the writer).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="metrics") as pool, \
            quick_handoffs():
        pending = pool.submit(bench.metrics, items, verdicts)
        _write_samples(run_dir / "samples.jsonl", items, bad_rows, verdicts, errors,
                       pair_record, inputs)
        m = pending.result()
    statuses = [v.status for v in verdicts.values()]
    counts = {
        "items": len(items) + len(bad_rows), "judged": len(verdicts), "errors": len(errors),
        "unparsed": sum(s == ParseStatus.UNPARSED for s in statuses),
        "judge_ties": sum(s == ParseStatus.TIE for s in statuses),
        "human_ties": sum(it.label.sign == 0 for it in items),
    }
    if not pairwise:
        counts["unique_points"] = len(records.of("point"))
    results: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "judge": judge.info(),
        "benchmark": bench.info(cfg.data_path, cfg.split),
        "run": cfg.recorded(mode="pairwise" if pairwise else "pointwise",
                            position_swap="seeded by item id" if pairwise else "n/a",
                            batch_size=cfg.batch_size or judge.default_batch_size),
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
        pairs = [r for r in map(pair_record, verdicts) if r.verdict_other_order is not None]
        agree = sum(r.verdict.preferred == r.verdict_other_order.preferred for r in pairs)
        results["order_consistency"] = {"value": agree / len(pairs) if pairs else None,
                                        "n": len(pairs)}
    errs = sorted(errors.items())
    results["errors_sample"] = [{"item_id": i, "error": e} for i, e in errs[:20]]
    _write_json(run_dir / "results.json", results)
    return results


@contextmanager
def quick_handoffs(interval_s: float = 0.001) -> Iterator[None]:
    """Two threads, one mostly in numpy: when a numpy call returns, its thread waits for
    the interpreter lock until the other gives it up, at most the switch interval (5 ms by
    default) - for each of the bootstrap's thousands of calls. A 1 ms interval for the
    duration (measured: about a fifth off the two together at a million pairs)."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(min(old, interval_s))
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def _write_json(path: Path, obj: Any) -> None:
    """Atomic (a temp file of this process and thread, then a rename), secrets masked."""
    tmp = unique_tmp(path)
    tmp.write_text(json.dumps(redact_obj(obj), indent=2, sort_keys=False, ensure_ascii=False,
                              default=str) + "\n")
    tmp.replace(path)


def media_identity(ref: MediaRef | None) -> dict[str, Any] | None:
    """A media reference as samples.jsonl records it: its kind and its path inside the
    dataset root, or the sha1 of its bytes (never the bytes)."""
    if ref is None:
        return None
    if ref.data is not None:
        return {"kind": ref.kind, "sha1": hashlib.sha1(ref.data).hexdigest()}
    return {"kind": ref.kind, "path": ref.path}


def judge_request(judge, shown: PairItem | PointItem) -> dict[str, Any]:
    """What ``judge`` is sent for one item in the order it was shown, media as identities (so
    nothing is decoded): the chat messages of a generative judge with its decoding settings,
    or the prompt and media of a score head."""
    from evalsuite.judges import prompts as P
    from evalsuite.judges.generative import GenerativeJudge
    from evalsuite.judges.openai_judge import OpenAIJudge

    def encode(msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"role": m["role"], "content": m["content"] if isinstance(m["content"], str)
                 else [{**{k: v for k, v in part.items() if k != "media"},
                        **({"media": media_identity(part["media"])} if "media" in part else {})}
                       for part in m["content"]]} for m in msgs]

    pair = isinstance(shown, PairItem)
    try:
        if isinstance(judge, OpenAIJudge):
            if judge._protocol_for(shown) == "official":
                from evalsuite.protocols import genai_bench as G
                msgs = G.build_messages(shown, G.config_for(shown),
                                        system=bool(judge.options.get("system", True)))
            else:
                msgs = P.build_messages(shown, judge.family, P.pair_mode(shown))
            settings = {k: judge.options.get(k) for k in ("temperature", "top_p", "max_tokens",
                                                          "seed")}
            settings.update(temperature=float(settings["temperature"] or 0.0),
                            top_p=float(settings["top_p"] or 1.0), model=judge.model_id)
            return {"messages": encode(msgs), "settings": settings}
        if isinstance(judge, GenerativeJudge):
            mode = P.pair_mode(shown) if pair else P.point_mode(shown)
            msgs = P.build_messages(shown, judge.prompt_family, mode)
            return {"messages": encode(msgs), "settings": {
                "mode": mode, "prompt_family": judge.prompt_family, "backend": judge.backend,
                "max_new_tokens": judge.max_new_tokens(mode), "decoding": "greedy"}}
    except (ValueError, KeyError) as e:  # the judge could not build this request either
        return {"error": f"{type(e).__name__}: {e}"}
    cands = (shown.a, shown.b) if pair else (shown.candidate,)
    return {"prompt": shown.prompt, "context": media_identity(shown.context),
            "media": [media_identity(c.media) for c in cands],
            "texts": [c.text for c in cands], "settings": {}}


def judge_input(judge, it: PairItem, pairwise: bool, rec: RunRecord | None) -> dict[str, Any]:
    """The request(s) behind one pair's verdict: the pair as presented (after the seeded
    swap), or each side's pointwise request."""
    if pairwise:
        swapped = bool(rec and rec.swapped)
        return {"swapped": swapped, **judge_request(judge, it.swapped() if swapped else it)}
    return {side: judge_request(judge, PointItem(PointItem.key_for(it.prompt, c, it.context),
                                                 it.prompt, c, it.context, it.task))
            for side, c in (("A", it.a), ("B", it.b))}


def _write_samples(path: Path, items, bad_rows, verdicts, errors, pair_record,
                   inputs=None) -> None:
    def rows():
        for it in items:
            iid = it.item_id
            v = verdicts.get(iid)
            rec = pair_record(iid)
            labels = {k: x.value for k, x in it.labels.items()} if it.labels else {}
            other = rec.verdict_other_order if rec else None
            row = {
                "item_id": iid, "category": it.category, "label": it.label.value,
                "raw_label": it.raw_label, "labels": labels,
                "model_a": it.a.model, "model_b": it.b.model,
                "preferred": v.preferred if v else None,
                "status": v.status.value if v else "error",
                "margin": v.margin if v else None,
                "score_a": v.score_a if v else None, "score_b": v.score_b if v else None,
                "margins": v.margins if v else {},
                "raw": v.raw if v else None,
                "extras": v.extras if v else {},  # parse rule, generated tokens, reasoning
                "swapped": rec.swapped if rec else None,
                "other_order": other.preferred if other else None,
                "error": errors.get(iid),
                "meta": it.meta,
            }
            if inputs is not None:  # --save-inputs
                row["input"] = inputs(it, rec)
            yield row
        for e in bad_rows:
            yield {"item_id": e.item_id, "status": "error", "error": f"bad row: {e.reason}",
                   "meta": e.meta}

    tmp = unique_tmp(path)
    with open(tmp, "w", encoding="utf-8") as fh:
        it = rows()
        while chunk := list(islice(it, 1024)):  # a batch of lines per encoder and write
            fh.write(dump_lines(chunk, ensure_ascii=False, default=str))
    tmp.replace(path)


# --- validating results files read back (leaderboard, regress) --------------------------------

class ResultsInvalid(ValueError):
    """A results.json / samples.jsonl that does not hold what evalsuite writes."""


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check_metric(m: Any, where: str) -> None:
    """``{"value": fraction | null, "ci95": [lo, hi] | null, ...}``: fractions finite, in
    [0, 1]; lo <= hi."""
    v = m.get("value")
    if v is not None and not (_finite(v) and 0.0 <= v <= 1.0):
        raise ResultsInvalid(f"{where}.value is {v!r}, expected a fraction in [0, 1]")
    if "ci95" not in m or m["ci95"] is None:
        return
    ci = m["ci95"]
    if not isinstance(ci, list) or len(ci) != 2:
        raise ResultsInvalid(f"{where}.ci95 is {ci!r}, expected [lower, upper]")
    for b in ci:
        if b is not None and not (_finite(b) and 0.0 <= b <= 1.0):
            raise ResultsInvalid(f"{where}.ci95 bound {b!r} is not a fraction in [0, 1]")
    if None not in ci and ci[0] > ci[1]:
        raise ResultsInvalid(f"{where}.ci95 lower bound {ci[0]} is above the upper {ci[1]}")


def _check_metric_map(metrics: Any, where: str) -> None:
    if not isinstance(metrics, dict):
        raise ResultsInvalid(f"{where} is a {type(metrics).__name__}, expected an object")
    for name, m in metrics.items():
        here = f"{where}.{name}"
        if isinstance(m, dict):
            if "value" in m:
                _check_metric(m, here)
            else:  # a group (a breakdown entry): the metrics inside it
                for k, sub in m.items():
                    if isinstance(sub, dict) and "value" in sub:
                        _check_metric(sub, f"{here}.{k}")
        elif m is not None and not (_finite(m) and not isinstance(m, float) and m >= 0):
            raise ResultsInvalid(f"{here} is {m!r}, expected a metric object, a count or "
                                 "null")


def validate_results(r: Any, source: str | Path) -> dict[str, Any]:
    """Check a loaded results.json: required keys and types, every accuracy a finite
    fraction in [0, 1], every CI well-formed. Raises :class:`ResultsInvalid` naming
    ``source`` and the field; returns ``r``."""
    try:
        if not isinstance(r, dict):
            raise ResultsInvalid(f"a JSON {type(r).__name__}, expected an object")
        who = "policy" if "policy" in r and "judge" not in r else "judge"
        for key in ("schema_version", who, "benchmark", "counts", "metrics"):
            if key not in r:
                raise ResultsInvalid(f"missing key {key!r}")
        if not isinstance(r["schema_version"], int) or isinstance(r["schema_version"], bool):
            raise ResultsInvalid(f"schema_version is {r['schema_version']!r}")
        for key, name in ((who, who), ("benchmark", "benchmark")):
            block = r[key]
            if not isinstance(block, dict):
                raise ResultsInvalid(f"{key} is {block!r}, expected an object")
            if not isinstance(block.get(name), str) or not block[name]:
                raise ResultsInvalid(f"{key}.{name} is {block.get(name)!r}, expected a name")
        for k in ("split", "config", "revision", "data_path"):
            v = r["benchmark"].get(k)
            if v is not None and not isinstance(v, str):
                raise ResultsInvalid(f"benchmark.{k} is {v!r}, expected text or null")
        counts = r["counts"]
        if not isinstance(counts, dict):
            raise ResultsInvalid(f"counts is {counts!r}, expected an object")
        for k, v in counts.items():
            if not (isinstance(v, int) and not isinstance(v, bool) and v >= 0):
                raise ResultsInvalid(f"counts.{k} is {v!r}, expected a count")
        for k in ("items", "errors"):
            if k not in counts:
                raise ResultsInvalid(f"counts.{k} is missing")
        _check_metric_map(r["metrics"], "metrics")
        _check_metric_map(r.get("breakdown", {}), "breakdown")
        if r.get("order_consistency") is not None:
            if not isinstance(r["order_consistency"], dict):
                raise ResultsInvalid("order_consistency is not an object")
            _check_metric(r["order_consistency"], "order_consistency")
        for k in ("run", "judge", "benchmark"):
            opts = r.get(k, {}).get("options") if isinstance(r.get(k), dict) else None
            if opts is not None and not isinstance(opts, dict):
                raise ResultsInvalid(f"{k}.options is {opts!r}, expected an object")
    except ResultsInvalid as e:
        raise ResultsInvalid(f"{source}: invalid results file: {e}") from None
    return r


def read_results(path: str | Path) -> dict[str, Any]:
    """Load and validate one results.json (one-line errors naming the file)."""
    path = Path(path)
    try:
        r = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ResultsInvalid(f"{path}: unreadable results file ({type(e).__name__}: "
                             f"{' '.join(str(e).split())})") from None
    return validate_results(r, path)


SAMPLE_STATUSES = ("parsed", "tie", "unparsed", "error")


def validate_sample(d: Any, where: str, policy: bool = False) -> dict[str, Any]:
    """One samples.jsonl row as the regression gate reads it: a judge run's verdict row, or
    (``policy``) a policy run's row with its per-item metric ``values``."""
    def bad(msg: str) -> ResultsInvalid:
        return ResultsInvalid(f"{where}: {msg}")
    if not isinstance(d, dict):
        raise bad(f"a JSON {type(d).__name__}, expected an object")
    if not isinstance(d.get("item_id"), str) or not d["item_id"]:
        raise bad(f"item_id is {d.get('item_id')!r}")
    if policy:
        values = d.get("values", {})
        if not isinstance(values, dict):
            raise bad(f"values is {values!r}, expected an object")
        for k, v in values.items():
            parts = v if isinstance(v, list) and len(v) == 2 else [v]
            if not all(_finite(x) for x in parts):
                raise bad(f"values.{k} is {v!r}, expected a finite number or [sum, count]")
        return d
    for k, allowed in (("label", ("A", "B", "tie", None)),
                       ("preferred", ("A", "B", "tie", None)),
                       ("status", SAMPLE_STATUSES)):
        if k == "label" and k not in d:
            continue
        if d.get(k) not in allowed:
            raise bad(f"{k} is {d.get(k)!r}, expected one of {list(allowed)}")
    m = d.get("margin")
    if m is not None and not _finite(m):
        raise bad(f"margin is {m!r}, expected a finite number or null")
    return d
