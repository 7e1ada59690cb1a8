"""Putting a new board folder in place of the old one in one step, and cleaning up after a
killed run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False if the OS or
    file system cannot."""
    import ctypes
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return fn(at_fdcwd, os.fsencode(str(a)), at_fdcwd, os.fsencode(str(b)),
              rename_exchange) == 0


def _swap_in(new: Path, out: Path) -> None:
    """Put the folder ``new`` at ``out``; what was at ``out`` ends at ``new`` (then removed)."""
    if not out.exists():
        os.rename(new, out)
        return
    if _exchange(new, out):
        return
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    os.rename(out, old)
    os.rename(new, out)  # a kill right before this line: _recover puts `old` back
    shutil.rmtree(old)


def _recover(out: Path) -> None:
    """Undo what a killed run left: the previous board put back if it was moved aside and
    not replaced; temp folders of dead processes removed."""
    def dead(p: Path) -> bool:
        try:
            os.kill(int(p.name.rsplit("-", 1)[1]), 0)
        except ProcessLookupError:
            return True
        except (ValueError, PermissionError):
            return False
        return False

    olds = sorted(p for p in out.parent.glob(f".{out.name}.old-*") if dead(p))
    if olds and not out.exists():
        os.rename(olds.pop(), out)
    for p in olds + sorted(out.parent.glob(f".{out.name}.tmp-*")):
        if dead(p):
            shutil.rmtree(p, ignore_errors=True)
