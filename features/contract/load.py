"""Load the contract tables from CSV or Parquet files and validate them once, at the door.

Everything downstream trusts what :func:`load_tables` returns: contract column names,
UTC-aware ``datetime64[ns, UTC]`` timestamps within 1677-09-22 – 2262-04-10, finite
numbers within ±1e12, boolean flags, one customer-id dtype across tables. Every
problem found is collected and raised together as one
:class:`~features.contract.errors.DataContractError` naming file, column, row count and up to
five examples.

Reported, not refused (``Tables.warnings``): transactions repeated row for row (dropped,
counted once; an ``order_id`` reused for different rows is refused); rows of customers
absent from ``customers``; "never" sentinels such as ``9999-12-31`` in an end column
(``cancelled_at``, ``resolved_at``), read as missing; timestamps after today (UTC),
which stay in the tables (a cutoff after them sees them) but do not move
:meth:`Tables.data_end`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from features.contract.duplicates import Duplicates, check_transactions
from features.contract.errors import DataContractError, Problem
from features.contract.files import read_file, table_files
from features.contract.schema import (
    CUSTOMER_ID,
    EARLIEST_TIMESTAMP,
    EVENT_FAMILIES,
    LATEST_TIMESTAMP,
    MAX_ABS_NUMBER,
    OTHER_EVENT,
    TABLES,
    Column,
    ColumnMap,
    EventTypeMap,
    TableSpec,
    event_family_map,
    rename_map,
)
from features.contract.tables import Tables
from features.contract.timestamps import end_of_today, parse_timestamps

log = logging.getLogger(__name__)

IdKind = Literal["auto", "int", "str"]

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}


def load_tables(
    data_dir: str | Path,
    *,
    column_map: ColumnMap | None = None,
    event_types: EventTypeMap | None = None,
    delimiter: str = ",",
    encoding: str = "utf-8",
    now: pd.Timestamp | None = None,
) -> Tables:
    """Read and validate every contract table found in ``data_dir``.

    Parameters
    ----------
    data_dir : path
        Folder holding ``customers``, ``transactions`` and optionally ``support_tickets``,
        ``surveys``, ``offers`` and ``events``, each as ``.parquet`` or ``.csv``.
    column_map : mapping, optional
        ``{table: {contract_name: user_name}}`` to rename a user's own columns.
    event_types : mapping, optional
        ``{your event type: family}`` onto :data:`features.contract.schema.EVENT_FAMILIES`;
        types neither mapped nor a family name become ``other`` and are reported.
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
    return validate_tables(raw, sources=sources, now=now, event_types=event_types)


def validate_tables(
    frames: Mapping[str, pd.DataFrame],
    *,
    sources: Mapping[str, Path] | None = None,
    now: pd.Timestamp | None = None,
    event_types: EventTypeMap | None = None,
    id_kind: IdKind = "auto",
    log_warnings: bool = True,
    duplicates: Duplicates = "drop",
) -> Tables:
    """Validate in-memory frames (contract column names) and return :class:`Tables`.

    ``frames`` maps table names to raw frames; absent optional tables become empty
    (and are listed in :attr:`Tables.absent`). ``sources`` names the file of each table
    for messages; ``now`` is the clock future events are reported against (default:
    now); ``event_types`` maps the user's event types onto the families (see
    :func:`load_tables`). ``id_kind`` gives ``customer_id`` its dtype: ``"int"``
    (int64), ``"str"``, or ``"auto"`` (int64 when every id is a whole number); a reader
    of one customer partition at a time passes what it found over all of them, so
    every partition gets the same dtype. ``log_warnings=False`` leaves the logging of
    :attr:`Tables.warnings` to the caller. Transactions repeated row for row are
    dropped with a warning (``duplicates="drop"``) or refused (``"refuse"``); an
    ``order_id`` reused by different rows of a customer is refused
    (:mod:`features.contract.duplicates`). Raises :class:`DataContractError` listing every problem.
    """
    sources = dict(sources or {})
    families = event_family_map(event_types)
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
        if name == "events" and not found:
            notes += _map_event_types(out[name], families, file)
            out[name]["channel"] = out[name]["channel"].astype("category")  # few, many rows
    if not problems:
        problems += _check_customers(out["customers"], files["customers"])
    if problems:
        raise DataContractError(problems)
    absent = frozenset(name for name in TABLES if name not in frames)
    tables = Tables(**out, sources=sources, absent=absent)
    _unify_ids(tables, id_kind)
    tables.transactions, problems, repeated = check_transactions(
        tables.transactions, files["transactions"], duplicates=duplicates
    )
    if problems:
        raise DataContractError(problems)
    notes += repeated
    notes += _report_future(tables, files, end_of_today(now))
    tables.warnings = notes + _report_unknown_customers(tables, files)
    for w in tables.warnings if log_warnings else ():
        log.warning("%s", w)
    return tables


