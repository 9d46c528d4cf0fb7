"""The one atomic file writer: every output is written beside its target, then renamed.

A writer never writes its target in place. It writes a temporary file in the target's
folder, ``.<name>.<host>.<pid>.<token>.tmp``, flushes it to disk (``fsync``) and renames
it over the target (``os.replace``, atomic on POSIX): a reader sees the old file or the
whole new one, never a partial file, and a failed or interrupted write leaves the old
file untouched.

Rules every output of the package follows through this module:

- **Mode**: the file is created with ``0o666`` minus the user's umask, as ``open()``
  would create it (not ``mkstemp``'s ``0o600``).
- **Folders**: a missing folder is an :class:`~features.contract.errors.OutputError` unless the
  caller asks for it to be made (``mkdir=True``, the CLI's ``--mkdir``); a typo in a
  path then fails instead of silently creating ``/nonexistent/dir/``.
- **Leftovers**: a process killed with ``kill -9`` cannot delete its temporary file.
  The next write to the same target removes the temporary files of that target whose
  writer is gone: written on this host by a process id that no longer runs, or (from
  another host, or named by an older version of this package) not modified for
  :data:`STALE_AFTER_SECONDS`. A concurrent writer's fresh temporary file is never
  touched: its process is alive and it is being written.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, get_args

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from features.contract.errors import ConfigError, OutputError

log = logging.getLogger(__name__)

__all__ = [
    "STALE_AFTER_SECONDS",
    "AtomicTarget",
    "atomic_write",
    "check_target",
    "is_stale",
    "is_temp_of",
    "remove_stale_temps",
    "temp_name",
    "write_table_atomic",
]

STALE_AFTER_SECONDS = 6 * 3600
"""A temporary file not written for this long, and not provably ours, is a leftover."""

TEMP_SUFFIX = ".tmp"
_FILE_MODE = 0o666  # minus the umask, applied by the kernel at creation


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname() or "host")


def temp_name(target: str) -> str:
    """Name of a new temporary file for the target file name ``target`` (same folder).

    ``.<target>.<host>.<pid>.<token>.tmp``: hidden, unique, and saying who writes it.
    """
    return f".{target}.{_host()}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}"


def _writer_of(name: str, target: str) -> tuple[str, int] | None:
    """``(host, pid)`` of a temporary file name of ``target``, None for other names."""
    prefix = f".{target}."
    if not (name.startswith(prefix) and name.endswith(TEMP_SUFFIX)):
        return None
    parts = name[len(prefix) : -len(TEMP_SUFFIX)].rsplit(".", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not re.fullmatch(r"[0-9a-f]{8}", parts[2]):
        return None
    return parts[0], int(parts[1])


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name != "posix":  # no cheap, harmless liveness probe: rely on the age rule
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def is_temp_of(name: str, target: str) -> bool:
    """Whether ``name`` is a temporary file (any version's naming) of the file ``target``."""
    return name.startswith(f".{target}.") and name.endswith(TEMP_SUFFIX)


def is_stale(name: str, target: str, *, age_seconds: float) -> bool:
    """Whether the temporary file ``name`` of ``target`` was left by a writer that is gone.

    Parameters
    ----------
    name : str
        A file name in the target's folder.
    target : str
        The target's file name.
    age_seconds : float
        Seconds since the temporary file was last modified.

    Returns
    -------
    bool
        True when ``name`` is a temporary file of ``target`` and either its writer ran on
        this host under a process id that is not running any more, or it has not been
        modified for :data:`STALE_AFTER_SECONDS` (a writer on another host, or a name
        from an older version of this package).
    """
    if not is_temp_of(name, target):
        return False
    if age_seconds >= STALE_AFTER_SECONDS:
        return True
    writer = _writer_of(name, target)
    return writer is not None and writer[0] == _host() and not _alive(writer[1])


def remove_stale_temps(path: str | os.PathLike[str]) -> list[Path]:
    """Delete the leftover temporary files of the target ``path``; return them.

    See :func:`is_stale` for which ones. Files that vanish or cannot be deleted
    meanwhile are skipped (and logged).
    """
    path = Path(path)
    removed = []
    try:
        candidates = [p for p in path.parent.iterdir() if is_temp_of(p.name, path.name)]
    except OSError:
        return removed
    now = time.time()
    for temp in candidates:
        try:
            age = now - temp.stat().st_mtime
            if is_stale(temp.name, path.name, age_seconds=age):
                if temp.is_dir():
                    _remove_tree(temp)
                else:
                    temp.unlink()
                removed.append(temp)
        except FileNotFoundError:
            continue
        except OSError as e:
            log.warning("Cannot remove the leftover temporary file %s: %s", temp, e)
    if removed:
        log.info(
            "Removed %d leftover temporary file(s) of %s: %s",
            len(removed),
            path,
            ", ".join(p.name for p in removed),
        )
    return removed


def _remove_tree(folder: Path) -> None:
    for child in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        child.rmdir() if child.is_dir() and not child.is_symlink() else child.unlink()
    folder.rmdir()


def check_target(path: str | os.PathLike[str], *, mkdir: bool = False) -> Path:
    """Check that ``path`` can be an output file; make its folder when ``mkdir``.

    Raises
    ------
    OutputError
        When ``path`` is a folder, its folder is missing (and ``mkdir`` is False), or a
        parent is a file; nothing is created then.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(str(path), "it is a folder; give a file name")
    folder = path.parent
    if folder.is_dir():
        return path
    existing = next((p for p in folder.parents if p.exists()), None)
    if folder.exists() or (existing is not None and not existing.is_dir()):
        blocker = folder if folder.exists() else existing
        raise OutputError(str(path), f"{blocker} is a file, not a folder")
    if not mkdir:
        raise OutputError(
            str(path), f"the folder {folder} does not exist (create it, or pass --mkdir)"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(str(path), f"cannot create the folder {folder}: {e.strerror or e}") from e
    return path


class AtomicTarget:
    """One output file written under a temporary name and renamed into place on commit.

    :meth:`open` checks the target, removes leftovers of earlier crashed writes and
    creates the (empty) temporary file, so an unwritable output fails before any work;
    write to :attr:`tmp`; :meth:`commit` flushes it to disk and renames it over the
    target; :meth:`discard` (also on leaving a ``with`` block without committing)
    deletes it. Errors of opening and committing are :class:`OutputError`; errors of
    the caller's own writing are the caller's.

    Parameters
    ----------
    path : path
        The file to create or replace.
    mkdir : bool, default False
        Make missing parent folders instead of refusing them.
    """

    def __init__(self, path: str | os.PathLike[str], *, mkdir: bool = False):
        self.path = Path(path)
        self.mkdir = mkdir
        self.tmp: Path | None = None

    def open(self) -> Path:
        """Create the temporary file (mode ``0o666`` minus the umask) and return its path."""
        check_target(self.path, mkdir=self.mkdir)
        remove_stale_temps(self.path)
        tmp = self.path.with_name(temp_name(self.path.name))
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE))
        except OSError as e:
            raise OutputError(str(self.path), e.strerror or str(e)) from e
        self.tmp = tmp
        return tmp

    def commit(self) -> Path:
        """Flush the temporary file to disk and rename it over the target; return it."""
        if self.tmp is None:
            raise RuntimeError("AtomicTarget.commit() without open()")
        try:
            _fsync(self.tmp)
            os.replace(self.tmp, self.path)
        except OSError as e:
            self.discard()
            raise OutputError(str(self.path), e.strerror or str(e)) from e
        self.tmp = None
        _fsync_folder(self.path.parent)
        return self.path

    def discard(self) -> None:
        """Delete the temporary file, if any (no-op after :meth:`commit`)."""
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)
            self.tmp = None

    def __enter__(self) -> AtomicTarget:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.discard()


@contextmanager
def atomic_write(path: str | os.PathLike[str], *, mkdir: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s content to; rename it into place after.

    For writers whose block only writes the file: an ``OSError`` inside the block (a
    full disk) becomes an :class:`OutputError` naming ``path``. Any error leaves the old
    file as it was and no temporary file behind.

    Examples
    --------
    >>> with atomic_write("out/scores.csv") as tmp:  # doctest: +SKIP
    ...     frame.to_csv(tmp, index=False)
    """
    target = AtomicTarget(path, mkdir=mkdir)
    tmp = target.open()
    try:
        yield tmp
    except OSError as e:
        target.discard()
        raise OutputError(str(target.path), e.strerror or str(e)) from e
    except BaseException:
        target.discard()
        raise
    target.commit()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable; not every platform or file system allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


FileFormat = Literal["parquet", "csv"]
FILE_FORMATS: tuple[str, ...] = get_args(FileFormat)


def write_table_atomic(
    table: pa.Table,
    path: str | os.PathLike[str],
    *,
    file_format: FileFormat = "parquet",
    mkdir: bool = False,
) -> Path:
    """Write an Arrow ``table`` to ``path`` through :func:`atomic_write`.

    Parameters
    ----------
    table : pyarrow.Table
        The rows to write; its schema metadata is kept in Parquet.
    path : path
        The file to create or replace.
    file_format : {"parquet", "csv"}, default "parquet"
        Parquet, or CSV with a header line (timestamps ISO 8601, booleans true/false).
    mkdir : bool, default False
        Make missing parent folders instead of refusing them.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ConfigError
        When ``file_format`` is not one of :data:`FILE_FORMATS`.
    OutputError
        Naming ``path`` when it cannot be written; nothing is left.
    """
    if file_format not in FILE_FORMATS:
        raise ConfigError("file format", file_format, f"one of {', '.join(FILE_FORMATS)}")
    with atomic_write(path, mkdir=mkdir) as tmp:
        if file_format == "csv":
            pacsv.write_csv(table, tmp)
        else:
            pq.write_table(table, tmp)
    return Path(path)


class AtomicParquet:
    """A Parquet file written in row groups to a temporary file, renamed into place on commit.

    The temporary file (:class:`features.io.atomic.AtomicTarget`) is made on entry, so an
    unwritable output fails before any work; leaving the block without :meth:`commit`
    (an error, Ctrl-C) deletes it.
    """

    def __init__(self, path: Path, schema: pa.Schema, *, mkdir: bool = False):
        self.path, self.schema = path, schema
        self.target = AtomicTarget(path, mkdir=mkdir)
        self.writer: pq.ParquetWriter | None = None

    def __enter__(self) -> AtomicParquet:
        tmp = self.target.open()
        try:
            self.writer = pq.ParquetWriter(tmp, self.schema)
        except OSError as e:
            self._discard()
            raise OutputError(str(self.path), e.strerror or str(e)) from e
        return self

    def write(self, frame: pd.DataFrame) -> None:
        """Append ``frame`` (columns of the schema) as one row group."""
        if len(frame):
            table = pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False)
            self.writer.write_table(table)

    def commit(self, meta: dict, *, key: bytes | str) -> None:
        """Store ``meta`` (JSON) under ``key`` in the file's metadata, close it and rename it
        over the output."""
        self.writer.add_key_value_metadata({key: json.dumps(meta).encode()})
        self.writer.close()
        self.writer = None
        self.target.commit()

    def _discard(self) -> None:
        if self.writer is not None:
            try:
                self.writer.close()
            except Exception:  # noqa: BLE001 - already failing; the file is deleted next
                log.debug("closing the temporary scores file failed", exc_info=True)
            self.writer = None
        self.target.discard()

    def __exit__(self, *exc) -> None:
        self._discard()
