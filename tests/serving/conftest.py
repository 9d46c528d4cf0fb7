"""Fixtures of the batch scoring tests: generated data and promoted models, made once."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from features.contract.load import load_tables
from features.contract.schema import CUSTOMER_ID
from features.contract.tables import Tables
from features.synthetic import generate
from tests.conftest import mlflow_state_restored


def by_id(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by customer id, index reset (engines and partitions order rows apart)."""
    return frame.sort_values(CUSTOMER_ID, kind="stable").reset_index(drop=True)


def plain(output: str) -> str:
    """CLI output without the error panel's borders and line wrapping."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", output).split())


REPO = Path(__file__).resolve().parents[2]
OFFERS_FILE = REPO / "offers.toml"
AS_OF = pd.Timestamp("2025-12-31", tz="UTC")  # the generated data's end: the scoring day


@dataclass(frozen=True)
class BatchEnv:
    """A generated data set with champion models trained on it, in a private MLflow store."""

    root: Path
    data: Path
    tables: Tables
    tracking_uri: str
    models: object  # serving.policy.scoring.ScoringModels
    as_of: pd.Timestamp = AS_OF

    def config(self, folder: Path) -> Path:
        """A ``churn.toml`` for CLI runs: this data, this store, the repo's offer catalog."""
        path = folder / "churn.toml"
        path.write_text(
            f'tracking_uri = "{self.tracking_uri}"\n[data]\ndir = "{self.data}"\n'
            f'[serving]\noffers_file = "{OFFERS_FILE}"\n',
            encoding="utf-8",
        )
        return path


@pytest.fixture(scope="session")
def batch_env(tmp_path_factory) -> BatchEnv:
    """3000 generated customers; churn and LTV models trained, registered and champions.

    The promotion gate may keep a tiny data set's model from becoming champion (it must
    beat its baselines); the alias is then set directly so every test has champions.
    """
    from serving.models import load_scoring_models
    from training.champion import train_and_promote
    from training.train import TrainConfig

    root = tmp_path_factory.mktemp("batch")
    data = root / "data"
    generate(data, customers=3000, seed=21, file_format="parquet")
    tables = load_tables(data)
    uri = f"sqlite:///{root}/mlflow.db"
    with mlflow_state_restored():
        train_and_promote(tables, config=TrainConfig(train_cutoffs=2), tracking_uri=uri)
        models = load_scoring_models(tracking_uri=uri, offers_file=OFFERS_FILE)
    return BatchEnv(root=root, data=data, tables=tables, tracking_uri=uri, models=models)


def stop_process_group(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM a server started in a session of its own, SIGKILL it after ``timeout`` s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
