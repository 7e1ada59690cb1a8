"""Reading checkpoint files: one place, one-line errors that name the file and the reason.

Every judge and scorer that reads a ``.pt`` / ``.pth`` / ``.bin`` file goes through
:func:`read_checkpoint` (``torch.load(..., weights_only=True)``: tensors and plain
containers only, never code from a file) and loads tensors into a module with
:func:`load_weights`. A refused pickle, a truncated or foreign file, a missing key, missing
or unexpected tensors and wrong shapes all raise :class:`CheckpointError` (a ``ValueError``:
the CLI prints it on one line and exits 2), instead of a long traceback.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: ``<file>: <reason>``."""


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def read_checkpoint(path: str | Path, require: str | None = None) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)``, with one-line errors;
    ``require``: a key the loaded dict must have."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: no such checkpoint file")
    try:
        obj = torch.load(str(p), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"(unsupported GLOBAL [^\s]+|Unsupported global: GLOBAL [^\s]+|"
                          r"Unsupported operand \d+)", str(e))
        why = found.group(1) if found else _one_line(str(e).splitlines()[0])
        raise CheckpointError(f"{p}: refused: the file pickles Python objects, not only "
                              f"tensors ({why}); checkpoints are loaded with "
                              "weights_only=True and never run code") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError,
            AttributeError, TypeError) as e:
        raise CheckpointError(f"{p}: not a readable torch checkpoint (truncated or another "
                              f"format: {type(e).__name__}: {_one_line(e)})") from None
    if require is not None:
        if not isinstance(obj, dict):
            raise CheckpointError(f"{p}: expected a dict with key {require!r}, got a "
                                  f"{type(obj).__name__}")
        if require not in obj:
            raise CheckpointError(f"{p}: missing key {require!r} (has "
                                  f"{', '.join(map(str, list(obj)[:8]))}"
                                  f"{', ...' if len(obj) > 8 else ''})")
    return obj


def load_weights(model, state: dict[str, Any], source: str | Path, strict: bool = True):
    """``model.load_state_dict(state)`` with one-line errors naming ``source``: a shape
    mismatch always, missing / unexpected tensors when ``strict``. Returns torch's result
    (missing and unexpected keys) for callers that allow some."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{source}: expected a state dict, got a {type(state).__name__}")
    try:
        res = model.load_state_dict(state, strict=False)
    except RuntimeError as e:
        shapes = re.findall(r"size mismatch for ([^:]+): copying a param with shape "
                            r"torch\.Size\(\[([^\]]*)\]\) from checkpoint, the shape in "
                            r"current model is torch\.Size\(\[([^\]]*)\]\)", str(e))
        if shapes:
            name, got, want = shapes[0]
            more = f" (and {len(shapes) - 1} more)" if len(shapes) > 1 else ""
            raise CheckpointError(f"{source}: wrong shape for {name}: [{got}] in the file, "
                                  f"[{want}] in the model{more}") from None
        raise CheckpointError(f"{source}: {_one_line(e)}") from None
    if strict and (res.missing_keys or res.unexpected_keys):
        parts = []
        for what, keys in (("missing", res.missing_keys), ("unexpected", res.unexpected_keys)):
            if keys:
                parts.append(f"{len(keys)} {what} tensor(s) ({', '.join(keys[:4])}"
                             f"{', ...' if len(keys) > 4 else ''})")
        raise CheckpointError(f"{source}: does not match the model: " + "; ".join(parts))
    return res
