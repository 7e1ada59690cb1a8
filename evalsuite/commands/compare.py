"""`evalsuite compare`: a base-vs-tuned report of two runs on the same items.

Per metric: the base and tuned values, the difference in points and its 95% paired-bootstrap
CI, then the same per category. The numbers come from :mod:`evalsuite.regress` (the
regression gate's paired comparison: same items, same resampled items in both runs), so a
report and a gate on the same two runs never disagree. Policy runs compare every metric with
per-item values; judge runs every metric the gate can recompute from ``samples.jsonl``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)


def compare(
    base: str = typer.Option(..., "--base", help="The base run: its folder or results.json."),
    tuned: str = typer.Option(..., "--tuned", help="The tuned run: its folder or results.json."),
    metric: Optional[list[str]] = typer.Option(None, "--metric", "-m", help="Metric to report "
                                               "(repeatable). Default: every comparable one."),
    report: Optional[str] = typer.Option(None, "--report", help="Write the Markdown report "
                                         "here and the same numbers as JSON beside it "
                                         "(.json)."),
    n_boot: int = typer.Option(2000, "--n-boot", help="Bootstrap resamples."),
    seed: int = typer.Option(0, help="Bootstrap seed."),
) -> None:
    """Compare a tuned run with its base run, metric by metric and per category.

    Exit 0 with the report; 2 when the runs are not comparable (other benchmark, split,
    items or labels) or have no metric in common.

    Example:

      evalsuite compare --base runs/base --tuned runs/tuned --report compare.md
    """
    from rich.console import Console

    from evalsuite.regress import Mismatch, load_run

    try:
        b, t = load_run(base), load_run(tuned)
        data = build(b, t, metric, n_boot, seed)
    except (Mismatch, FileNotFoundError, KeyError, ValueError) as e:
        Console(stderr=True).print(f"[red]error:[/red] {e}", markup=True, highlight=False)
        raise typer.Exit(2)
    md = markdown(data)
    typer.echo(md)
    if report:
        path = Path(report)
        path.write_text(md, encoding="utf-8")
        path.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n",
                                             encoding="utf-8")


def _default_metrics(base) -> list[str]:
    from evalsuite.regress import SET_METRICS, is_policy_run, unit_values

    if is_policy_run(base):
        have = unit_values(base)
        return [k for k in base.results.get("metrics", {}) if k in have]
    return [k for k in base.results.get("metrics", {}) if k in SET_METRICS]


def _num(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), 6)


def _row(r) -> dict[str, Any]:
    return {"base": _num(r.baseline), "tuned": _num(r.candidate), "delta": _num(r.diff),
            "ci95": [_num(r.lo), _num(r.hi)], "n": r.n, "note": r.note or None}


def build(base, tuned, metrics: list[str] | None, n_boot: int, seed: int) -> dict[str, Any]:
    """The report's numbers (points = 100 x the metric), as JSON-ready dicts."""
    from evalsuite.regress import category_results, gate, is_policy_run

    metrics = metrics or _default_metrics(base)
    overall = gate(tuned, base, metrics=metrics, max_drop=0.0, n_boot=n_boot, seed=seed)
    per_cat = category_results(tuned, base, [r.metric for r in overall], n_boot=n_boot,
                               seed=seed)
    kind = "policy" if is_policy_run(base) else "judge"

    def who(run) -> dict[str, Any]:
        info = run.results.get(kind, {})
        return {kind: info.get(kind), "model": info.get("model_path") or info.get("model"),
                "results": str(run.path)}

    return {"kind": kind, "benchmark": base.bench.get("benchmark"),
            "split": base.bench.get("split"), "base": who(base), "tuned": who(tuned),
            "n_boot": n_boot, "seed": seed, "unit": "points (100 x metric)",
            "metrics": {r.metric: {**_row(r), "categories": {
                c: _row(x) for c, x in per_cat.get(r.metric, [])}} for r in overall}}


def _fmt(x: float | None, sign: bool = False) -> str:
    return "-" if x is None else (f"{x:+.2f}" if sign else f"{x:.2f}")


def _ci(ci: list[float | None]) -> str:
    return "-" if ci[0] is None else f"[{ci[0]:+.2f}, {ci[1]:+.2f}]"


def markdown(data: dict[str, Any]) -> str:
    kind = data["kind"]
    lines = [f"# {data['tuned'][kind]} vs {data['base'][kind]} on {data['benchmark']}", "",
             f"- base: `{data['base']['model']}` ({data['base']['results']})",
             f"- tuned: `{data['tuned']['model']}` ({data['tuned']['results']})",
             f"- split `{data['split']}`; values in points (100 x metric); delta = tuned - base "
             f"with its 95% paired-bootstrap CI ({data['n_boot']} resamples of the shared "
             f"items, seed {data['seed']})", "",
             "| metric | base | tuned | delta | 95% CI | n |", "|---|---|---|---|---|---|"]
    for name, r in data["metrics"].items():
        lines.append(f"| {name} | {_fmt(r['base'])} | {_fmt(r['tuned'])} | "
                     f"{_fmt(r['delta'], True)} | {_ci(r['ci95'])} | {r['n']} |")
    for name, r in data["metrics"].items():
        if not r["categories"]:
            continue
        lines += ["", f"## {name} per category", "",
                  "| category | base | tuned | delta | 95% CI | n |", "|---|---|---|---|---|---|"]
        for c, x in r["categories"].items():
            lines.append(f"| {c} | {_fmt(x['base'])} | {_fmt(x['tuned'])} | "
                         f"{_fmt(x['delta'], True)} | {_ci(x['ci95'])} | {x['n']} |")
    notes = [f"- {name}: {r['note']}" for name, r in data["metrics"].items() if r["note"]]
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines) + "\n"
