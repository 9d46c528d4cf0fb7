"""Spend: how much a customer pays, per window, per order, and how it trends."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from features.families.events import EventView, ratio


def spend_features(transactions: EventView, *, windows: Sequence[int]) -> dict[str, np.ndarray]:
    """Net spend, average order value, trend, refund and discount shares.

    Amounts are in the data's currency units; refunds are negative rows. Returns float64
    arrays, shape (n,): ``spend_total`` and ``spend_{w}d`` (net of refunds), ``aov_total``
    and ``aov_365d`` (gross order value / orders, NaN without orders), ``spend_trend_90d``
    ((last 90 d − previous 90 d) / (sum of both), in [−1, 1], NaN when both are 0),
    ``refund_share_365d`` (refunded / gross) and ``discount_share_365d``
    (discount / (gross + discount)).
    """
    amount = transactions.column("amount")
    refund = transactions.column("is_refund") == 1
    discount = transactions.column("discount")
    order = ~refund
    out = {"spend_total": transactions.total(amount)}
    for w in windows:
        out[f"spend_{w}d"] = transactions.total(amount, transactions.within(w))
    year = transactions.within(365)
    gross = transactions.total(amount, order)
    gross_year = transactions.total(amount, order & year)
    out["aov_total"] = ratio(gross, transactions.count(order))
    out["aov_365d"] = ratio(gross_year, transactions.count(order & year))
    last90 = transactions.total(amount, transactions.within(90))
    prev90 = transactions.total(amount, transactions.within(180) & ~transactions.within(90))
    out["spend_trend_90d"] = ratio(last90 - prev90, np.abs(last90) + np.abs(prev90))
    out["refund_share_365d"] = (
        ratio(0.0 - transactions.total(amount, refund & year), gross_year) + 0.0
    )
    disc = transactions.total(discount, order & year)
    out["discount_share_365d"] = ratio(disc, gross_year + disc)
    return out
