"""`evalsuite rescore`: re-score saved judge answers under a benchmark's official protocol.

The accepted files and how each is read: :mod:`evalsuite.protocols.rescore`.
"""

from __future__ import annotations

import json
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("rescore")(rescore_cmd)


def rescore_cmd(
    bench: str = typer.Option(..., "--bench", "-b", help="genai-bench | genai-bench-edit | "
                              "genai-bench-video | vlrewardbench"),
    protocol: str = typer.Option("official", help="official (the benchmark's own) | greedy "
                                 "(VL-RewardBench: one answer per item, ours)"),
    responses: str = typer.Option(..., "--responses", "-r", help="samples.jsonl of a run, "
                                  "GenAI-Bench pairwise.jsonl, or VL-RewardBench answers."),
    k: Optional[int] = typer.Option(None, help="VL-RewardBench official: answers per item "
                                    "(default: the most any item has)."),
    parser: str = typer.Option("unifiedreward", help="VL-RewardBench answer parser: "
                               "unifiedreward | cal"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    no_write: bool = typer.Option(False, "--no-write", help="Do not write the "
                                  "results.rescored-*.json file beside a samples.jsonl."),
) -> None:
    """Re-score saved judge answers under a benchmark's official protocol.

    Example (a committed run's samples; no new file written):

      evalsuite rescore --bench genai-bench --protocol official --no-write \\
          --responses results/fixtures/unifiedreward-qwen-7b__genai-bench/samples.jsonl
    """
    from rich.console import Console

    from evalsuite.protocols.rescore import rescore

    err = Console(stderr=True)
    try:
        out = rescore(bench, protocol, responses, k=k, parser=parser, write=not no_write)
    except (ValueError, KeyError, FileNotFoundError) as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2)
    if as_json:
        print(json.dumps(out, ensure_ascii=False))
        return
    con = Console()
    acc = out["accuracy"]
    con.print(f"[bold]{bench}[/bold] protocol {out['protocol']} ({out['format']})")
    con.print(f"accuracy: {'-' if acc is None else f'{100 * acc:.2f}%'}  items: {out['items']}"
              f"  parsed: {out['parsed']}  unparsed: {out['unparsed']} {out['unparsed_detail']}")
    if out.get("macro_accuracy") is not None:
        con.print(f"macro accuracy: {100 * out['macro_accuracy']:.2f}%")
    for c, v in out.get("categories", {}).items():
        a = v["accuracy"]
        con.print(f"  {c}: {'-' if a is None else f'{100 * a:.2f}%'}")
    if out["written"]:
        err.print(f"written: {out['written']}")
