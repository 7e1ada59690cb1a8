"""The report card: ``probe.json`` (every number), ``probe.md`` (the card a person reads) and
``plots/*.svg``, plus the probe table of the leaderboard.

Like ``results.json``, the card is a function of the records and the configuration only: no
clock, no machine paths (a local checkpoint or dataset folder is written as
``fixture:<name>`` or ``local:<name>``, as ``leaderboard --add`` does), so copying a card
into the results folder and regenerating the leaderboard gives the same bytes.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

CARD_FILES = ("probe.json", "probe.md")
# Raw value lists a probe returns for its plots; too long for the JSON card.
_PLOT_ONLY = ("margins", "deltas", "pair_margins", "noise_deltas")


def _portable(value: Any) -> Any:
    from evalsuite.leaderboard import is_fixture_path
    if isinstance(value, str) and (value.startswith("/") or os.path.isdir(value)):
        return f"{'fixture' if is_fixture_path(value) else 'local'}:{Path(value).name}"
    return value


def build_card(cfg, bench, judge, pairwise: bool, ctx, plans: dict[str, Any],
               outcomes: dict, bad_rows: int, seconds: float = 0.0) -> dict[str, Any]:
    jinfo = judge.info()
    jinfo["model_path"] = _portable(jinfo.get("model_path"))
    binfo = bench.info(cfg.data_path, cfg.split)
    binfo["data_path"] = _portable(binfo.get("data_path"))
    probes: dict[str, Any] = {}
    plot_data: dict[str, Any] = {}
    # resolution first: its noise level is what the other probes compare effects with
    for name in sorted(plans, key=lambda n: n != "resolution"):
        probe, built, reason = plans[name]
        head = {"title": probe.title, "question": probe.question}
        if built is None:
            probes[name] = {**head, "status": "skipped", "reason": reason}
            continue
        cases = [c for c in built.cases if c.case_id in outcomes]
        s = probe.summarize(ctx, cases, outcomes)
        plot_data[name] = {k: s.pop(k) for k in _PLOT_ONLY if k in s}
        if name == "resolution" and s.get("noise"):
            ctx.noise_level = s["noise"]["level_p95_abs"]
        probes[name] = {**head, "status": "ok", **s,
                        "items_not_built": [{"item_id": i, "reason": r}
                                            for i, r in built.skipped]}
    probes = {n: probes[n] for n in plans}  # back in the requested order
    _noise_units(probes)
    findings = [f"{n}: {f}" for n, p in probes.items() for f in p.get("flags", [])]
    for n, p in probes.items():  # what the rates leave out is a finding too
        for what, k in (("judge errors", "errors"), ("unparsed verdicts", "unparsed")):
            if p.get(k):
                findings.append(f"{n}: {p[k]} of {p['cases']} cases are {what} (left out of "
                                "the rates)")
    card = {"kind": "evalsuite-probe-card", "judge": jinfo, "benchmark": binfo,
            "mode": "pairwise" if pairwise else "pointwise", "seed": cfg.seed,
            "items_sampled": len(ctx.items), "bad_rows": bad_rows,
            "findings": findings, "probes": probes}
    card["_plots"] = plot_data  # popped by write_card
    return card


def _noise_units(probes: dict[str, Any]) -> None:
    """Perturbation reward changes in units of the judge's re-encoding noise, when known."""
    res, per = probes.get("resolution", {}), probes.get("perturbation", {})
    level = (res.get("noise") or {}).get("level_p95_abs")
    if not level or per.get("status") != "ok":
        return
    for row in per["metrics"].values():
        d = row.get("delta", {}).get("mean")
        row["delta_over_noise"] = None if d is None else d / level


# --- writing ---------------------------------------------------------------------------------

def write_card(run_dir: Path, card: dict[str, Any]) -> list[str]:
    plots = card.pop("_plots", {})
    run_dir = Path(run_dir)
    names = write_plots(card, plots, run_dir / "plots")
    (run_dir / "probe.json").write_text(json.dumps(card, indent=2) + "\n",
                                        encoding="utf-8", newline="\n")
    (run_dir / "probe.md").write_text(render_markdown(card, names), encoding="utf-8",
                                      newline="\n")
    return ["probe.json", "probe.md", *[f"plots/{n}" for n in names]]


