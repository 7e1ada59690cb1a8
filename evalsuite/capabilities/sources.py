"""Where a capability benchmark's prompt files come from: a local clone, or the pinned commit."""

from __future__ import annotations

from pathlib import Path


def pinned_text(data_path: str | None, fname: str, url: str, *, missing: str,
                offline: str) -> str:
    """``<data_path>/<fname>`` when a folder is given (``missing`` names what it should
    hold when the file is not there), else the file at ``url`` (a raw URL at the pinned
    commit; ``offline`` says how to run without the network)."""
    if data_path:
        p = Path(data_path) / fname
        if not p.is_file():
            raise FileNotFoundError(missing.format(path=p))
        return p.read_text(encoding="utf-8")
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.read().decode("utf-8")
    except OSError as e:
        raise ConnectionError(f"cannot fetch {url} ({e}); offline? {offline}") from e
