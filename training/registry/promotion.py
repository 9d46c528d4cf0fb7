"""The promotion gate: ``champion`` moves only to a challenger that is better.

Both versions are scored on the same validation cutoff (the challenger's), each by its
*validated* model (fit before that cutoff's outcomes; the deployed refit has seen them). The
challenger is promoted when it is better by the gate metric and, for the churn model,
not worse calibrated: ECE at most ``ece_tolerance`` above the champion's, or within
:data:`ECE_GOOD` (a near-constant champion is trivially calibrated; that alone must
not keep a model that ranks better out). Without a
champion, the challenger is promoted when it beat its baselines in its training run.
The ``offer-uplift`` model is judged by its inverse-propensity weighted AUUC on the
held-out campaign, and is never promoted when its training run found the propensity
overlap too thin (tag ``overlap_ok`` false): the reason is the decision's.
Every decision, with both figures, is logged to MLflow as a ``promotion`` run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient

from features.contract.errors import ConfigError, ModelRegistryError
from training.evaluation.churn_metrics import churn_metrics
from training.evaluation.ltv_metrics import ltv_metrics
from training.evaluation.uplift_metrics import evaluate_uplift
from training.evaluation.uplift_metrics import summary as uplift_summary
from training.registry.registry import (
    CHALLENGER,
    CHAMPION,
    CHURN_MODEL,
    LTV_MODEL,
    UPLIFT_MODEL,
    alias_version,
    load_model,
)
from training.registry.tracking import configure

HIGHER_IS_BETTER = {
    "roc_auc": True,
    "pr_auc": True,
    "log_loss": False,
    "brier": False,
    "normalized_gini": True,
    "spearman": True,
    "mae": False,
    "rmse": False,
    "auuc": True,
}
DEFAULT_METRIC = {CHURN_MODEL: "roc_auc", LTV_MODEL: "normalized_gini", UPLIFT_MODEL: "auuc"}
ECE_TOLERANCE = 0.005
ECE_GOOD = 0.03
"""A challenger this well calibrated passes the calibration rule whatever the champion's ECE."""


@dataclass(frozen=True)
class Decision:
    """The gate's verdict for one registered model."""

    model: str
    challenger: str | None
    champion: str | None
    metric: str
    challenger_value: float
    champion_value: float
    challenger_ece: float
    champion_ece: float
    promoted: bool
    reason: str


def decide(
    model: str,
    *,
    challenger: Mapping[str, float],
    champion: Mapping[str, float] | None,
    metric: str,
    beats_baselines: bool,
    ece_tolerance: float = ECE_TOLERANCE,
    versions: tuple[str | None, str | None] = (None, None),
    refusal: str | None = None,
) -> Decision:
    """Apply the gate to metric dicts of the challenger and the champion (pure function).

    ``refusal`` (e.g. "propensity overlap too thin: ...") refuses the challenger
    whatever its figures, with that reason.
    """
    if metric not in HIGHER_IS_BETTER:
        raise ConfigError("promote metric", metric, f"one of {sorted(HIGHER_IS_BETTER)}")
    nan = float("nan")
    c_val, c_ece = float(challenger[metric]), float(challenger.get("ece", nan))
    if refusal:
        h_val = float(champion[metric]) if champion is not None else nan
        return Decision(
            model, versions[0], versions[1], metric, c_val, h_val, c_ece, nan, False, refusal
        )
    if champion is None:
        promoted = beats_baselines
        reason = (
            "no champion yet; the challenger beat its baselines"
            if promoted
            else "no champion yet, but the challenger did not beat its baselines"
        )
        return Decision(model, versions[0], None, metric, c_val, nan, c_ece, nan, promoted, reason)
    h_val, h_ece = float(champion[metric]), float(champion.get("ece", nan))
    better = c_val > h_val if HIGHER_IS_BETTER[metric] else c_val < h_val
    calibrated = np.isnan(c_ece) or np.isnan(h_ece) or c_ece <= max(h_ece + ece_tolerance, ECE_GOOD)
    if better and calibrated:
        reason = f"{metric} {c_val:.4f} beats the champion's {h_val:.4f}"
    elif not better:
        reason = f"{metric} {c_val:.4f} does not beat the champion's {h_val:.4f}"
    else:
        reason = (
            f"ECE {c_ece:.4f} is worse than the champion's {h_ece:.4f} (+{ece_tolerance}) "
            f"and above {ECE_GOOD}"
        )
    return Decision(
        model,
        versions[0],
        versions[1],
        metric,
        c_val,
        h_val,
        c_ece,
        h_ece,
        better and calibrated,
        reason,
    )


