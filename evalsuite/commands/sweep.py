"""`evalsuite sweep`: a grid of judges x preference benchmarks and policies x capability
benchmarks, each cell a normal resumable run.

Every cell is exactly the run ``evalsuite run`` / ``eval-policy`` would make with the same
options (:func:`evalsuite.runner.execute` / :func:`evalsuite.policies.runner.execute_policy`,
same run directory name), so re-running a sweep resumes every cell and a cell can be resumed
or inspected on its own. A cell that raises or exceeds its error rate is recorded as failed
and the others go on. At the end: one summary table (also ``sweep-summary.json`` / ``.md``
in the output folder) and the leaderboard regenerated from the judge cells
(:mod:`evalsuite.leaderboard`).

Config (YAML)::

    out: runs/sweep              # where the run directories go
    run: {limit: 8, seed: 0}     # options of every cell (any `run` / `eval-policy` option)
    judges:                      # judge, model, model_path, revision, options, mode, ...
      - {judge: pickscore, model_path: fx/pickscore}
    policies:                    # policy, model, model_path, revision, options, ...
      - {policy: qwen2.5-vl, model_path: fx/unifiedreward-qwen}
    benchmarks:                  # bench, data_path, split, options; routed by kind
      - {bench: genai-bench, data_path: fx/genai-bench}
      - {bench: mmbench, data_path: fx/mmbench}
    leaderboard: {out: runs/sweep/leaderboard, plots: false}   # optional

Judges run on the preference benchmarks, policies on the capability benchmarks (a cell the
judge or policy cannot run, e.g. an image judge on a video benchmark, fails with the reason).
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import typer

# Row keys that name the row's plugin; ``options`` goes to the plugin's own options field.
JUDGE_KEYS = {"judge", "model", "model_path", "revision", "options", "mode", "batch_size",
              "dtype", "device", "both_orders"}
POLICY_KEYS = {"policy", "model", "model_path", "revision", "options", "batch_size", "dtype",
               "device", "samples_per_prompt", "score_batch_size"}
BENCH_KEYS = {"bench", "data_path", "split", "options", "limit"}


class SweepError(ValueError):
    """The sweep configuration is invalid (exit 2, before any cell runs)."""


@dataclass
class Cell:
    kind: str  # "judge" | "policy"
    who: str  # judge or policy name
    bench: str
    config: Any  # RunConfig | PolicyRunConfig
    status: str = "pending"  # ok | failed | error
    run_dir: str | None = None
    results: dict[str, Any] | None = None
    error: str | None = None
    plugin_key: tuple = field(default_factory=tuple)  # cells sharing a loaded model


def register(app: typer.Typer) -> None:
    app.command("sweep")(sweep)


def sweep(
    config: Optional[str] = typer.Option(None, "--config", "-c", help="Sweep YAML (see "
                                         "`sweeps/fixtures.yaml`)."),
    judge: Optional[list[str]] = typer.Option(None, "--judge", "-j", help="Judge (repeatable); "
                                              "added to the config's."),
    policy: Optional[list[str]] = typer.Option(None, "--policy", "-p", help="Policy "
                                               "(repeatable)."),
    bench: Optional[list[str]] = typer.Option(None, "--bench", "-b", help="Benchmark "
                                              "(repeatable)."),
    data_root: Optional[str] = typer.Option(None, help="For --bench: use <data-root>/<bench> "
                                            "as --data-path when it exists (the layout of "
                                            "`evalsuite prepare` and `evalsuite fixtures`)."),
    model_root: Optional[str] = typer.Option(None, help="For --judge / --policy: use "
                                             "<model-root>/<name> as --model-path when it "
                                             "exists."),
    out: Optional[str] = typer.Option(None, help="Folder of the run directories (default: the "
                                      "config's `out`, else runs)."),
    limit: Optional[int] = typer.Option(None, help="Only the first N items of every cell."),
    no_leaderboard: bool = typer.Option(False, "--no-leaderboard", help="Do not regenerate "
                                        "the leaderboard."),
    no_progress: bool = typer.Option(False, "--no-progress"),
) -> None:
    """Run a grid of judges x benchmarks (and policies x benchmarks); resumable per cell.

    Exit 0 when every cell finished, 1 when a cell failed (recorded; the others ran), 2 for
    an invalid configuration. Offline example on fixtures:

      evalsuite fixtures --out fx
      evalsuite sweep --config sweeps/fixtures.yaml

    or without a file:

      evalsuite sweep --judge pickscore --judge hpsv2 --bench genai-bench \\
          --data-root fx --model-root fx --limit 8 --out runs/sweep
    """
    from rich.console import Console

    console = Console(stderr=True)
    try:
        spec = load_spec(config, judge, policy, bench, data_root, model_root, out, limit)
        cells = plan(spec, progress=not no_progress)
    except (SweepError, OSError, KeyError) as e:
        console.print(f"[red]error:[/red] {str(e).strip(chr(39))}", highlight=False)
        raise typer.Exit(2)
    run_cells(cells, console)
    out_dir = Path(spec["out"])
    write_summary(cells, out_dir)
    Console().print(summary_table(cells))
    board = spec.get("leaderboard") or {}
    if not no_leaderboard and any(c.kind == "judge" and c.status == "ok" for c in cells):
        update_leaderboard(cells, out_dir, board, console)
    console.print(f"summary: {out_dir / 'sweep-summary.md'}")
    raise typer.Exit(1 if any(c.status != "ok" for c in cells) else 0)


# --- configuration ------------------------------------------------------------------------------

def load_spec(config: str | None, judges: list[str] | None, policies: list[str] | None,
              benches: list[str] | None, data_root: str | None, model_root: str | None,
              out: str | None, limit: int | None) -> dict[str, Any]:
    """The sweep as one dict: the YAML file, plus the command-line rows and overrides."""
    import yaml

    spec: dict[str, Any] = {}
    if config:
        spec = yaml.safe_load(Path(config).read_text(encoding="utf-8")) or {}
        if not isinstance(spec, dict):
            raise SweepError(f"{config}: expected a mapping at the top level")
    unknown = set(spec) - {"out", "run", "judges", "policies", "benchmarks", "leaderboard"}
    if unknown:
        raise SweepError(f"unknown sweep keys {sorted(unknown)}; expected out, run, judges, "
                         "policies, benchmarks, leaderboard")

    def rooted(key: str, name: str, root: str | None, path_key: str) -> dict[str, Any]:
        row: dict[str, Any] = {key: name}
        if root and (Path(root) / name).exists():
            row[path_key] = str(Path(root) / name)
        return row

    spec.setdefault("judges", [])
    spec.setdefault("policies", [])
    spec.setdefault("benchmarks", [])
    spec["judges"] += [rooted("judge", j, model_root, "model_path") for j in judges or []]
    spec["policies"] += [rooted("policy", p, model_root, "model_path") for p in policies or []]
    spec["benchmarks"] += [rooted("bench", b, data_root, "data_path") for b in benches or []]
    spec["out"] = out or spec.get("out") or "runs"
    spec["run"] = dict(spec.get("run") or {})
    if limit is not None:
        spec["run"]["limit"] = limit
    if not spec["benchmarks"] or not (spec["judges"] or spec["policies"]):
        raise SweepError("a sweep needs at least one benchmark and one judge or policy "
                         "(--config, or --judge/--policy and --bench)")
    return spec


def _row(row: Any, allowed: set[str], name_key: str, what: str) -> dict[str, Any]:
    if isinstance(row, str):
        row = {name_key: row}
    if not isinstance(row, dict) or name_key not in row:
        raise SweepError(f"each of {what} needs a `{name_key}` key, got {row!r}")
    bad = set(row) - allowed
    if bad:
        raise SweepError(f"{what} entry {row[name_key]!r}: unknown keys {sorted(bad)} "
                         f"(allowed: {sorted(allowed)})")
    return dict(row)


def _is_policy_bench(name: str) -> bool:
    from evalsuite.policies.base import PolicyBenchmark
    from evalsuite.registry import BENCHMARKS

    return issubclass(BENCHMARKS.entry(name).load(), PolicyBenchmark)


def plan(spec: dict[str, Any], progress: bool = True) -> list[Cell]:
    """One :class:`Cell` per (judge, preference benchmark) and (policy, capability
    benchmark), each with the run configuration ``run`` / ``eval-policy`` would build."""
    from evalsuite.policies.runner import PolicyRunConfig
    from evalsuite.registry import JUDGES, POLICIES
    from evalsuite.runner import RunConfig

    judges = [_row(r, JUDGE_KEYS, "judge", "judges") for r in spec["judges"]]
    policies = [_row(r, POLICY_KEYS, "policy", "policies") for r in spec["policies"]]
    benches = [_row(r, BENCH_KEYS, "bench", "benchmarks") for r in spec["benchmarks"]]
    for r in judges:
        JUDGES.entry(r["judge"])  # a typo fails before any cell runs
    for r in policies:
        POLICIES.entry(r["policy"])
    run_fields, policy_fields = RunConfig.settable(), PolicyRunConfig.settable()
    common = dict(spec["run"])
    common.setdefault("out_dir", spec["out"])
    common.setdefault("progress", progress)
    bad = set(common) - run_fields - policy_fields
    if bad:
        raise SweepError(f"`run` has unknown options {sorted(bad)}")
    cells = []
    for b in benches:
        is_policy = _is_policy_bench(b["bench"])
        bench_part = {"bench": b["bench"], "data_path": b.get("data_path"),
                      "split": b.get("split"), "bench_options": b.get("options") or {}}
        if "limit" in b:
            bench_part["limit"] = b["limit"]
        rows, cls, fields = ((policies, PolicyRunConfig, policy_fields) if is_policy
                             else (judges, RunConfig, run_fields))
        for r in rows:
            name_key = "policy" if is_policy else "judge"
            who = {k: v for k, v in r.items() if k != "options"}
            who[f"{name_key}_options"] = r.get("options") or {}
            args = {**{k: v for k, v in common.items() if k in fields}, **who, **bench_part}
            cfg = cls(**args)
            cells.append(Cell("policy" if is_policy else "judge", r[name_key], b["bench"], cfg,
                              plugin_key=(name_key, json.dumps(who, sort_keys=True,
                                                               default=str))))
    return cells


# --- running ------------------------------------------------------------------------------------

def run_cells(cells: list[Cell], console) -> None:
    """Run every cell in order; a judge or policy is built once and reused across its
    cells (weights load once). A failing cell is recorded and the next one runs."""
    from evalsuite.policies.runner import execute_policy
    from evalsuite.registry import JUDGES, POLICIES
    from evalsuite.runner import execute

    plugins: dict[tuple, Any] = {}
    for i, cell in enumerate(cells, 1):
        cfg = cell.config
        console.print(f"[bold][{i}/{len(cells)}] {cell.who} x {cell.bench}[/bold]")
        try:
            if cell.plugin_key not in plugins:
                plugins.clear()  # one model in memory at a time
                registry, opts = ((JUDGES, cfg.judge_options) if cell.kind == "judge"
                                  else (POLICIES, cfg.policy_options))
                plugins[cell.plugin_key] = registry.create(
                    cell.who, model=cfg.model, model_path=cfg.model_path, revision=cfg.revision,
                    device=cfg.device, dtype=cfg.dtype, **opts)
            plugin = plugins[cell.plugin_key]
            outcome = (execute(cfg, judge=plugin) if cell.kind == "judge"
                       else execute_policy(cfg, policy=plugin))
        except KeyboardInterrupt:
            raise
        except Exception as e:  # noqa: BLE001 - this cell's failure; the sweep goes on
            cell.status, cell.error = "error", f"{type(e).__name__}: {e}"
            cell.run_dir = str(cfg.run_dir())
            console.print(f"[red]cell failed:[/red] {cell.error}", highlight=False)
            console.print(traceback.format_exc(limit=3), highlight=False, markup=False)
            continue
        cell.run_dir, cell.results = str(outcome.run_dir), outcome.results
        if outcome.failed:
            c = outcome.results["counts"]
            cell.status = "failed"
            cell.error = (f"error rate {c['errors']}/{c.get('units', c['items'])} above "
                          f"max_error_rate {cfg.max_error_rate}")
        else:
            cell.status = "ok"


# --- reporting ----------------------------------------------------------------------------------

def _headline(r: dict[str, Any] | None, n: int = 2) -> list[tuple[str, dict[str, Any]]]:
    """The first ``n`` metrics of a results file that have a value (the benchmark's own
    order puts the published pair first)."""
    if not r:
        return []
    from evalsuite.commands.common import TABLE_METRICS

    ms = [(k, v) for k, v in r.get("metrics", {}).items()
          if isinstance(v, dict) and "value" in v and v.get("value") is not None]
    ms.sort(key=lambda kv: TABLE_METRICS.index(kv[0]) if kv[0] in TABLE_METRICS else 99)
    return ms[:n]


def summary_rows(cells: list[Cell]) -> list[dict[str, Any]]:
    rows = []
    for c in cells:
        r = c.results or {}
        counts = r.get("counts", {})
        rows.append({"kind": c.kind, "who": c.who, "bench": c.bench, "status": c.status,
                     "items": counts.get("items"), "errors": counts.get("errors"),
                     "metrics": {k: {"value": v["value"], "ci95": v.get("ci95")}
                                 for k, v in _headline(r)},
                     "run_dir": c.run_dir, "error": c.error})
    return rows


def write_summary(cells: list[Cell], out: Path) -> None:
    from evalsuite.commands.common import fmt_metric

    out.mkdir(parents=True, exist_ok=True)
    rows = summary_rows(cells)
    (out / "sweep-summary.json").write_text(json.dumps(rows, indent=2) + "\n",
                                            encoding="utf-8")
    lines = ["| judge / policy | benchmark | status | items | errors | metrics | run |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        ms = "; ".join(f"{k} {fmt_metric(v)}" for k, v in r["metrics"].items()) or (
            r["error"] or "-").replace("|", "\\|")
        lines.append(f"| {r['who']} | {r['bench']} | {r['status']} | {r['items'] or '-'} | "
                     f"{r['errors'] if r['errors'] is not None else '-'} | {ms} | "
                     f"{r['run_dir'] or '-'} |")
    (out / "sweep-summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def summary_table(cells: list[Cell]):
    from rich.table import Table

    from evalsuite.commands.common import fmt_metric

    t = Table(title="Sweep", caption="metrics in % with 95% bootstrap CI (first two per "
                                     "cell; all in each run's results.json)")
    for col in ("judge / policy", "benchmark", "status", "items", "errors", "metrics"):
        t.add_column(col, overflow="fold")
    for r in summary_rows(cells):
        ms = "\n".join(f"{k} {fmt_metric(v)}" for k, v in r["metrics"].items())
        t.add_row(r["who"], r["bench"], r["status"] if r["status"] == "ok"
                  else f"[red]{r['status']}[/red]", str(r["items"] or "-"),
                  str(r["errors"] if r["errors"] is not None else "-"), ms or (r["error"] or ""))
    return t


def update_leaderboard(cells: list[Cell], out_dir: Path, board: dict[str, Any],
                       console) -> None:
    """Regenerate the leaderboard: from the sweep's own run folder by default, or, with
    ``leaderboard: {results: DIR}``, after copying the finished judge cells into DIR (paths
    rewritten as ``evalsuite leaderboard --add`` does)."""
    from evalsuite.leaderboard import add_run, generate

    bad = set(board) - {"results", "out", "add_under", "plots"}
    if bad:
        console.print(f"[red]leaderboard: unknown keys {sorted(bad)}[/red]")
        return
    results = Path(board["results"]) if board.get("results") else out_dir
    if board.get("results"):
        dest = results / board.get("add_under", "")
        for c in cells:
            if c.kind == "judge" and c.status == "ok":
                add_run(Path(c.run_dir), dest)
    target = Path(board.get("out") or out_dir / "leaderboard")
    try:
        info = generate(results, target, plots=bool(board.get("plots", False)))
    except (FileNotFoundError, ValueError) as e:
        console.print(f"[red]leaderboard not updated:[/red] {e}")
        return
    console.print(f"leaderboard: {target} ({info['cells']} cell(s))")
