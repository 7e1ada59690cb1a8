"""Load a benchmark table from the hub (pinned revision) or from a local copy of it.

A local copy is either the hub repository's own layout (``<root>/<config>/<split>-*.parquet``,
``<root>/data/<split>-*.parquet`` or ``<root>/<split>-*.parquet`` for single-config
datasets) or a ``save_to_disk`` directory. Datasets published as one CSV file (README
``configs`` mapping a split to a file, e.g. VideoGen-RewardBench) use :func:`load_csv_table`.
Both go through ``datasets`` exactly as the hub copy does; only the source differs.

Table problems are one-line errors naming the file (and column or line): a file that is
not parquet / not UTF-8 CSV, a table without rows, a missing column
(:class:`TableError`, exit 2: the run cannot start). Problems of one row (a wrong-typed or
undecodable cell) are that row's :class:`~evalsuite.types.ItemError` (:func:`rows`,
:func:`text_cell`): a bad row never stops the others.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any


class DataNotFound(FileNotFoundError):
    pass


class TableError(ValueError):
    """A benchmark table that cannot be read, or lacks what the benchmark needs."""


class CellError(ValueError):
    """One cell of one row is unusable (the row becomes an ItemError with this reason)."""


def _cause(e: BaseException) -> str:
    """The innermost cause of a library error, on one line."""
    while (e.__cause__ or e.__context__) is not None and not isinstance(e, UnicodeError):
        e = e.__cause__ or e.__context__  # type: ignore[assignment]
    return " ".join(f"{type(e).__name__}: {e}".split())


def _check_parquet(files: list[Path]) -> None:
    """Each file readable as parquet; the table as a whole has rows."""
    import pyarrow.parquet as pq

    n_rows = 0
    for f in files:
        try:
            n_rows += pq.ParquetFile(str(f)).metadata.num_rows
        except Exception as e:  # noqa: BLE001 - whatever pyarrow raises, one line naming the file
            raise TableError(f"{f}: not a readable parquet file ({_cause(e)})") from None
    if n_rows == 0:
        raise TableError(f"{', '.join(str(f) for f in files)}: the table has no rows")


def load_table(hub_id: str, config: str | None, split: str, revision: str | None,
               data_path: str | None):
    import datasets

    if data_path is None:
        ds = datasets.load_dataset(hub_id, config, split=split, revision=revision)
        ds.source = f"{hub_id} ({config or 'default'}/{split})"
        return ds
    root = Path(data_path)
    if not root.exists():
        raise DataNotFound(f"--data-path {root} does not exist")
    if (root / "dataset_info.json").exists() or (root / "dataset_dict.json").exists():
        try:
            ds = datasets.load_from_disk(str(root))
        except Exception as e:  # noqa: BLE001
            raise TableError(f"{root}: not a readable save_to_disk dataset "
                             f"({_cause(e)})") from None
        if isinstance(ds, datasets.DatasetDict):
            if split not in ds:
                raise DataNotFound(f"split {split!r} not in {root} (has {list(ds)})")
            ds = ds[split]
        if len(ds) == 0:
            raise TableError(f"{root}: the {split!r} table has no rows")
        ds.source = str(root)
        return ds
    base = root / config if config and (root / config).is_dir() else root
    files = (sorted(base.glob(f"{split}-*.parquet")) or sorted(base.glob(f"{split}/*.parquet"))
             or sorted(base.glob(f"data/{split}-*.parquet")))
    if not files:
        raise DataNotFound(f"no parquet files for split {split!r} under {base} "
                           f"(expected {base}/{split}-*.parquet as on the hub)")
    _check_parquet(files)
    try:
        ds = datasets.load_dataset("parquet", data_files={split: [str(f) for f in files]},
                                   split=split)
    except Exception as e:  # noqa: BLE001 - the files passed the checks; still name them
        raise TableError(f"{', '.join(str(f) for f in files)}: cannot be loaded "
                         f"({_cause(e)})") from None
    ds.source = ", ".join(str(f) for f in files)
    return ds


def raw_media_column(ds, column: str):
    """Keep an Image column undecoded ({bytes, path}) so decoding happens in the runner's
    prefetch threads, not in the loader."""
    import datasets

    feat = ds.features.get(column)
    if isinstance(feat, datasets.Image):
        out = ds.cast_column(column, datasets.Image(decode=False))
        out.source = getattr(ds, "source", None)
        return out
    return ds


def load_csv_table(hub_id: str, split: str, revision: str | None, data_path: str | None,
                   filename: str):
    """A dataset whose README maps ``split`` to one CSV file at the repository root: the hub
    copy through ``load_dataset(hub_id)``, a local copy (``<root>/<filename>``) through the
    same ``csv`` builder the hub configuration resolves to."""
    import datasets

    if data_path is None:
        ds = datasets.load_dataset(hub_id, split=split, revision=revision)
        ds.source = f"{hub_id} ({split})"
        return ds
    root = Path(data_path)
    csv = root / filename
    if not csv.is_file():
        raise DataNotFound(f"{csv} not found (a local copy keeps the hub layout: "
                           f"<data-path>/{filename} next to the media folder)")
    _check_csv(csv)
    try:
        ds = datasets.load_dataset("csv", data_files={split: str(csv)}, split=split)
    except Exception as e:  # noqa: BLE001
        raise TableError(f"{csv}: cannot be read as CSV ({_cause(e)})") from None
    if len(ds) == 0:
        raise TableError(f"{csv}: the table has no rows")
    ds.source = str(csv)
    return ds


def _check_csv(path: Path) -> None:
    """UTF-8 text with a header line: the encoding is never guessed."""
    data = path.read_bytes()
    if not data.strip():
        raise TableError(f"{path}: empty file (expected a header line and rows)")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - data.rfind(b"\n", 0, e.start)
        raise TableError(f"{path}: not UTF-8 text (line {line}, byte {col}: "
                         f"{data[e.start:e.start + 1]!r}); save it as UTF-8") from None
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise TableError(f"{path}: NUL byte on line {line} (not a text file)")
    if sum(1 for line in data.splitlines() if line.strip()) < 2:
        raise TableError(f"{path}: the table has no rows (a header line only)")


def require_columns(ds, columns: tuple[str, ...] | list[str]) -> None:
    """Every column the benchmark reads is in the table, or one error naming them."""
    have = set(ds.column_names)
    missing = [c for c in columns if c not in have]
    if missing:
        raise TableError(f"{getattr(ds, 'source', 'the table')}: missing column"
                         f"{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                         f"(has {', '.join(ds.column_names)})")


def rows(ds, chunk: int = 256) -> Iterator[tuple[int, dict[str, Any] | CellError]]:
    """(index, row) for every row; a row that cannot be converted is (index, CellError)
    and the iteration goes on."""
    names = ds.column_names
    for start in range(0, len(ds), chunk):
        stop = min(start + chunk, len(ds))
        try:
            cols = ds[start:stop]
            batch: list[dict[str, Any] | CellError] = [
                {k: cols[k][i] for k in names} for i in range(stop - start)]
        except Exception:  # noqa: BLE001 - find the culprit row by row
            batch = []
            for i in range(start, stop):
                try:
                    batch.append(dict(ds[i]))
                except Exception as e:  # noqa: BLE001
                    batch.append(CellError(f"unreadable row ({_cause(e)})"))
        yield from enumerate(batch, start=start)


def text_cell(row: dict[str, Any], column: str, optional: bool = False) -> str | None:
    """A text cell: ``str`` as is, bytes decoded as UTF-8 (never another encoding), null as
    ``None`` when ``optional`` else ``""``; anything else is a :class:`CellError`."""
    v = row.get(column)
    if v is None:
        return None if optional else ""
    if isinstance(v, str):
        if "\x00" in v:
            raise CellError(f"{column}: contains a NUL byte")
        return v
    if isinstance(v, (bytes, bytearray)):
        try:
            return text_cell({column: bytes(v).decode("utf-8")}, column)
        except UnicodeDecodeError as e:
            raise CellError(f"{column}: not valid UTF-8 (byte {e.start})") from None
    raise CellError(f"{column}: {type(v).__name__} {_brief(v)}, expected text")


def _brief(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 40 else s[:37] + "..."