def _score(model, frame: pd.DataFrame, name: str) -> dict[str, float]:
    if name == CHURN_MODEL:
        return churn_metrics(frame["churned"].to_numpy(), model.predict_proba(frame))
    if name == UPLIFT_MODEL:
        return uplift_summary(evaluate_uplift(model, frame))
    return ltv_metrics(frame["ltv"].to_numpy(), model.predict(frame))


def promote(
    validation: Mapping[str, pd.DataFrame],
    *,
    tracking_uri: str | None = None,
    metrics: Mapping[str, str] | None = None,
    ece_tolerance: float = ECE_TOLERANCE,
) -> list[Decision]:
    """Gate the ``challenger`` of each model against its ``champion`` and move the alias.

    Parameters
    ----------
    validation : mapping
        ``{registered model name: labelled feature frame of the validation cutoff}``
        (``churned`` for the churn model, ``ltv`` for the LTV model; the held-out
        campaign's rows with ``treatment`` and ``churned`` for ``offer-uplift``).
    tracking_uri : str, optional
    metrics : mapping, optional
        Gate metric per model (default ``roc_auc`` and ``normalized_gini``).
    """
    configure(tracking_uri)
    client = MlflowClient()
    decisions = []
    for name, frame in validation.items():
        metric = (metrics or {}).get(name, DEFAULT_METRIC[name])
        challenger_v = alias_version(name, CHALLENGER, client=client)
        if challenger_v is None:
            raise ModelRegistryError(
                f"'{name}' has no '{CHALLENGER}' version; run `churn train` first."
            )
        champion_v = alias_version(name, CHAMPION, client=client)
        challenger = load_model(name, challenger_v, tracking_uri=tracking_uri)
        if champion_v == challenger_v:
            decisions.append(
                Decision(
                    name,
                    challenger_v,
                    champion_v,
                    metric,
                    np.nan,
                    np.nan,
                    np.nan,
                    np.nan,
                    False,
                    "the challenger already is the champion",
                )
            )
            continue
        champion_metrics = None
        if champion_v is not None:
            champion_metrics = _score(
                load_model(name, champion_v, tracking_uri=tracking_uri).validated, frame, name
            )
        decision = decide(
            name,
            challenger=_score(challenger.validated, frame, name),
            champion=champion_metrics,
            metric=metric,
            beats_baselines=challenger.tags.get("beats_baselines") == "true",
            ece_tolerance=ece_tolerance,
            versions=(challenger_v, champion_v),
            refusal=_refusal(challenger.tags),
        )
        if decision.promoted:
            client.set_registered_model_alias(name, CHAMPION, challenger_v)
        _log_decision(decision)
        decisions.append(decision)
    return decisions


def _refusal(tags: Mapping[str, str]) -> str | None:
    """The reason a version may not be promoted whatever its figures (None: no such reason)."""
    if tags.get("overlap_ok") == "false":
        return f"propensity overlap too thin: {tags.get('overlap_reason', 'see the training run')}"
    if "gain_lower_95" in tags and not float(tags["gain_lower_95"]) > 0:
        return (
            f"held-out gain over the catalog rule not positive with 95 % confidence: "
            f"gain {tags.get('gain', '?')}, lower bound {tags['gain_lower_95']} (bootstrap)"
        )
    return None


def _log_decision(decision: Decision) -> None:
    with mlflow.start_run(
        run_name=f"promotion {decision.model}", nested=mlflow.active_run() is not None
    ):
        record = asdict(decision)
        mlflow.set_tags(
            {
                "kind": "promotion",
                "model": decision.model,
                "promoted": str(decision.promoted).lower(),
                "reason": decision.reason,
                "challenger_version": str(decision.challenger),
                "champion_version": str(decision.champion),
            }
        )
        mlflow.log_metrics(
            {k: v for k, v in record.items() if k.endswith(("_value", "_ece")) and np.isfinite(v)}
        )


def validation_frames(
    tables,
    *,
    horizon_days: int,
    ltv_horizon_days: int,
    tracking_uri: str | None = None,
    **feature_options,
) -> dict[str, pd.DataFrame]:
    """Rebuild each challenger's validation set (its ``validation_cutoff`` tag) from ``tables``."""
    from training.dataset import labelled_features

    configure(tracking_uri)
    client = MlflowClient()
    out = {}
    for name in (CHURN_MODEL, LTV_MODEL):
        version = alias_version(name, CHALLENGER, client=client)
        if version is None:
            raise ModelRegistryError(
                f"'{name}' has no '{CHALLENGER}' version; run `churn train` first."
            )
        cutoff = pd.Timestamp(
            client.get_model_version(name, version).tags["validation_cutoff"], tz="UTC"
        )
        out[name] = labelled_features(
            tables,
            [cutoff],
            horizon_days=horizon_days,
            ltv_horizon_days=ltv_horizon_days if name == LTV_MODEL else None,
            **feature_options,
        )
    return out
