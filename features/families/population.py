"""Who counts: the population and status rule, read from the tables or from built features.

A customer is *active* at a cutoff ``t`` when they signed up before ``t``, had not
cancelled before ``t``, had placed at least ``min_orders`` orders before ``t``, and at
least one in the :data:`ACTIVE_DAYS` before ``t``; *lapsed* when they ordered, but not
that recently; *cancelled* when they cancelled before ``t``. Training labels the
population it scores (``[scoring] population``: ``active``, or ``all`` who ever ordered),
the batch and the service score it, the report counts it: all through this module, the
one definition (the literal 90 lives here only).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contract.schema import CUSTOMER_ID
from features.contract.tables import Tables
from features.families.attributes import contract_type
from features.families.events import days_before, known_before

ACTIVE_DAYS = 90
"""Days without an order after which a customer's status is ``lapsed``."""
STATUSES = ("active", "lapsed", "cancelled")
POPULATIONS = {"active": ACTIVE_DAYS, "all": None}
"""Population name → ``active_days`` of the labels and the scored base."""


def active_customers(
    tables: Tables,
    cutoff: pd.Timestamp,
    *,
    min_orders: int = 1,
    active_days: int | None = ACTIVE_DAYS,
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
    features: pd.DataFrame, *, min_orders: int = 1, active_days: int | None = ACTIVE_DAYS
) -> np.ndarray:
    """The rule of :func:`active_customers`, read from built features; bool, shape (n,).

    ``features`` (from :func:`features.families.build.build_features` as of the cutoff: one row
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
