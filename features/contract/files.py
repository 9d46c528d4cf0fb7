"""The files of the contract tables: where they are, their bytes' digest, reading one as is.

A table ``<name>`` lives in the data folder as ``<name>.parquet`` or ``<name>.csv``
(Parquet first); a Parquet table may also be a folder of Parquet files,
``<name>.parquet/`` or ``<name>/``, hive-partitioned (``month=2025-01/part-0.parquet``)
or not. Reading here does no renaming and no typing; that is :mod:`features.contract.load`'s job.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import pandas as pd
import pyarrow as pa

from features.contract.errors import Problem
from features.contract.schema import TABLES

SUFFIXES = (".parquet", ".csv")


def fingerprint(path: Path, *, chunk_bytes: int = 1 << 22) -> str:
    """SHA-256 of a file's bytes, hex, for snapshot and run metadata.

    Remembered per (path, size, modification time) within the process, so checking a
    snapshot against the data and recording the data costs one read of each file. A
    folder table's digest covers each Parquet file's path (relative) and bytes.
    """
    path = Path(path)
    if path.is_dir():
        digest = hashlib.sha256()
        for part in parquet_parts(path):
            digest.update(f"{part.relative_to(path).as_posix()}\0".encode())
            digest.update(bytes.fromhex(fingerprint(part, chunk_bytes=chunk_bytes)))
        return digest.hexdigest()
    stat = path.stat()
    return _fingerprint(str(path), stat.st_size, stat.st_mtime_ns, chunk_bytes)


def parquet_parts(folder: Path) -> list[Path]:
    """The Parquet files below ``folder``, sorted (hidden and ``_``-prefixed names skipped)."""
    return sorted(
        p
        for p in folder.rglob("*.parquet")
        if p.is_file()
        and not any(part.startswith((".", "_")) for part in p.relative_to(folder).parts)
    )


@functools.lru_cache(maxsize=64)
def _fingerprint(path: str, size: int, mtime_ns: int, chunk_bytes: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def find_table_file(data_dir: Path, table: str) -> Path | None:
    """Return ``data_dir/<table>.parquet`` (file or folder), ``<table>.csv``, or a folder
    ``<table>/`` holding Parquet files; else None."""
    for suffix in SUFFIXES:
        path = data_dir / f"{table}{suffix}"
        if path.is_file() or (suffix == ".parquet" and path.is_dir()):
            return path
    folder = data_dir / table
    if folder.is_dir() and parquet_parts(folder):
        return folder
    return None


def is_parquet(path: Path) -> bool:
    """Whether the table at ``path`` is Parquet (a ``.parquet`` file, or a folder of them)."""
    return path.is_dir() or path.suffix == ".parquet"


def parquet_dataset(path: Path):
    """A ``pyarrow.dataset`` over a Parquet table file or folder (hive partitions read)."""
    import pyarrow.dataset as ds

    if path.is_dir():
        return ds.dataset(
            parquet_parts(path),
            format="parquet",
            partitioning=ds.HivePartitioning.discover(),
            partition_base_dir=str(path),
        )
    return ds.dataset(path, format="parquet")


def table_files(data_dir: str | Path) -> dict[str, Path]:
    """``{table: file}`` of the contract tables present in ``data_dir`` (not read)."""
    return {
        name: path for name in TABLES if (path := find_table_file(Path(data_dir), name)) is not None
    }


def read_file(
    path: Path, *, delimiter: str = ",", encoding: str = "utf-8"
) -> tuple[pd.DataFrame, Problem | None]:
    """Read one ``.parquet`` file, or any other file as CSV, as it is (no renaming, no types).

    Returns the frame and None, or an empty frame (or the one-column misread) and the
    :class:`Problem` that stops the read: unreadable file, a delimiter that looks wrong,
    text that is not ``encoding``.
    """
    name = path.name
    try:
        if is_parquet(path):
            return parquet_dataset(path).to_table().to_pandas(), None
        frame = pd.read_csv(path, engine="pyarrow", sep=delimiter, encoding=encoding)
    except (pa.ArrowInvalid, pa.ArrowException, UnicodeDecodeError, ValueError, OSError) as e:
        detail = str(e).splitlines()[0][:200]
        return pd.DataFrame(), Problem(name, None, f"cannot be read as {path.suffix[1:]}: {detail}")
    if len(frame.columns) == 1 and (sep := _guess_delimiter(str(frame.columns[0]), delimiter)):
        return frame, Problem(
            name,
            None,
            f"has a single column '{frame.columns[0]}': it looks delimited by {sep!r}, not "
            f"{delimiter!r}; set [data] delimiter = {sep!r} in churn.toml",
        )
    for col in frame.columns:
        if frame[col].dtype == object:
            first = frame[col].dropna().head(1)
            if len(first) and isinstance(first.iloc[0], bytes):
                return frame, Problem(
                    name,
                    str(col),
                    f"is not valid {encoding} text; re-save the file as {encoding} or set "
                    "[data] encoding in churn.toml (e.g. 'latin-1')",
                )
    return frame, None


def _guess_delimiter(header: str, delimiter: str) -> str | None:
    return next((s for s in (";", "\t", "|", ",") if s != delimiter and s in header), None)
