"""Scoring: champion models + feature rows → risk, value, reasons and the offer to make.

One function, :func:`score`, serves the HTTP service (a few rows at a time) and the
nightly batch (a partition at a time), so both always say the same thing.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.contract.schema import CUSTOMER_ID
from features.families.population import POPULATIONS, status_in_features
from features.families.purchase_days import PURCHASE_DAY_FEATURES
from serving.policy.bands import Population
from serving.policy.catalog import (
    OPTIONAL_COLUMNS,
    ORDER_VALUE,
    OfferCatalog,
    order_value,
)
from serving.policy.decide import CATALOG_SOURCE, LearnedUplift, decide
from serving.policy.reasons import top_reasons
from serving.policy.scores import SCORE_COLUMNS
from training.models.churn import Attribution
from training.models.matrix import model_matrices

if TYPE_CHECKING:  # the registry imports MLflow; loading lives in serving.models
    from training.registry.registry import LoadedModel

log = logging.getLogger(__name__)

CANCELLED_REASON = "cancelled before the cutoff: churned"
MAX_AHEAD_DAYS = 36_525
"""Farthest a next order's expected date is placed from the cutoff, days (100 years)."""


@dataclass(frozen=True)
class ScoringModels:
    """The churn and LTV model versions used together, the offer catalog, and the
    ``offer-uplift`` model when one is champion (None: the catalog's uplift).

    Loaded from the registry by :func:`serving.models.load_scoring_models`.
    """

    churn: LoadedModel
    ltv: LoadedModel
    catalog: OfferCatalog
    uplift: LoadedModel | None = None

    @property
    def uplift_source(self) -> str:
        """``"catalog"``, or ``"model:<version>"`` of the ``offer-uplift`` model in use."""
        return CATALOG_SOURCE if self.uplift is None else f"model:{self.uplift.version}"

    @property
    def versions(self) -> dict[str, str]:
        """``{registered model name: version}``."""
        return {self.churn.name: self.churn.version, self.ltv.name: self.ltv.version}

    @property
    def population(self) -> str:
        """The population the churn model was trained on: ``"active"`` or ``"all"``."""
        return self.churn.tags.get("population", "active")

    @property
    def active_days(self) -> int | None:
        """``active_days`` of :attr:`population` (None for ``"all"``)."""
        return POPULATIONS.get(self.population, POPULATIONS["active"])

    @property
    def horizon_days(self) -> int | None:
        """Days ``churn_probability`` covers (the churn model's horizon; None if unknown)."""
        value = self.churn.tags.get("horizon_days")
        btyd = self.churn.model.__dict__.get("btyd_")
        if value is None and btyd is not None:
            return int(btyd.horizon_days)
        return int(value) if value else None

    @property
    def population_reference(self) -> Population:
        """The population the champion scores (its ``reference_``, recorded at training).

        Risk bands and value segments are cut relative to it. A model trained before
        the reference existed has none: then bands and segments use the catalog's
        absolute thresholds (and that is logged once).
        """
        churn = self.churn.model.__dict__.get("reference_")
        ltv = self.ltv.model.__dict__.get("reference_")
        if churn is None or ltv is None:
            _warn_once(NO_REFERENCE)
            return Population(np.empty(0), np.empty(0), "none: absolute thresholds")
        cutoff = self.churn.tags.get("validation_cutoff", "?")
        return Population(
            np.asarray(churn, float),
            np.asarray(ltv, float),
            f"{self.churn.name} v{self.churn.version} on its validation cutoff {cutoff}",
        )

    @property
    def feature_names(self) -> list[str]:
        """Every feature either model needs, churn model's order first."""
        names = list(self.churn.model.input_names)
        names += [n for n in self.ltv.model.input_names if n not in names]
        if self.uplift is not None:
            names += [n for n in self.uplift.model.input_names if n not in names]
        return names


NO_REFERENCE = (
    "The champion models carry no reference population (trained by an older version): "
    "risk bands and value segments use the catalog's absolute thresholds. Retrain to get "
    "bands relative to the population."
)


@functools.cache
def _warn_once(message: str) -> None:
    log.warning(message)


def learned_uplift(frame: pd.DataFrame, models: ScoringModels) -> LearnedUplift | None:
    """The uplift model's effects for the rows of ``frame`` (None without a model)."""
    if models.uplift is None:
        return None
    model = models.uplift.model
    return LearnedUplift(model.predict(frame), tuple(model.offers_), models.uplift_source)


