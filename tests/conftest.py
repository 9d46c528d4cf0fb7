"""Shared test helpers: tiny hand-made tables through the real validation path."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from features.load import Tables, validate_tables

AS_OF = pd.Timestamp("2025-06-30", tz="UTC")


def make_tables(**frames: list[dict] | pd.DataFrame) -> Tables:
    """Validate hand-made rows (lists of dicts or frames) into :class:`Tables`."""
    raw = {
        name: rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
        for name, rows in frames.items()
    }
    return validate_tables(raw)


@pytest.fixture
def as_of() -> pd.Timestamp:
    return AS_OF


MLFLOW_ENV = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_EXPERIMENT_NAME",
)


@pytest.fixture(scope="module")
def isolated_mlflow():
    """Leave MLflow's process state as this module found it.

    ``mlflow.set_tracking_uri`` and ``set_registry_uri`` export MLFLOW_TRACKING_URI and
    MLFLOW_REGISTRY_URI; a module that points MLflow at its own store uses this so later
    modules that rely on the default store are not captured by it.
    """
    import mlflow.tracking._model_registry.utils as registry_state
    import mlflow.tracking._tracking_service.utils as tracking_state
    import mlflow.tracking.fluent as fluent_state

    env = {k: os.environ.pop(k, None) for k in MLFLOW_ENV}
    state = (
        tracking_state._tracking_uri,
        registry_state._registry_uri,
        fluent_state._active_experiment_id,
    )
    yield
    (
        tracking_state._tracking_uri,
        registry_state._registry_uri,
        fluent_state._active_experiment_id,
    ) = state
    for key, value in env.items():
        os.environ.pop(key, None)
        if value is not None:
            os.environ[key] = value
