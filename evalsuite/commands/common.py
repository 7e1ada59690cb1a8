"""Helpers shared by CLI verbs: option parsing, one-line errors, the error gate, tables."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, NoReturn

import typer

# A generative fixture judge has random weights: it never writes a verdict and would run to
# its card's token limit (512-4096) on every item. This cap keeps a smoke run to seconds.
FIXTURE_MAX_NEW_TOKENS = 16


def fail(console, error: Exception | str) -> NoReturn:
    """Print ``error: <one line>`` and exit 2 (a usage or setup problem, nothing ran)."""
    msg = str(error)
    if isinstance(error, KeyError):  # KeyError's str() quotes its message
        msg = msg.strip("'\"")
    console.print(f"[red]error:[/red] {msg}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def is_fixture(path: str | None) -> bool:
    """A folder built by `evalsuite fixtures` (it carries the builder's stamp)."""
    return bool(path) and (Path(path) / ".evalsuite-fixture.json").is_file()


def fixture_token_cap(judge: str, model_path: str | None, options: dict[str, Any]) -> str | None:
    """Cap a generative fixture judge's new tokens unless ``max_new_tokens`` is given;
    returns the note to print, or None when nothing was changed."""
    if not is_fixture(model_path) or "max_new_tokens" in options:
        return None
    from evalsuite.registry import JUDGES
    try:
        cls = JUDGES.entry(judge).load()
    except (KeyError, ImportError):
        return None
    if getattr(cls, "default_card", None) is None:
        return None
    options["max_new_tokens"] = FIXTURE_MAX_NEW_TOKENS
    return (f"{model_path} is a random-weight fixture: max_new_tokens={FIXTURE_MAX_NEW_TOKENS} "
            "(-o max_new_tokens=N to change); its answers are noise, so most are unparsed")


def is_data_error(message: str) -> bool:
    """Whether a recorded error is the data's: a row the benchmark rejected, or media that
    is missing, unreadable or outside the dataset root (``MediaError``). A pointwise pair
    joins its sides' errors as ``A: ...; B: ...``: it is a data error when each side is."""
    parts = [p.strip() for p in re.split(r"; (?=[AB]: )", message)]
    parts = [p[3:] if p[:3] in ("A: ", "B: ") else p for p in parts]
    return all(p.startswith(("bad row:", "MediaError:")) for p in parts)


def data_error_count(run_dir: Path) -> tuple[int, int]:
    """(data errors, other errors) over a finished run's ``samples.jsonl``."""
    data = other = 0
    with open(Path(run_dir) / "samples.jsonl", encoding="utf-8") as fh:
        for line in fh:
            err = json.loads(line).get("error")
            if err:
                if is_data_error(err):
                    data += 1
                else:
                    other += 1
    return data, other


def parse_options(pairs: list[str] | None) -> dict[str, Any]:
    """`--option key=value` pairs; values are parsed as JSON when they parse, else strings."""
    out: dict[str, Any] = {}
    for p in pairs or []:
        if "=" not in p:
            raise typer.BadParameter(f"expected key=value, got {p!r}")
        k, v = p.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def fmt_metric(m: Any) -> str:
    if m is None:
        return "-"
    if isinstance(m, dict) and "value" in m:
        v, ci = m["value"], m.get("ci95")
        if v is None:
            return "-"
        s = f"{100 * v:.1f}"
        if ci and ci[0] is not None:
            s += f" [{100 * ci[0]:.0f}-{100 * ci[1]:.0f}]"
        return s
    return str(m)


SHORT = {"accuracy_with_ties": "tau", "accuracy_without_ties": "diff",
         "overall_accuracy": "overall", "macro_accuracy": "macro"}
LEGEND = {"tau": "accuracy with ties (tie-calibrated)", "diff": "accuracy without ties",
          "overall": "VL-RewardBench overall", "macro": "VL-RewardBench macro"}
# The published column pairs; other metrics stay in results.json.
TABLE_METRICS = ("accuracy_with_ties", "accuracy_without_ties", "overall_accuracy",
                 "macro_accuracy")


def primary_metrics(bench: str) -> tuple[str, ...]:
    """The metrics a benchmark publishes (shown even when undefined, as '-')."""
    from evalsuite.registry import BENCHMARKS
    try:
        return tuple(BENCHMARKS.entry(bench).load().primary_metrics)
    except (KeyError, ImportError, AttributeError):
        return ()


def results_table(rows: list[dict[str, Any]], title: str = "Results"):
    """A rich table of judge x benchmark results (values in %, 95% CI below).

    Names are never cut: judge and benchmark share one column (two lines), metric headers
    are short with a legend, and a CI wraps under its value, so the table fits 80 columns.
    """
    from rich import box
    from rich.table import Table

    names: list[str] = []
    for r in rows:
        shown = [k for k, v in r["metrics"].items() if isinstance(v, dict) and "value" in v]
        for k in [*primary_metrics(r["benchmark"]["benchmark"]), *shown]:
            if k in TABLE_METRICS and k not in names:
                names.append(k)
    names.sort(key=TABLE_METRICS.index)
    legend = ", ".join(f"{SHORT[n]}: {LEGEND[SHORT[n]]}" for n in names)
    t = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, caption_justify="left", caption=(
        f"% with 95% bootstrap CI below. {legend}. n: items, err: errors, unp: unparsed. "
        "-: undefined (e.g. all unparsed). All metrics: each run's results.json"))
    t.add_column("judge / benchmark", no_wrap=True)
    for col in ("n", "err", "unp"):
        t.add_column(col, justify="right", no_wrap=True)
    for n in names:  # "[lo-hi]" folds rather than being cut when a terminal is very narrow
        t.add_column(SHORT[n], justify="right", min_width=len(SHORT[n]), overflow="fold")
    for r in rows:
        c, mine = r["counts"], primary_metrics(r["benchmark"]["benchmark"])
        cells = [fmt_metric(r["metrics"].get(n)).replace(" [", "\n[")
                 if n in r["metrics"] or n in mine else "" for n in names]
        t.add_row(f"{r['judge']['judge']}\n{r['benchmark']['benchmark']}", str(c["items"]),
                  str(c["errors"]), str(c["unparsed"]), *cells)
    return t