def score(
    features: pd.DataFrame,
    models: ScoringModels,
    *,
    reasons: int = 3,
    attribution: Attribution = "path",
    as_of: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Score feature rows.

    Parameters
    ----------
    features : DataFrame, shape (n, ...)
        ``customer_id`` and at least :attr:`ScoringModels.feature_names`.
    models : ScoringModels
    reasons : int, default 3
        Reasons in words per customer (0 skips the contribution computation).
    attribution : {"path", "shap"}, default "path"
        How the churn model's feature contributions behind the reasons are computed:
        path attributions, at about the cost of a predict, or exact TreeSHAP, ≈ 40×
        dearer (see :mod:`training.models.attribution`).
    as_of : Timestamp, optional
        The features' cutoff (UTC), for ``next_order_date``; default: today (UTC).

    Returns
    -------
    DataFrame, shape (n, len(SCORE_COLUMNS))
        :data:`SCORE_COLUMNS`: status (active / lapsed / cancelled, see
        :func:`features.families.population.status_in_features`; a cancelled customer is churned:
        probability 1, LTV 0, no offer), churn probability over ``churn_horizon_days``,
        risk band (relative to the champion's population), predicted LTV (currency units
        over the LTV horizon), value segment, expected orders in the churn horizon and
        P(alive) (BG/NBD at the model's fit), the expected date of the next order (last
        order + the customer's mean gap between orders; before ``as_of`` when overdue;
        NaT with fewer than two orders), reasons (list of str), the recommended offer
        (None when none pays) with its cost and expected net value, why there is none
        (``no_offer_reason``), and both model versions.

    Raises
    ------
    SnapshotError
        When a feature the models need is missing.
    """
    frame = features.reset_index(drop=True)
    churn, value = models.churn.model, models.ltv.model
    status = status_in_features(frame)
    cancelled = status == "cancelled"
    # one typed matrix per feature spec, one BTYD block for both horizons
    X, X_value = model_matrices(frame, [churn, value])
    p = np.where(cancelled, 1.0, churn.predict_proba(X))
    ltv = np.where(cancelled, 0.0, np.clip(value.predict(X_value), 0.0, None))
    inputs = pd.DataFrame(
        {CUSTOMER_ID: frame[CUSTOMER_ID], "churn_probability": p, "predicted_ltv": ltv}
    )
    for column in OPTIONAL_COLUMNS:
        if column in frame.columns:
            inputs[column] = frame[column]
    inputs[ORDER_VALUE] = order_value(frame)
    inputs["status"] = status
    decided = decide(
        inputs,
        models.catalog,
        uplift=learned_uplift(frame, models),
        population=models.population_reference,
    )
    decided.loc[cancelled, "no_offer_reason"] = "cancelled: churned before the cutoff"
    out = pd.concat(
        [
            inputs[[CUSTOMER_ID, "churn_probability", "predicted_ltv"]],
            decided.drop(columns=CUSTOMER_ID),
            purchase_outlook(frame, X, churn, as_of=as_of, cancelled=cancelled),
        ],
        axis=1,
    )
    out["churn_horizon_days"] = models.horizon_days or 0
    out["status"] = status
    out["reasons"] = (
        top_reasons(churn.contributions(X, method=attribution), frame, k=reasons)
        if reasons
        else [[] for _ in range(len(frame))]
    )
    if reasons and cancelled.any():
        out.loc[cancelled, "reasons"] = pd.Series(
            [[CANCELLED_REASON]] * int(cancelled.sum()), index=out.index[cancelled]
        )
    out["churn_model_version"] = models.churn.version
    out["ltv_model_version"] = models.ltv.version
    return out[list(SCORE_COLUMNS)]


def purchase_outlook(
    frame: pd.DataFrame,
    X: pd.DataFrame,
    churn,
    *,
    as_of: pd.Timestamp | None,
    cancelled: np.ndarray,
) -> pd.DataFrame:
    """Expected orders in the churn horizon, P(alive) and the next order's expected date.

    The first two are the BG/NBD fit the churn model carries, over its horizon (from
    ``X`` when they are model features; NaN without a fit); the date is the last order
    plus the customer's mean gap between orders, at day precision (NaT with fewer than
    two orders or when cancelled). Shape (n, 3), same index as ``frame``.
    """
    btyd = churn.__dict__.get("btyd_")
    columns = {"expected_orders": "btyd_expected_orders", "p_alive": "btyd_p_alive"}
    if btyd is not None and not all(c in X.columns for c in columns.values()):
        X = btyd.add(frame[[c for c in PURCHASE_DAY_FEATURES if c in frame.columns]])
    out = pd.DataFrame(index=frame.index)
    for name, column in columns.items():
        values = X[column].to_numpy(dtype=float) if column in X.columns else np.nan
        out[name] = np.where(cancelled, 0.0, values)
    day = pd.Timestamp(as_of) if as_of is not None else pd.Timestamp.now(tz="UTC")
    day = day.tz_convert(None) if day.tz is not None else day
    nan = pd.Series(np.nan, index=frame.index)
    ahead = pd.to_numeric(frame.get("gap_mean_days", nan), errors="coerce") - pd.to_numeric(
        frame.get("days_since_last_order", nan), errors="coerce"
    )
    # no date for the cancelled, nor beyond 100 years either way (features sent by a
    # caller may hold anything finite)
    ahead = ahead.where(~cancelled & (ahead.abs() <= MAX_AHEAD_DAYS))
    next_order = (day + pd.to_timedelta(ahead.round(), unit="D")).dt.floor("D")
    out["next_order_date"] = next_order.dt.tz_localize("UTC")
    return out
