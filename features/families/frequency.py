"""Frequency: how often a customer orders, and how overdue the next order is."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from features.families.events import EventView, ratio

PERIOD_DAYS = 30
PERIODS = 12


def frequency_features(orders: EventView, *, windows: Sequence[int]) -> dict[str, np.ndarray]:
    """Order counts, active periods and inter-order gap statistics.

    ``orders`` holds non-refund transactions only. Returns float64 arrays, shape (n,):
    ``orders_total``, ``orders_{w}d`` per window, ``active_periods_360d`` (distinct
    30-day periods with an order in the last 360 days, 0–12), ``gap_mean_days`` and
    ``gap_std_days`` (between consecutive orders; NaN with fewer than 2 / 3 orders),
    ``overdue_ratio`` (days since last order / mean gap) and
    ``expected_days_to_next_order`` (mean gap − days since last order, floored at 0).
    """
    out = {"orders_total": orders.count()}
    for w in windows:
        out[f"orders_{w}d"] = orders.count(orders.within(w))
    recent = orders.within(PERIOD_DAYS * PERIODS)
    period = np.ceil(orders.age[recent] / PERIOD_DAYS).astype("int64") - 1
    # Within a customer events run oldest first, so equal periods are adjacent.
    keys = orders.pos[recent] * PERIODS + period
    first = np.ones(len(keys), bool)
    first[1:] = keys[1:] != keys[:-1]
    active = np.bincount(orders.pos[recent][first], minlength=orders.n)
    out["active_periods_360d"] = active.astype("float64")

    same = np.zeros(len(orders.pos), bool)
    same[1:] = orders.pos[1:] == orders.pos[:-1]
    gaps = np.zeros(len(orders.pos))
    gaps[1:] = orders.age[:-1] - orders.age[1:]
    n_gaps = orders.count(same)
    gap_sum = orders.total(gaps, same)
    gap_sq = orders.total(gaps**2, same)
    mean = ratio(gap_sum, n_gaps)
    with np.errstate(invalid="ignore"):
        var = ratio(gap_sq - n_gaps * mean**2, n_gaps - 1)
    out["gap_mean_days"] = mean
    out["gap_std_days"] = np.sqrt(np.clip(var, 0, None))
    last = orders.min_age()
    out["overdue_ratio"] = ratio(last, mean)
    out["expected_days_to_next_order"] = np.clip(mean - last, 0, None)
    return out
