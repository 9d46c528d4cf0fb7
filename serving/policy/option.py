"""One offer as it stands for one customer, as the ``offer`` endpoint and the batch report it.

Only pydantic here: the API's request and response schemas (:mod:`serving.api.schemas`)
embed it, and they must import without the scoring stack (LightGBM, scikit-learn, SciPy).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class OfferOption(BaseModel):
    """One offer as it stands for one customer: its value, and why not if ineligible."""

    model_config = ConfigDict(frozen=True)

    offer_id: str = Field(description="Offer id from the catalog.")
    offer_name: str = Field(description="What marketing calls it.")
    cost: float | None = Field(
        description="Cost of making the offer to this customer, currency units (fixed, or "
        "relative to the customer's order value or LTV); None when it needs an unknown "
        "order value."
    )
    uplift: float = Field(
        description="Share of would-be churners the offer keeps: the catalog's, or the "
        "offer-uplift model's drop in churn probability divided by the churn probability."
    )
    uplift_source: str = Field(
        description='Where uplift comes from: "catalog" or "model:<version>" (offer-uplift).'
    )
    expected_value: float | None = Field(
        description="churn probability × uplift × predicted LTV − cost, currency units."
    )
    eligible: bool = Field(description="Whether the customer meets every eligibility rule.")
    recommended: bool = Field(
        description="The offer the policy chooses: eligible, best and positive expected value."
    )
    reasons: list[str] = Field(
        default_factory=list,
        description="Why the customer is not eligible, one phrase per rule broken.",
    )
