"""Calendar months (UTC) as the KPIs measure them: whole months and each stamp's month."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.families.events import as_utc


def month_floor(ts: pd.Timestamp) -> pd.Timestamp:
    """The UTC month start at or before ``ts``."""
    return ts.normalize().replace(day=1)


def month_ceil(ts: pd.Timestamp) -> pd.Timestamp:
    """The UTC month start at or after ``ts``."""
    floor = month_floor(ts)
    return floor if floor == ts else floor + pd.DateOffset(months=1)


def month_edges(start: str | pd.Timestamp, end: str | pd.Timestamp) -> pd.DatetimeIndex:
    """UTC month starts of the whole months in ``[start, end)``, and the end of the last.

    ``start`` is rounded up and ``end`` down to a month start, so only complete months
    are measured: ``month_edges("2024-01-15", "2024-04-10")`` gives Feb 1, Mar 1, Apr 1.
    """
    return pd.date_range(month_ceil(as_utc(start)), month_floor(as_utc(end)), freq="MS")


def month_of(stamps: pd.Series, edges: pd.DatetimeIndex) -> np.ndarray:
    """Position + 1 of each timestamp's month among ``edges`` (0 = outside the period)."""
    ns = stamps.to_numpy(dtype="datetime64[ns]").astype("int64")
    i = np.searchsorted(edges.as_unit("ns").asi8, ns, side="right")
    inside = (i >= 1) & (i < len(edges)) & ~stamps.isna().to_numpy()
    return np.where(inside, i, 0)
