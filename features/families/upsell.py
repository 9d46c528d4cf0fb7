"""Upsell and cross-category buying: how many product types, and trading up in price.

From the visible ``transactions`` (orders only; refunds are not purchases), per
customer, point in time like every family.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.families.events import EventView, ratio

TRADE_UP_FACTOR = 1.25
"""Recent mean order value above this multiple of the customer's earlier median = trade-up."""

TRADE_UP_DAYS = 90
"""The recent window of the trade-up flag, days."""


def distinct_categories(pos: np.ndarray, codes: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Distinct non-missing categories among the ``mask`` rows, per customer, float64 (n,).

    ``codes`` are the rows' category codes (``pandas.factorize``; -1 for missing).
    """
    width = int(codes.max()) + 1 if codes.size and codes.max() >= 0 else 1
    keep = mask & (codes >= 0)
    pairs = np.unique(pos[keep] * width + codes[keep])
    return np.bincount(pairs // width, minlength=n).astype("float64")


def upsell_features(transactions: EventView, *, windows: Sequence[int]) -> dict[str, np.ndarray]:
    """Cross-category and trade-up features, float64 arrays of shape (n_customers,).

    - ``categories_<w>d``: distinct product categories ordered in the last ``w`` days
      (0 without orders; all 0 when the data has no ``category``);
    - ``share_above_median_365d``: share of the last 365 days' orders whose amount is
      above the customer's own median order amount (all visible orders), 0–1, NaN
      without orders in the window;
    - ``trade_up_90d``: 1 when the mean order amount of the last 90 days exceeds
      :data:`TRADE_UP_FACTOR` × the median of the customer's earlier orders, else 0;
      NaN without orders on either side.
    """
    amount = transactions.column("amount")
    order = transactions.column("is_refund") != 1
    pos, n = transactions.pos, transactions.n
    codes, _ = pd.factorize(transactions.rows["category"], use_na_sentinel=True)
    out = {
        f"categories_{w}d": distinct_categories(pos, codes, order & transactions.within(w), n)
        for w in windows
    }
    median = _median(pos[order], amount[order], n)
    year = order & transactions.within(365)
    above = year & (amount > median[pos])
    out["share_above_median_365d"] = ratio(transactions.count(above), transactions.count(year))
    recent = order & transactions.within(TRADE_UP_DAYS)
    earlier = _median(pos[order & ~recent], amount[order & ~recent], n)
    recent_mean = transactions.mean(np.where(recent, amount, np.nan))
    flag = (recent_mean > TRADE_UP_FACTOR * earlier).astype("float64")
    flag[np.isnan(recent_mean) | np.isnan(earlier)] = np.nan
    out["trade_up_90d"] = flag
    return out


def _median(pos: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Median of ``values`` per customer position, NaN where a customer has none."""
    out = np.full(n, np.nan)
    if pos.size:
        medians = pd.Series(values).groupby(pos, sort=False).median()
        out[medians.index.to_numpy()] = medians.to_numpy()
    return out
