"""Small real models in a private MLflow store, for the registry and online-view unit tests.

600 generated customers, a churn and an LTV LightGBM model fit with one thread each
(seconds, where the full training run of ``tests/serving/conftest.py::batch_env`` takes
minutes on a busy machine), both logged and registered with
:func:`training.registry.registry.log_and_register` in a SQLite store under ``root``.
"""

from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.contract.load import load_tables
from features.contract.tables import Tables
from features.synthetic import generate
from tests.conftest import mlflow_state_restored

CUTOFFS = [pd.Timestamp(d, tz="UTC") for d in ("2025-03-31", "2025-06-30")]
CALIBRATION = pd.Timestamp("2025-09-30", tz="UTC")
AS_OF = pd.Timestamp("2025-12-31", tz="UTC")  # the generated data's end: the scoring day
PARAMS = {"num_threads": 1}
"""One LightGBM thread: OpenMP threads spinning on a shared, busy machine slow a fit 100×."""


@dataclass(frozen=True)
class SmallModels:
    """Fitted models, the rows they were checked on, and where they are registered."""

    root: Path
    data: Path
    tables: Tables
    tracking_uri: str
    churn: object  # training.models.churn.ChurnModel
    ltv: object  # training.models.ltv.LTVModel
    rows: pd.DataFrame
    """Labelled features at :data:`CALIBRATION` (the models' input columns and more)."""
    versions: dict[str, str]
    """``{registered model name: version}`` of the one version of each."""


WORLD = {"customers": 600, "seed": 11, "start": "2023-01-01", "end": "2025-12-31"}
"""The generated data of these models (CSV), the same wherever it is written."""


@functools.cache
def labelled_rows() -> pd.DataFrame:
    """Labelled features of :data:`WORLD` at :data:`CUTOFFS` and :data:`CALIBRATION`.

    90-day churn and LTV labels, no BTYD; built once per test session (generation is
    deterministic, so every copy of the world has these rows). Callers must not modify it.
    """
    from training.dataset import labelled_features

    with tempfile.TemporaryDirectory(prefix="small-world-") as tmp:
        generate(Path(tmp), **WORLD)
        tables = load_tables(Path(tmp))
        return labelled_features(
            tables, [*CUTOFFS, CALIBRATION], horizon_days=90, ltv_horizon_days=90, btyd=False
        )


@functools.cache
def _fitted() -> tuple[object, object, pd.DataFrame]:
    """(churn, ltv, calibration rows): fit once per test session; registered per store."""
    from training.models.churn import ChurnModel
    from training.models.ltv import LTVModel

    rows = labelled_rows()
    train = rows.loc[rows["cutoff"].isin(CUTOFFS)].reset_index(drop=True)
    cal = rows.loc[rows["cutoff"] == CALIBRATION].reset_index(drop=True)
    churn = ChurnModel(params=PARAMS, seed=3).fit(
        train, train["churned"].to_numpy(), calibration_set=(cal, cal["churned"].to_numpy())
    )
    ltv = LTVModel(params=PARAMS, seed=3).fit(train, train["ltv"].to_numpy())
    return churn, ltv, cal


def register_small_models(root: Path) -> SmallModels:
    """Generate the data and register the models (v1 of each, alias ``challenger`` only).

    The data is written under ``root`` and the models registered in a store of its own
    there; the fit itself (:func:`_fitted`) is shared by every caller of the session.
    """
    import mlflow

    from training.registry.registry import CHURN_MODEL, LTV_MODEL, log_and_register
    from training.registry.tracking import configure

    data = root / "data"
    generate(data, **WORLD)
    tables = load_tables(data)
    churn, ltv, cal = _fitted()
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with mlflow_state_restored():
        configure(uri)
        with mlflow.start_run():
            versions = {
                CHURN_MODEL: log_and_register(
                    churn, name=CHURN_MODEL, example=cal, tags={"population": "active"}
                ),
                LTV_MODEL: log_and_register(
                    ltv, name=LTV_MODEL, example=cal, tags={"gate_metric": "normalized_gini"}
                ),
            }
    return SmallModels(
        root=root,
        data=data,
        tables=tables,
        tracking_uri=uri,
        churn=churn,
        ltv=ltv,
        rows=cal,
        versions=versions,
    )
