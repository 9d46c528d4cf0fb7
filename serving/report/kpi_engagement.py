"""The seeds' upsell rate and the engagement index, per calendar month (UTC).

Joined into :func:`serving.report.kpi.monthly_kpis`; definitions in
:data:`ENGAGEMENT_DEFINITIONS` (shown in the report's definitions table). The
engagement index is :func:`features.families.engagement.engagement_index` of a customer's
weighted events in the 30 days before an instant, the same number the feature
``engagement_index`` holds at a cutoff.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contract.schema import CONTRACT_TYPES, CUSTOMER_ID, EVENT_FAMILIES
from features.contract.tables import Tables
from features.families.attributes import contract_type
from features.families.engagement import FAMILY_WEIGHTS, INDEX_WINDOW_DAYS, engagement_index
from features.families.events import days_before
from serving.report.months import month_of

ENGAGEMENT_DEFINITIONS: dict[str, tuple[str, str, str]] = {
    "upsell_rate_pct": (
        "Upsell rate",
        "%",
        "As the seeds define it: buyers of the month who bought two or more product "
        "categories in it / buyers who bought only one × 100 (orders with a category; "
        "refunds excluded). 30 multi-category and 120 single-category buyers give 25 %.",
    ),
    "engagement_index_mean": (
        "Engagement index",
        "0–100",
        "Mean over the customers at the month's end of their engagement index: "
        "100 × s / (s + 20), s the points of their events in the 30 days before it "
        "(referral 10, review 5, e-mail click 2, session or login 1, e-mail open or "
        "other 0.5). Also per contract type (subscription, non-contractual).",
    ),
}
"""Label, unit and definition of each KPI of :func:`engagement_kpis` (``kpi.KPI``)."""

SEGMENT_COLUMNS = {t: f"engagement_index_{t}" for t in CONTRACT_TYPES}
"""Engagement index column per contract type."""


def engagement_kpis(tables: Tables, edges: pd.DatetimeIndex, base: np.ndarray) -> pd.DataFrame:
    """Upsell and engagement KPIs for the months between ``edges``.

    Parameters
    ----------
    tables : Tables
    edges : DatetimeIndex, shape (n_months + 1,)
        UTC month starts and the end of the last month.
    base : ndarray of bool, shape (n_customers, n_months + 1)
        Who is a customer at each edge (``serving.report.kpi``'s customer base), rows in
        ``tables.customers`` order.

    Returns
    -------
    DataFrame, index ``month``
        ``multi_category_buyers``, ``single_category_buyers``, ``upsell_rate_pct`` (NaN
        without single-category buyers); ``engagement_index_mean`` and
        ``engagement_index_subscription`` / ``_non_contractual`` (0–100, NaN without an
        ``events`` table or without customers in the group).
    """
    months = pd.DatetimeIndex(edges[:-1], name="month")
    out = _upsell(tables, edges).set_axis(months)
    index = _engagement(tables, edges, base)
    return out.join(index.set_axis(months))


def _upsell(tables: Tables, edges: pd.DatetimeIndex) -> pd.DataFrame:
    n = len(edges) - 1
    txn = tables.transactions
    orders = txn.loc[~txn["is_refund"].fillna(False).astype(bool) & txn["category"].notna()]
    month = month_of(orders["ordered_at"], edges)
    keep = month > 0
    kinds = (
        pd.DataFrame(
            {
                "month": month[keep],
                CUSTOMER_ID: orders[CUSTOMER_ID].to_numpy()[keep],
                "category": orders["category"].to_numpy()[keep],
            }
        )
        .groupby(["month", CUSTOMER_ID])["category"]
        .nunique()
    )
    per_month = lambda mask: (  # noqa: E731
        mask.groupby(level="month").sum().reindex(range(1, n + 1), fill_value=0).to_numpy()
    )
    multi, single = per_month(kinds >= 2), per_month(kinds == 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(single > 0, multi / np.maximum(single, 1) * 100, np.nan)
    return pd.DataFrame(
        {"multi_category_buyers": multi, "single_category_buyers": single, "upsell_rate_pct": rate}
    )


def _engagement(tables: Tables, edges: pd.DatetimeIndex, base: np.ndarray) -> pd.DataFrame:
    n = len(edges) - 1
    columns = ["engagement_index_mean", *SEGMENT_COLUMNS.values()]
    out = pd.DataFrame(np.nan, index=range(n), columns=columns)
    if not tables.has("events"):
        return out
    customers, events = tables.customers, tables.events
    pos = pd.Index(customers[CUSTOMER_ID]).get_indexer(events[CUSTOMER_ID])
    weights = np.array([FAMILY_WEIGHTS[f] for f in EVENT_FAMILIES])
    weight = np.append(weights, 0.0)[events["event_type"].cat.codes.to_numpy()]
    known = pos >= 0
    pos, weight, stamps = pos[known], weight[known], events["occurred_at"][known]
    kind = contract_type(customers).to_numpy(dtype=object, na_value=None)
    for m in range(n):
        age = days_before(stamps, edges[m + 1])
        window = (age > 0) & (age <= INDEX_WINDOW_DAYS)
        score = np.bincount(pos[window], weights=weight[window], minlength=len(customers))
        index = engagement_index(score)
        present = base[:, m + 1]
        out.loc[m, "engagement_index_mean"] = index[present].mean() if present.any() else np.nan
        for kind_name, column in SEGMENT_COLUMNS.items():
            group = present & (kind == kind_name)
            out.loc[m, column] = index[group].mean() if group.any() else np.nan
    return out
