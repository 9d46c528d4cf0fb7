"""Request and response models of the HTTP service (they make its OpenAPI page).

Inputs are strict: a request body is one of the ``*Request`` models, whose unknown
fields and wrong types (``"3"`` or ``false`` for a number) are refused, as are ids longer
than :data:`MAX_ID_LENGTH` characters and feature values that are not finite numbers
within ±:data:`MAX_FEATURE_MAGNITUDE`, strings (up to :data:`MAX_TEXT_LENGTH`),
booleans or null. Such a body gets a 400 naming the field (:class:`ValidationErrorBody`)
before a service method runs; every other refusal is an :class:`ErrorBody`.
"""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StrictStr,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from serving.policy.option import OfferOption

MAX_ID_LENGTH = 128
"""Longest customer id accepted, characters (ids are echoed back in responses)."""
MAX_TEXT_LENGTH = 128
"""Longest categorical feature value or feature name accepted, characters."""
MAX_FEATURE_MAGNITUDE = 1e9
"""Largest absolute numeric feature value accepted (days, counts, money, ratios)."""
INT64 = 2**63


def _number_not_text(value: object) -> object:
    """Refuse strings and booleans where an integer is due (JSON ``"3"``, ``false``)."""
    if isinstance(value, str | bool):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


def _customer_id(value: object) -> str | int:
    """A JSON string (1–128 characters) or 64-bit integer (``17.0`` is 17) as an id."""
    if isinstance(value, str):
        if not 1 <= len(value) <= MAX_ID_LENGTH:
            raise PydanticCustomError(
                "customer_id_length",
                "A customer id string should have 1 to {max} characters",
                {"max": MAX_ID_LENGTH},
            )
        return value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if not -INT64 <= value < INT64:
            raise PydanticCustomError(
                "customer_id_range", "A customer id integer should fit in 64 bits"
            )
        return value
    raise PydanticCustomError("customer_id_type", "Input should be a valid string or integer")


CustomerId = Annotated[
    str | int,
    PlainValidator(_customer_id),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH},
                {"type": "integer", "minimum": -INT64, "maximum": INT64 - 1},
            ],
        }
    ),
    Field(
        description="A customer id as in the data (string of at most 128 characters, or "
        'a 64-bit integer; 17 and "17" match).'
    ),
]


def _feature_value(value: object) -> float | bool | str | None:
    """A feature value: finite number within ±1e9 (as float), boolean, short string or null."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        if len(value) > MAX_TEXT_LENGTH:
            raise PydanticCustomError(
                "feature_text_length",
                "A feature value string should have at most {max} characters",
                {"max": MAX_TEXT_LENGTH},
            )
        return value
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise PydanticCustomError("finite_number", "Input should be a finite number")
        if abs(value) > MAX_FEATURE_MAGNITUDE:
            raise PydanticCustomError(
                "feature_range",
                f"A feature value number should be within ±{MAX_FEATURE_MAGNITUDE:g}",
            )
        return float(value)
    raise PydanticCustomError(
        "feature_type", "Input should be a finite number, a boolean, a string or null"
    )


FeatureValue = Annotated[
    float | bool | str | None,
    PlainValidator(_feature_value),
    WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "number",
                    "minimum": -MAX_FEATURE_MAGNITUDE,
                    "maximum": MAX_FEATURE_MAGNITUDE,
                },
                {"type": "boolean"},
                {"type": "string", "maxLength": MAX_TEXT_LENGTH},
                {"type": "null"},
            ]
        }
    ),
]
FeatureName = Annotated[StrictStr, Field(max_length=MAX_TEXT_LENGTH)]
ReasonCount = Annotated[
    int,
    Field(
        ge=0,
        le=5,
        strict=False,  # 3.0 is 3, as in JSON Schema
        description="Reasons in words per customer, strongest first (0–5).",
    ),
    BeforeValidator(_number_not_text),
]
STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class FeatureRow(BaseModel):
    """One customer's features as a tool that keeps its own features sends them."""

    model_config = STRICT

    customer_id: CustomerId
    features: dict[FeatureName, FeatureValue] = Field(
        description="Feature name → value as of the tool's own cut-off: finite numbers "
        "within ±1e9 (or booleans, read as 1/0) for numeric features, strings for "
        "categorical ones (plan, loyalty_tier, ...), null for unknown. Every feature listed "
        "by model_info must be present; others are ignored.",
        examples=[
            {
                "days_since_last_order": 74.0,
                "overdue_ratio": 2.3,
                "nps_last": 3.0,
                "loyalty_tier": "silver",
                "contract_type": "subscription",
            }
        ],
    )


