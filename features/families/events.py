"""Point-in-time event views: the one place that decides what is visible at ``as_of``.

Rule, stated once: an event is visible at ``as_of`` when its timestamp is strictly
before ``as_of``. A :class:`EventView` holds the visible rows of one table, sorted by
customer and time, with each row's customer position and age in days, and offers the
vectorised per-customer reductions every feature family is built from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.contract.errors import ChurnError
from features.contract.schema import CUSTOMER_ID

NS_PER_DAY = 86_400 * 10**9


def as_utc(ts: str | pd.Timestamp) -> pd.Timestamp:
    """Parse a cutoff as a UTC-aware timestamp (naive input is taken as UTC)."""
    stamp = pd.Timestamp(ts)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def parse_as_of(text: str, *, name: str = "--as-of") -> pd.Timestamp:
    """Parse a user's cutoff: a whole UTC day, ``YYYY-MM-DD`` (or a UTC-midnight timestamp).

    Cutoffs are days: snapshots, scores and labels are named and reported by date, so
    a time of day (``2025-06-30T12:00:00+05:00`` is 07:00 UTC) is refused rather than
    silently cut somewhere else than its name says.

    Parameters
    ----------
    text : str
        What the user typed.
    name : str, default "--as-of"
        The option or field name for the message.

    Returns
    -------
    Timestamp
        The UTC midnight that starts that day (events strictly before it are visible).

    Raises
    ------
    ChurnError
        When ``text`` is not a date, or is a time that is not a UTC midnight; the message
        names ``name``, the value and, for a time of day, the UTC day to use instead.
    """
    try:
        stamp = as_utc(str(text).strip())
    except (ValueError, TypeError, OverflowError) as e:
        raise ChurnError(f"Invalid {name} {text!r}: expected a date like 2025-06-30 (UTC).") from e
    if pd.isna(stamp):
        raise ChurnError(f"Invalid {name} {text!r}: expected a date like 2025-06-30 (UTC).")
    try:
        stamp = stamp.as_unit("ns")
    except (ValueError, OverflowError) as e:
        raise ChurnError(f"Invalid {name} {text!r}: expected a date between 1678 and 2261.") from e
    if stamp != stamp.floor("D"):
        day, next_day = stamp.floor("D"), stamp.ceil("D")
        raise ChurnError(
            f"Invalid {name} {text!r}: a cutoff is a whole UTC day, but this is "
            f"{stamp:%Y-%m-%d %H:%M:%S} UTC. Give a date: {day:%Y-%m-%d} cuts at "
            f"{day:%Y-%m-%d} 00:00 UTC, {next_day:%Y-%m-%d} at {next_day:%Y-%m-%d} 00:00 UTC."
        )
    return stamp


def days_before(stamps: pd.Series, as_of: pd.Timestamp) -> np.ndarray:
    """Days from each timestamp to ``as_of`` (positive in the past), float64, NaN for NaT."""
    # Subtract in int64 nanoseconds, then convert: epoch nanoseconds as float64 round to
    # 256 ns, which would put an event a few ns before ``as_of`` at age 0 (not visible).
    ns = stamps.to_numpy(dtype="datetime64[ns]").astype("int64")
    with np.errstate(over="ignore"):
        age = (np.int64(as_of.value) - ns).astype("float64") / NS_PER_DAY
    age[stamps.isna().to_numpy()] = np.nan
    return age


def known_before(stamps: pd.Series, as_of: pd.Timestamp) -> np.ndarray:
    """Whether each timestamp is strictly before ``as_of``: the point-in-time rule, bool.

    An event at ``as_of`` itself is not yet known; NaT (never happened) is False.
    """
    return days_before(stamps, as_of) > 0


@dataclass(frozen=True)
class EventView:
    """Visible events of one table for a fixed customer index.

    Attributes
    ----------
    pos : ndarray of int64, shape (n_events,)
        Position of each event's customer in the customer index; sorted ascending,
        events of one customer in time order.
    age : ndarray of float64, shape (n_events,)
        Days between the event and ``as_of`` (> 0).
    rows : pandas.DataFrame
        The visible rows themselves, in the same order.
    n : int
        Number of customers in the index.
    """

    pos: np.ndarray
    age: np.ndarray
    rows: pd.DataFrame
    n: int

    def within(self, days: float) -> np.ndarray:
        """Mask of events in the window ``[as_of - days, as_of)``."""
        return self.age <= days

    def count(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Events per customer, float64, shape (n,)."""
        pos = self.pos if mask is None else self.pos[mask]
        return np.bincount(pos, minlength=self.n).astype("float64")

    def total(self, values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Sum of ``values`` per customer (NaN values count as 0), float64, shape (n,)."""
        values = np.asarray(values, dtype="float64")
        pos = self.pos
        if mask is not None:
            pos, values = pos[mask], values[mask]
        if np.isnan(values).any():
            values = np.nan_to_num(values)
        # float64 even for no rows (bincount of empty weights gives int64)
        return np.bincount(pos, weights=values, minlength=self.n).astype("float64", copy=False)

    def mean(self, values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Mean of the non-NaN ``values`` per customer; NaN where there are none."""
        values = np.asarray(values, dtype="float64")
        present = ~np.isnan(values) if mask is None else mask & ~np.isnan(values)
        return ratio(self.total(values, present), self.count(present))

    def last(
        self, values: np.ndarray, mask: np.ndarray | None = None, *, nth: int = 1
    ) -> np.ndarray:
        """Value of each customer's ``nth``-latest event (among ``mask``); NaN where none."""
        values = np.asarray(values, dtype="float64")
        keep = np.ones(len(values), bool) if mask is None else mask
        pos, vals = self.pos[keep], values[keep]
        out = np.full(self.n, np.nan)
        if not len(pos):
            return out
        ends = np.flatnonzero(np.r_[pos[1:] != pos[:-1], True])
        starts = np.r_[0, ends[:-1] + 1]
        pick = ends - (nth - 1)
        ok = pick >= starts
        out[pos[pick[ok]]] = vals[pick[ok]]
        return out

    def min_age(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Days since the latest event per customer; NaN where there is none."""
        return self.last(self.age, mask)

    def max_age(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Days since the earliest event per customer; NaN where there is none."""
        out = np.full(self.n, np.nan)
        pos, age = (self.pos, self.age) if mask is None else (self.pos[mask], self.age[mask])
        if len(pos):
            firsts = np.flatnonzero(np.r_[True, pos[1:] != pos[:-1]])
            out[pos[firsts]] = age[firsts]
        return out

    def subset(self, mask: np.ndarray) -> EventView:
        """The events where ``mask`` holds, order kept; ``rows`` keeps no rows (columns only)."""
        return EventView(pos=self.pos[mask], age=self.age[mask], rows=self.rows.iloc[:0], n=self.n)

    def column(self, name: str) -> np.ndarray:
        """A numeric or boolean column of the visible rows as float64 (NA → NaN)."""
        return self.rows[name].astype("Float64").to_numpy(dtype="float64", na_value=np.nan)


def visible_events(
    frame: pd.DataFrame,
    time_column: str,
    *,
    index: pd.Index,
    as_of: pd.Timestamp,
    columns: Sequence[str] | None = None,
) -> EventView:
    """Select the rows of ``frame`` visible at ``as_of`` for the customers in ``index``.

    Parameters
    ----------
    frame : DataFrame
        A validated contract table with ``customer_id`` and ``time_column``.
    time_column : str
        The column that dates each event (UTC timestamps).
    index : pandas.Index
        Customer ids, unique; positions in it are the output's customer positions.
    as_of : Timestamp
        The exclusive cutoff, UTC.
    columns : sequence of str, optional
        The columns the caller reads; only these are gathered (all when None).
    """
    age = days_before(frame[time_column], as_of)
    pos = index.get_indexer(frame[CUSTOMER_ID])
    rows_at = np.flatnonzero((age > 0) & (pos >= 0))
    age, pos = age[rows_at], pos[rows_at]
    if not _in_order(pos, age):  # sorted input (the usual file order) is taken as it is
        order = np.lexsort((-age, pos))
        rows_at, age, pos = rows_at[order], age[order], pos[order]
    chosen = frame if columns is None else frame[list(columns)]
    rows = chosen.take(rows_at).reset_index(drop=True)
    return EventView(pos=pos.astype("int64", copy=False), age=age, rows=rows, n=len(index))


def _in_order(pos: np.ndarray, age: np.ndarray) -> bool:
    """Whether events already run by customer, then time (age descending): an O(n) check."""
    if len(pos) < 2:
        return True
    step = np.diff(pos)
    return bool(((step > 0) | ((step == 0) & (age[1:] <= age[:-1]))).all())


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Element-wise ``num / den`` with NaN where ``den`` is 0 or NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.asarray(num, dtype="float64") / np.asarray(den, dtype="float64")
    out[~np.isfinite(out)] = np.nan
    return out
