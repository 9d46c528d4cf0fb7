"""What a training run records in MLflow: provenance, model-version tags, child runs.

Used by :mod:`training.train`; the layout (one parent run, one child run per model) is
described there.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import matplotlib.pyplot as plt
import mlflow
import numpy as np

from features.compute import budget_record
from features.contract.files import fingerprint
from features.contract.schema import CONTRACT_VERSION, CUSTOMER_ID
from training.models.matrix import quantile_points
from training.registry.registry import CHURN_MODEL
from training.registry.tracking import git_commit

LIGHTGBM = "lightgbm"


def log_provenance(source, config, churn_plan, ltv_plan, churn_sets) -> None:
    mlflow.log_params({f"config.{k}": v for k, v in asdict(config).items()})
    mlflow.log_params({f"churn.{k}": v for k, v in churn_plan.as_dict().items()})
    mlflow.log_params({f"ltv.{k}": v for k, v in ltv_plan.as_dict().items()})
    mlflow.log_params(
        {
            "contract_version": CONTRACT_VERSION,
            "git_commit": git_commit(),
            "label.churn": "contractual: cancelled_at in [t, t+H); else no order in [t, t+H)",
            "label.ltv": "net spend in [t, t+L), floored at 0",
        }
    )
    rows = {
        "churn_train": churn_sets.train,
        "churn_calibration": churn_sets.calibration,
        "churn_validation": churn_sets.validation,
        "churn_refit_train": churn_sets.refit_train,
    }
    mlflow.log_params({f"rows.{k}": len(v) for k, v in rows.items() if v is not None})
    mlflow.log_params({"population": config.population, **budget_record()})
    mlflow.log_metrics(
        {
            "churn_base_rate_train": float(churn_sets.train["churned"].mean()),
            "churn_base_rate_validation": float(churn_sets.validation["churned"].mean()),
        }
    )
    fingerprints = {name: fingerprint(path) for name, path in source.sources.items()}
    mlflow.set_tags({"data_fingerprint": _combined(fingerprints), "kind": "training"})
    mlflow.log_dict(
        {
            "fingerprints": fingerprints,
            "sources": {k: str(v) for k, v in source.sources.items()},
            "features": [
                c for c in churn_sets.train.columns if c not in (CUSTOMER_ID, "cutoff", "churned")
            ],
        },
        "data.json",
    )


def _combined(fingerprints: dict[str, str]) -> str:
    return "-".join(fingerprints[k][:12] for k in sorted(fingerprints)) or "in-memory"


def version_tags(outcome, config, run_id: str) -> dict[str, str]:
    key = "roc_auc" if outcome.name == CHURN_MODEL else "normalized_gini"
    row = outcome.metrics.loc[LIGHTGBM]
    tags = {
        "validation_cutoff": f"{outcome.plan.validation:%Y-%m-%d}",
        "gate_metric": key,
        "gate_value": f"{row[key]:.4f}",
        "beats_baselines": str(outcome.beats_baselines).lower(),
        "parent_run_id": run_id,
        "horizon_days": str(outcome.plan.horizon_days),
        "features": json.dumps(outcome.model.input_names),
        "population": config.population,
        "active_days": str(config.active_days),
        "refit_cutoffs": ",".join(f"{t:%Y-%m-%d}" for t in outcome.plan.refit_train),
        "reduced_plan": outcome.plan.reduced or "no",
    }
    if outcome.name == CHURN_MODEL:
        tags |= {"ece": f"{row['ece']:.4f}", "calibration": outcome.model.calibration_}
    else:
        tags["variant"] = outcome.model.variant
    return tags


def child(
    name: str,
    metrics: dict[str, float],
    params: dict | None = None,
    figures: dict[str, plt.Figure] | None = None,
) -> None:
    with mlflow.start_run(run_name=name, nested=True):
        mlflow.log_params(params or {})
        mlflow.log_metrics(
            {k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)}
        )
        for file, figure in (figures or {}).items():
            mlflow.log_figure(figure, f"plots/{file}")
            plt.close(figure)


def record_population(churn, ltv) -> None:
    """Record on both deployed models the population they score (``reference_``).

    ``churn`` and ``ltv`` are the run's :class:`training.train.ModelOutcome`.

    The validated models' out-of-sample churn probabilities and predicted LTVs on the
    churn validation cutoff (the newest complete one, every customer of the
    population): the offer policy cuts relative risk bands and value segments on them.
    """
    rows = churn.validation
    p = churn.validated.predict_proba(rows)
    value = np.clip(ltv.validated.predict(rows), 0.0, None)
    churn.model.reference_ = quantile_points(p)
    ltv.model.reference_ = quantile_points(value)
    mlflow.log_params(
        {
            "population.customers": len(rows),
            "population.cutoff": f"{churn.plan.validation:%Y-%m-%d}",
            "population.base_rate": f"{float(p.mean()):.4f}",
            "population.ltv_median": f"{float(np.median(value)):.4g}",
        }
    )
