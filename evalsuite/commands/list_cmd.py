"""`evalsuite list`: judges, benchmarks, policies and trainer kinds, what each supports, what
is missing; `--cards` prints the judges' model-card table of models/README.md."""

from __future__ import annotations

from typing import Any

import typer


def register(app: typer.Typer) -> None:
    app.command("list")(list_plugins)


def plugin_rows(registry) -> list[dict[str, Any]]:
    """One row per registered plugin; importing a plugin module loads no weights."""
    rows = []
    for name in registry.names():
        entry = registry.entry(name)
        row: dict[str, Any] = {"name": name, "source": entry.source, "status": "ok"}
        try:
            cls = entry.load()
        except Exception as e:  # noqa: BLE001 - shown to the user as the reason
            row["status"] = f"not importable: {type(e).__name__}: {e}"
            rows.append(row)
            continue
        if registry.kind == "benchmark":  # configurable: read the configured instance
            try:
                cls = cls(**entry.kwargs)
            except Exception as e:  # noqa: BLE001
                row["status"] = f"cannot configure: {type(e).__name__}: {e}"
                rows.append(row)
                continue
        caps = [c for c in ("pairwise", "pointwise") if getattr(cls, c, False)]
        row["supports"] = "/".join(caps)
        mods = getattr(cls, "modalities", None) or {getattr(cls, "modality", "")}
        row["media"] = ", ".join(sorted(m for m in mods if m))
        row["tasks"] = ", ".join(sorted(getattr(cls, "tasks", None) or
                                       getattr(cls, "verbs", None) or  # a trainer's verbs
                                       {getattr(cls, "task", "")}))
        row["default"] = entry.kwargs.get("model") or getattr(cls, "default_model", "") or \
            getattr(cls, "hub_id", "")
        reason = cls.unavailable_reason() if hasattr(cls, "unavailable_reason") else None
        if reason is None:
            from evalsuite.registry import missing_modules
            miss = missing_modules(getattr(cls, "requires", ()))
            extra = getattr(cls, "extra", None)
            reason = (f"missing {', '.join(miss)}" + (f" (pip install 'evalsuite[{extra}]')"
                                                     if extra else "")) if miss else None
        note = getattr(cls, "availability_note", None)
        row["status"] = reason or note or "ok"
        rows.append(row)
    return rows


def list_plugins(
    kind: str = typer.Argument("all", help="all | judges | benchmarks | policies | trainers"),
    options: bool = typer.Option(False, "--options", help="List the options each plugin "
                                 "takes (-o / --option, --bench-option key=value)."),
    cards: bool = typer.Option(False, "--cards", help="Print the judges' model-card table "
                               "(Markdown, as in models/README.md) and exit."),
) -> None:
    """Show every judge, benchmark, policy and trainer kind, what it supports, and why one
    can't run.

    Examples:

      evalsuite list judges

      evalsuite list benchmarks --options

      evalsuite list trainers

      evalsuite list --cards
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from evalsuite.registry import BENCHMARKS, JUDGES, POLICIES, TRAINERS

    if cards:
        from evalsuite.cards import card_table
        typer.echo(card_table(), nl=False)
        return

    regs = {"judges": JUDGES, "benchmarks": BENCHMARKS, "policies": POLICIES,
            "trainers": TRAINERS}
    if kind != "all" and kind not in regs:
        raise typer.BadParameter("kind must be all, judges, benchmarks, policies or trainers")
    console = Console()
    for title, reg in regs.items():
        if kind not in ("all", title):
            continue
        if options:
            console.print(options_table(title, reg))
            continue
        rows = plugin_rows(reg)
        if not rows:
            continue
        # Names are never cut; the default source and the status share the widest column.
        t = Table(title=title, box=box.SIMPLE_HEAD, caption_justify="left",
                  caption="tasks: gen = generation, und = understanding (image/video "
                          "question answering); supports: pair(wise), point(wise)")
        t.add_column("name", no_wrap=True)
        t.add_column("supports; media; tasks", max_width=16)
        t.add_column("default source / status", overflow="fold", ratio=1)
        for r in rows:
            status = r["status"] if r["status"] == "ok" else f"[yellow]{r['status']}[/yellow]"
            default = r.get("default", "")
            does = "; ".join(x for x in (r.get("supports", "").replace("wise", "").replace(
                "/", ", "), r.get("media", ""), _short_tasks(r.get("tasks", ""))) if x)
            t.add_row(r["name"], does, f"{default}\n{status}" if default else status)
        console.print(t)
    console.print("GPU: " + _gpu_line())


def _short_tasks(tasks: str) -> str:
    return (tasks.replace("generation", "gen").replace("understanding", "und")
            .replace("text-to-", "to "))


def options_table(title: str, registry):
    """name | option | what it does, from each plugin's declared ``option_help``."""
    from rich.table import Table

    from evalsuite.commands.preflight import declared_options

    flag = "--bench-option" if registry.kind == "benchmark" else "-o / --option"
    from rich import box
    t = Table(title=f"{title}: options ({flag} key=value)", box=box.SIMPLE_HEAD)
    for col in ("name", "option", "what"):
        t.add_column(col, no_wrap=col != "what")
    for name in registry.names():
        try:
            opts = declared_options(registry.entry(name).load())
        except Exception as e:  # noqa: BLE001 - shown as the reason
            t.add_row(name, "", f"not importable: {type(e).__name__}: {e}")
            continue
        for i, (k, v) in enumerate(sorted(opts.items())):
            t.add_row(name if i == 0 else "", k, v)
        if not opts:
            t.add_row(name, "", "(none)")
    return t


def _gpu_line() -> str:
    try:
        import torch
        if torch.cuda.is_available():
            return f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    except ImportError:
        return "torch not installed"
    return "none (judges run on CPU in float32; slow for 7B models)"
