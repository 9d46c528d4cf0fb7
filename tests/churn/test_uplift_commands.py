"""`churn train-uplift` and `churn campaign --compare-policies` without an offers history."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from churn.cli import app
from features.synthetic import generate
from tests.conftest import mlflow_state_restored

runner = CliRunner()


def plain(output: str) -> str:
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", output).split())


def test_no_offer_history_trains_nothing_and_says_the_catalog_is_used(tmp_path, monkeypatch):
    data = tmp_path / "data"
    generate(data, customers=400, seed=3, file_format="parquet")
    (data / "offers.parquet").unlink()  # the offers table is optional: a shop without one
    monkeypatch.chdir(tmp_path)
    with mlflow_state_restored():
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
        result = runner.invoke(app, ["train-uplift", "--data", str(data)])
    text = plain(result.output)
    assert result.exit_code == 2, result.output
    assert "churn: error" in text and "offers history" in text
    assert "the offer policy uses the catalog's uplift" in text
    assert "Traceback" not in result.output


def test_compare_policies_without_an_uplift_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with mlflow_state_restored():
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
        result = runner.invoke(
            app, ["campaign", "--compare-policies", "--budget", "100", "--data", str(tmp_path)]
        )
    text = plain(result.output)
    assert result.exit_code == 2, result.output
    assert "offer-uplift model" in text and "churn train-uplift" in text


def test_campaign_needs_scores_or_compare_policies(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["campaign", "--budget", "100"])
    assert result.exit_code == 2 and "--scores" in plain(result.output)