class ScoreRequest(BaseModel):
    """``POST /score``: customers of the feature snapshot, by id."""

    model_config = STRICT

    customer_ids: list[CustomerId] = Field(
        min_length=1,
        description="Customer ids to score, at most serving.max_batch (1000 by default).",
        examples=[[17, 42]],
    )
    reasons: ReasonCount = 3


class ScoreFeaturesRequest(BaseModel):
    """``POST /score_features``: feature rows sent by the caller."""

    model_config = STRICT

    rows: list[FeatureRow] = Field(
        min_length=1, description="Feature rows to score, at most serving.max_batch."
    )
    reasons: ReasonCount = 3


class OfferRequest(BaseModel):
    """``POST /offer``: one customer of the feature snapshot."""

    model_config = STRICT

    customer_id: CustomerId


class ModelInfoRequest(BaseModel):
    """``POST /model_info``: no fields (the body may be empty)."""

    model_config = STRICT


class ErrorBody(BaseModel):
    """Why a request was refused (every 4xx and 5xx except a request-schema violation)."""

    error: str = Field(description="What is wrong and, where it helps, what to do.")


class ValidationIssue(BaseModel):
    """One way a request body breaks the request schema."""

    loc: list[str | int] = Field(description="Where: field names and list positions.")
    msg: str = Field(description="What is wrong there.")
    type: str = Field(description="The kind of problem (pydantic error type).")


class ValidationErrorBody(BaseModel):
    """A request body that is not JSON or breaks the request schema (400)."""

    error: str = Field(description="How many problems, and the first one.")
    detail: list[ValidationIssue] = Field(description="Every problem found.")


class RecommendedOffer(BaseModel):
    """The retention offer the policy recommends."""

    offer_id: str = Field(description="Offer id from the catalog (offers.toml).")
    offer_name: str = Field(description="What marketing calls it.")
    cost: float = Field(description="Cost per accepted offer, currency units.")
    expected_value: float = Field(
        description="churn_probability × uplift × predicted_ltv − cost, currency units (> 0)."
    )
    uplift: float = Field(
        description="Share of would-be churners the offer keeps (catalog, or the learned drop "
        "in churn probability / churn_probability); see uplift_source."
    )


class CustomerScore(BaseModel):
    """Risk, value, reasons and the offer to make, for one customer."""

    customer_id: CustomerId
    status: str = Field(
        description="active (an order in the last 90 days), lapsed (none that recent) or "
        "cancelled (churned: probability 1, no offer)."
    )
    churn_probability: float = Field(
        description="Probability of churning within churn_horizon_days, 0–1."
    )
    churn_horizon_days: int = Field(
        description="Days churn_probability covers (the churn model's horizon).", examples=[90]
    )
    risk_band: str = Field(
        description="low, medium or high: by default relative to the base rate of the "
        "population the champion scores (offers.toml [risk])."
    )
    predicted_ltv: float = Field(
        description="Predicted net spend over the LTV horizon (365 days by default), currency "
        "units."
    )
    value_segment: str = Field(
        description="Value segment of predicted_ltv: by default by quantile of the "
        "population's predicted LTVs (offers.toml [segments])."
    )
    expected_orders: float | None = Field(
        description="Expected orders within churn_horizon_days (BG/NBD); null when unknown."
    )
    p_alive: float | None = Field(
        description="Probability the customer is still a customer (BG/NBD), 0–1."
    )
    next_order_date: str | None = Field(
        description="Expected date of the next order (YYYY-MM-DD): the last order plus the "
        "customer's mean gap between orders; before the cutoff when overdue; null with "
        "fewer than two orders.",
        examples=["2026-01-14"],
    )
    reasons: list[str] = Field(
        description="What raises this customer's churn risk, in words, strongest first "
        "(from the churn model's feature contributions).",
        examples=[["no order for 74 days, 2.3× the usual gap", "detractor NPS 3"]],
    )
    offer: RecommendedOffer | None = Field(
        description="The eligible offer with the highest positive expected value; null when "
        "no offer pays."
    )
    no_offer_reason: str | None = Field(
        None,
        description="Why there is no offer, one line starting with its kind: low risk, "
        "not eligible, none pays or cancelled; null with an offer.",
        examples=[
            "none pays: best is discount_coupon at -1.20 (p 0.210 × uplift 0.060 × "
            "LTV 310.00 < cost 5.10)"
        ],
    )
    uplift_source: str = Field(
        description="Where the offer's uplift came from: \"catalog\" (offers.toml's constant "
        'share) or "model:<version>" (the offer-uplift champion learned from past offers).'
    )
    churn_model_version: str = Field(description="Version of churn-classifier that scored.")
    ltv_model_version: str = Field(description="Version of ltv-regressor that scored.")
    warnings: list[str] = Field(
        default_factory=list,
        description="What was read differently from what was sent, e.g. a category value "
        "the models do not know, scored as missing (score_features only).",
    )


