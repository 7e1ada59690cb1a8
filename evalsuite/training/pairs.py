"""Preference pairs from a judge, as in UnifiedReward (Wang et al. 2025, Sec. 3.3 "pair
ranking" then "point sifting"):

1. **pair ranking** - the N candidates of a prompt are split (seeded shuffle) into N // 2
   disjoint pairs; the judge compares each pair; the preferred one goes to the *chosen* list,
   the other to the *rejected* list. Ties and unparseable verdicts put neither side in a list
   (recorded in the audit, never guessed).
2. **point sifting** - the judge scores every candidate of both lists pointwise; the output
   pair is (highest-scoring chosen, lowest-scoring rejected). Scores are compared as numbers
   (an upstream sifting script compared the score strings, so "10" < "9"); an unparsed score
   drops that candidate; a prompt is dropped when the best chosen does not score strictly
   above the worst rejected.

A pairwise judge is asked with ``compare``; a pointwise-only judge's pair verdict is its
score margin (the harness's rule). Every raw judge answer is kept in the output row
(``audit``) so a pair can be traced back to the text that made it.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalsuite.types import Candidate, Label, MediaRef, PairItem, ParseStatus, PointItem, Score

_NUMBER = re.compile(r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$")


def as_number(value: Any) -> float | None:
    """A score as a float: numbers pass, numeric strings are parsed ("10" > "9"), anything
    else (None, NaN, "N/A", "7/10") is None - the caller drops it rather than guessing."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        v = float(value)
    elif isinstance(value, str) and _NUMBER.match(value):
        v = float(value)
    else:
        return None
    return None if v != v else v  # NaN


@dataclass
class Sample:
    """One candidate: its media (or text answer) and where it came from."""

    candidate: Candidate
    index: int


@dataclass
class PairResult:
    prompt: str
    chosen: Sample | None
    rejected: Sample | None
    chosen_score: float | None = None
    rejected_score: float | None = None
    dropped: str | None = None  # why no pair came out of this prompt
    audit: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        def media(s: Sample | None):
            if s is None:
                return None
            c = s.candidate
            return c.media.path if c.media is not None else c.text
        return {"prompt": self.prompt, "chosen": media(self.chosen),
                "rejected": media(self.rejected), "chosen_score": self.chosen_score,
                "rejected_score": self.rejected_score, "dropped": self.dropped,
                "audit": self.audit}


def _seed_for(prompt: str, seed: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{prompt}".encode()).digest()[:8], "big")


def pair_rank(judge, prompt: str, samples: list[Sample], seed: int = 0,
              context: MediaRef | None = None, task: str = "generation"
              ) -> tuple[list[Sample], list[Sample], list[dict[str, Any]]]:
    """Step 1: (chosen list, rejected list, audit rows)."""
    order = list(samples)
    random.Random(_seed_for(prompt, seed)).shuffle(order)
    pairs = [(order[i], order[i + 1]) for i in range(0, len(order) - 1, 2)]
    items = [PairItem(item_id=f"rank/{a.index}-{b.index}", prompt=prompt, a=a.candidate,
                      b=b.candidate, label=Label.TIE, context=context, task=task)
             for a, b in pairs]
    if getattr(judge, "pairwise", False):
        verdicts = judge.compare(items)
    else:
        scores = judge.score([PointItem(it.item_id + s, prompt, c, context, task)
                              for it in items for s, c in (("/a", it.a), ("/b", it.b))])
        from evalsuite.runner import verdict_from_scores
        verdicts = [verdict_from_scores(scores[2 * i], scores[2 * i + 1])
                    for i in range(len(items))]
    chosen, rejected, audit = [], [], []
    for (a, b), v in zip(pairs, verdicts):
        audit.append({"a": a.index, "b": b.index, "preferred": v.preferred,
                      "status": v.status.value, "margin": v.margin, "raw": v.raw})
        if v.status is ParseStatus.PARSED and v.preferred in ("A", "B"):
            w, l = (a, b) if v.preferred == "A" else (b, a)
            chosen.append(w)
            rejected.append(l)
    return chosen, rejected, audit


def point_sift(judge, prompt: str, chosen: list[Sample], rejected: list[Sample],
               context: MediaRef | None = None, task: str = "generation") -> PairResult:
    """Step 2: best chosen vs worst rejected by pointwise score (numbers, not strings)."""
    both = chosen + rejected
    scores: list[Score] = judge.score([PointItem(f"point/{s.index}", prompt, s.candidate,
                                                 context, task) for s in both]) if both else []
    audit = [{"index": s.index, "list": "chosen" if i < len(chosen) else "rejected",
              "value": sc.value, "status": sc.status.value, "raw": sc.raw}
             for i, (s, sc) in enumerate(zip(both, scores))]
    num = [None if sc.status is ParseStatus.UNPARSED else as_number(sc.value) for sc in scores]
    ch = [(num[i], s) for i, s in enumerate(chosen) if num[i] is not None]
    rj = [(num[len(chosen) + i], s) for i, s in enumerate(rejected)
          if num[len(chosen) + i] is not None]
    res = PairResult(prompt, None, None, audit={"point_sifting": audit})
    if not ch or not rj:
        res.dropped = "no scored candidate in the chosen or rejected list"
        return res
    best = max(ch, key=lambda x: (x[0], -x[1].index))
    worst = min(rj, key=lambda x: (x[0], x[1].index))
    if not best[0] > worst[0]:
        res.dropped = f"best chosen score {best[0]} is not above worst rejected {worst[0]}"
        return res
    res.chosen, res.rejected = best[1], worst[1]
    res.chosen_score, res.rejected_score = best[0], worst[0]
    return res


def build_pair(judge, prompt: str, samples: list[Sample], seed: int = 0,
               context: MediaRef | None = None, task: str = "generation") -> PairResult:
    chosen, rejected, rank_audit = pair_rank(judge, prompt, samples, seed, context, task)
    if not chosen:
        return PairResult(prompt, None, None, dropped="pair ranking produced no decided pair",
                          audit={"pair_ranking": rank_audit})
    res = point_sift(judge, prompt, chosen, rejected, context, task)
    res.audit["pair_ranking"] = rank_audit
    return res


def write_pairs(results: list[PairResult], out: Path) -> dict[str, int]:
    """``out/pairs.jsonl`` (kept pairs) and ``out/dropped.jsonl`` (audit of the rest)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    kept = [r for r in results if r.dropped is None]
    with open(out / "pairs.jsonl", "w") as f:
        for r in kept:
            f.write(json.dumps(r.row()) + "\n")
    with open(out / "dropped.jsonl", "w") as f:
        for r in results:
            if r.dropped is not None:
                f.write(json.dumps(r.row()) + "\n")
    return {"prompts": len(results), "pairs": len(kept), "dropped": len(results) - len(kept)}


def pairs_file(path: Path) -> Path:
    """``<path>/pairs.jsonl`` for a folder, else ``path``; a clear error when absent."""
    p = Path(path)
    f = p / "pairs.jsonl" if p.is_dir() else p
    if not f.is_file():
        raise FileNotFoundError(f"no pairs file at {f} (make one with `evalsuite train pairs "
                                "--policy <policy> --judge ... --out <folder>`)")
    return f


def resolve_path(root: Path, value: str) -> Path:
    """A media path of a pairs row: absolute as given, relative to the pairs file's folder."""
    q = Path(value)
    return q if q.is_absolute() else root / q


def read_pairs(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in pairs_file(path).read_text().splitlines()
            if line.strip()]
