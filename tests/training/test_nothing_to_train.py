"""Training on data with nothing to learn from: a clear error, no traceback, no run left."""

from __future__ import annotations

import os

import pandas as pd
import pytest
from typer.testing import CliRunner

from churn.cli import app
from features.contract.errors import EmptyTrainingSetError
from tests.conftest import make_tables, mlflow_state_restored
from tests.features.test_bad_data import plain
from training.dataset import labelled_features

LATER = (pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=5 * 365)).strftime("%Y-%m-%d")


def stale_base() -> dict[str, str]:
    """Customers whose every order is years before the data end (a late survey)."""
    return {
        "customers": "customer_id,signup_at\n1,2020-01-01\n2,2020-01-01\n3,2020-01-02\n",
        "transactions": (
            "customer_id,ordered_at,amount\n1,2020-02-01,10\n2,2020-02-03,20\n3,2020-02-05,5\n"
            f"3,{LATER},5\n"
        ),
        "surveys": "customer_id,answered_at,nps\n1,2025-12-30,8\n",
    }


def test_no_active_customer_at_the_cutoffs_is_an_error_not_an_empty_frame():
    tables = make_tables(
        customers=[{"customer_id": 1, "signup_at": "2020-01-01"}],
        transactions=[{"customer_id": 1, "ordered_at": "2020-02-01", "amount": 5.0}],
        surveys=[{"customer_id": 1, "answered_at": "2025-12-30", "nps": 8}],
    )
    cutoffs = [pd.Timestamp("2025-06-30", tz="UTC")]
    with pytest.raises(EmptyTrainingSetError, match=r"Nothing to train on: none of the 1 "):
        labelled_features(tables, cutoffs, horizon_days=30, ltv_horizon_days=None)


def refused_training(tmp_path, monkeypatch, population: str) -> str:
    """``churn train`` on :func:`stale_base`: refused in one panel, no MLflow run; its text."""
    data = tmp_path / "data"
    data.mkdir()
    for name, text in stale_base().items():
        (data / f"{name}.csv").write_text(text)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("CHURN_SCORING__POPULATION", population)
    with mlflow_state_restored():
        os.environ["MLFLOW_TRACKING_URI"] = uri
        result = CliRunner().invoke(app, ["train", "--data", str(data)])
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=uri)
        experiments = [e.experiment_id for e in client.search_experiments()]
        runs = client.search_runs(experiments) if experiments else []
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.output.count("churn: error") == 1
    assert runs == []
    return plain(result.output)


def test_train_says_its_data_end_and_fails_cleanly_with_no_mlflow_run(tmp_path, monkeypatch):
    text = refused_training(tmp_path, monkeypatch, "active")
    assert "Data end: 2025-12-30 00:00 UTC" in text
    assert "1 event(s) dated after today do not count" in text
    assert "transactions.csv, column 'ordered_at': is after today" in text
    assert "Nothing to train on: none of the 3 customers is active" in text


def test_everyone_churned_is_a_clear_error_with_no_mlflow_run(tmp_path, monkeypatch):
    # population all: the 3 customers count, but every one of them churned
    text = refused_training(tmp_path, monkeypatch, "all")
    assert "Nothing to learn: every one of the 18 customer rows of the training" in text
    assert "churned within the horizon" in text and "both outcomes" in text