class CustomerError(BaseModel):
    """A customer that could not be scored, and why."""

    customer_id: CustomerId
    error: str = Field(description="Why, e.g. the id is not in the feature snapshot.")


class ModelVersions(BaseModel):
    """The model versions and snapshot behind a response."""

    churn_model: str = Field(description="Registered churn model name.")
    churn_version: str = Field(description="Its version.")
    ltv_model: str = Field(description="Registered LTV model name.")
    ltv_version: str = Field(description="Its version.")
    snapshot_as_of: str | None = Field(
        description="Feature cut-off of the snapshot scored by id (ISO 8601, UTC); null for "
        "features sent by the caller."
    )


class ScoreResponse(BaseModel):
    """Per customer, in request order: a score, or an error for that customer only."""

    results: list[CustomerScore | CustomerError] = Field(
        description="One entry per requested customer, in request order."
    )
    scored: int = Field(description="Entries with a score.")
    failed: int = Field(description="Entries with an error.")
    models: ModelVersions


class OfferInputs(BaseModel):
    """What the offer policy read for the customer."""

    churn_probability: float = Field(description="Churn probability over the horizon, 0–1.")
    predicted_ltv: float = Field(description="Predicted LTV, currency units.")
    loyalty_tier: str | None = Field(description="Loyalty tier; null when unknown.")
    contract_type: str | None = Field(
        description="subscription or non_contractual; null when unknown."
    )
    open_tickets: float | None = Field(description="Open support tickets; null when unknown.")
    days_to_birthday: float | None = Field(
        None, description="Days to the next birthday after the cutoff; null when unknown."
    )
    status: str | None = Field(None, description="active, lapsed or cancelled.")
    order_value: float | None = Field(
        None,
        description="Average order value (aov_365d, else aov_total), currency units: what "
        "offers priced as a share of an order are priced on; null without orders.",
    )


class OfferResponse(BaseModel):
    """One customer's score with the offer decision in full."""

    customer: CustomerScore
    inputs: OfferInputs
    formula: str = Field(description="How each offer's expected value is computed.")
    options: list[OfferOption] = Field(
        description="Every catalog offer: eligible ones first, best expected value first; "
        "ineligible ones with the rules they break. The recommended one is flagged."
    )
    models: ModelVersions


class ModelCard(BaseModel):
    """One served registered model version."""

    name: str = Field(description="Registered model name.")
    version: str = Field(description="Version number.")
    run_id: str = Field(description="MLflow run that logged it.")
    aliases: list[str] = Field(description="Its aliases when it was loaded.")
    tags: dict[str, str] = Field(
        description="Registry tags: validation cutoff, gate metric and value, ..."
    )


class FeatureInfo(BaseModel):
    """A feature the models need from score_features callers."""

    name: str
    kind: str = Field(description="numeric (number or null) or categorical (string or null).")
    levels: list[str] | None = Field(None, description="Categories seen in training.")


class SnapshotInfo(BaseModel):
    """The feature snapshot served by id."""

    path: str = Field(description="Snapshot file.")
    as_of: str = Field(description="Feature cut-off (exclusive, UTC, ISO 8601).")
    customers: int = Field(description="Customers in it.")
    contract_version: str = Field(description="Data contract version it was built with.")


class ModelInfo(BaseModel):
    """What the service serves now and how it is configured."""

    churn: ModelCard
    ltv: ModelCard
    snapshot: SnapshotInfo
    loaded_at: str = Field(description="When this view was loaded (UTC, ISO 8601).")
    load_seconds: float = Field(description="Seconds the load and scoring took.")
    reload_seconds: float = Field(description="Seconds between checks for a new champion.")
    max_batch: int = Field(description="Most customers per request.")
    features: list[FeatureInfo] = Field(description="Features score_features needs.")
