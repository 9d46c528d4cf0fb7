"""Basket: what a customer's orders hold (items, price level) and how regular they are.

Order-line detail that an order-lines export carries (``churn import orders`` keeps the
item count of each order as ``quantity``), and the rhythm of the orders themselves.
"""

from __future__ import annotations

import numpy as np

from features.families.events import EventView, ratio

YEAR = 365


def basket_features(transactions: EventView, orders: EventView) -> dict[str, np.ndarray]:
    """Items per order, price level, returns, and order regularity and trend.

    ``transactions`` are every visible transaction (refunds negative rows),
    ``orders`` the non-refund ones. Returns float64 arrays, shape (n,):

    - ``items_per_order_365d``: items (``quantity``) per order in the last year (NaN
      without orders or without a quantity);
    - ``item_price_365d``: gross order value / items in the last year, currency units;
    - ``items_returned_share_365d``: items on refunds / items ordered in the last year;
    - ``gap_cv``: standard deviation / mean of the gaps between orders (regularity; NaN
      with fewer than three orders);
    - ``last_gap_ratio``: the latest gap between orders / the mean gap (NaN with fewer
      than two orders): above 1, the customer has slowed down;
    - ``orders_trend_90d``: (orders in the last 90 days − in the 90 before) / both, in
      [−1, 1] (NaN without orders in either).
    """
    quantity = transactions.column("quantity")
    amount = transactions.column("amount")
    refund = transactions.column("is_refund") == 1
    year = transactions.within(YEAR)
    bought = ~refund & year & ~np.isnan(quantity)
    items = transactions.total(quantity, bought)
    out = {
        "items_per_order_365d": ratio(items, transactions.count(bought)),
        "item_price_365d": ratio(transactions.total(amount, bought), items),
        "items_returned_share_365d": ratio(transactions.total(quantity, refund & year), items),
    }
    same = np.zeros(len(orders.pos), bool)
    same[1:] = orders.pos[1:] == orders.pos[:-1]
    gaps = np.zeros(len(orders.pos))
    gaps[1:] = orders.age[:-1] - orders.age[1:]
    n_gaps = orders.count(same)
    mean = ratio(orders.total(gaps, same), n_gaps)
    with np.errstate(invalid="ignore"):
        var = ratio(orders.total(gaps**2, same) - n_gaps * mean**2, n_gaps - 1)
    out["gap_cv"] = ratio(np.sqrt(np.clip(var, 0, None)), mean)
    out["last_gap_ratio"] = ratio(orders.last(np.where(same, gaps, np.nan), same), mean)
    recent = orders.count(orders.within(90))
    before = orders.count(orders.within(180) & ~orders.within(90))
    out["orders_trend_90d"] = ratio(recent - before, recent + before)
    return out
