"""The simulation calendar: the month grid with its acquisition curve, and the campaigns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.synthetic.params import DAY, MONTH, OFFER_IDS, PRE_START_MONTHS, M


@dataclass(frozen=True)
class Grid:
    """Month boundaries in epoch seconds, from ``PRE_START_MONTHS`` before start to end.

    Month ``k`` spans ``[bounds[k], bounds[k + 1])``; simulated months are
    ``first..n_all-1`` (``first`` is the month starting at ``start``).
    """

    bounds: np.ndarray  # int64 seconds, length n_all + 1, last == end
    nominal: np.ndarray  # full calendar length of each month in seconds (last may be cut)
    calendar_month: np.ndarray  # 1..12 per month
    first: int
    start: int
    end: int
    signup_cdf: np.ndarray  # cumulative acquisition weight per day
    day_edges: np.ndarray  # seconds, len(signup_cdf) + 1

    @property
    def n_months(self) -> int:
        return len(self.bounds) - 1 - self.first

    @classmethod
    def build(cls, start: pd.Timestamp, end: pd.Timestamp) -> Grid:
        edges = [start - pd.DateOffset(months=k) for k in range(PRE_START_MONTHS, 0, -1)]
        k = 0
        while (edge := start + pd.DateOffset(months=k)) < end:
            edges.append(edge)
            k += 1
        full_next = [e + pd.DateOffset(months=1) for e in edges]
        bounds = np.array([_secs(e) for e in [*edges, end]], dtype=np.int64)
        nominal = np.array([_secs(n) - _secs(e) for e, n in zip(edges, full_next, strict=True)])
        months = np.array([e.month for e in edges])
        start_s, end_s = _secs(start), _secs(end)
        # Acquisition intensity per day: survivors decaying back in time before start,
        # growing and seasonal after it (both equal at start).
        day_edges = np.arange(bounds[0], end_s, DAY, dtype=np.int64)
        day_edges = np.append(day_edges, end_s)
        mid = (day_edges[:-1] + day_edges[1:]) / 2
        rel_months = (mid - start_s) / MONTH
        day_month = pd.DatetimeIndex(pd.to_datetime(day_edges[:-1], unit="s")).month.to_numpy() - 1
        weight = np.where(
            rel_months < 0,
            np.exp(rel_months / M.pre_start_decay_months),
            np.exp(M.growth_per_month * rel_months) * np.asarray(M.signup_season)[day_month],
        ) * (np.diff(day_edges) / DAY)
        return cls(
            bounds=bounds,
            nominal=nominal,
            calendar_month=months,
            first=PRE_START_MONTHS,
            start=start_s,
            end=end_s,
            signup_cdf=np.cumsum(weight) / weight.sum(),
            day_edges=day_edges,
        )

    def signup_times(self, quantiles: np.ndarray) -> np.ndarray:
        """Signup epoch seconds at acquisition quantiles in (0, 1), monotone in them."""
        cdf = self.signup_cdf
        day = np.minimum(np.searchsorted(cdf, quantiles, side="right"), len(cdf) - 1)
        below = np.where(day > 0, cdf[np.maximum(day - 1, 0)], 0.0)
        frac = np.clip((quantiles - below) / (cdf[day] - below), 0.0, 1.0)
        width = self.day_edges[day + 1] - self.day_edges[day]
        return self.day_edges[day] + np.minimum((frac * width).astype(np.int64), width - 1)


@dataclass(frozen=True)
class Campaigns:
    """Retention campaigns, one calendar for all customers: month, day and theme."""

    active: np.ndarray  # bool per grid month
    offset: np.ndarray  # seconds after the month start
    theme: np.ndarray  # index into OFFER_IDS

    @classmethod
    def draw(cls, rng: np.random.Generator, grid: Grid) -> Campaigns:
        n = len(grid.bounds) - 1
        active = rng.random(n) < M.campaign_p
        offset = (rng.random(n) * np.minimum(25 * DAY, grid.nominal)).astype(np.int64)
        theme = rng.integers(0, len(OFFER_IDS), n)
        return cls(active=active, offset=offset, theme=theme)


def _secs(stamp: pd.Timestamp) -> int:
    return int(stamp.value // 1_000_000_000)
