"""The churn classifier: LightGBM on the point-in-time features, then probability calibration.

With a calibration cutoff, the booster is fit on the training cutoffs with early
stopping on it, and isotonic and sigmoid (Platt) calibrators are both fit on its
out-of-sample raw scores. Without one (short histories), both come from
**cross-fitting**: the training rows are split into folds by customer, each fold is
scored by a booster fit on the others (early-stopped on that fold), the final booster is
fit on all rows for the median best round count, and the calibrators are fit on the
out-of-fold scores of the newest training cutoff (the one closest to scoring time).
The calibrator with the lower log loss on the validation cutoff is kept
(``calibration="auto"``). ``rounds`` fixes the boosting rounds instead (the refit to
deploy reuses the validated model's).
"""

from __future__ import annotations

from typing import Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import GroupKFold

from features.compute import predict, thread_budget
from features.contract.errors import ConfigError
from features.contract.schema import CUSTOMER_ID
from training.models.attribution import PathAttribution
from training.models.btyd import BTYDFeatures
from training.models.matrix import FeatureModel, FeatureSpec

Calibration = Literal["auto", "isotonic", "sigmoid", "none"]
CALIBRATIONS = ("auto", "isotonic", "sigmoid", "none")
Attribution = Literal["shap", "path"]
ATTRIBUTIONS = ("shap", "path")

DEFAULT_PARAMS: dict[str, object] = {
    # Regularised for the few thousand customers of a real log (on UCI Online Retail:
    # churn ROC-AUC +0.005, LTV Gini +0.015 over 31 leaves / 5 % feature drop / l2 1),
    # no worse on generated data; `min_data_in_leaf` scales with the rows (see below).
    "objective": "binary",
    "learning_rate": 0.03,
    "num_leaves": 15,
    "feature_fraction": 0.5,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 10.0,
    "max_cat_to_onehot": 8,
    # Categorical guard: a random 27-level column ranked 3rd by gain with LightGBM's
    # defaults (smoothing 10, groups of 100 rows, 32 categories per split); with these
    # it ranks 46th of 115 (churn) and 18th (LTV), and AUC/Gini do not drop (tested).
    "cat_smooth": 50.0,
    "cat_l2": 50.0,
    "min_data_per_group": 200,
    "max_cat_threshold": 8,
    "verbosity": -1,
    "deterministic": True,
    "force_row_wise": True,
}
MAX_ROUNDS = 2000
EARLY_STOPPING = 50
EPS = 1e-6
FOLDS = 5
MIN_NEWEST_ROWS = 500
"""Fewer out-of-fold rows at the newest cutoff than this: calibrate on all of them."""


MONOTONE: dict[str, int] = {"days_since_last_order": 1}
"""Features whose effect on churn risk is constrained: +1 never lowers it as they grow.

All else equal, a more recent order never raises a customer's churn risk (tested)."""

MIN_LEAF_SHARE, MIN_LEAF_RANGE = 0.02, (20, 200)
"""Default ``min_data_in_leaf``: 2 % of the training rows, within 20–200."""


def lgb_params(params: dict | None, seed: int, *, rows: int | None = None) -> dict[str, object]:
    """Defaults overlaid with ``params``; the seed drives every random choice.

    Without ``min_data_in_leaf`` in ``params``, it is :data:`MIN_LEAF_SHARE` of ``rows``
    (the training rows) within :data:`MIN_LEAF_RANGE`, or 40 when ``rows`` is unknown.
    Without ``num_threads``, the :func:`~features.compute.thread_budget` of ``rows``.
    """
    low, high = MIN_LEAF_RANGE
    leaf = 40 if rows is None else int(min(max(rows * MIN_LEAF_SHARE, low), high))
    return {
        **DEFAULT_PARAMS,
        "min_data_in_leaf": leaf,
        "num_threads": thread_budget(rows),
        **(params or {}),
        "seed": seed,
    }


