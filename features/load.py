"""Load the contract tables from CSV or Parquet files and validate them once, at the door.

Everything downstream trusts what :func:`load_tables` returns: contract column names,
UTC-aware ``datetime64[ns, UTC]`` timestamps within 1677-09-22 – 2262-04-10, finite
numbers within ±1e12, boolean flags, one customer-id dtype across tables. Every
problem found is collected and raised together as one
:class:`~features.errors.DataContractError` naming file, column, row count and up to
five examples.

Reported, not refused (``Tables.warnings``): rows of customers absent from
``customers``; "never" sentinels such as ``9999-12-31`` in an end column
(``cancelled_at``, ``resolved_at``), read as missing; timestamps after today (UTC),
which stay in the tables (a cutoff after them sees them) but do not move
:meth:`Tables.data_end`.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.errors import DataContractError, Problem
from features.schema import (
    CUSTOMER_ID,
    EARLIEST_TIMESTAMP,
    LATEST_TIMESTAMP,
    MAX_ABS_NUMBER,
    TABLES,
    Column,
    ColumnMap,
    TableSpec,
    rename_map,
)

log = logging.getLogger(__name__)

SUFFIXES = (".parquet", ".csv")
TIMESTAMP_DTYPE = "datetime64[ns, UTC]"
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}
_FIRST = pd.Timestamp(EARLIEST_TIMESTAMP, tz="UTC")
_AFTER_LAST = pd.Timestamp(LATEST_TIMESTAMP, tz="UTC") + pd.Timedelta(days=1)
_YEAR = r"^\s*([+-]?\d{4,})-"


def end_of_today(now: pd.Timestamp | None = None) -> pd.Timestamp:
    """The UTC midnight that ends today (of ``now``, default the clock): the future's start.

    Events at or after it are *future events*: reported at load, and not counted in
    :meth:`Tables.data_end`.
    """
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    return now.floor("D") + pd.Timedelta(days=1)


@dataclass
class Tables:
    """The five contract tables, validated. Optional tables are empty frames when absent.

    Attributes
    ----------
    customers, transactions, support_tickets, surveys, offers : pandas.DataFrame
        One frame per contract table, with contract column names.
    sources : dict of str to Path
        The file each table came from (absent optional tables are not listed).
    warnings : list of Problem
        Findings that are reported but do not stop the load (e.g. rows for unknown
        customers, which no feature can use).
    """

    customers: pd.DataFrame
    transactions: pd.DataFrame
    support_tickets: pd.DataFrame
    surveys: pd.DataFrame
    offers: pd.DataFrame
    sources: dict[str, Path] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)

    def frames(self) -> dict[str, pd.DataFrame]:
        """Return ``{table name: frame}`` for the five tables."""
        return {name: getattr(self, name) for name in TABLES}

    def replace(self, **frames: pd.DataFrame) -> Tables:
        """Return a copy with some frames replaced (sources and warnings kept)."""
        return Tables(**{**self.frames(), **frames}, sources=self.sources, warnings=self.warnings)

    def of_customers(self, ids: pd.Series | np.ndarray) -> Tables:
        """The same tables holding only the customers ``ids`` and their events."""
        return self.replace(
            **{
                name: frame.loc[frame[CUSTOMER_ID].isin(ids)].reset_index(drop=True)
                for name, frame in self.frames().items()
            }
        )

    def data_end(self, *, now: pd.Timestamp | None = None) -> pd.Timestamp:
        """Latest event timestamp over all tables (UTC) that is not in the future.

        The end of observed history: events after today (UTC, of ``now``; default the
        clock) are ignored, so one mistyped ``2031`` cannot move it (and with it every
        label horizon) into years with no data.

        Raises
        ------
        DataContractError
            When no event is dated today or earlier.
        """
        future = end_of_today(now)
        stamps = [
            frame.loc[frame[spec.time_column] < future, spec.time_column].max()
            for spec, frame in zip(TABLES.values(), self.frames().values(), strict=True)
            if spec.time_column and len(frame)
        ]
        stamps = [s for s in stamps if pd.notna(s)]
        if not stamps:
            raise DataContractError(
                [Problem("the tables", None, f"have no event before {future:%Y-%m-%d} (UTC)")]
            )
        return max(stamps)

    def future_events(self, *, now: pd.Timestamp | None = None) -> int:
        """How many events (rows, by each table's time column) are dated after today."""
        future = end_of_today(now)
        return sum(
            int((frame[spec.time_column] >= future).sum())
            for spec, frame in zip(TABLES.values(), self.frames().values(), strict=True)
            if spec.time_column and len(frame)
        )


def fingerprint(path: Path, *, chunk_bytes: int = 1 << 22) -> str:
    """SHA-256 of a file's bytes, hex, for snapshot and run metadata.

    Remembered per (path, size, modification time) within the process, so checking a
    snapshot against the data and recording the data costs one read of each file.
    """
    stat = Path(path).stat()
    return _fingerprint(str(path), stat.st_size, stat.st_mtime_ns, chunk_bytes)


@functools.lru_cache(maxsize=64)
def _fingerprint(path: str, size: int, mtime_ns: int, chunk_bytes: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def find_table_file(data_dir: Path, table: str) -> Path | None:
    """Return ``data_dir/<table>.parquet`` or ``.csv`` (Parquet first), or None."""
    for suffix in SUFFIXES:
        path = data_dir / f"{table}{suffix}"
        if path.is_file():
            return path
    return None


def table_files(data_dir: str | Path) -> dict[str, Path]:
    """``{table: file}`` of the contract tables present in ``data_dir`` (not read)."""
    return {
        name: path for name in TABLES if (path := find_table_file(Path(data_dir), name)) is not None
    }


def load_tables(
    data_dir: str | Path,
    *,
    column_map: ColumnMap | None = None,
    delimiter: str = ",",
    encoding: str = "utf-8",
    now: pd.Timestamp | None = None,
) -> Tables:
    """Read and validate every contract table found in ``data_dir``.

    Parameters
    ----------
    data_dir : path
        Folder holding ``customers``, ``transactions`` and optionally ``support_tickets``,
        ``surveys`` and ``offers``, each as ``.parquet`` or ``.csv``.
    column_map : mapping, optional
        ``{table: {contract_name: user_name}}`` to rename a user's own columns.
    delimiter, encoding : str
        How CSV files are written.
    now : Timestamp, optional
        The clock for reporting future events (default: now).

    Returns
    -------
    Tables

    Raises
    ------
    DataContractError
        With every problem found, when any table breaks the contract.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataContractError([Problem(str(data_dir), None, "is not a folder")])
    problems: list[Problem] = []
    raw: dict[str, pd.DataFrame] = {}
    sources = table_files(data_dir)
    for name, spec in TABLES.items():
        path = sources.get(name)
        if path is None:
            if spec.required:
                problems.append(Problem(f"{data_dir}/{name}.csv", None, "is missing (or .parquet)"))
            continue
        frame, read_problem = read_file(path, delimiter=delimiter, encoding=encoding)
        if read_problem:
            problems.append(read_problem)
            continue
        raw[name] = frame.rename(columns=rename_map(name, column_map))
    if problems:
        raise DataContractError(problems)
    return validate_tables(raw, sources=sources, now=now)


def validate_tables(
    frames: Mapping[str, pd.DataFrame],
    *,
    sources: Mapping[str, Path] | None = None,
    now: pd.Timestamp | None = None,
) -> Tables:
    """Validate in-memory frames (contract column names) and return :class:`Tables`.

    ``frames`` maps table names to raw frames; absent optional tables become empty.
    ``sources`` names the file of each table for messages; ``now`` is the clock future
    events are reported against (default: now). Raises :class:`DataContractError`
    listing every problem.
    """
    sources = dict(sources or {})
    problems: list[Problem] = []
    notes: list[Problem] = []
    out: dict[str, pd.DataFrame] = {}
    files = {name: sources[name].name if name in sources else name for name in TABLES}
    for name, spec in TABLES.items():
        file = files[name]
        if name not in frames:
            if spec.required:
                problems.append(Problem(file, None, "is missing"))
            out[name] = _empty(spec)
            continue
        out[name], found = _conform(frames[name], spec, file, notes=notes)
        problems += found
    if not problems:
        problems += _check_customers(out["customers"], files["customers"])
    if problems:
        raise DataContractError(problems)
    tables = Tables(**out, sources=sources)
    _unify_ids(tables)
    notes += _report_future(tables, files, end_of_today(now))
    tables.warnings = notes + _report_unknown_customers(tables, files)
    for w in tables.warnings:
        log.warning("%s", w)
    return tables


def _empty(spec: TableSpec) -> pd.DataFrame:
    return _conform(
        pd.DataFrame({c.name: pd.Series([], dtype=object) for c in spec.columns}),
        spec,
        spec.name,
        allow_empty=True,
    )[0]


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
        if path.suffix == ".parquet":
            return pq.read_table(path).to_pandas(), None
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


def _examples(values: pd.Series) -> tuple[str, ...]:
    return tuple(str(v) for v in values.head(5).tolist())


def _conform(
    raw: pd.DataFrame,
    spec: TableSpec,
    file: str,
    *,
    allow_empty: bool = False,
    notes: list[Problem] | None = None,
) -> tuple[pd.DataFrame, list[Problem]]:
    """Coerce ``raw`` to the contract types; return it with the problems found.

    Findings that do not stop the load (a "never" date read as missing) are appended
    to ``notes``.
    """
    notes = [] if notes is None else notes
    problems = [
        Problem(file, col, "is missing (required by the data contract)")
        for col in spec.required_columns
        if col not in raw.columns
    ]
    if problems:
        return raw, problems
    if not len(raw) and not allow_empty and spec.required:
        return raw, [Problem(file, None, "has no rows")]
    out = {}
    for column in spec.columns:
        if column.name not in raw.columns:
            out[column.name] = _coerce(pd.Series(pd.NA, index=raw.index, dtype=object), column)
            continue
        values = raw[column.name]
        if column.kind in ("timestamp", "date"):
            coerced, early, late = _timestamps(values)
            refused = early | late
            if column.open_end and late.any():
                notes.append(_found(file, column, values, late, _NEVER))
                refused = early
            if refused.any():
                problems.append(_found(file, column, values, refused, _TIME_RANGE))
            unusable = early | late
        else:
            coerced = _coerce(values, column)
            unusable = pd.Series(False, index=values.index)
        bad = coerced.isna() & values.notna() & ~unusable
        if bad.any():  # blank text is missing, not bad
            bad[bad] = values[bad].astype(str).str.strip() != ""
        if bad.any():
            problems.append(_found(file, column, values, bad, f"is not a valid {column.kind}"))
        if column.kind in ("float", "int"):
            infinite = pd.Series(np.isinf(coerced.to_numpy()), index=values.index)
            absurd = (coerced.abs() > MAX_ABS_NUMBER) & ~infinite
            if infinite.any():
                problems.append(_found(file, column, values, infinite, "is not a finite number"))
            if absurd.any():
                problems.append(
                    _found(
                        file,
                        column,
                        values,
                        absurd,
                        f"is beyond ±{MAX_ABS_NUMBER:g} (not a plausible value)",
                    )
                )
            unusable = infinite | absurd
        if column.bounds is not None:
            lo, hi = column.bounds
            out_of = ((coerced < lo) | (coerced > hi)) & ~unusable
            if out_of.any():
                problems.append(_found(file, column, values, out_of, f"is outside {lo:g}–{hi:g}"))
        if column.required:
            missing = coerced.isna() & ~bad & ~unusable
            if missing.any():
                rows = np.flatnonzero(missing.to_numpy())[:5] + 2
                problems.append(
                    Problem(
                        file,
                        column.name,
                        "is empty (required)",
                        int(missing.sum()),
                        tuple(f"line {r}" for r in rows),
                    )
                )
        out[column.name] = coerced
    frame = pd.DataFrame(out, index=raw.index).reset_index(drop=True)
    if spec.name == "transactions" and not problems:
        problems += _check_refunds(frame, raw, file)
    return frame, problems


_TIME_RANGE = f"is outside the supported range {EARLIEST_TIMESTAMP} – {LATEST_TIMESTAMP}"
_NEVER = (
    f"has 'never' dates (after {LATEST_TIMESTAMP}, such as 9999-12-31): read as missing, "
    "i.e. it has not happened"
)


def _found(file: str, column: Column, values: pd.Series, rows: pd.Series, issue: str) -> Problem:
    """A :class:`Problem` of ``column`` at the ``rows`` mask, with examples from ``values``."""
    return Problem(file, column.name, issue, int(rows.sum()), _examples(values[rows]))


def _timestamps(
    values: pd.Series, date_format: str = "ISO8601"
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Parse timestamps as UTC ``datetime64[ns]``; masks of values before and after the range.

    Returns ``(stamps, early, late)``: values outside ``EARLIEST_TIMESTAMP`` –
    ``LATEST_TIMESTAMP`` are NaT in ``stamps`` and flagged in ``early`` or ``late``
    (parsed at their own resolution first, so ``9999-12-31`` is a date past the range,
    not an overflow). Unparseable values are NaT and in neither mask.
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        stamps, text = values.dt.tz_convert("UTC"), None
    elif pd.api.types.is_datetime64_dtype(values):
        stamps, text = values.dt.tz_localize("UTC"), None
    else:
        text = values.astype("string")
        stamps = pd.to_datetime(text, utc=True, errors="coerce", format=date_format)
    early = pd.Series((stamps < _FIRST).to_numpy(dtype=bool), index=values.index)
    late = pd.Series((stamps >= _AFTER_LAST).to_numpy(dtype=bool), index=values.index)
    if text is not None:  # a pandas that parses at ns resolution gives NaT: read the year
        failed = stamps.isna() & text.notna()
        if failed.any():
            year = pd.to_numeric(text[failed].str.extract(_YEAR)[0], errors="coerce")
            early[failed] = (year < _FIRST.year).fillna(False).to_numpy(dtype=bool)
            late[failed] = (year > _AFTER_LAST.year).fillna(False).to_numpy(dtype=bool)
    in_range = stamps.where(~(early | late))
    return in_range.astype(TIMESTAMP_DTYPE), early, late


def parse_utc(values: pd.Series, *, date_format: str = "ISO8601") -> pd.Series:
    """Parse timestamps as UTC: the one timestamp parser of the data contract.

    Parameters
    ----------
    values : pandas.Series
        Datetimes (naive ones are taken as UTC, aware ones converted) or text.
    date_format : str, default "ISO8601"
        How text is written: ``"ISO8601"`` or a ``strftime`` format such as
        ``"%m/%d/%Y %H:%M"``; text with an offset is converted to UTC, without one it is
        taken as UTC.

    Returns
    -------
    pandas.Series
        ``datetime64[ns, UTC]``, same index; NaT where a value is missing, unparseable or
        outside the supported range (:func:`_timestamps` tells which).
    """
    return _timestamps(values, date_format)[0]


def _coerce(values: pd.Series, column: Column) -> pd.Series:
    kind = column.kind
    if kind in ("timestamp", "date"):
        return _timestamps(values)[0]
    if kind in ("float", "int"):
        return pd.to_numeric(values, errors="coerce").astype("float64")
    if kind == "bool":
        if pd.api.types.is_bool_dtype(values):
            return values.astype("boolean")
        text = values.astype("string").str.strip().str.lower()
        out = pd.Series(pd.NA, index=values.index, dtype="boolean")
        out[text.isin(_TRUE).fillna(False)] = True
        out[text.isin(_FALSE).fillna(False)] = False
        return out
    if kind == "id":
        return values
    return values.astype("string")


def _check_refunds(frame: pd.DataFrame, raw: pd.DataFrame, file: str) -> list[Problem]:
    """Negative amounts must be flagged refunds; without ``is_refund``, they are refunds."""
    negative = frame["amount"] < 0
    if "is_refund" not in raw.columns:
        frame["is_refund"] = negative.astype("boolean")
        return []
    bad = negative & ~frame["is_refund"].fillna(False)
    if bad.any():
        return [
            Problem(
                file,
                "amount",
                "is negative but is_refund is not true",
                int(bad.sum()),
                _examples(frame.loc[bad, "amount"]),
            )
        ]
    frame["is_refund"] = frame["is_refund"].fillna(negative)
    return []


def _check_customers(customers: pd.DataFrame, file: str) -> list[Problem]:
    ids = customers[CUSTOMER_ID]
    dup = ids.duplicated(keep=False)
    if dup.any():
        return [
            Problem(
                file,
                CUSTOMER_ID,
                "has duplicate customer ids",
                int(dup.sum()),
                _examples(ids[dup].drop_duplicates()),
            )
        ]
    return []


def _unify_ids(tables: Tables) -> None:
    """Give ``customer_id`` one dtype everywhere: int64 when every id is an integer, else str."""
    frames = tables.frames()
    as_int = all(_integer_like(f[CUSTOMER_ID]) for f in frames.values())
    for frame in frames.values():
        ids = frame[CUSTOMER_ID]
        frame[CUSTOMER_ID] = (
            pd.to_numeric(ids).astype("int64") if as_int else ids.astype("string").astype(object)
        )


def _integer_like(ids: pd.Series) -> bool:
    if pd.api.types.is_integer_dtype(ids):
        return True
    if not len(ids):
        return True
    numbers = pd.to_numeric(ids, errors="coerce")
    return bool(numbers.notna().all() and (numbers == np.floor(numbers)).all())


def _report_future(tables: Tables, files: Mapping[str, str], future: pd.Timestamp) -> list[Problem]:
    """Timestamps at or after ``future`` (the end of today, UTC), per file and column."""
    found = []
    for name, frame in tables.frames().items():
        for column in TABLES[name].columns:
            if column.kind not in ("timestamp", "date") or not len(frame):
                continue
            after = frame[column.name] >= future
            if after.any():
                today = future - pd.Timedelta(days=1)
                found.append(
                    Problem(
                        files[name],
                        column.name,
                        f"is after today ({today:%Y-%m-%d}, UTC): kept, visible only to "
                        "cutoffs after it, and not counted in the end of the data",
                        int(after.sum()),
                        _examples(frame.loc[after, column.name].dt.strftime("%Y-%m-%dT%H:%M:%SZ")),
                    )
                )
    return found


def _report_unknown_customers(tables: Tables, files: Mapping[str, str]) -> list[Problem]:
    known = pd.Index(tables.customers[CUSTOMER_ID])
    found = []
    for name, frame in tables.frames().items():
        if name == "customers" or not len(frame):
            continue
        unknown = ~frame[CUSTOMER_ID].isin(known)
        if unknown.any():
            found.append(
                Problem(
                    files[name],
                    CUSTOMER_ID,
                    "references customers absent from customers; these rows are excluded from "
                    "features",
                    int(unknown.sum()),
                    _examples(frame.loc[unknown, CUSTOMER_ID].drop_duplicates()),
                )
            )
    return found


def known_at(tables: Tables, end: pd.Timestamp) -> Tables:
    """``tables`` as they were known at ``end``: later events gone, later outcomes unknown.

    Rows dated at or after ``end`` (signup, order, ticket, answer, offer) are dropped;
    a ``cancelled_at`` or ``resolved_at`` at or after ``end`` becomes unknown (NaT). For
    backtests: train on ``known_at(tables, t)``, judge on what happened after ``t``.
    """
    frames = {}
    for name, frame in tables.frames().items():
        time_column = TABLES[name].time_column or "signup_at"
        frame = frame.loc[frame[time_column] < end].copy()
        for column in ("cancelled_at", "resolved_at"):
            if column in frame:
                frame.loc[frame[column] >= end, column] = pd.NaT
        frames[name] = frame.reset_index(drop=True)
    return validate_tables(frames)
