"""The churn classifier: LightGBM on the point-in-time features, then probability calibration.

The booster is fit on the training cutoffs with early stopping on the calibration
cutoff; isotonic and sigmoid (Platt) calibrators are both fit on the calibration
cutoff's out-of-sample raw scores, and the one with the lower log loss on the
validation cutoff is kept (``calibration="auto"``).
"""

from __future__ import annotations

from typing import Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from features.errors import ConfigError
from training.attribution import PathAttribution
from training.matrix import FeatureSpec

Calibration = Literal["auto", "isotonic", "sigmoid", "none"]
CALIBRATIONS = ("auto", "isotonic", "sigmoid", "none")
Attribution = Literal["shap", "path"]
ATTRIBUTIONS = ("shap", "path")

DEFAULT_PARAMS: dict[str, object] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_cat_to_onehot": 8,
    "verbosity": -1,
    "deterministic": True,
    "force_row_wise": True,
}
MAX_ROUNDS = 2000
EARLY_STOPPING = 50
EPS = 1e-6


def lgb_params(params: dict | None, seed: int) -> dict[str, object]:
    """Defaults overlaid with ``params``; the seed drives every random choice."""
    return {**DEFAULT_PARAMS, **(params or {}), "seed": seed}


def fit_booster(
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    params: dict,
    X_stop: pd.DataFrame | None = None,
    y_stop: np.ndarray | None = None,
    rounds: int = MAX_ROUNDS,
) -> lgb.Booster:
    """``lightgbm.train`` with native categoricals and optional early stopping on a later cutoff."""
    train = lgb.Dataset(X, y, categorical_feature="auto", free_raw_data=True)
    valid, callbacks = [], []
    if X_stop is not None:
        valid = [lgb.Dataset(X_stop, y_stop, reference=train)]
        callbacks = [lgb.early_stopping(EARLY_STOPPING, verbose=False)]
    booster = lgb.train(
        params, train, num_boost_round=rounds, valid_sets=valid, callbacks=callbacks
    )
    if X_stop is not None:
        booster.best_iteration = booster.best_iteration or booster.current_iteration()
    return booster


class ChurnModel:
    """Calibrated LightGBM churn classifier.

    Parameters
    ----------
    params : dict, optional
        LightGBM parameters overriding :data:`DEFAULT_PARAMS`.
    seed : int, default 0
    calibration : {"auto", "isotonic", "sigmoid", "none"}, default "auto"

    Attributes
    ----------
    spec_ : FeatureSpec
    booster_ : lightgbm.Booster
    calibration_ : str
        The calibration kept.
    calibrators_ : dict
        Both fitted calibrators, by name (for the record).
    """

    def __init__(
        self, *, params: dict | None = None, seed: int = 0, calibration: Calibration = "auto"
    ):
        self.params = params
        self.seed = seed
        self.calibration = calibration

    def fit(
        self,
        train: pd.DataFrame,
        y_train: np.ndarray,
        *,
        calibration_set: tuple[pd.DataFrame, np.ndarray],
        validation_set: tuple[pd.DataFrame, np.ndarray] | None = None,
    ) -> ChurnModel:
        """Fit on feature frames (``y`` 0/1 churn labels, shape (n,)); see the module doc."""
        if self.calibration not in CALIBRATIONS:
            raise ConfigError("calibration", self.calibration, f"one of {CALIBRATIONS}")
        self.spec_ = FeatureSpec.from_frame(train)
        X_cal, y_cal = self.spec_.matrix(calibration_set[0]), np.asarray(calibration_set[1])
        self.booster_ = fit_booster(
            self.spec_.matrix(train),
            np.asarray(y_train),
            params=lgb_params(self.params, self.seed),
            X_stop=X_cal,
            y_stop=y_cal,
        )
        raw_cal = self._raw(X_cal)
        self.calibrators_ = {
            "isotonic": IsotonicRegression(out_of_bounds="clip", y_min=EPS, y_max=1 - EPS).fit(
                raw_cal, y_cal
            ),
            "sigmoid": LogisticRegression(C=1e6).fit(raw_cal.reshape(-1, 1), y_cal),
        }
        self.calibration_ = self.calibration
        if self.calibration == "auto":
            X_sel, y_sel = calibration_set if validation_set is None else validation_set
            raw = self._raw(self.spec_.matrix(X_sel))
            losses = {
                k: log_loss(y_sel, self._calibrate(raw, k), labels=[0, 1])
                for k in self.calibrators_
            }
            self.calibration_ = min(losses, key=losses.get)
        return self

    def _raw(self, X: pd.DataFrame) -> np.ndarray:
        return self.booster_.predict(X, raw_score=True, num_iteration=self.booster_.best_iteration)

    def _calibrate(self, raw: np.ndarray, method: str) -> np.ndarray:
        if method == "none":
            return 1.0 / (1.0 + np.exp(-raw))
        if method == "isotonic":
            return self.calibrators_["isotonic"].predict(raw)
        return self.calibrators_["sigmoid"].predict_proba(raw.reshape(-1, 1))[:, 1]

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of churn within the horizon, float64, shape (n,)."""
        return np.clip(
            self._calibrate(self._raw(self.spec_.matrix(frame)), self.calibration_), 0.0, 1.0
        )

    def contributions(self, frame: pd.DataFrame, *, method: Attribution = "shap") -> pd.DataFrame:
        """Per-feature contributions to the raw log-odds score, shape (n, n_features).

        ``method="shap"`` gives LightGBM's exact TreeSHAP values (``pred_contrib``);
        ``"path"`` gives path attributions (:mod:`training.attribution`), as many times
        cheaper as TreeSHAP is dearer than a predict (≈ 40× on the churn model). Both
        add up, with the bias, to the raw score. Same index as ``frame``; the bias is
        dropped. Positive values push towards churn.
        """
        X = self.spec_.matrix(frame)
        n_iter = self.booster_.best_iteration
        if method == "path":
            paths = self.__dict__.get("_paths")
            if paths is None or paths.num_iteration != n_iter:
                paths = self.__dict__["_paths"] = PathAttribution.of(self.booster_, n_iter)
            contrib = paths.contributions(self.booster_, X)
        elif method == "shap":
            contrib = self.booster_.predict(X, pred_contrib=True, num_iteration=n_iter)[:, :-1]
        else:
            raise ConfigError("attribution", method, f"one of {ATTRIBUTIONS}")
        return pd.DataFrame(contrib, columns=self.spec_.names, index=frame.index)

    def importance(self) -> pd.Series:
        """Total gain per feature, descending."""
        gain = self.booster_.feature_importance("gain", iteration=self.booster_.best_iteration)
        return pd.Series(gain, index=self.booster_.feature_name()).sort_values(ascending=False)
