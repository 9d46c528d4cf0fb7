"""Baselines trained and judged in the same run as the LightGBM models.

- :class:`LogisticChurn`: logistic regression on the same features (median-imputed,
  standardised numbers; one-hot categories).
- :class:`RecencyHeuristic`: "the longer past the usual gap, the likelier to leave":
  the overdue ratio (days since last order / mean gap, or days since last order / 30
  when there is no gap yet), turned into a probability by isotonic regression on the
  calibration cutoff.
- :func:`historical_average_ltv`: past 365-day net spend, scaled to the LTV horizon.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from training.models.matrix import FeatureSpec


class LogisticChurn:
    """Logistic regression churn baseline on the same feature frame as LightGBM."""

    def __init__(self, *, seed: int = 0, max_iter: int = 1000):
        self.seed = seed
        self.max_iter = max_iter

    def fit(self, train: pd.DataFrame, y: np.ndarray) -> LogisticChurn:
        """Fit on a feature frame and 0/1 labels, shape (n,)."""
        self.spec_ = FeatureSpec.from_frame(train)
        numeric = make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()
        )
        categorical = make_pipeline(
            SimpleImputer(strategy="constant", fill_value="(missing)"),
            OneHotEncoder(handle_unknown="ignore", min_frequency=20),
        )
        prep = ColumnTransformer(
            [
                ("num", numeric, list(self.spec_.numeric)),
                ("cat", categorical, list(self.spec_.categorical)),
            ]
        )
        self.pipeline_ = make_pipeline(
            prep, LogisticRegression(max_iter=self.max_iter, random_state=self.seed)
        )
        self.pipeline_.fit(self._X(train), np.asarray(y))
        return self

    def _X(self, frame: pd.DataFrame) -> pd.DataFrame:
        X = self.spec_.matrix(frame)
        for c in self.spec_.categorical:
            X[c] = X[c].astype(object).where(X[c].notna(), np.nan)
        return X

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Probability of churn, shape (n,)."""
        return self.pipeline_.predict_proba(self._X(frame))[:, 1]


def overdue_score(frame: pd.DataFrame) -> np.ndarray:
    """Days since last order over the usual gap (30 days when unknown), shape (n,)."""
    gap = frame["gap_mean_days"].fillna(30.0).clip(lower=1.0)
    return (frame["days_since_last_order"].fillna(10_000.0) / gap).to_numpy(dtype="float64")


class RecencyHeuristic:
    """The overdue ratio as a churn score, mapped to probabilities on a held-out cutoff."""

    def fit(self, frame: pd.DataFrame, y: np.ndarray) -> RecencyHeuristic:
        self.isotonic_ = IsotonicRegression(out_of_bounds="clip", y_min=1e-6, y_max=1 - 1e-6)
        self.isotonic_.fit(overdue_score(frame), np.asarray(y))
        return self

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Probability of churn, shape (n,)."""
        return self.isotonic_.predict(overdue_score(frame))


def historical_average_ltv(frame: pd.DataFrame, *, ltv_horizon_days: int) -> np.ndarray:
    """Past 365-day net spend scaled to ``ltv_horizon_days``, floored at 0, shape (n,)."""
    return np.clip(
        frame["spend_365d"].to_numpy(dtype="float64") * ltv_horizon_days / 365.0, 0, None
    )
