"""Occasions: birthdays and signup anniversaries coming up after ``as_of``.

Personalised offers ("happy birthday", "a year with us") need to know who has an
occasion soon. Dates are whole UTC days; a 29 February falls on 28 February in other
years.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

OCCASION_DAYS = 30
"""An occasion within this many days of ``as_of`` (``as_of`` day included) is "soon"."""


def days_to_anniversary(dates: pd.Series, as_of: pd.Timestamp) -> np.ndarray:
    """Days from the UTC day of ``as_of`` to the next anniversary of each date, on or after.

    Returns float64 of shape (n,), 0–365; NaN where the date is missing.
    """
    today = np.datetime64(as_of.tz_convert("UTC").tz_localize(None).normalize(), "D")
    stamps = pd.to_datetime(dates, utc=True).dt.tz_localize(None)
    missing = stamps.isna().to_numpy()
    day = stamps.fillna(pd.Timestamp(0)).to_numpy().astype("datetime64[D]")
    month_start = day.astype("datetime64[M]")
    month = (month_start - day.astype("datetime64[Y]").astype("datetime64[M]")).astype("int64")
    day_of_month = (day - month_start.astype("datetime64[D]")).astype("int64")  # 0-based

    def on(year: int) -> np.ndarray:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        dom = np.where((month == 1) & (day_of_month == 28) & (not leap), 27, day_of_month)
        start = np.datetime64(f"{year:04d}-01", "M") + month
        return start.astype("datetime64[D]") + dom

    year = int(str(today.astype("datetime64[Y]")))
    this_year, next_year = on(year), on(year + 1)
    days = np.where(this_year >= today, this_year - today, next_year - today).astype("float64")
    days[missing] = np.nan
    return days


def occasion_features(customers: pd.DataFrame, as_of: pd.Timestamp) -> dict[str, np.ndarray]:
    """Upcoming birthdays and signup anniversaries, float64 arrays of shape (n,).

    - ``days_to_birthday``: days to the next birthday (NaN without ``birth_date``);
    - ``birthday_within_30d``: 1 when it is within :data:`OCCASION_DAYS`, else 0 (NaN
      without ``birth_date``);
    - ``days_to_signup_anniversary``, ``signup_anniversary_within_30d``: the same for
      ``signup_at`` (a customer who signed up on ``as_of``'s day is not yet known).
    """
    out: dict[str, np.ndarray] = {}
    for name, column in (("birthday", "birth_date"), ("signup_anniversary", "signup_at")):
        days = days_to_anniversary(customers[column], as_of)
        soon = (days < OCCASION_DAYS).astype("float64")
        soon[np.isnan(days)] = np.nan
        out[f"days_to_{name}"] = days
        out[f"{name}_within_30d"] = soon
    return out