def empty_tables(*, absent: frozenset[str] = frozenset()) -> Tables:
    """Tables with no rows, typed as validated tables are (``absent``: optional tables
    left out). What the per-partition code gives for them fixes its output's schema."""
    return Tables(**{name: _empty(spec) for name, spec in TABLES.items()}, absent=absent)


def _empty(spec: TableSpec) -> pd.DataFrame:
    frame = _conform(
        pd.DataFrame({c.name: pd.Series([], dtype=object) for c in spec.columns}),
        spec,
        spec.name,
        allow_empty=True,
    )[0]
    if spec.name == "events":
        _map_event_types(frame, event_family_map(None), spec.name)
    return frame


def _map_event_types(frame: pd.DataFrame, families: Mapping[str, str], file: str) -> list[Problem]:
    """Replace ``event_type`` by its family (a categorical of :data:`EVENT_FAMILIES`), in place.

    The lookup runs once per distinct type, not per row. Returns a note naming the types
    that are neither mapped nor a family name: they count as ``other``.
    """
    kinds = frame["event_type"].astype("category")
    types = pd.Index(kinds.cat.categories.astype(str)).str.strip().str.lower()
    family = pd.Categorical(
        [families.get(t, OTHER_EVENT) for t in types], categories=EVENT_FAMILIES
    ).codes
    codes = kinds.cat.codes.to_numpy()
    frame["event_type"] = pd.Categorical.from_codes(
        np.append(family, -1)[codes], categories=EVENT_FAMILIES
    )
    unknown = np.flatnonzero([t not in families for t in types])
    if not unknown.size:
        return []
    rows = int(np.bincount(codes[codes >= 0], minlength=len(types))[unknown].sum())
    return [
        Problem(
            file,
            "event_type",
            "has event types not mapped in [data.event_types] (families: "
            f"{', '.join(EVENT_FAMILIES)}): counted as '{OTHER_EVENT}'",
            rows,
            tuple(kinds.cat.categories[unknown[:5]].astype(str)),
        )
    ]


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
            coerced, early, late = parse_timestamps(values)
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


def _coerce(values: pd.Series, column: Column) -> pd.Series:
    kind = column.kind
    if kind in ("timestamp", "date"):
        return parse_timestamps(values)[0]
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


def _unify_ids(tables: Tables, id_kind: IdKind = "auto") -> None:
    """Give ``customer_id`` one dtype everywhere: int64 when every id is an integer, else str."""
    frames = tables.frames()
    as_int = id_kind == "int" or (
        id_kind == "auto" and all(integer_like(f[CUSTOMER_ID]) for f in frames.values())
    )
    for frame in frames.values():
        ids = frame[CUSTOMER_ID]
        frame[CUSTOMER_ID] = (
            pd.to_numeric(ids).astype("int64") if as_int else ids.astype("string").astype(object)
        )


def integer_like(ids: pd.Series) -> bool:
    """Whether every id in ``ids`` is a whole number (an empty column is)."""
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
        if name in tables.absent:
            continue
        time_column = TABLES[name].time_column or "signup_at"
        frame = frame.loc[frame[time_column] < end].copy()
        for column in ("cancelled_at", "resolved_at"):
            if column in frame:
                frame.loc[frame[column] >= end, column] = pd.NaT
        frames[name] = frame.reset_index(drop=True)
    return validate_tables(frames)
