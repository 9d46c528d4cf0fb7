"""Model cards of the champions: version, validation metrics and plots, read from MLflow.

What a report shows about the models in production comes from the registry and the
champions' training runs, never from a re-evaluation: the numbers are the ones logged
when the version was trained (``churn_*`` / ``ltv_*`` metrics of the parent run, the
side-by-side table with the baselines, the ``plots/*.png`` artifacts).
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from training.registry.artifacts import load_bytes, load_json
from training.registry.registry import CHAMPION, CHURN_MODEL, LTV_MODEL
from training.registry.tracking import configure, resolve_uri

log = logging.getLogger(__name__)

PREFIX = {CHURN_MODEL: "churn", LTV_MODEL: "ltv"}
HEADLINE: dict[str, tuple[str, ...]] = {
    CHURN_MODEL: ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "lift_top_decile"),
    LTV_MODEL: ("normalized_gini", "spearman", "mae", "rmse"),
}
"""Metrics shown per model (validation cutoff of its training run)."""
PLOTS: dict[str, tuple[str, ...]] = {
    CHURN_MODEL: ("churn_roc.png", "churn_calibration.png", "churn_gains.png"),
    LTV_MODEL: ("ltv_deciles.png",),
}
"""Plots (under ``plots/`` of the training run) shown per model."""


@dataclass(frozen=True)
class ModelCard:
    """One champion model version as its training run recorded it.

    Attributes
    ----------
    name, version : str
        Registered model and version.
    run_id : str
        The training (parent) run.
    created : str
        Registration time, UTC (``YYYY-MM-DD HH:MM``).
    validation_cutoff : str
        Cutoff the metrics were measured at.
    metrics : dict of str to float
        :data:`HEADLINE` metrics of the model on the validation cutoff.
    comparison : DataFrame or None
        Every model of the run (LightGBM and baselines) × metric, when logged.
    plots : dict of str to bytes
        PNG bytes by file name (:data:`PLOTS` found in the run).
    """

    name: str
    version: str
    run_id: str
    created: str
    validation_cutoff: str
    metrics: dict[str, float]
    comparison: pd.DataFrame | None = None
    plots: dict[str, bytes] = field(default_factory=dict)


def registry_problem(tracking_uri: str | None = None, *, timeout: float = 3.0) -> str | None:
    """Why the MLflow store cannot be used, or None when it looks reachable.

    A local SQLite store must exist (reading must not create one); an HTTP tracking
    server must answer on ``/health`` within ``timeout`` seconds.
    """
    uri = resolve_uri(tracking_uri)
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        return None if path.is_file() else f"there is no MLflow store at {path}"
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout):
                return None
        except (urllib.error.URLError, OSError) as e:
            return f"the MLflow server at {uri} does not answer ({getattr(e, 'reason', e)})"
    return None


def champion_cards(*, tracking_uri: str | None = None) -> list[ModelCard]:
    """Cards of the churn and LTV champions that exist (empty when there is none).

    Raises
    ------
    mlflow.exceptions.MlflowException
        When the store cannot be read at all (check :func:`registry_problem` first).
    """
    configure(tracking_uri)
    client = MlflowClient()
    cards = []
    for name in (CHURN_MODEL, LTV_MODEL):
        try:
            mv = client.get_model_version_by_alias(name, CHAMPION)
        except MlflowException:
            log.info("no %s alias on %s", CHAMPION, name)
            continue
        cards.append(_card(client, name, mv))
    return cards


def _card(client: MlflowClient, name: str, mv) -> ModelCard:
    run_id = mv.tags.get("parent_run_id") or mv.run_id
    metrics = client.get_run(run_id).data.metrics
    prefix = PREFIX[name]
    table = load_json(run_id, f"{prefix}_metrics.json")
    comparison = None
    if table and "columns" in table:
        comparison = pd.DataFrame(table["data"], columns=table["columns"]).set_index("model")
    plots = {}
    for file in PLOTS[name]:
        data = load_bytes(run_id, f"plots/{file}")
        if data:
            plots[file] = data
    return ModelCard(
        name=name,
        version=str(mv.version),
        run_id=run_id,
        created=pd.Timestamp(mv.creation_timestamp, unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M"),
        validation_cutoff=mv.tags.get("validation_cutoff", ""),
        metrics={k: metrics[f"{prefix}_{k}"] for k in HEADLINE[name] if f"{prefix}_{k}" in metrics},
        comparison=comparison,
        plots=plots,
    )