def monotone_constraints(names: list[str]) -> list[int]:
    """LightGBM ``monotone_constraints`` for features ``names`` (:data:`MONOTONE`, else 0)."""
    return [MONOTONE.get(name, 0) for name in names]


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


class ChurnModel(FeatureModel):
    """Calibrated LightGBM churn classifier.

    Parameters
    ----------
    params : dict, optional
        LightGBM parameters overriding :data:`DEFAULT_PARAMS`.
    seed : int, default 0
    calibration : {"auto", "isotonic", "sigmoid", "none"}, default "auto"
    rounds : int, optional
        Fixed boosting rounds (no early stopping); default: early stopping.
    folds : int, default 5
        Customer folds of the cross-fitting (used without a calibration set).

    Attributes
    ----------
    spec_ : FeatureSpec
    booster_ : lightgbm.Booster
    calibration_ : str
        The calibration kept.
    calibrators_ : dict
        Both fitted calibrators, by name (for the record).
    btyd_ : BTYDFeatures or None
        Adds the BTYD features to frames that lack them (scoring time).
    """

    def __init__(
        self,
        *,
        params: dict | None = None,
        seed: int = 0,
        calibration: Calibration = "auto",
        rounds: int | None = None,
        folds: int = FOLDS,
    ):
        self.params = params
        self.seed = seed
        self.calibration = calibration
        self.rounds = rounds
        self.folds = folds

    def fit(
        self,
        train: pd.DataFrame,
        y_train: np.ndarray,
        *,
        calibration_set: tuple[pd.DataFrame, np.ndarray] | None = None,
        validation_set: tuple[pd.DataFrame, np.ndarray] | None = None,
        btyd: BTYDFeatures | None = None,
    ) -> ChurnModel:
        """Fit on feature frames (``y`` 0/1 churn labels, shape (n,)); see the module doc.

        Without ``calibration_set``, ``train`` needs ``customer_id`` (the cross-fitting
        folds) and, to calibrate on the newest cutoff, ``cutoff``.
        """
        if self.calibration not in CALIBRATIONS:
            raise ConfigError("calibration", self.calibration, f"one of {CALIBRATIONS}")
        self.btyd_ = btyd
        self.spec_ = FeatureSpec.from_frame(train)
        X, y = self.spec_.matrix(train), np.asarray(y_train)
        params = lgb_params(self.params, self.seed, rows=len(y))
        params.setdefault("monotone_constraints", monotone_constraints(self.spec_.names))
        if calibration_set is None:
            raw_cal, y_cal = self._cross_fit(train, X, y, params)
        else:
            X_cal, y_cal = self.spec_.matrix(calibration_set[0]), np.asarray(calibration_set[1])
            if self.rounds is None:
                self.booster_ = fit_booster(X, y, params=params, X_stop=X_cal, y_stop=y_cal)
            else:
                self.booster_ = _fixed(fit_booster(X, y, params=params, rounds=self.rounds))
            raw_cal = self._raw(X_cal)
        self.calibrators_ = {
            "isotonic": IsotonicRegression(out_of_bounds="clip", y_min=EPS, y_max=1 - EPS).fit(
                raw_cal, y_cal
            ),
            "sigmoid": LogisticRegression(C=1e6).fit(raw_cal.reshape(-1, 1), y_cal),
        }
        self.calibration_ = self.calibration
        if self.calibration == "auto":
            if validation_set is None:
                raw, y_sel = raw_cal, y_cal
            else:
                raw, y_sel = self._raw(self.matrix(validation_set[0])), validation_set[1]
            losses = {
                k: log_loss(y_sel, self._calibrate(raw, k), labels=[0, 1])
                for k in self.calibrators_
            }
            self.calibration_ = min(losses, key=losses.get)
        return self

    def _cross_fit(
        self, train: pd.DataFrame, X: pd.DataFrame, y: np.ndarray, params: dict
    ) -> tuple[np.ndarray, np.ndarray]:
        """Fit ``booster_`` on all rows; return out-of-fold raw scores and labels to calibrate."""
        groups = train[CUSTOMER_ID].to_numpy()
        folds = GroupKFold(n_splits=max(2, min(self.folds, len(np.unique(groups)))))
        oof, rounds = np.zeros(len(y)), []
        for fit_rows, held_out in folds.split(X, y, groups):
            X_out, y_out = X.iloc[held_out], y[held_out]
            if self.rounds is None:
                booster = fit_booster(
                    X.iloc[fit_rows], y[fit_rows], params=params, X_stop=X_out, y_stop=y_out
                )
            else:
                booster = _fixed(
                    fit_booster(X.iloc[fit_rows], y[fit_rows], params=params, rounds=self.rounds)
                )
            oof[held_out] = predict(
                booster, X_out, raw_score=True, num_iteration=booster.best_iteration
            )
            rounds.append(booster.best_iteration)
        n_rounds = self.rounds or max(1, int(np.median(rounds)))
        self.booster_ = _fixed(fit_booster(X, y, params=params, rounds=n_rounds))
        keep = np.ones(len(y), bool)
        if "cutoff" in train.columns:
            newest = (train["cutoff"] == train["cutoff"].max()).to_numpy()
            if newest.sum() >= MIN_NEWEST_ROWS and len(np.unique(y[newest])) == 2:
                keep = newest
        return oof[keep], y[keep]

    def _raw(self, X: pd.DataFrame) -> np.ndarray:
        return predict(self.booster_, X, raw_score=True, num_iteration=self.booster_.best_iteration)

    def _calibrate(self, raw: np.ndarray, method: str) -> np.ndarray:
        if method == "none":
            return 1.0 / (1.0 + np.exp(-raw))
        if method == "isotonic":
            return self.calibrators_["isotonic"].predict(raw)
        return self.calibrators_["sigmoid"].predict_proba(raw.reshape(-1, 1))[:, 1]

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of churn within the horizon, float64, shape (n,)."""
        return np.clip(self._calibrate(self._raw(self.matrix(frame)), self.calibration_), 0.0, 1.0)

    def contributions(self, frame: pd.DataFrame, *, method: Attribution = "shap") -> pd.DataFrame:
        """Per-feature contributions to the raw log-odds score, shape (n, n_features).

        ``method="shap"`` gives LightGBM's exact TreeSHAP values (``pred_contrib``);
        ``"path"`` gives path attributions (:mod:`training.models.attribution`), as many times
        cheaper as TreeSHAP is dearer than a predict (≈ 40× on the churn model). Both
        add up, with the bias, to the raw score. Same index as ``frame``; the bias is
        dropped. Positive values push towards churn.
        """
        X = self.matrix(frame)
        n_iter = self.booster_.best_iteration
        if method == "path":
            paths = self.__dict__.get("_paths")
            if paths is None or paths.num_iteration != n_iter:
                paths = self.__dict__["_paths"] = PathAttribution.of(self.booster_, n_iter)
            contrib = paths.contributions(self.booster_, X)
        elif method == "shap":
            contrib = predict(self.booster_, X, pred_contrib=True, num_iteration=n_iter)[:, :-1]
        else:
            raise ConfigError("attribution", method, f"one of {ATTRIBUTIONS}")
        return pd.DataFrame(contrib, columns=self.spec_.names, index=frame.index)

    def importance(self) -> pd.Series:
        """Total gain per feature, descending."""
        gain = self.booster_.feature_importance("gain", iteration=self.booster_.best_iteration)
        return pd.Series(gain, index=self.booster_.feature_name()).sort_values(ascending=False)


def _fixed(booster: lgb.Booster) -> lgb.Booster:
    """A booster trained for fixed rounds, its ``best_iteration`` set to all of them."""
    booster.best_iteration = booster.current_iteration()
    return booster
