"""Saved judge answers -> a benchmark's official protocol: format detection, parsing, scoring.

:func:`rescore` is what ``evalsuite rescore`` runs.

Accepted ``--responses`` files (JSON lines; a ``.json`` file holding a list works too):

* our own ``samples.jsonl`` (rows with ``item_id``, ``raw``, ``swapped``, ``label``,
  ``raw_label``): the raw answer was given on the presented order and is mapped back with
  ``swapped``. A new ``results.rescored-<protocol>-<n>.json`` is written beside it (n = the
  next free number); the run's own files are never edited.
* GenAI-Bench's results format (``results/<task>/<judge>/pairwise.jsonl``): ``idx``,
  ``human_vote``, ``response`` (the judge's full answer; left is A).
* VL-RewardBench answers: one object per line with ``id`` (or ``item_id``), the human label
  as ``label`` ("A"/"B", A = the first response) or ``human_ranking`` ([0, 1]: rank per
  response, 0 = preferred), optional ``query`` and ``response`` (the two candidate answers,
  a list: they make the item key id+query+sorted responses as in cal.py), optional
  ``swapped`` (true when the judge saw the two responses in reverse order), and the judge's
  answer(s) as ``responses`` (a list of k answers), ``answer`` or ``raw`` (one answer), or
  ``response`` when it is a string. Lines with the same key accumulate, so k answers may be
  given as one line with a list or as k repeated lines.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

# --- reading --------------------------------------------------------------------------------

def read_rows(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a JSON list of objects")
        return data
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{n}: not JSON ({e.msg})") from None
    return rows


def detect_format(rows: list[dict[str, Any]]) -> str:
    """``samples`` (our samples.jsonl), ``genai-bench-results`` (GenAI-Bench's pairwise.jsonl)
    or ``answers`` (VL-RewardBench answers), from the first row's keys."""
    if not rows:
        raise ValueError("the responses file holds no rows")
    r = rows[0]
    if "item_id" in r and "status" in r:  # ours (bad rows, written last, lack "raw")
        return "samples"
    if "human_vote" in r and "response" in r:
        return "genai-bench-results"
    return "answers"


# --- GenAI-Bench ---------------------------------------------------------------------------

def _genai(rows: list[dict[str, Any]], fmt: str) -> dict[str, Any]:
    from evalsuite.protocols import genai_bench as G

    judged, skipped = [], 0
    for i, r in enumerate(rows):
        if fmt == "samples":
            vote = r.get("raw_label")
            if vote not in G.CORRECT_VOTES:
                skipped += 1  # a row that never became an item (bad vote / bad row)
                continue
            err = r.get("error") if r.get("status") == "error" else None
            judged.append(G.judge_answer(r["item_id"], r.get("raw"), vote,
                                         bool(r.get("swapped")), error=err))
        else:
            vote = r.get("human_vote") or r.get("vote_type")
            if vote not in G.CORRECT_VOTES:
                raise ValueError(f"row {i}: unknown human_vote {vote!r}")
            text = r.get("response")
            if text is not None and not isinstance(text, str):
                raise ValueError(f"row {i}: response must be a string")
            judged.append(G.judge_answer(str(r.get("idx", i)), text, vote))
    out = G.summarize(judged)
    out["skipped_rows"] = skipped
    return out


# --- VL-RewardBench ------------------------------------------------------------------------

def _label_of(r: dict[str, Any]) -> str:
    lab = r.get("label")
    if lab in ("A", "B"):
        return lab
    hr = r.get("human_ranking")
    if isinstance(hr, str):
        hr = json.loads(hr)
    if isinstance(hr, list) and len(hr) == 2 and sorted(hr) == [0, 1]:
        return "A" if hr[0] == 0 else "B"
    raise ValueError(f"no usable human label (label A/B or human_ranking [0,1]) in {r.get('id')!r}")


def _answers_of(r: dict[str, Any], fmt: str) -> list[str | None]:
    if fmt == "samples":
        return [r.get("raw")]
    if isinstance(r.get("responses"), list):
        return list(r["responses"])
    for k in ("answer", "raw"):
        if k in r:
            return [r[k]]
    if isinstance(r.get("response"), str):
        return [r["response"]]
    raise ValueError(f"no judge answer (responses / answer / raw) in {r.get('id')!r}")


def _vlrb_items(rows: list[dict[str, Any]], fmt: str, parser: str):
    from evalsuite.protocols import vlrewardbench as V

    parse = V.PARSERS[parser]
    flip = {"A": "B", "B": "A", None: None}
    items: dict[str, V.Item] = {}
    skipped = 0
    for r in rows:
        if fmt == "samples":
            if r.get("label") not in ("A", "B"):
                skipped += 1  # bad row
                continue
            item_id = r["item_id"]
            meta = r.get("meta") or {}
            key = item_id
            cat = r.get("category") if r.get("category") in V.CATEGORIES \
                else V.category_of(str(meta.get("id", item_id)))
        else:
            item_id = str(r.get("id", r.get("item_id")))
            cands = r.get("response") if isinstance(r.get("response"), list) else None
            key = V.item_key(item_id, r.get("query"), cands)
            cat = V.category_of(item_id)
        label = _label_of(r)
        sw = bool(r.get("swapped"))
        err = fmt == "samples" and r.get("status") == "error"
        choices = [None if err else (flip[c] if sw else c)
                   for c in (parse(a) for a in _answers_of(r, fmt))]
        it = items.get(key)
        if it is None:
            items[key] = V.Item(key, item_id, cat, label, choices)
        else:
            if it.label != label:
                raise ValueError(f"item {item_id!r}: conflicting human labels across lines")
            it.choices.extend(choices)
    return list(items.values()), skipped


def _vlrb(rows, fmt, protocol, k, parser) -> dict[str, Any]:
    from evalsuite.protocols import vlrewardbench as V

    items, skipped = _vlrb_items(rows, fmt, parser)
    if protocol == "official":
        k = k or max((len(it.choices) for it in items), default=1)
        out = V.official(items, k)
    else:
        out = V.greedy(items)
    out["parser"] = parser
    out["skipped_rows"] = skipped
    return out


# --- scoring a file -------------------------------------------------------------------------------

def rescore(bench: str, protocol: str, responses: str | Path, k: int | None = None,
            parser: str = "unifiedreward", write: bool = True) -> dict[str, Any]:
    """Parse saved answers under ``protocol``; returns one summary dict (``accuracy`` is a
    fraction). Re-scoring our own samples.jsonl writes a new results file beside it."""
    from evalsuite.protocols import PROTOCOLS

    if bench not in PROTOCOLS:
        raise ValueError(f"no official protocol for benchmark {bench!r}; "
                         f"known: {sorted(PROTOCOLS)}")
    if protocol not in PROTOCOLS[bench]:
        raise ValueError(f"{bench} has protocols {list(PROTOCOLS[bench])}, not {protocol!r}")
    path = Path(responses)
    rows = read_rows(path)
    fmt = detect_format(rows)
    if bench.startswith("genai-bench"):
        out = _genai(rows, fmt)
    else:
        from evalsuite.protocols.vlrewardbench import PARSERS
        if parser not in PARSERS:
            raise ValueError(f"unknown parser {parser!r}; one of {sorted(PARSERS)}")
        out = _vlrb(rows, fmt, protocol, k, parser)
    out = {"bench": bench, **out, "format": fmt,
           "source": {"path": str(path),
                      "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}}
    out["written"] = None
    if write and fmt == "samples":
        out["written"] = str(_write_new(path.parent, protocol, out))
    return out


def _write_new(run_dir: Path, protocol: str, result: dict[str, Any]) -> Path:
    """results.rescored-<protocol>-<n>.json with the next free n; never overwrites."""
    n = 1
    while True:
        p = run_dir / f"results.rescored-{protocol}-{n}.json"
        try:
            with open(p, "x", encoding="utf-8") as fh:
                json.dump({**result, "written": str(p)}, fh, indent=2, ensure_ascii=False)
                fh.write("\n")
            return p
        except FileExistsError:
            n += 1
