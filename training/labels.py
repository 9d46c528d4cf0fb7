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

from features.attributes import contract_type
from features.errors import IncompleteHorizonError
from features.events import as_utc, days_before, known_before
from features.schema import CONTRACT_TYPES, CUSTOMER_ID
from features.tables import Tables


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


def active_customers(
    tables: Tables, cutoff: pd.Timestamp, *, min_orders: int = 1, active_days: int | None = 90
) -> pd.DataFrame:
    """Customers active at ``cutoff``: ``customer_id`` and ``contract_type``, sorted by id."""
    customers = tables.customers
    signed_up = known_before(customers["signup_at"], cutoff)
    cancelled = known_before(customers["cancelled_at"], cutoff)
    txn = tables.transactions
    age = days_before(txn["ordered_at"], cutoff)
    past = (age > 0) & ~txn["is_refund"].fillna(False).astype(bool).to_numpy()
    counts = txn.loc[past, CUSTOMER_ID].value_counts()
    orders = customers[CUSTOMER_ID].map(counts).fillna(0).to_numpy()
    keep = signed_up & ~cancelled & (orders >= min_orders)
    if active_days is not None:
        keep &= (
            customers[CUSTOMER_ID]
            .isin(txn.loc[past & (age <= active_days), CUSTOMER_ID])
            .to_numpy()
        )
    out = pd.DataFrame(
        {
            CUSTOMER_ID: customers.loc[keep, CUSTOMER_ID].to_numpy(),
            "contract_type": contract_type(customers.loc[keep]).to_numpy(),
        }
    )
    return out.sort_values(CUSTOMER_ID, kind="stable").reset_index(drop=True)


ACTIVE_FEATURES = ("is_cancelled", "orders_total", "days_since_last_order")
"""The built features :func:`active_in_features` reads."""


def active_in_features(
    features: pd.DataFrame, *, min_orders: int = 1, active_days: int | None = 90
) -> np.ndarray:
    """The rule of :func:`active_customers`, read from built features; bool, shape (n,).

    ``features`` (from :func:`features.build.build_features` as of the cutoff: one row
    per customer signed up before it) needs :data:`ACTIVE_FEATURES`; orders there are
    non-refund orders strictly before the cutoff, as here. Lets a feature snapshot be
    scored without reading the tables again.
    """
    orders = features["orders_total"].to_numpy(dtype="float64", na_value=0.0)
    keep = (features["is_cancelled"].to_numpy(dtype="float64", na_value=0.0) != 1) & (
        orders >= min_orders
    )
    if active_days is not None:
        last = features["days_since_last_order"].to_numpy(dtype="float64", na_value=np.nan)
        keep &= last <= active_days  # NaN (never ordered) compares False
    return keep


ACTIVE_DAYS = 90
"""Days without an order after which a customer's status is ``lapsed``."""
STATUSES = ("active", "lapsed", "cancelled")
POPULATIONS = {"active": ACTIVE_DAYS, "all": None}
"""Population name → ``active_days`` of the labels and the scored base."""


def status_in_features(features: pd.DataFrame) -> np.ndarray:
    """Each customer's status as of the features' cutoff; object array, shape (n,).

    ``cancelled`` (cancelled before the cutoff; without an ``is_cancelled`` column, e.g.
    a caller's own feature row, nobody is), ``active`` (an order in the
    :data:`ACTIVE_DAYS` before it) or ``lapsed`` (no order that recent, or none at all).
    """
    n = len(features)
    cancelled = (
        features["is_cancelled"].to_numpy(dtype="float64", na_value=0.0) == 1
        if "is_cancelled" in features.columns
        else np.zeros(n, bool)
    )
    last = features["days_since_last_order"].to_numpy(dtype="float64", na_value=np.nan)
    recent = last <= ACTIVE_DAYS  # NaN (never ordered) compares False
    return np.where(cancelled, "cancelled", np.where(recent, "active", "lapsed")).astype(object)


def population_in_features(
    features: pd.DataFrame, *, min_orders: int = 1, active_days: int | None = ACTIVE_DAYS
) -> np.ndarray:
    """Who is scored: bool, shape (n,).

    With ``active_days`` the customers of :func:`active_in_features`; with None
    (population ``all``) every customer with ``min_orders`` orders, cancelled ones
    included (they are reported as churned, never scored as a risk).
    """
    if active_days is not None:
        return active_in_features(features, min_orders=min_orders, active_days=active_days)
    return features["orders_total"].to_numpy(dtype="float64", na_value=0.0) >= min_orders


def make_labels(
    tables: Tables,
    *,
    cutoff: str | pd.Timestamp,
    horizon_days: int = 90,
    ltv_horizon_days: int | None = 365,
    min_orders: int = 1,
    active_days: int | None = 90,
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
    active_days : int or None, default 90
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
