"""Calibration under a shift of the base rate: candidates measured by ``make bench-quality``.

At a scoring cutoff ``t`` the churn rate of the next ``H`` days may differ from every
training cutoff's (Online Retail's cutoffs lead into the Christmas season). A prior-shift
correction moves every probability's log-odds by one constant so their mean is a
forecast of the base rate at ``t``; these are the forecasts a scoring job could make
without the outcomes, and the one it could not (the bound):

- ``newest``: the churn rate of the newest complete cutoff ``t − H`` (what the model's
  recalibration already targets);
- ``trend``: the log-odds of the rates of the 4 newest complete cutoffs (30 days apart),
  extrapolated linearly to ``t``;
- ``bgnbd``: the mean BG/NBD P(no purchase in H) of the population at ``t``;
- ``oracle``: the actual rate at ``t`` (not available when scoring: how far a perfect
  forecast would bring the ECE).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit, logit

COMPLETE_CUTOFFS, SPACING_DAYS = 4, 30


def shift_to(p: np.ndarray, rate: float) -> np.ndarray:
    """``p`` with one log-odds offset added so that its mean is ``rate`` (0 < rate < 1)."""
    z = logit(np.clip(p, 1e-6, 1 - 1e-6))
    offset = brentq(lambda d: expit(z + d).mean() - rate, -20.0, 20.0)
    return expit(z + offset)


def complete_rates(tables, cutoff: pd.Timestamp, horizon_days: int, active_days) -> pd.Series:
    """Churn rate of the newest complete cutoffs before ``cutoff`` (index: days before it)."""
    from training.labels import make_labels

    newest = cutoff - pd.Timedelta(days=horizon_days)
    rates = {}
    for k in range(COMPLETE_CUTOFFS):
        at = newest - pd.Timedelta(days=SPACING_DAYS * k)
        labels = make_labels(
            tables,
            cutoff=at,
            horizon_days=horizon_days,
            ltv_horizon_days=None,
            active_days=active_days,
            data_end=cutoff,
        )
        rates[(at - cutoff).days] = float(labels["churned"].mean())
    return pd.Series(rates)


def shift_candidates(
    p: np.ndarray, y: np.ndarray, rates: pd.Series, bgnbd: np.ndarray
) -> dict[str, float]:
    """ECE of ``p`` after each prior-shift candidate (keys ``ece_<candidate>``)."""
    from training.evaluation.churn_metrics import churn_metrics

    slope, intercept = np.polyfit(rates.index.to_numpy(float), logit(rates.to_numpy()), 1)
    forecasts = {
        "newest": float(rates.iloc[0]),
        "trend": float(expit(intercept)),  # at 0 days before the cutoff
        "bgnbd": float(np.nanmean(bgnbd)),
        "oracle": float(y.mean()),
    }
    return {f"ece_{k}": churn_metrics(y, shift_to(p, v))["ece"] for k, v in forecasts.items()}
