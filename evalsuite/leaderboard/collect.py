"""Collecting: every results.json under a folder -> typed, de-duplicated entries.

A **row** is a judge configuration (judge name, checkpoint id, revision, local checkpoint,
options, pairwise/pointwise mode); a **column** is a benchmark configuration (name, config,
split, dataset revision, fixture or real data). **Duplicates** (same row and column): the run
whose ``run.json`` ``finished_at`` is newest wins; runs without ``run.json`` count as oldest;
ties are broken by the run folder's path (the last in sorted order wins). **Fixture** entries:
the checkpoint or the dataset is an offline fixture (a path written as ``fixture:<name>`` by
``--add``, a local folder holding ``.evalsuite-fixture.json``, or a results file under a
folder named ``fixtures``). Published reference numbers come from ``published.yaml``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

FIXTURE_STAMP = ".evalsuite-fixture.json"


@dataclass
class Entry:
    """One results.json (one run of one judge on one benchmark)."""

    rel: str  # run folder relative to the results root (posix)
    results: dict[str, Any]
    finished_at: str | None
    fixture: bool
    row_id: str
    col_id: str
    superseded: list[str] = field(default_factory=list)

    @property
    def judge(self) -> dict[str, Any]:
        return self.results.get("judge", {})

    @property
    def bench(self) -> dict[str, Any]:
        return self.results.get("benchmark", {})

    def metric(self, name: str) -> dict[str, Any] | None:
        m = self.results.get("metrics", {}).get(name)
        return m if isinstance(m, dict) and m.get("value") is not None else None


def is_fixture_path(p: Any) -> bool:
    """A path written as ``fixture:<name>``, or a local fixture folder (or a file in one)."""
    if not isinstance(p, str) or not p:
        return False
    if p.startswith("fixture:"):
        return True
    path = Path(p)
    try:
        return any((d / FIXTURE_STAMP).is_file() for d in (path, path.parent))
    except OSError:
        return False


def _row_identity(r: dict[str, Any]) -> dict[str, Any]:
    j = r.get("judge", {})
    return {"judge": j.get("judge"), "model": j.get("model"), "revision": j.get("revision"),
            "model_path": j.get("model_path"), "options": j.get("options") or {},
            "mode": r.get("run", {}).get("mode")}


def _col_identity(r: dict[str, Any], fixture_data: bool) -> dict[str, Any]:
    b = r.get("benchmark", {})
    return {"benchmark": b.get("benchmark"), "config": b.get("config"), "split": b.get("split"),
            "revision": b.get("revision"), "data": "fixture" if fixture_data else "real"}


def _dumps(x: Any) -> str:
    return json.dumps(x, sort_keys=True, default=str)


def load_entries(root: Path) -> list[Entry]:
    """Every judge ``results.json`` under ``root``, in sorted path order, each validated
    (:func:`evalsuite.results.validate_results`): a file that is not what evalsuite writes
    stops the board with an error naming it, rather than showing a wrong or missing cell.
    Policy evaluations (``policy`` instead of ``judge``) are not leaderboard rows."""
    from evalsuite.results import ResultsInvalid, validate_results

    root = Path(root)
    entries = []
    for path in sorted(root.rglob("results.json"), key=lambda p: p.relative_to(root).as_posix()):
        try:
            r = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ResultsInvalid(f"{path}: unreadable results file ({type(e).__name__}: "
                                 f"{' '.join(str(e).split())})") from None
        if isinstance(r, dict) and "policy" in r and "judge" not in r:
            continue  # a policy evaluation, not a judge x preference-benchmark result
        validate_results(r, path)
        run_json = path.parent / "run.json"
        finished = None
        if run_json.exists():
            try:
                finished = json.loads(run_json.read_text()).get("finished_at")
            except (OSError, json.JSONDecodeError):
                finished = None
        rel = path.parent.relative_to(root).as_posix()
        fixture_data = is_fixture_path(r["benchmark"].get("data_path"))
        fixture = (fixture_data or is_fixture_path(r.get("judge", {}).get("model_path"))
                   or "fixtures" in Path(rel).parts)
        entries.append(Entry(rel=rel, results=r, finished_at=finished, fixture=fixture,
                             row_id=_dumps(_row_identity(r)),
                             col_id=_dumps(_col_identity(r, fixture_data or "fixtures" in
                                                         Path(rel).parts))))
    return entries


def dedupe(entries: list[Entry]) -> list[Entry]:
    """One entry per (row, column): newest ``finished_at`` wins, then the last path."""
    groups: dict[tuple[str, str], list[Entry]] = {}
    for e in entries:
        groups.setdefault((e.row_id, e.col_id), []).append(e)
    out = []
    for group in groups.values():
        group.sort(key=lambda e: (e.finished_at or "", e.rel))
        win = group[-1]
        win.superseded = [e.rel for e in group[:-1]]
        out.append(win)
    return sorted(out, key=lambda e: (e.row_id, e.col_id))


def load_published(path: Path | None = None) -> dict[str, Any]:
    import yaml

    text = (Path(path).read_text(encoding="utf-8") if path else
            resources.files("evalsuite").joinpath("data/published.yaml").read_text("utf-8"))
    data = yaml.safe_load(text) or {}
    sources = data.get("sources", {})
    for e in data.get("entries", []) + data.get("policy_entries", []):
        e["source_text"] = " ".join(str(sources.get(e.get("source"), e.get("source"))).split())
    return data


def published_for(pub: dict[str, Any], e: Entry) -> dict[str, Any] | None:
    """The published entry for this run: same checkpoint (hub id; the judge name when the
    entry names no checkpoint), same benchmark, and same split when the entry gives one."""
    for p in pub.get("entries", []):
        same_model = (p["model"] == e.judge.get("model") if p.get("model")
                      else p.get("judge") == e.judge.get("judge"))
        if (same_model and p.get("benchmark") == e.bench.get("benchmark")
                and p.get("split", e.bench.get("split")) == e.bench.get("split")):
            return p
    return None


@dataclass
class PolicyRun:
    """One policy results.json (``eval-policy``) with its published entry, if any."""

    rel: str  # run folder relative to the results root (posix)
    results: dict[str, Any]
    published: dict[str, Any] | None
    fixture: bool


def load_policy_runs(root: Path, published: dict[str, Any]) -> list[PolicyRun]:
    """Policy results files (``eval-policy``) with the published numbers of the same
    checkpoint, benchmark and split (``policy_entries`` of published.yaml)."""
    runs = []
    for path in sorted(Path(root).rglob("results.json"),
                       key=lambda p: p.relative_to(root).as_posix()):
        try:
            r = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"unreadable results file {path}: {e}") from e
        if not isinstance(r, dict) or not {"policy", "benchmark", "metrics"} <= set(r):
            continue
        pol, b = r["policy"], r["benchmark"]
        pub = next((p for p in published.get("policy_entries", [])
                    if p.get("model") == pol.get("model") and p.get("benchmark") ==
                    b.get("benchmark") and p.get("split", b.get("split")) == b.get("split")),
                   None)
        runs.append(PolicyRun(path.parent.relative_to(root).as_posix(), r, pub,
                              is_fixture_path(pol.get("model_path"))
                              or is_fixture_path(b.get("data_path"))))
    return runs


# --- adding a run to the results folder ------------------------------------------------------

COPIED = ("results.json", "samples.jsonl", "run.json")


def add_run(run_dir: Path, dest_root: Path, name: str | None = None) -> Path:
    """Copy a run's results.json / samples.jsonl / run.json into ``dest_root/<name>/``.

    Absolute machine paths (the checkpoint, the dataset copy, media roots) are rewritten so the
    committed files are portable: a fixture folder becomes ``fixture:<name>``, any other local
    path ``local:<name>``.
    """
    run_dir = Path(run_dir)
    if run_dir.is_file():
        run_dir = run_dir.parent
    src = run_dir / "results.json"
    if not src.exists():
        raise FileNotFoundError(f"{run_dir} has no results.json")
    r = json.loads(src.read_text(encoding="utf-8"))
    paths = set()
    for v in (r.get("judge", {}).get("model_path"), r.get("benchmark", {}).get("data_path"),
              *r.get("judge", {}).get("options", {}).values(),
              *r.get("benchmark", {}).get("options", {}).values()):
        if isinstance(v, str) and v.startswith("/"):
            paths.add(v.rstrip("/") or v)
    mapping = {p: f"{'fixture' if is_fixture_path(p) else 'local'}:{Path(p).name}"
               for p in paths}
    dest = Path(dest_root) / (name or run_dir.name)
    dest.mkdir(parents=True, exist_ok=True)
    for fname in COPIED:
        f = run_dir / fname
        if not f.exists():
            continue
        text = f.read_text(encoding="utf-8")
        for p in sorted(mapping, key=len, reverse=True):
            text = text.replace(json.dumps(p)[1:-1], mapping[p])
        (dest / fname).write_text(text, encoding="utf-8")
    return dest
