"""Voice of the customer: NPS (with class and change), CSAT and CES from surveys."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.families.events import EventView

NPS_CLASSES = ("detractor", "passive", "promoter")


def nps_class(score: np.ndarray) -> pd.Series:
    """NPS class of 0–10 scores: detractor 0–6, passive 7–8, promoter 9–10 (NA if NaN)."""
    codes = np.select([score <= 6, score <= 8, score <= 10], [0, 1, 2], default=-1)
    return pd.Series(pd.Categorical.from_codes(codes, categories=list(NPS_CLASSES))).astype(
        "string"
    )


def survey_features(surveys: EventView) -> dict[str, np.ndarray | pd.Series]:
    """Survey features per customer, shape (n,).

    ``surveys_365d``; ``nps_last`` (latest 0–10 answer), ``nps_class_last`` (string),
    ``nps_mean``, ``nps_change`` (latest − previous answer; NaN with fewer than two);
    ``csat_last`` (1–5), ``ces_last`` (1–7, higher is more effort), and their means over
    the last 365 days.
    """
    year = surveys.within(365)
    nps = surveys.column("nps")
    has_nps = ~np.isnan(nps)
    last = surveys.last(nps, has_nps)
    out: dict[str, np.ndarray | pd.Series] = {
        "surveys_365d": surveys.count(year),
        "nps_last": last,
        "nps_class_last": nps_class(last),
        "nps_mean": surveys.mean(nps),
        "nps_change": last - surveys.last(nps, has_nps, nth=2),
    }
    for name in ("csat", "ces"):
        values = surveys.column(name)
        out[f"{name}_last"] = surveys.last(values, ~np.isnan(values))
        out[f"{name}_mean_365d"] = surveys.mean(values, year)
    return out
