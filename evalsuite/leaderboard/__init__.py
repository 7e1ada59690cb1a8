"""The leaderboard: every ``results.json`` under a folder -> Markdown, HTML, CSV/Parquet, plots.

Everything written is a pure function of the results files (and of the published reference
numbers in ``evalsuite/data/published.yaml``): no clock, no machine paths, stable ordering,
plots with fixed SVG metadata and hash salt. Regenerating twice gives identical bytes.

The package, in data-flow order: :mod:`~evalsuite.leaderboard.collect` (results files ->
de-duplicated entries), :mod:`~evalsuite.leaderboard.tables` (the board and its tables),
:mod:`~evalsuite.leaderboard.renderers` (Markdown, HTML, CSV, Parquet) and
:mod:`~evalsuite.leaderboard.plots`; :func:`generate` writes them all and swaps the folder in
(:mod:`~evalsuite.leaderboard.swap`).

Rules (also in the README section "Leaderboard"):

* a **row** is a judge configuration (judge name, checkpoint id, revision, local checkpoint,
  options, pairwise/pointwise mode); a **column** is a benchmark configuration (name, config,
  split, dataset revision, fixture or real data);
* **duplicates** (same row and column): the run whose ``run.json`` ``finished_at`` is newest
  wins; runs without ``run.json`` count as oldest; ties are broken by the run folder's path
  (the last in sorted order wins). The tables name the winning run and count the others;
* **fixture** rows: the checkpoint or the dataset is an offline fixture (a path written as
  ``fixture:<name>`` by ``--add``, a local folder holding ``.evalsuite-fixture.json``, or a
  results file under a folder named ``fixtures``). Their numbers are smoke tests of the
  pipeline on tiny random-weight models, never real accuracies, and are marked everywhere;
* the **paper** column comes from ``published.yaml`` (matched on judge, checkpoint id,
  benchmark and split) with its source; **gap** = ours - paper, in points.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from evalsuite.leaderboard.collect import (
    COPIED,
    FIXTURE_STAMP,
    Entry,
    PolicyRun,
    add_run,
    dedupe,
    is_fixture_path,
    load_entries,
    load_policy_runs,
    load_published,
    published_for,
)
from evalsuite.leaderboard.plots import _SVG_META, _svg_rc, slug, write_plots
from evalsuite.leaderboard.renderers import (
    render_html,
    render_markdown,
    write_csv,
    write_parquet,
)
from evalsuite.leaderboard.swap import _exchange, _recover, _swap_in
from evalsuite.leaderboard.tables import (
    GENERATED_NOTE,
    LONG_COLUMNS,
    METRIC_PAIRS,
    PAIR_NOTES,
    PAIR_WITH_TIES,
    Board,
    Column,
    Row,
    Table,
    build_board,
    long_rows,
    metric_pair,
    pct,
)

__all__ = [
    "COPIED", "FIXTURE_STAMP", "GENERATED_NOTE", "LONG_COLUMNS", "METRIC_PAIRS", "OUTPUTS",
    "PAIR_NOTES", "PAIR_WITH_TIES", "TEXT_OUTPUTS", "Board", "Column", "Entry", "PolicyRun",
    "Row", "Table", "add_run", "build_board", "dedupe", "generate", "is_fixture_path",
    "load_entries", "load_policy_runs", "load_published", "long_rows", "metric_pair", "pct",
    "published_for", "render_html", "render_markdown", "slug", "write_csv", "write_parquet",
    "write_plots",
]


TEXT_OUTPUTS = ("README.md", "index.html", "leaderboard.csv")


def generate(results: Path, out: Path, published: Path | None = None,
             plots: bool = True, parquet: bool = True) -> dict[str, Any]:
    """Regenerate every leaderboard file under ``out`` from ``results``.

    Atomic: every results file is validated first, the board is built in a temp folder
    beside ``out`` and swapped in whole (``renameat2(RENAME_EXCHANGE)`` where the OS has it,
    else two renames, undone on the next run if a kill lands between them), so a killed
    ``leaderboard`` leaves the previous board intact. Files in ``out`` that the leaderboard
    does not write are carried over.
    """
    results, out = Path(results), Path(out)
    if not results.is_dir():
        raise FileNotFoundError(f"results folder {results} does not exist")
    if out.resolve() == results.resolve() or out.resolve() in results.resolve().parents:
        raise ValueError(f"--out {out} contains the results folder {results}: the board is "
                         "swapped in as a whole folder; choose a folder of its own")
    board = build_board(results, load_published(published))
    out.parent.mkdir(parents=True, exist_ok=True)
    _recover(out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        info = _write_board(board, results, tmp, plots, parquet)
        if out.is_dir():
            for f in sorted(out.iterdir()):  # what the user keeps there
                if f.name not in (*OUTPUTS, "plots"):
                    (shutil.copytree if f.is_dir() else shutil.copy2)(f, tmp / f.name)
        _swap_in(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return info


OUTPUTS = (*TEXT_OUTPUTS, "leaderboard.parquet", "versions.json")


def _write_board(board: Board, results: Path, out: Path, plots: bool, parquet: bool
                 ) -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    names = write_plots(board, out / "plots") if plots else []
    if names:
        import matplotlib
        versions["matplotlib"] = matplotlib.__version__
    # newline="\n": the same bytes on Windows too. The probe section: judge report cards
    # (probe.json) under results/, linked relative to the board (out is a sibling of the
    # final folder, so the links hold after the swap).
    from evalsuite.probes.card import leaderboard_section
    (out / "README.md").write_text(render_markdown(board, names)
                                   + leaderboard_section(results, out), encoding="utf-8",
                                   newline="\n")
    (out / "index.html").write_text(render_html(board), encoding="utf-8", newline="\n")
    rows = long_rows(board)
    write_csv(rows, out / "leaderboard.csv")
    files = list(TEXT_OUTPUTS)
    pq_path = out / "leaderboard.parquet"
    if parquet and write_parquet(rows, pq_path):
        files.append(pq_path.name)
        import pyarrow
        versions["pyarrow"] = pyarrow.__version__
    files += [f"plots/{n}" for n in names]
    # Binary outputs are byte-stable for a given library version; the versions are recorded
    # so a check against committed files can tell a version change from a real difference.
    (out / "versions.json").write_text(json.dumps({"binary_outputs_made_with": versions},
                                                  indent=2, sort_keys=True) + "\n",
                                       newline="\n")
    files.append("versions.json")
    return {"rows": len(board.rows), "columns": len(board.cols), "cells": len(board.cells),
            "files": files, "results_files": board.n_files,
            "fixture_cells": sum(e.fixture for e in board.cells.values())}
