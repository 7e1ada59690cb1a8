"""Renderers: the tables of :mod:`evalsuite.leaderboard.tables` as Markdown, one HTML file,
CSV and Parquet. A renderer chooses which tables a page shows and lays them out; it never
computes a cell. Output is byte-deterministic (``\\n`` line ends, stable order)."""

from __future__ import annotations

import csv
import html
import io
from pathlib import Path
from typing import Any

from evalsuite.leaderboard import tables as T
from evalsuite.leaderboard.tables import Board, Table

# --- Markdown --------------------------------------------------------------------------------


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|")


def markdown_table(t: Table) -> list[str]:
    """Lines of a pipe table; fixture marks become "† " (a Markdown row cannot be shaded)."""
    out = ["| " + " | ".join(_md_escape(h.text) for h in t.headers) + " |",
           "|" + "---|" * len(t.headers)]
    for row in t.rows:
        out.append("| " + " | ".join(_md_escape(("† " if c.dagger else "") + c.text)
                                     for c in row.cells) + " |")
    return out


def render_markdown(board: Board, plots: list[str] | None = None) -> str:
    out = ["# Judge leaderboard", ""]
    out.append(T.GENERATED_NOTE.format(root=board.root_name) + f" {board.n_files} results "
               f"file(s), {len(board.cells)} shown after de-duplication.")
    out.append("")
    if board.any_fixture:
        out += [f"> {T.FIXTURE_BANNER}", ""]
    out.append("Accuracies in %. Column pairs as published: "
               + "; ".join(f"**{k}** = {v}" for k, v in T.PAIR_NOTES.items()) + ". "
               "**paper** = the published number for the same checkpoint (sources below); "
               "**gap** = ours - paper, in points (not computed for fixture runs).")
    summary = T.pair_summary_table(board)
    out += ["", f"## {summary.title}", "", *markdown_table(summary)]
    if board.any_fixture:
        out += ["", "† fixture run (smoke test, not a real number)."]
    for c in board.cols:
        table = T.benchmark_table(board, c)
        out += ["", f"## {table.title}", "", *markdown_table(table)]
        breakdown = T.breakdown_table(board, c)
        if breakdown:
            out += ["", breakdown.title, "", *markdown_table(breakdown)]
    refs = T.published_table(board)
    if refs:
        out += ["", f"## {refs.title}", "", *markdown_table(refs), ""]
        out += [f"- [{key}] {_md_escape(text)}"
                for key, text in T.sources(T.published_rows(board))]
    if plots:
        out += ["", "## Plots", "", "Bars: ours with 95% bootstrap CI; black ticks: published."]
        out += [f"\n![{n}](plots/{n})" for n in plots]
    if board.policy_runs:
        policy = T.policy_table(board)
        out += ["", f"## {policy.title}", "", *markdown_table(policy)]
        cited = T.policy_sources(board)
        if cited:
            out.append("")
            out += [f"- [{k}] {_md_escape(t)}" for k, t in cited]
    runs = T.runs_table(board)
    out += ["", f"## {runs.title}", "", *markdown_table(runs), ""]
    return "\n".join(out)


