"""Labels for a cutoff: who churns within the horizon, and what they spend over the LTV horizon.

Time is split at the cutoff ``t`` exactly as the features split it: features see events
strictly before ``t``; labels see the future ``[t, t + horizon)``. A customer is *active*
at ``t`` (and so gets labels) when they signed up before ``t``, had not cancelled before
``t``, had placed at least ``min_orders`` orders before ``t``, and at least one in the
``active_days`` before ``t`` (a customer silent for longer is already lost, not a
churn risk to act on).

- Churn, contractual customers (``subscription``): ``cancelled_at`` in ``[t, t + H)``.
- Churn, non-contractual customers: no order in ``[t, t + H)``.
- LTV: net spend (orders minus refunds) in ``[t, t + L)``, currency units, floored at 0
  (a refund of an order placed before ``t`` takes no value below nothing).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contract.errors import IncompleteHorizonError
from features.contract.schema import CONTRACT_TYPES, CUSTOMER_ID
from features.contract.tables import Tables
from features.families.events import as_utc, days_before
from features.families.population import ACTIVE_DAYS, active_customers


def check_horizon(
    tables: Tables,
    cutoff: pd.Timestamp,
    horizon_days: int,
    *,
    data_end: pd.Timestamp | None = None,
) -> None:
    """Refuse a cutoff whose ``horizon_days`` of outcomes reach past the end of the data.

    The data is taken to cover every day up to and including the day of its latest
    event (UTC): ``data_end``, by default :meth:`Tables.data_end` (a caller holding one
    customer partition passes the end of the whole data).

    Raises
    ------
    IncompleteHorizonError
    """
    data_end = tables.data_end() if data_end is None else data_end
    if cutoff + pd.Timedelta(days=horizon_days) > data_end.floor("D") + pd.Timedelta(days=1):
        raise IncompleteHorizonError(f"{cutoff:%Y-%m-%d}", horizon_days, f"{data_end:%Y-%m-%d}")


def make_labels(
    tables: Tables,
    *,
    cutoff: str | pd.Timestamp,
    horizon_days: int = 90,
    ltv_horizon_days: int | None = 365,
    min_orders: int = 1,
    active_days: int | None = ACTIVE_DAYS,
    data_end: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Churn and LTV labels of the customers active at ``cutoff``.

    Parameters
    ----------
    tables : Tables
        Validated tables.
    cutoff : str or Timestamp
        The cutoff ``t`` (UTC); features for these labels must be built ``as_of=t``.
    horizon_days : int, default 90
        Churn horizon ``H`` in days.
    ltv_horizon_days : int or None, default 365
        LTV horizon ``L`` in days; None skips the LTV label (and its completeness check).
    min_orders : int, default 1
        Orders before ``t`` needed to count as active.
    active_days : int or None, default ACTIVE_DAYS (90)
        An order within this many days before ``t`` is needed to count as active; None
        drops the condition.
    data_end : Timestamp, optional
        The end of the data the horizons are checked against (see :func:`check_horizon`).

    Returns
    -------
    DataFrame
        ``customer_id``, ``contract_type``, ``churned`` (0/1 int), and ``ltv`` (float,
        currency units) when ``ltv_horizon_days`` is given; one row per active customer.

    Raises
    ------
    IncompleteHorizonError
        When ``t + H`` (or ``t + L``) is after the end of the data.
    """
    cutoff = as_utc(cutoff)
    check_horizon(tables, cutoff, max(horizon_days, ltv_horizon_days or 0), data_end=data_end)
    labels = active_customers(tables, cutoff, min_orders=min_orders, active_days=active_days)
    ids = pd.Index(labels[CUSTOMER_ID])

    txn = tables.transactions
    ahead = -days_before(txn["ordered_at"], cutoff)  # days after the cutoff; 0 = at it
    is_order = ~txn["is_refund"].fillna(False).astype(bool).to_numpy()
    pos = ids.get_indexer(txn[CUSTOMER_ID])
    in_h = (pos >= 0) & (ahead >= 0) & (ahead < horizon_days) & is_order
    ordered = np.bincount(pos[in_h], minlength=len(ids)) > 0

    cancel_ahead = -days_before(tables.customers["cancelled_at"], cutoff)
    cpos = ids.get_indexer(tables.customers[CUSTOMER_ID])
    hit = (cpos >= 0) & (cancel_ahead >= 0) & (cancel_ahead < horizon_days)
    cancelled = np.zeros(len(ids), bool)
    cancelled[cpos[hit]] = True

    subscription = (labels["contract_type"] == CONTRACT_TYPES[0]).to_numpy()
    labels["churned"] = np.where(subscription, cancelled, ~ordered).astype("int64")
    if ltv_horizon_days is not None:
        in_l = (pos >= 0) & (ahead >= 0) & (ahead < ltv_horizon_days)
        amount = txn["amount"].to_numpy(dtype="float64")
        net = np.bincount(pos[in_l], weights=amount[in_l], minlength=len(ids))
        labels["ltv"] = np.clip(net, 0.0, None)
    return labels