def copy_card(run_dir: Path, dest: Path) -> Path:
    """The card files (and plots) of a probe run copied to ``dest`` (e.g. under results/)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for f in CARD_FILES:
        shutil.copyfile(Path(run_dir) / f, dest / f)
    if (Path(run_dir) / "plots").is_dir():
        shutil.copytree(Path(run_dir) / "plots", dest / "plots", dirs_exist_ok=True)
    return dest


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _ci(s: dict[str, Any], scale: float = 100.0, unit: str = "%") -> str:
    ci = s.get("ci95")
    if not ci or ci[0] is None or ci[0] != ci[0]:
        return "-"
    if unit == "%":
        return f"{scale * ci[0]:.1f}-{scale * ci[1]:.1f}%"
    return f"[{ci[0]:+.3g}, {ci[1]:+.3g}]"


def _stat_row(name: str, s: dict[str, Any]) -> str:
    ideal = s.get("ideal")
    if "rate" in s:
        cells = [name, f"{s['count']} / {s['n']}", _pct(s["rate"]), _ci(s),
                 "-" if ideal is None else _pct(ideal)]
    else:
        cells = [name, f"n = {s['n']}", "-" if s.get("mean") is None else f"{s['mean']:+.4g}",
                 _ci(s, unit=""), "-" if ideal is None else f"{ideal:g}"]
    return "| " + " | ".join(cells) + " |"


def render_markdown(card: dict[str, Any], plots: list[str]) -> str:
    j, b = card["judge"], card["benchmark"]
    out = [f"# Report card: {j['judge']} on {b['benchmark']}", "",
           f"- checkpoint: `{j.get('model_path') or j.get('model')}`"
           + (f" @ `{j['revision']}`" if j.get("revision") else ""),
           f"- benchmark: {b['benchmark']} split `{b.get('split')}`"
           + (f", data `{b['data_path']}`" if b.get("data_path") else ""),
           f"- judged {card['mode']}; {card['items_sampled']} benchmark items sampled "
           f"(seed {card['seed']}); rates with 95% bootstrap CIs", "", "## Findings", ""]
    if card["findings"]:
        out += [f"- {f}" for f in card["findings"]]
    else:
        out.append("- none at the 95% level: no probe's CI excludes its ideal value")
    for name, p in card["probes"].items():
        out += ["", f"## {p['title']} (`{name}`)", "", p["question"], ""]
        if p["status"] == "skipped":
            out.append(f"Not run: {p['reason']}.")
            continue
        out.append(f"{p['cases']} cases, {p['errors']} judge errors, {p['unparsed']} unparsed"
                   + (f", {len(p['items_not_built'])} item(s) without a case"
                      if p.get("items_not_built") else "") + ".")
        out.append("")
        if name == "perturbation":
            out += _perturbation_table(p)
        else:
            out += ["| metric | count / n | value | 95% CI | ideal |", "|---|---|---|---|---|"]
            out += [_stat_row(k, s) for k, s in p["metrics"].items()]
        for key, label in (("margin_abs", "|margin| on identical media"),
                           ("noise", "re-encoding noise")):
            if key in p:
                out += ["", f"{label}: " + ", ".join(
                    f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                    for k, v in p[key].items())]
        if p.get("amplification") is not None:
            out += ["", f"Amplification: a group's normalised advantages are "
                        f"{p['amplification']:.3g}x its raw score differences measured on the "
                        f"benchmark's score spread (std {p['score_spread_std']:.4g})."]
        if p.get("note"):
            out += ["", f"Note: {p['note']}."]
        for f in p.get("flags", []):
            out.append(f"\n**Finding:** {f}")
    if plots:
        out += ["", "## Plots", ""] + [f"![{n}](plots/{n})" for n in plots]
    out.append("")
    return "\n".join(out)


def _perturbation_table(p: dict[str, Any]) -> list[str]:
    rows = ["| edit | what | wins over original | 95% CI | mean reward change | 95% CI | "
            "change / noise | exploitable |", "|---|---|---|---|---|---|---|---|"]
    for name, r in p["metrics"].items():
        w, d = r["win_rate"], r.get("delta", {})
        dn = r.get("delta_over_noise")
        rows.append("| " + " | ".join([
            name, r["description"], _pct(w.get("mean")), _ci(w),
            "-" if d.get("mean") is None else f"{d['mean']:+.4g}", _ci(d, unit="") if d else "-",
            "-" if dn is None else f"{dn:+.2f}", "**yes**" if r["exploitable"] else "no"]) + " |")
    return rows


def write_plots(card: dict[str, Any], data: dict[str, Any], out: Path) -> list[str]:
    """Perturbation effects with CIs, and margins against the noise level (SVG, stable)."""
    try:
        import matplotlib
    except ImportError:
        return []
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from evalsuite.leaderboard import _SVG_META, _svg_rc
    if out.exists():
        shutil.rmtree(out)
    names: list[str] = []
    per = card["probes"].get("perturbation", {})
    with plt.rc_context(_svg_rc()):
        if per.get("status") == "ok":
            rows = list(per["metrics"].items())
            score = card["mode"] == "pointwise"
            key, mid = ("delta", 0.0) if score else ("win_rate", 0.5)
            vals = [r[key].get("mean") for _, r in rows]
            if any(v is not None for v in vals):
                fig, ax = plt.subplots(figsize=(5.5, 0.35 * len(rows) + 1.2))
                ys = range(len(rows))
                v = [x if x is not None else mid for x in vals]
                err = [[max(0.0, x - (r[key]["ci95"] or [x, x])[0]) for x, (_, r) in
                        zip(v, rows)], [max(0.0, (r[key]["ci95"] or [x, x])[1] - x)
                                        for x, (_, r) in zip(v, rows)]]
                ax.barh(list(ys), [x - mid for x in v], left=mid, xerr=err,
                        color=["#c0392b" if r["exploitable"] else "#7f8c8d" for _, r in rows])
                ax.axvline(mid, color="black", lw=0.8)
                ax.set_yticks(list(ys), [n for n, _ in rows])
                ax.set_xlabel("mean reward change (edited - original)" if score
                              else "share of verdicts preferring the edited media")
                ax.set_title(f"{card['judge']['judge']}: perturbations (red = exploitable)")
                fig.tight_layout()
                fig.savefig(out_path(out, "perturbations.svg"), metadata=_SVG_META)
                plt.close(fig)
                names.append("perturbations.svg")
        res = data.get("resolution", {})
        if res.get("pair_margins") and res.get("noise_deltas"):
            level = card["probes"]["resolution"]["noise"]["level_p95_abs"]
            fig, ax = plt.subplots(figsize=(5.5, 2.8))
            import numpy as np
            pm, nd = np.asarray(res["pair_margins"]), np.abs(res["noise_deltas"])
            top = float(max(pm.max(), nd.max(), level)) or 1.0
            bins = np.linspace(0, top, 25)
            ax.hist(pm, bins=bins, alpha=0.7, label="|margin| of benchmark pairs")
            ax.hist(nd, bins=bins, alpha=0.7, label="|change| under re-encoding")
            ax.axvline(level, color="black", ls="--", lw=0.8, label="noise level (p95)")
            ax.set_xlabel("score difference")
            ax.legend(fontsize=7)
            fig.tight_layout()
            fig.savefig(out_path(out, "resolution.svg"), metadata=_SVG_META)
            plt.close(fig)
            names.append("resolution.svg")
    return names


def out_path(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


# --- the leaderboard's probe table ----------------------------------------------------------

def leaderboard_section(results: Path, out: Path) -> str:
    """Markdown: one row per report card found under ``results`` (``probe.json``), with a
    link to the card relative to the leaderboard folder ``out``. Empty when none."""
    results, out = Path(results), Path(out)
    cards = sorted(results.rglob("probe.json"), key=lambda p: p.relative_to(results).as_posix())
    rows = []
    for path in cards:
        try:
            c = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"unreadable probe card {path}: {e}") from e
        if c.get("kind") != "evalsuite-probe-card":
            continue
        p = c["probes"]

        def metric(probe: str, name: str) -> str:
            s = (p.get(probe, {}).get("metrics") or {}).get(name)
            return "-" if not s or s.get("rate") is None else f"{100 * s['rate']:.0f}%"
        per = p.get("perturbation", {})
        exploit = [n for n, r in (per.get("metrics") or {}).items() if r.get("exploitable")]
        link = Path(os.path.relpath(path.with_name("probe.md"), out)).as_posix()
        fixture = any(str(x).startswith("fixture:") for x in
                      (c["judge"].get("model_path"), c["benchmark"].get("data_path")))
        rows.append([c["judge"]["judge"] + (" †" if fixture else ""),
                     c["benchmark"]["benchmark"], c["mode"],
                     metric("position", "flip_rate"), metric("position", "first_preferred"),
                     metric("identical", "tie_rate"), metric("prompt", "swap_accuracy"),
                     ", ".join(exploit) or "none", str(len(c["findings"])),
                     f"[card]({link})"])
    if not rows:
        return ""
    lines = ["", "## Is this judge safe to train against? (probe report cards)", "",
             "From `evalsuite probe`: order flips, share of wins by the candidate shown first, "
             "ties on identical media, the caption's own candidate winning against another "
             "caption's, and the edits that raise the reward. Ideal: 0%, 50%, 100%, 100%, "
             "none.", "",
             "| judge | benchmark | mode | order flips | first wins | identical tie | "
             "prompt swap | exploitable edits | findings | card |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    if any(r[0].endswith(" †") for r in rows):
        lines += ["", "† fixture judge or data (a smoke test of the probes, not a property of "
                      "the real model)."]
    return "\n".join(lines) + "\n"
