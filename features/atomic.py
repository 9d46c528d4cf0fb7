"""Atomic table writes: the one way a table file reaches disk.

A table goes to a temporary file in the target's own folder, which is then renamed over
the target (``os.replace``): a reader sees the old file or the whole new one, never a
partial file, and a failed write leaves no trace. The new file gets the permissions of
any new file under the process umask (``mkstemp`` alone would leave it 0600).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Literal, get_args

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from features.errors import ConfigError, OutputError

FileFormat = Literal["parquet", "csv"]
FILE_FORMATS: tuple[str, ...] = get_args(FileFormat)


def write_table_atomic(
    table: pa.Table, path: str | os.PathLike[str], *, file_format: FileFormat = "parquet"
) -> Path:
    """Write ``table`` to ``path`` through a temporary file and an atomic rename.

    Parameters
    ----------
    table : pyarrow.Table
        The rows to write; its schema metadata is kept in Parquet.
    path : path
        The file to create or replace; missing parent folders are made.
    file_format : {"parquet", "csv"}, default "parquet"
        Parquet, or CSV with a header line (timestamps ISO 8601, booleans true/false).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ConfigError
        When ``file_format`` is not one of :data:`FILE_FORMATS`.
    OutputError
        Naming ``path`` when its folder cannot be made or written to; nothing is left.
    """
    if file_format not in FILE_FORMATS:
        raise ConfigError("file format", file_format, f"one of {', '.join(FILE_FORMATS)}")
    path = Path(path)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        os.chmod(tmp, new_file_mode())
        if file_format == "csv":
            pacsv.write_csv(table, tmp)
        else:
            pq.write_table(table, tmp)
        os.replace(tmp, path)
    except OSError as e:
        _discard(tmp)
        reason = e.strerror or str(e).splitlines()[0]
        if path.parent.is_file():
            reason = f"its folder {path.parent} is a file"
        raise OutputError(str(path), reason) from e
    except BaseException:
        _discard(tmp)
        raise
    return path


def new_file_mode() -> int:
    """Permission bits of a new file under the current umask (e.g. 0o644 under 022)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _discard(tmp: str | None) -> None:
    if tmp:
        Path(tmp).unlink(missing_ok=True)
