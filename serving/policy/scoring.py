"""Scoring: champion models + feature rows → risk, value, reasons and the offer to make.

One function, :func:`score`, serves the HTTP service (a few rows at a time) and the
nightly batch (a partition at a time), so both always say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.schema import CUSTOMER_ID
from serving.policy.catalog import OPTIONAL_COLUMNS, OfferCatalog, load_catalog
from serving.policy.decide import decide
from serving.policy.reasons import top_reasons
from serving.policy.scores import SCORE_COLUMNS
from training.labels import POPULATIONS, status_in_features
from training.models.churn import Attribution
from training.registry.registry import CHAMPION, CHURN_MODEL, LTV_MODEL, LoadedModel, load_model

CANCELLED_REASON = "cancelled before the cutoff: churned"


@dataclass(frozen=True)
class ScoringModels:
    """The churn and LTV model versions used together, and the offer catalog."""

    churn: LoadedModel
    ltv: LoadedModel
    catalog: OfferCatalog

    @classmethod
    def load(
        cls,
        *,
        tracking_uri: str | None = None,
        churn_ref: str = CHAMPION,
        ltv_ref: str = CHAMPION,
        offers_file: str | Path = "offers.toml",
    ) -> ScoringModels:
        """Load both models from the registry (alias or version) and the catalog.

        Raises
        ------
        ModelRegistryError, ConfigError
        """
        return cls(
            churn=load_model(CHURN_MODEL, churn_ref, tracking_uri=tracking_uri),
            ltv=load_model(LTV_MODEL, ltv_ref, tracking_uri=tracking_uri),
            catalog=load_catalog(offers_file),
        )

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
    def feature_names(self) -> list[str]:
        """Every feature either model needs, churn model's order first."""
        names = list(self.churn.model.input_names)
        return names + [n for n in self.ltv.model.input_names if n not in names]


def score(
    features: pd.DataFrame,
    models: ScoringModels,
    *,
    reasons: int = 3,
    attribution: Attribution = "path",
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

    Returns
    -------
    DataFrame, shape (n, len(SCORE_COLUMNS))
        :data:`SCORE_COLUMNS`: status (active / lapsed / cancelled, see
        :func:`training.labels.status_in_features`; a cancelled customer is churned:
        probability 1, LTV 0, no offer), churn probability over the churn horizon, risk band,
        predicted LTV (currency units over the LTV horizon), value segment, reasons
        (list of str), the recommended offer (None when none pays) with its cost and
        expected net value, and both model versions.

    Raises
    ------
    SnapshotError
        When a feature the models need is missing.
    """
    frame = features.reset_index(drop=True)
    churn, value = models.churn.model, models.ltv.model
    status = status_in_features(frame)
    cancelled = status == "cancelled"
    X = churn.matrix(frame)  # built once: the LTV model reuses it when its inputs agree
    p = np.where(cancelled, 1.0, churn.predict_proba(X))
    same = value.spec_ == churn.spec_ and value.__dict__.get("btyd_") == churn.__dict__.get("btyd_")
    ltv = np.where(cancelled, 0.0, np.clip(value.predict(X if same else frame), 0.0, None))
    inputs = pd.DataFrame(
        {CUSTOMER_ID: frame[CUSTOMER_ID], "churn_probability": p, "predicted_ltv": ltv}
    )
    for column in OPTIONAL_COLUMNS:
        if column in frame.columns:
            inputs[column] = frame[column]
    inputs["status"] = status
    decided = decide(inputs, models.catalog)
    out = pd.concat(
        [
            inputs[[CUSTOMER_ID, "churn_probability", "predicted_ltv"]],
            decided.drop(columns=CUSTOMER_ID),
        ],
        axis=1,
    )
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
