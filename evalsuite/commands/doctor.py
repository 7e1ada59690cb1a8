"""`evalsuite doctor`: check a run directory and repair what can be repaired safely."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


@dataclass
class Report:
    """What :func:`diagnose` found: ``ok`` lines, ``fixed`` (repaired now) and ``problems``
    (left as they are: need a person, or ``--dry-run``)."""

    ok: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    next: list[str] = field(default_factory=list)  # what to do after the repair


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def diagnose(run_dir: Path, repair: bool = True) -> Report:
    """Every check of ``doctor`` on one run directory; repairs only under the run's locks.

    Checks: who holds the run; ``config.json`` readable; every line of every
    ``records-r*.jsonl`` a record (damaged lines and partial tails are moved to the
    quarantine, never deleted); ``run.json`` readable (else kept aside); ``results.json``
    valid and ``samples.jsonl`` readable (else: re-run the same command, which recomputes
    nothing and rewrites them); temp files of dead processes (removed).
    """
    from evalsuite import store as S
    from evalsuite.results import read_results, validate_sample
    from evalsuite.executor import read_run_meta

    rep = Report()
    files = S.store_files(run_dir)
    ranks = sorted({r for r in (S._rank_of(p) for p in files) if r is not None} | {
        int(p.name[len(".lock-r"):]) for p in run_dir.glob(".lock-r*")
        if p.name[len(".lock-r"):].isdigit()})
    held, busy = [], []
    for rank in ranks or [0]:
        lock = S.run_lock(run_dir, rank, what="doctor")
        try:
            lock.__enter__()
            held.append(lock)
        except S.RunLocked:
            busy.append(rank)
    try:
        for rank in busy:
            rep.problems.append(f"rank {rank} is in use by {S.holder_of(run_dir, rank)}: its "
                                "files are checked, not repaired")
        if busy:
            repair_ok = False
        else:
            repair_ok = repair
            rep.ok.append("no process is working on this run")

        cfg = run_dir / "config.json"
        try:
            ident = json.loads(cfg.read_text(encoding="utf-8"))["identity"]
            if not isinstance(ident, dict):
                raise TypeError("identity is not an object")
            rep.ok.append(f"config.json: identity of {ident.get('judge') or ident.get('policy')}"
                          f" on {ident.get('bench')}")
        except FileNotFoundError:
            rep.problems.append("config.json is missing: the run's identity is unknown")
        except (OSError, ValueError, KeyError, TypeError) as e:
            rep.problems.append(f"config.json is unreadable ({type(e).__name__}: {e}); move "
                                "the directory aside and start the run again")

        damage_total = 0
        for path in files:
            recs, damage = S.scan_file(path)
            tail = path.read_bytes()
            partial = bool(tail) and not tail.endswith(b"\n")
            rank = S._rank_of(path)
            line = f"{path.name}: {len(recs)} record(s)"
            if not damage and not partial:
                rep.ok.append(line)
                continue
            damage_total += len(damage)
            found = [f"damaged record {d.describe()}" for d in damage]
            if partial:
                found.append(f"{path}: partial last line (an interrupted write)")
            if not (repair_ok and rank is not None):
                rep.problems += found
                continue
            if partial:
                S.repair_tail(path)
            if damage:
                S.quarantine_damage(run_dir, damage, report=lambda m: None)
            rep.fixed += [f"{x}: moved to {S.quarantine_path(path).name}" for x in found]
        for q in sorted(run_dir.glob(f"*{S.QUARANTINE_SUFFIX}*")):
            n = sum(1 for _ in q.open("rb")) if q.name.endswith(".jsonl" + S.QUARANTINE_SUFFIX) \
                else None
            rep.ok.append(f"{q.name}: kept aside" + (f" ({n} line(s))" if n is not None else ""))

        meta = run_dir / "run.json"
        if meta.exists():
            try:
                m = json.loads(meta.read_text(encoding="utf-8"))
                if not isinstance(m, dict) or not isinstance(m.get("invocations"), list):
                    raise ValueError("not a run history")
                rep.ok.append(f"run.json: {len(m['invocations'])} invocation(s)")
            except (OSError, ValueError) as e:
                if repair_ok:
                    read_run_meta(meta)  # sets it aside and starts a new history
                    rep.fixed.append(f"run.json was unreadable ({e}); kept aside")
                else:
                    rep.problems.append(f"run.json is unreadable ({e})")

        res = run_dir / "results.json"
        stale = damage_total > 0
        if res.exists():
            try:
                read_results(res)
                samples = run_dir / "samples.jsonl"
                for n, raw in enumerate(samples.read_text(encoding="utf-8").splitlines(), 1):
                    validate_sample(json.loads(raw), f"{samples}:{n}")
                rep.ok.append("results.json and samples.jsonl are valid")
            except (OSError, ValueError) as e:  # ResultsInvalid is a ValueError
                rep.problems.append(" ".join(str(e).split()))
                stale = True
        if stale:
            rep.next.append("re-run the run's command: it computes the set-aside items again "
                            "and rewrites results.json / samples.jsonl")

        for tmp in sorted(run_dir.glob(".*.tmp")):
            parts = tmp.name.split(".")
            pid = int(parts[-3]) if len(parts) >= 4 and parts[-3].isdigit() else None
            if pid is not None and _pid_alive(pid):
                continue
            if repair_ok:
                tmp.unlink(missing_ok=True)
                rep.fixed.append(f"{tmp.name}: temp file of a dead process removed")
            else:
                rep.problems.append(f"{tmp.name}: temp file of a dead process")
    finally:
        for lock in held:
            lock.__exit__(None, None, None)
    return rep


def doctor(
    run_dir: str = typer.Argument(..., help="A run directory (runs/<run>)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Report only; repair nothing."),
) -> None:
    """Check a run directory and repair it: damaged records moved to the quarantine (kept,
    never deleted; their items are recomputed on resume), partial last lines set aside, an
    unreadable run.json kept aside, temp files of dead processes removed. Nothing is
    repaired while another process works on the run.

    Exit 0: healthy or repaired; 1: problems remain; 2: not a run directory.

    Example, on a fixture run (`evalsuite fixtures --out fx`):

      evalsuite run --judge pickscore --bench genai-bench --data-path fx/genai-bench \\
          --model-path fx/pickscore --run-name my-run && evalsuite doctor runs/my-run --dry-run
    """
    from rich.console import Console
    from rich.markup import escape

    from evalsuite.store import store_files

    out = Console(highlight=False, soft_wrap=True)
    d = Path(run_dir)
    if not d.is_dir() or not ((d / "config.json").exists() or store_files(d)):
        Console(stderr=True).print(f"[red]error:[/red] {escape(str(d))} is not a run "
                                   "directory (no config.json, no records-r*.jsonl)")
        raise typer.Exit(2)
    rep = diagnose(d, repair=not dry_run)
    for line in rep.ok:
        out.print(f"[green]ok[/green]       {escape(line)}")
    for line in rep.fixed:
        out.print(f"[yellow]repaired[/yellow] {escape(line)}")
    for line in rep.problems:
        out.print(f"[red]problem[/red]  {escape(line)}")
    for line in rep.next:
        out.print(f"[bold]next[/bold]     {escape(line)}")
    raise typer.Exit(1 if rep.problems else 0)
