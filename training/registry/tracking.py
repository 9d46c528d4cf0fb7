"""Where MLflow runs go, and the provenance every run records.

The tracking location is the one given (the CLI gives ``MLFLOW_TRACKING_URI`` when set,
else ``tracking_uri`` of the settings; a real ``mlflow server`` works), else a local SQLite store
``mlruns/mlflow.db`` with artifacts under ``mlruns/artifacts`` (MLflow 3 no longer
accepts a bare file store).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import mlflow

EXPERIMENT = "churn-ltv"
LOCAL_DIR = Path("mlruns")


def resolve_uri(uri: str | None = None) -> str:
    """``uri`` > ``MLFLOW_TRACKING_URI`` > ``sqlite:///<cwd>/mlruns/mlflow.db``.

    An explicit argument wins so a library caller always gets the store it names; the
    CLI and the service pass the environment's URI first (see
    :func:`serving.settings.load_settings`).
    """
    return (
        uri
        or os.environ.get("MLFLOW_TRACKING_URI")
        or f"sqlite:///{LOCAL_DIR.resolve() / 'mlflow.db'}"
    )


def configure(uri: str | None = None, *, experiment: str = EXPERIMENT) -> str:
    """Point MLflow at the tracking store and experiment; return the experiment id.

    A local SQLite store keeps its artifacts beside it, in ``<store dir>/artifacts``.
    """
    uri = resolve_uri(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        mlflow.set_experiment(experiment_id=found.experiment_id)
        return found.experiment_id
    location = None
    if uri.startswith("sqlite:///"):
        store_dir = Path(uri.removeprefix("sqlite:///")).parent
        store_dir.mkdir(parents=True, exist_ok=True)
        location = (store_dir / "artifacts").resolve().as_uri()
    experiment_id = mlflow.create_experiment(experiment, artifact_location=location)
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def git_commit() -> str:
    """The current git commit of the code, or ``unknown`` outside a checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
