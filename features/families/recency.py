"""Recency and tenure: how long ago things happened, in days before ``as_of``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.families.events import EventView, days_before


def tenure_features(customers: pd.DataFrame, as_of: pd.Timestamp) -> dict[str, np.ndarray]:
    """Days since signup and age in years (from ``birth_date``), both float64, NaN if unknown."""
    return {
        "tenure_days": days_before(customers["signup_at"], as_of),
        "age_years": days_before(customers["birth_date"], as_of) / 365.25,
    }


def recency_features(
    orders: EventView, tickets: EventView, surveys: EventView, offers: EventView
) -> dict[str, np.ndarray]:
    """Days since the latest and first order, latest ticket, survey and offer; NaN if never."""
    return {
        "days_since_last_order": orders.min_age(),
        "days_since_first_order": orders.max_age(),
        "days_since_last_ticket": tickets.min_age(),
        "days_since_last_survey": surveys.min_age(),
        "days_since_last_offer": offers.min_age(),
    }
