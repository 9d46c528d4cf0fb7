"""Request and response models of the HTTP service (they make its OpenAPI page).

Inputs are strict: ids are JSON strings or integers (not booleans or fractions), feature
values are finite numbers, strings or null. Anything else is refused with a 400 that
names the field before a service method runs.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from serving.offers import OfferOption

CustomerId = Annotated[
    StrictStr | StrictInt,
    Field(description='A customer id as in the data (string or integer; 17 and "17" match).'),
]
FeatureValue = StrictFloat | StrictBool | StrictStr | None
ReasonCount = Annotated[
    int, Field(ge=0, le=5, description="Reasons in words per customer, strongest first (0–5).")
]


class FeatureRow(BaseModel):
    """One customer's features as a tool that keeps its own features sends them."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    customer_id: CustomerId
    features: dict[str, FeatureValue] = Field(
        description="Feature name → value as of the tool's own cut-off: finite numbers (or "
        "booleans, read as 1/0) for numeric features, strings for categorical ones (plan, "
        "loyalty_tier, ...), null for unknown. Every feature listed by model_info must be "
        "present; others are ignored.",
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


class RecommendedOffer(BaseModel):
    """The retention offer the policy recommends."""

    offer_id: str = Field(description="Offer id from the catalog (offers.toml).")
    offer_name: str = Field(description="What marketing calls it.")
    cost: float = Field(description="Cost per accepted offer, currency units.")
    expected_value: float = Field(
        description="churn_probability × uplift × predicted_ltv − cost, currency units (> 0)."
    )


class CustomerScore(BaseModel):
    """Risk, value, reasons and the offer to make, for one customer."""

    customer_id: CustomerId
    status: str = Field(
        description="active (an order in the last 90 days), lapsed (none that recent) or "
        "cancelled (churned: probability 1, no offer)."
    )
    churn_probability: float = Field(
        description="Probability of churning within the churn horizon (90 days by default), 0–1."
    )
    risk_band: str = Field(description="low, medium or high (thresholds in offers.toml).")
    predicted_ltv: float = Field(
        description="Predicted net spend over the LTV horizon (365 days by default), currency "
        "units."
    )
    value_segment: str = Field(description="Value segment of predicted_ltv (offers.toml).")
    reasons: list[str] = Field(
        description="What raises this customer's churn risk, in words, strongest first "
        "(from the churn model's feature contributions).",
        examples=[["no order for 74 days, 2.3× the usual gap", "detractor NPS 3"]],
    )
    offer: RecommendedOffer | None = Field(
        description="The eligible offer with the highest positive expected value; null when "
        "no offer pays."
    )
    churn_model_version: str = Field(description="Version of churn-classifier that scored.")
    ltv_model_version: str = Field(description="Version of ltv-regressor that scored.")


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
    status: str | None = Field(None, description="active, lapsed or cancelled.")


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
