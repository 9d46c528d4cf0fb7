"""Purchase days: the frequency, recency, age and value summary that BTYD models read.

A *purchase day* is a UTC calendar day with at least one order (refunds ignored),
dated at its start, its value the sum of that day's order amounts: orders placed on the
same day are one purchase. From them, per customer (the ``lifetimes`` / pymc-marketing
"RFM" summary, here point in time like every feature):

- ``rfm_frequency``: repeat purchase days (distinct purchase days − 1);
- ``rfm_recency_days``: days from the first to the last purchase day;
- ``rfm_T_days``: days from the first purchase day to ``as_of`` (> recency; fractional
  when ``as_of`` is not at midnight UTC);
- ``rfm_monetary``: mean value of the repeat purchase days (the first excluded),
  currency units; 0 without a repeat purchase.

Customers without an order before ``as_of`` get 0 everywhere (``rfm_T_days == 0`` marks
them).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.families.events import NS_PER_DAY, EventView

PURCHASE_DAY_FEATURES = ("rfm_frequency", "rfm_recency_days", "rfm_T_days", "rfm_monetary")
"""Columns of :func:`purchase_day_features`, in order."""


def purchase_days(
    pos: np.ndarray, stamps: np.ndarray, amount: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Collapse orders into purchase days.

    Parameters
    ----------
    pos : ndarray of int64, shape (n_orders,)
        Customer position of each order, ascending, orders of a customer in time order.
    stamps : ndarray of datetime64[ns], shape (n_orders,)
        Order timestamps (UTC).
    amount : ndarray of float64, shape (n_orders,)
        Order amounts, currency units.

    Returns
    -------
    pos : ndarray of int64
        Customer position of each purchase day, ascending.
    day : ndarray of int64
        UTC day number (days since 1970-01-01), ascending within a customer.
    value : ndarray of float64
        Sum of the day's order amounts, currency units.
    """
    day = np.floor_divide(stamps.astype("datetime64[ns]").astype("int64"), NS_PER_DAY)
    if not len(day):
        return pos, day, np.asarray(amount, dtype="float64")
    starts = np.flatnonzero(np.r_[True, (pos[1:] != pos[:-1]) | (day[1:] != day[:-1])])
    return pos[starts], day[starts], np.add.reduceat(np.asarray(amount, "float64"), starts)


def rfm_from_days(
    pos: np.ndarray, day: np.ndarray, value: np.ndarray, *, n: int, as_of: pd.Timestamp
) -> dict[str, np.ndarray]:
    """The :data:`PURCHASE_DAY_FEATURES` of ``n`` customers from their purchase days.

    Returns float64 arrays, shape (n,), keyed by the names in the module doc.
    """
    days = np.bincount(pos, minlength=n).astype("float64")
    total = np.bincount(pos, weights=value, minlength=n)
    first_day, last_day, first_value = np.zeros(n), np.zeros(n), np.zeros(n)
    if len(pos):
        firsts = np.flatnonzero(np.r_[True, pos[1:] != pos[:-1]])
        lasts = np.r_[firsts[1:] - 1, len(pos) - 1]
        customer = pos[firsts]
        first_day[customer] = day[firsts]
        last_day[customer] = day[lasts]
        first_value[customer] = value[firsts]
    bought = days > 0
    frequency = np.where(bought, days - 1, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        monetary = np.where(frequency > 0, (total - first_value) / frequency, 0.0)
    as_of_day = as_of.value / NS_PER_DAY
    return {
        "rfm_frequency": frequency,
        "rfm_recency_days": np.where(bought, last_day - first_day, 0.0),
        "rfm_T_days": np.where(bought, as_of_day - first_day, 0.0),
        "rfm_monetary": monetary,
    }


def purchase_day_features(
    transactions: EventView, *, time_column: str, as_of: pd.Timestamp
) -> dict[str, np.ndarray]:
    """:data:`PURCHASE_DAY_FEATURES` from the visible transactions (refunds are skipped).

    ``transactions`` must carry ``time_column``, ``amount`` and ``is_refund`` in its rows.
    """
    order = transactions.column("is_refund") != 1
    stamps = transactions.rows[time_column].to_numpy(dtype="datetime64[ns]")[order]
    amount = transactions.column("amount")[order]
    pos, day, value = purchase_days(transactions.pos[order], stamps, amount)
    return rfm_from_days(pos, day, value, n=transactions.n, as_of=as_of)
