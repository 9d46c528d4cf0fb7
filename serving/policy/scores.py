"""The one scores schema: the columns a score row has, their order and their Arrow types.

Every consumer reads it from here: :func:`serving.policy.scoring.score` returns these
columns in this order, the batch engines write them with these types, the HTTP service
answers with them. Light on purpose (no model code), so importing it costs nothing.
"""

from __future__ import annotations

import pyarrow as pa

from features.contract.schema import CUSTOMER_ID

SCORE_TYPES: dict[str, pa.DataType] = {
    "status": pa.string(),
    "churn_probability": pa.float64(),  # over churn_horizon_days
    "churn_horizon_days": pa.int32(),
    "risk_band": pa.string(),
    "predicted_ltv": pa.float64(),
    "value_segment": pa.string(),
    "expected_orders": pa.float64(),  # BG/NBD, in the churn horizon
    "p_alive": pa.float64(),  # BG/NBD probability the customer is still active
    "next_order_date": pa.timestamp("s", tz="UTC"),  # last order + mean gap; NaT: < 2 orders
    "reasons": pa.list_(pa.string()),
    "offer_id": pa.string(),
    "offer_name": pa.string(),
    "offer_cost": pa.float64(),
    "expected_value": pa.float64(),
    "uplift": pa.float64(),  # the offer's share of would-be churners kept (NaN: no offer)
    "uplift_source": pa.string(),  # "catalog" or "model:<version>" (offer-uplift)
    "no_offer_reason": pa.string(),  # one line, kind before the colon; None with an offer
    "churn_model_version": pa.string(),
    "ltv_model_version": pa.string(),
}
"""Arrow type of each score column after ``customer_id`` (whose type is the data's), in order."""

SCORE_COLUMNS: tuple[str, ...] = (CUSTOMER_ID, *SCORE_TYPES)
"""The columns of a score row, in order."""
