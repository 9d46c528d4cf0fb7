"""Timestamps of the data contract: one parser, UTC-aware, within the supported range.

Every timestamp the data contract reads goes through :func:`parse_timestamps`: text in
ISO 8601 (or a ``strftime`` format), naive datetimes taken as UTC, aware ones converted;
the result is ``datetime64[ns, UTC]`` within ``EARLIEST_TIMESTAMP`` – ``LATEST_TIMESTAMP``
(the range a nanosecond timestamp can hold), with masks of the values outside it.
"""

from __future__ import annotations

import pandas as pd

from features.contract.schema import EARLIEST_TIMESTAMP, LATEST_TIMESTAMP

TIMESTAMP_DTYPE = "datetime64[ns, UTC]"
_FIRST = pd.Timestamp(EARLIEST_TIMESTAMP, tz="UTC")
_AFTER_LAST = pd.Timestamp(LATEST_TIMESTAMP, tz="UTC") + pd.Timedelta(days=1)
_YEAR = r"^\s*([+-]?\d{4,})-"


def end_of_today(now: pd.Timestamp | None = None) -> pd.Timestamp:
    """The UTC midnight that ends today (of ``now``, default the clock): the future's start.

    Events at or after it are *future events*: reported at load, and not counted in
    :meth:`features.contract.tables.Tables.data_end`.
    """
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    return now.floor("D") + pd.Timedelta(days=1)


def parse_timestamps(
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
        outside the supported range (:func:`parse_timestamps` tells which).
    """
    return parse_timestamps(values, date_format)[0]
