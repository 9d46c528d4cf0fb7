"""What is at stake in a scored customer base: the risk × value matrix and the offers.

Works on the frame ``churn score`` writes (:data:`serving.policy.scores.SCORE_COLUMNS`: one
row per customer with ``churn_probability``, ``risk_band``, ``predicted_ltv``,
``value_segment``, the recommended ``offer_id`` with its ``offer_cost`` and
``expected_value``). Value at stake is the revenue expected to leave with churners:
``churn_probability × predicted_ltv``, currency units over the LTV horizon.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from serving.policy.catalog import RISK_BANDS, ValueSegments
from serving.policy.decide import require_columns

MATRIX_COLUMNS = ("churn_probability", "risk_band", "predicted_ltv", "value_segment")


def value_at_stake(scores: pd.DataFrame) -> pd.Series:
    """``churn_probability × predicted_ltv`` per customer, currency units."""
    return scores["churn_probability"].astype(float) * scores["predicted_ltv"].astype(float)


def risk_value_matrix(
    scores: pd.DataFrame, *, segments: Sequence[str] | None = None
) -> dict[str, pd.DataFrame]:
    """Customers and value at stake per risk band × value segment.

    Parameters
    ----------
    scores : DataFrame
        Scored customers with :data:`MATRIX_COLUMNS`.
    segments : sequence of str, optional
        Value segments, lowest first (default those of :class:`ValueSegments`); segments
        found in ``scores`` but not listed are appended.

    Returns
    -------
    dict of str to DataFrame
        ``customers`` (count), ``value_at_stake`` (Σ p × LTV, currency) and
        ``expected_churners`` (Σ p): each with the risk bands as rows, highest risk first,
        and the value segments as columns, highest value first.

    Raises
    ------
    ConfigError
        When a column is missing.
    """
    require_columns(scores, MATRIX_COLUMNS, what="scores")
    order = list(segments or ValueSegments().names)
    order += sorted(set(scores["value_segment"].dropna()) - set(order))
    rows = list(reversed(RISK_BANDS))
    cols = list(reversed(order))
    frame = scores.assign(value_at_stake=value_at_stake(scores))
    grouped = frame.groupby(["risk_band", "value_segment"])
    out = {
        "customers": grouped.size(),
        "value_at_stake": grouped["value_at_stake"].sum(),
        "expected_churners": grouped["churn_probability"].sum(),
    }
    return {
        name: values.unstack("value_segment").reindex(index=rows, columns=cols).fillna(0)
        for name, values in out.items()
    }


def offer_summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Recommended offers: how many, what they cost and what they are expected to bring.

    Returns
    -------
    DataFrame
        Index ``offer`` (offer name, or id when names are absent) plus a ``no offer``
        row; columns ``customers``, ``cost`` (Σ offer cost, currency),
        ``expected_value`` (Σ expected net value, currency) and ``value_at_stake`` (Σ p ×
        LTV of those customers, currency). Sorted by expected value, ``no offer`` last.
    """
    require_columns(scores, ("offer_id", "offer_cost", "expected_value"), what="scores")
    label = scores["offer_name"] if "offer_name" in scores.columns else scores["offer_id"]
    has = scores["offer_id"].notna().to_numpy()
    label = label.where(has, "no offer").fillna(scores["offer_id"])
    frame = pd.DataFrame(
        {
            "offer": label,
            "customers": 1,
            "cost": np.where(has, scores["offer_cost"].astype(float), 0.0),
            "expected_value": np.where(has, scores["expected_value"].astype(float), 0.0),
            "value_at_stake": value_at_stake(scores).to_numpy(),
        }
    )
    out = frame.groupby("offer").sum()
    offered = out.drop(index="no offer", errors="ignore").sort_values(
        "expected_value", ascending=False
    )
    return pd.concat([offered, out.loc[out.index == "no offer"]])


def stake_summary(scores: pd.DataFrame) -> dict[str, float]:
    """Headline figures of a scored base.

    Returns
    -------
    dict
        ``customers`` scored; ``expected_churners`` (Σ p over the churn horizon);
        ``mean_churn_probability``; ``predicted_ltv`` (Σ, currency); ``value_at_stake``
        (Σ p × LTV, currency); ``offers`` (customers with a recommended offer),
        ``offer_cost`` and ``offer_expected_value`` (Σ over them, currency).
    """
    has = scores["offer_id"].notna()
    return {
        "customers": float(len(scores)),
        "expected_churners": float(scores["churn_probability"].sum()),
        "mean_churn_probability": float(scores["churn_probability"].mean())
        if len(scores)
        else np.nan,
        "predicted_ltv": float(scores["predicted_ltv"].sum()),
        "value_at_stake": float(value_at_stake(scores).sum()),
        "offers": float(has.sum()),
        "offer_cost": float(scores.loc[has, "offer_cost"].astype(float).sum()),
        "offer_expected_value": float(scores.loc[has, "expected_value"].astype(float).sum()),
    }
