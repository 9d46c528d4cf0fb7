"""Customer attributes as known at ``as_of``: plan, tier, channel, country, contract, status."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contract.schema import CONTRACT_TYPES
from features.families.events import EventView, days_before

CATEGORICAL_ATTRIBUTES = ("plan", "loyalty_tier", "channel", "country", "contract_type")


def contract_type(customers: pd.DataFrame) -> pd.Series:
    """``subscription`` or ``non_contractual`` per customer.

    Taken from the ``contract_type`` column where given; otherwise a customer with a
    ``plan`` is a subscription customer.
    """
    derived = pd.Series(
        np.where(customers["plan"].notna(), CONTRACT_TYPES[0], CONTRACT_TYPES[1]),
        index=customers.index,
        dtype="string",
    )
    return customers["contract_type"].fillna(derived).astype("string")


def attribute_features(customers: pd.DataFrame, as_of: pd.Timestamp) -> dict[str, object]:
    """Categorical attributes (strings, NA when unknown) and ``is_cancelled`` (0/1 float).

    ``is_cancelled`` is 1 only when ``cancelled_at`` is before ``as_of``: a cancellation
    after the cutoff is the future and stays invisible.
    """
    out: dict[str, object] = {
        name: customers[name].astype("string").reset_index(drop=True)
        for name in CATEGORICAL_ATTRIBUTES
        if name != "contract_type"
    }
    out["contract_type"] = contract_type(customers).reset_index(drop=True)
    cancelled_age = days_before(customers["cancelled_at"], as_of)
    out["is_cancelled"] = (cancelled_age > 0).astype("float64")
    return out


def offer_features(offers: EventView) -> dict[str, np.ndarray]:
    """Retention offers received and accepted in the last 365 days, float64 counts.

    Acceptance is taken as known at ``offered_at`` (the contract has no acceptance time).
    """
    year = offers.within(365)
    return {
        "offers_365d": offers.count(year),
        "offers_accepted_365d": offers.count(year & (offers.column("accepted") == 1)),
    }