# --- HTML ------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5rem;color:#1b1f24}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.85rem}
th,td{border:1px solid #c8ccd1;padding:.25rem .5rem;text-align:right;white-space:nowrap}
th:first-child,td:first-child,td.t{text-align:left}
th{background:#eef1f4;cursor:pointer;user-select:none;text-align:center}
th.asc::after{content:" \\25B2"}
th.desc::after{content:" \\25BC"}tr.fixture td{background:#fff7e0}
.banner{background:#fff3cd;border:1px solid #e0c36a;padding:.6rem .8rem;max-width:60rem}
.note{color:#555;max-width:60rem}.src{white-space:normal;text-align:left;max-width:30rem}
""".strip()

# Click a header to sort by that column (numbers numerically, "-" last); click again to flip.
_JS = """
document.querySelectorAll("table.sortable").forEach(function(t){
  t.querySelectorAll("th").forEach(function(th,i){th.addEventListener("click",function(){
    var asc=!th.classList.contains("asc");
    t.querySelectorAll("th").forEach(function(h){h.classList.remove("asc","desc")});
    th.classList.add(asc?"asc":"desc");
    var b=t.tBodies[0],rs=Array.prototype.slice.call(b.rows);
    function k(r){var c=r.cells[i],v=c.getAttribute("data-v");
      if(v===null)return[1,c.textContent];if(v==="")return[2,0];return[0,parseFloat(v)]}
    rs.sort(function(x,y){var a=k(x),c=k(y);if(a[0]!==c[0])return a[0]-c[0];
      var d=a[1]<c[1]?-1:a[1]>c[1]?1:0;return asc?d:-d});
    rs.forEach(function(r){b.appendChild(r)})})})});
""".strip()


def _td(c: T.Cell) -> str:
    """A cell; ``data-v`` is the sort key of numbers ("" for a missing one), text is left
    aligned (class ``t``)."""
    attr = ""
    if c.value is not None:
        attr = f' data-v="{c.value if isinstance(c.value, str) else repr(round(c.value, 6))}"'
    cls = "t" if c.value is None and not c.cls else c.cls
    if cls:
        attr += f' class="{cls}"'
    return f"<td{attr}>{html.escape(c.text)}</td>"


def html_table(t: Table) -> list[str]:
    """Lines of a sortable table: one line per header group, one per row; fixture rows
    shaded."""
    ident = f' id="{t.table_id}"' if t.table_id else ""
    head = ["".join(f"<th>{html.escape(h.short or h.text)}</th>" for h in g) for g in t.groups]
    head[0] = f'<table class="sortable"{ident}><thead><tr>' + head[0]
    head[-1] += "</tr></thead><tbody>"
    rows = [('<tr class="fixture">' if r.fixture else "<tr>") + "".join(map(_td, r.cells))
            + "</tr>" for r in t.rows]
    return [*head, *rows, "</tbody></table>"]


def render_html(board: Board) -> str:
    o = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
         '<meta name="viewport" content="width=device-width, initial-scale=1">',
         "<title>evalsuite judge leaderboard</title>", f"<style>{_CSS}</style>", "</head>",
         "<body>", "<h1>Judge leaderboard</h1>",
         f'<p class="note">{html.escape(T.GENERATED_NOTE.format(root=board.root_name))} '
         f"{board.n_files} results file(s), {len(board.cells)} shown after de-duplication. "
         "Accuracies in %; click a column header to sort.</p>"]
    if board.any_fixture:
        o.append(f'<p class="banner" id="fixture-banner">'
                 f'{html.escape(T.FIXTURE_BANNER.replace("**", ""))}</p>')
    o.append('<ul class="note">' + "".join(f"<li><b>{k}</b>: {html.escape(v)}</li>"
                                           for k, v in T.PAIR_NOTES.items())
             + "<li><b>paper</b>: published number for the same checkpoint; <b>gap</b> = ours "
               "- paper, in points (not computed for fixture runs)</li></ul>")
    tables = [T.summary_table(board), *(T.benchmark_table(board, c) for c in board.cols)]
    refs = T.published_table(board)
    for t in tables + ([refs] if refs else []):
        o += [f"<h2>{html.escape(t.title)}</h2>", *html_table(t)]
    if refs:
        o.append('<ul class="note">' + "".join(
            f"<li>[{html.escape(k)}] {html.escape(t)}</li>"
            for k, t in T.sources(T.published_rows(board))) + "</ul>")
    o.append(f"<script>{_JS}</script>")
    o += ["</body>", "</html>", ""]
    return "\n".join(o)


# --- CSV / Parquet (the long-form rows) -------------------------------------------------------

def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=T.LONG_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r[k]) for k in T.LONG_COLUMNS})
    path.write_text(buf.getvalue(), encoding="utf-8", newline="\n")


def write_parquet(rows: list[dict[str, Any]], path: Path) -> bool:
    """False (nothing written) when pyarrow is not installed."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return False
    types = {"value_pct": pa.float64(), "ci_low_pct": pa.float64(), "ci_high_pct": pa.float64(),
             "published_pct": pa.float64(), "gap_pct": pa.float64(), "n": pa.int64(),
             "fixture": pa.bool_()}
    cols = {k: pa.array([r.get(k) for r in rows], type=types.get(k, pa.string()))
            for k in T.LONG_COLUMNS}
    pq.write_table(pa.table(cols), path, compression="zstd", write_statistics=False)
    return True
