"""The LTV regressor: expected net spend over the LTV horizon, for zero-inflated spend.

Two variants, both LightGBM:

- ``tweedie``: one regressor with the Tweedie loss (a point mass at zero plus a
  skewed positive part, power 1.5);
- ``two_part``: P(any spend) from a binary classifier times E[spend | spend > 0] from
  a Gamma-loss regressor fit on the spenders only.

The training run fits both and keeps the one with the higher normalized Gini on the
validation cutoff. Labels are clipped at 0 (a net refund is no negative value).
"""

from __future__ import annotations

from typing import Literal

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.compute import predict
from features.contract.errors import ConfigError
from training.models.btyd import BTYDFeatures
from training.models.churn import fit_booster, lgb_params
from training.models.matrix import FeatureModel, FeatureSpec

Variant = Literal["tweedie", "two_part"]
VARIANTS = ("tweedie", "two_part")
ROUNDS = 300


class LTVModel(FeatureModel):
    """LightGBM LTV regressor.

    Parameters
    ----------
    variant : {"tweedie", "two_part"}, default "tweedie"
    params : dict, optional
        LightGBM parameters overriding the defaults.
    seed : int, default 0

    Attributes
    ----------
    spec_ : FeatureSpec
    boosters_ : dict of str to lightgbm.Booster
        ``{"spend": ...}`` for tweedie; ``{"any": ..., "spend": ...}`` for two-part.
    btyd_ : BTYDFeatures or None
        Adds the BTYD features to frames that lack them (scoring time).
    """

    def __init__(self, *, variant: Variant = "tweedie", params: dict | None = None, seed: int = 0):
        self.variant = variant
        self.params = params
        self.seed = seed

    def fit(
        self,
        train: pd.DataFrame,
        y: np.ndarray,
        *,
        stop_set: tuple[pd.DataFrame, np.ndarray] | None = None,
        btyd: BTYDFeatures | None = None,
    ) -> LTVModel:
        """Fit on a feature frame and LTV labels (currency units, shape (n,)).

        ``stop_set`` (a later cutoff) drives early stopping when given.
        """
        if self.variant not in VARIANTS:
            raise ConfigError("variant", self.variant, f"one of {VARIANTS}")
        self.btyd_ = btyd
        self.spec_ = FeatureSpec.from_frame(train)
        X, y = self.spec_.matrix(train), np.clip(np.asarray(y, dtype="float64"), 0, None)
        stop = None
        if stop_set is not None:
            stop = (
                self.spec_.matrix(stop_set[0]),
                np.clip(np.asarray(stop_set[1], dtype="float64"), 0, None),
            )
        if self.variant == "tweedie":
            params = lgb_params(
                {"objective": "tweedie", "tweedie_variance_power": 1.5, **(self.params or {})},
                self.seed,
                rows=len(y),
            )
            self.boosters_ = {"spend": self._fit(X, y, params, stop)}
        else:
            pos = y > 0
            any_params = lgb_params(
                {"objective": "binary", **(self.params or {})}, self.seed, rows=len(y)
            )
            spend_params = lgb_params(
                {"objective": "gamma", **(self.params or {})}, self.seed, rows=int(pos.sum())
            )
            any_stop = None if stop is None else (stop[0], (stop[1] > 0).astype(int))
            spend_stop = None if stop is None else (stop[0][stop[1] > 0], stop[1][stop[1] > 0])
            self.boosters_ = {
                "any": self._fit(X, (y > 0).astype(int), any_params, any_stop),
                "spend": self._fit(X[pos], y[pos], spend_params, spend_stop),
            }
        return self

    @staticmethod
    def _fit(X, y, params, stop) -> lgb.Booster:
        if stop is None:
            return fit_booster(X, y, params=params, rounds=ROUNDS)
        return fit_booster(X, y, params=params, X_stop=stop[0], y_stop=stop[1])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Expected net spend over the LTV horizon, currency units, float64 shape (n,)."""
        X = self.matrix(frame)
        spend = self._predict("spend", X)
        if self.variant == "two_part":
            spend = spend * self._predict("any", X)
        return spend

    def _predict(self, part: str, X: pd.DataFrame, **kwargs) -> np.ndarray:
        booster = self.boosters_[part]
        return predict(booster, X, num_iteration=booster.best_iteration or None, **kwargs)

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per-feature contributions to the log of expected spend, shape (n, n_features).

        For the two-part variant, the spend part's contributions (log scale) plus the
        any-spend part's (log-odds) are summed: both push the value up or down.
        """
        X = self.matrix(frame)
        contrib = sum(self._predict(part, X, pred_contrib=True)[:, :-1] for part in self.boosters_)
        return pd.DataFrame(contrib, columns=self.spec_.names, index=frame.index)

    def importance(self) -> pd.Series:
        """Total gain per feature over the parts, descending."""
        gain = sum(
            pd.Series(b.feature_importance("gain"), index=b.feature_name())
            for b in self.boosters_.values()
        )
        return gain.sort_values(ascending=False)
