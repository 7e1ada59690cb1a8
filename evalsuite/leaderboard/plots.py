"""Plots: per benchmark, a bar chart of the primary metric pair (ours with 95% CI error
bars, published numbers as black ticks) and a per-category chart, as SVG.

Deterministic: text stays text, ids are salted with a fixed salt, no date or version is
written, and matplotlib's default style is used whatever the user's matplotlibrc says.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from evalsuite.leaderboard.tables import (
    Board,
    breakdown_keys,
    breakdown_metric,
    breakdown_value,
    ranked,
)


def slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", s).strip("-").lower()


def _svg_rc() -> dict[str, Any]:
    # Text stays text (no glyph outlines, so no dependence on font rasterisation), ids are
    # salted deterministically, and no date or version goes into the file.
    return {"svg.hashsalt": "evalsuite-leaderboard", "svg.fonttype": "none",
            "font.family": "DejaVu Sans", "font.size": 9, "path.simplify": False}


_SVG_META = {"Date": None, "Creator": None}


def write_plots(board: Board, out: Path) -> list[str]:
    """Per-benchmark bar chart (primary pair with 95% CI error bars, published as markers)
    and a per-category breakdown chart. Returns the file names written."""
    try:
        import matplotlib
    except ImportError:
        return []
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    import numpy as np

    out.mkdir(parents=True, exist_ok=True)
    written = []
    # Matplotlib's defaults, not the user's matplotlibrc, so every machine draws the same.
    with plt.style.context("default"), matplotlib.rc_context(_svg_rc()):
        for c in board.cols:
            judges = ranked(board, c)
            if not judges or not c.pair:
                continue
            labels = [r.label + (" †" if e.fixture else "") for r, e in judges]
            x = np.arange(len(judges))
            width = 0.8 / len(c.pair)
            fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(judges) + 2), 3.8))
            for k, (m, h) in enumerate(c.pair):
                # Undefined values (nothing parsed) draw no bar rather than a zero.
                vals = [100 * v if (v := (e.metric(m) or {}).get("value")) is not None
                        else float("nan") for _, e in judges]
                lo, hi = [], []
                for (_, e), v in zip(judges, vals):
                    ci = (e.metric(m) or {}).get("ci95") or [None, None]
                    ok = ci[0] is not None and v == v
                    lo.append(max(v - 100 * ci[0], 0.0) if ok else 0.0)
                    hi.append(max(100 * ci[1] - v, 0.0) if ok else 0.0)
                pos = x - 0.4 + width * (k + 0.5)
                ax.bar(pos, vals, width, yerr=[lo, hi], capsize=3, label=f"{h} (ours)",
                       color=f"C{k}", gid=f"bar-{slug(h)}")
                pubs = [((board.pub(e) or {}).get("metrics", {}).get(m)) for _, e in judges]
                px = [p for p, v in zip(pos, pubs) if v is not None]
                py = [float(v) for v in pubs if v is not None]
                if py:
                    ax.scatter(px, py, marker="_", s=300, color="black", zorder=3,
                               label="paper" if k == 0 else None)
            ax.set_xticks(x, labels, rotation=20, ha="right")
            ax.set_ylabel("accuracy (%)")
            ax.set_ylim(0, 115)
            fixture_note = ("\n† fixture smoke test: not real numbers"
                            if any(e.fixture for _, e in judges) else "")
            ax.set_title(c.label + fixture_note, fontsize=9)
            ax.legend(loc="upper right", fontsize=7, frameon=False, ncol=2)
            ax.grid(axis="y", alpha=0.3)
            fig.tight_layout()
            name = f"{slug(c.label)}.svg"
            fig.savefig(out / name, format="svg", metadata=_SVG_META)
            plt.close(fig)
            written.append(name)
            cats = breakdown_keys(board, c)
            if not cats:
                continue
            metric = breakdown_metric(c)
            fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(cats) * len(judges) + 2), 3.8))
            xc = np.arange(len(cats))
            w = 0.8 / len(judges)
            for k, (r, e) in enumerate(judges):
                vals = [100 * v if (v := breakdown_value(e, cat, metric)) is not None
                        else float("nan") for cat in cats]
                ax.bar(xc - 0.4 + w * (k + 0.5), vals, w, label=labels[k], color=f"C{k % 10}")
            ax.set_xticks(xc, [cat.split(":", 1)[-1] for cat in cats])
            ax.set_ylabel(f"{metric} (%)")
            ax.set_ylim(0, 115)
            ax.set_title(f"{c.label}: per category" + (
                "\n† fixture smoke test: not real numbers"
                if any(e.fixture for _, e in judges) else ""), fontsize=9)
            ax.legend(loc="upper right", fontsize=7, frameon=False)
            ax.grid(axis="y", alpha=0.3)
            fig.tight_layout()
            name = f"{slug(c.label)}__categories.svg"
            fig.savefig(out / name, format="svg", metadata=_SVG_META)
            plt.close(fig)
            written.append(name)
    return written
