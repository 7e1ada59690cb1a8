"""`evalsuite describe`: what a preference benchmark holds and what it reports."""

from __future__ import annotations

import json
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("describe")(describe)


def describe(
    bench: str = typer.Option(..., "--bench", "-b", help="Benchmark name (see `evalsuite list`)."),
    data_path: Optional[str] = typer.Option(None, help="Local copy in the hub layout "
                                            "(default: the hub, pinned revision)."),
    split: Optional[str] = typer.Option(None, help="Split (default: the benchmark's)."),
    bench_option: Optional[list[str]] = typer.Option(None, "--bench-option", help="Benchmark "
                                                     "option key=value (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """A benchmark's size, splits, labels, categories, metrics and options.

    Prints its size, splits, label distribution, categories / dimensions, the metrics its
    results.json reports and the --bench-option keys it takes. Reads rows only; no media is
    decoded.

    Example: evalsuite describe --bench vlrewardbench --data-path fx/vlrewardbench
    """
    from rich.console import Console
    from rich.table import Table

    from evalsuite.commands.common import parse_options
    from evalsuite.registry import BENCHMARKS

    from evalsuite.commands.common import fail
    from evalsuite.commands.preflight import (PreflightError, check_hub, check_local,
                                              check_options, declared_options, is_repo_id)

    err = Console(stderr=True)
    try:
        options = parse_options(bench_option)
        cls = BENCHMARKS.entry(bench).load()
        check_options(cls, options, "--bench-option", bench)
        b = BENCHMARKS.create(bench, **options)
        if data_path:
            check_local(data_path, "--data-path")
        elif is_repo_id(b.hub_id):
            check_hub(b.hub_id, "dataset", b.revision, "--data-path")
        d = b.describe(data_path, split)
    except (KeyError, ValueError, FileNotFoundError, ConnectionError, OSError,
            PreflightError) as e:
        fail(err, e)
    d["options"] = declared_options(cls)
    if as_json:
        print(json.dumps(d, indent=2, default=str))
        return
    c = Console()
    src = d["data_path"] or f"{d['hub_id']} @ {d['revision'] or 'unpinned (latest)'}"
    c.print(f"[bold]{d['benchmark']}[/bold]  source: {src}  split: {d['split']} "
            f"(splits: {', '.join(d['splits'])})  {d['modality']} / {d['task']}")
    c.print(f"rows: {d['rows']}  items: {d['items']}  bad rows: {d['bad_rows']}")
    for reason, n in d["bad_row_reasons"].items():
        c.print(f"  bad row x{n}: {reason}")
    t = Table(title="labels")
    for col in ("field", "value", "count"):
        t.add_column(col)
    for k, v in sorted(d["labels"].items()):
        t.add_row("label", k, str(v))
    for k, v in sorted(d["raw_labels"].items()):
        t.add_row("raw label", k, str(v))
    for dim, counts in d["dimensions"].items():
        for k, v in sorted(counts.items()):
            t.add_row(f"dimension {dim}", k, str(v))
    for k, v in d["categories"].items():
        t.add_row("category", k, str(v))
    c.print(t)
    m = Table(title="metrics reported in results.json")
    m.add_column("name")
    m.add_column("definition", overflow="fold")
    for k, v in d["metrics"].items():
        m.add_row(k, v)
    c.print(m)
    o = Table(title="options (--bench-option key=value)")
    o.add_column("option", no_wrap=True)
    o.add_column("what")
    for k, v in sorted(d["options"].items()):
        o.add_row(k, v)
    c.print(o)
