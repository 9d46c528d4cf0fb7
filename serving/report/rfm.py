"""RFM segments: recency, frequency and monetary scores and the named segments they give.

As of a cutoff ``as_of`` (exclusive, UTC), every customer with at least one order gets

* ``recency_days``: days since the last order;
* ``frequency``: orders in the last ``window_days`` (365 by default);
* ``monetary``: net spend (orders − refunds) in the same window, currency units;

and scores 1–5 on each, by quintile among the scored customers (5 = most recent, most
frequent, highest spend; tied values share a score). Customers whose last order is more
than ``lost_after_days`` old are **lost** and not scored. The others are named from
their recency and frequency scores on the usual RFM grid (:data:`SEGMENT_GRID`):

::

             F = 1           F = 2                F = 3                F = 4      F = 5
    R = 5    new customers   potential loyalists  potential loyalists  champions  champions
    R = 4    promising       potential loyalists  potential loyalists  loyal      loyal
    R = 3    about to sleep  about to sleep       need attention       loyal      loyal
    R = 1–2  hibernating     hibernating          at risk              at risk    can't lose them

The monetary score is reported (and drives the value per segment) but does not name
the segment, as in the classic grid.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contract.schema import CUSTOMER_ID
from features.contract.tables import Tables
from features.families.events import as_utc, days_before, known_before

LOST = "lost"


def _grid_name(r: int, f: int) -> str:
    if r <= 2:
        return "hibernating" if f <= 2 else "can't lose them" if f == 5 else "at risk"
    if r == 3:
        return "about to sleep" if f <= 2 else "need attention" if f == 3 else "loyal"
    if f >= 4:
        return "champions" if r == 5 else "loyal"
    if f == 1:
        return "new customers" if r == 5 else "promising"
    return "potential loyalists"


SEGMENT_GRID: dict[tuple[int, int], str] = {
    (r, f): _grid_name(r, f) for r in range(1, 6) for f in range(1, 6)
}
"""``(r_score, f_score) -> segment name`` for every scored customer."""

SEGMENTS: tuple[str, ...] = (
    "champions",
    "loyal",
    "potential loyalists",
    "new customers",
    "promising",
    "need attention",
    "about to sleep",
    "can't lose them",
    "at risk",
    "hibernating",
    LOST,
)
"""Segment names, from the most to the least engaged."""

RFM_COLUMNS = (
    CUSTOMER_ID,
    "recency_days",
    "frequency",
    "monetary",
    "r_score",
    "f_score",
    "m_score",
    "segment",
)


def quintile_score(values: pd.Series, *, higher_is_better: bool = True) -> pd.Series:
    """Score 1–5 by quintile of ``values`` (ties share the score of their mean rank).

    Parameters
    ----------
    values : Series of float, shape (n,)
        The values to score; must have no NaN.
    higher_is_better : bool, default True
        When False (recency), the smallest values score 5.

    Returns
    -------
    Series of int64, shape (n,)
        ``ceil(percentile rank × 5)``, in 1–5.
    """
    ranks = (values if higher_is_better else -values).rank(method="average", pct=True)
    return np.clip(np.ceil(ranks * 5), 1, 5).astype("int64")


def segment_name(r_score: int, f_score: int) -> str:
    """The segment of a recency and a frequency score (each 1–5) on :data:`SEGMENT_GRID`."""
    try:
        return SEGMENT_GRID[(int(r_score), int(f_score))]
    except KeyError:
        raise ValueError(
            f"Invalid scores: r={r_score!r}, f={f_score!r}; expected whole numbers 1–5."
        ) from None


def rfm_table(
    tables: Tables,
    *,
    as_of: str | pd.Timestamp,
    window_days: int = 365,
    lost_after_days: int = 365,
) -> pd.DataFrame:
    """RFM values, scores and segment of each customer with an order before ``as_of``.

    Parameters
    ----------
    tables : Tables
        Validated tables.
    as_of : str or Timestamp
        Exclusive cutoff (UTC).
    window_days : int, default 365
        Look-back window of ``frequency`` and ``monetary``, days.
    lost_after_days : int, default 365
        Customers with no order for longer than this are ``lost`` (scores 0).

    Returns
    -------
    DataFrame
        :data:`RFM_COLUMNS`, one row per customer, sorted by ``customer_id``; scores are
        int64 1–5 (0 for lost customers).
    """
    if window_days <= 0 or lost_after_days <= 0:
        raise ValueError(
            f"Invalid window_days/lost_after_days: {window_days!r}/{lost_after_days!r}; "
            "expected positive numbers of days."
        )
    as_of = as_utc(as_of)
    txn = tables.transactions
    known = tables.customers.loc[known_before(tables.customers["signup_at"], as_of), CUSTOMER_ID]
    age = days_before(txn["ordered_at"], as_of)
    seen = (age > 0) & txn[CUSTOMER_ID].isin(known).to_numpy()
    is_order = ~txn["is_refund"].fillna(False).astype(bool).to_numpy()
    frame = pd.DataFrame(
        {
            CUSTOMER_ID: txn[CUSTOMER_ID].to_numpy(),
            "age": age,
            "amount": txn["amount"].to_numpy(dtype="float64"),
        }
    )
    orders = frame.loc[seen & is_order]
    in_window = frame.loc[seen & (age <= window_days)]
    out = (
        pd.DataFrame(
            {
                "recency_days": orders.groupby(CUSTOMER_ID)["age"].min(),
                "frequency": orders.loc[orders["age"] <= window_days].groupby(CUSTOMER_ID).size(),
                "monetary": in_window.groupby(CUSTOMER_ID)["amount"].sum(),
            }
        )
        .dropna(subset=["recency_days"])
        .rename_axis(CUSTOMER_ID)
        .sort_index()
    )
    out[["frequency", "monetary"]] = out[["frequency", "monetary"]].fillna(0.0)
    out["frequency"] = out["frequency"].astype("int64")
    scored = out["recency_days"] <= lost_after_days
    for column, score, better in (
        ("recency_days", "r_score", False),
        ("frequency", "f_score", True),
        ("monetary", "m_score", True),
    ):
        out[score] = 0
        if scored.any():
            out.loc[scored, score] = quintile_score(
                out.loc[scored, column], higher_is_better=better
            )
    out["segment"] = LOST
    out.loc[scored, "segment"] = [
        SEGMENT_GRID[(r, f)]
        for r, f in zip(out.loc[scored, "r_score"], out.loc[scored, "f_score"], strict=True)
    ]
    return out.reset_index()[list(RFM_COLUMNS)]


def segment_summary(rfm: pd.DataFrame, *, predicted_ltv: pd.Series | None = None) -> pd.DataFrame:
    """Size and value of each RFM segment.

    Parameters
    ----------
    rfm : DataFrame
        Output of :func:`rfm_table`.
    predicted_ltv : Series, optional
        Predicted LTV (currency units) indexed by ``customer_id``, e.g. from the latest
        scores; adds ``predicted_ltv_mean`` and ``predicted_ltv_total``.

    Returns
    -------
    DataFrame
        Index ``segment`` in :data:`SEGMENTS` order (empty segments dropped); columns
        ``customers``, ``share_pct`` (of customers), ``recency_days_median``,
        ``frequency_mean`` (orders in the window), ``monetary_total`` and
        ``monetary_mean`` (currency), ``revenue_share_pct`` (of the window's net spend).
    """
    groups = rfm.groupby("segment")
    out = pd.DataFrame(
        {
            "customers": groups.size(),
            "recency_days_median": groups["recency_days"].median(),
            "frequency_mean": groups["frequency"].mean(),
            "monetary_total": groups["monetary"].sum(),
            "monetary_mean": groups["monetary"].mean(),
        }
    )
    out.insert(1, "share_pct", out["customers"] / max(len(rfm), 1) * 100)
    total = rfm["monetary"].sum()
    out["revenue_share_pct"] = out["monetary_total"] / total * 100 if total else np.nan
    if predicted_ltv is not None:
        ltv = rfm[CUSTOMER_ID].map(predicted_ltv)
        by = ltv.groupby(rfm["segment"])
        out["predicted_ltv_mean"] = by.mean()
        out["predicted_ltv_total"] = by.sum(min_count=1)
    order = [s for s in SEGMENTS if s in out.index]
    return out.loc[order].rename_axis("segment")
