"""The Spark engine gives the local engine's scores, row for row (Spark in local[2] mode)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from churn.cli import app
from features.contract.errors import ChurnError, DataContractError, EmptyBaseError
from features.contract.schema import CUSTOMER_ID, TABLES
from serving.batch.local import score_base
from serving.batch.reader import read_scores
from serving.batch.runs import ScoreOptions
from tests.serving.conftest import by_id, plain

pytestmark = [
    pytest.mark.slow,
    pytest.mark.usefixtures("isolated_mlflow"),  # the CLI sets MLflow URIs
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]
runner = CliRunner()


def hidden(folder: Path) -> list[str]:
    """Temporary output folders a run may have left beside its output."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture
def spark(spark_local):
    """The session's ``local[2]`` Spark (tests/conftest.py)."""
    return spark_local


def test_spark_equals_local(batch_env, spark, tmp_path):
    from serving.batch.spark import score_spark

    local = score_base(
        batch_env.tables,
        batch_env.models,
        as_of=batch_env.as_of,
        out=tmp_path / "local.parquet",
        partitions=3,
    )
    out = tmp_path / "spark_scores"
    result = score_spark(
        batch_env.data,
        batch_env.models,
        as_of=batch_env.as_of,
        out=out,
        partitions=4,
        spark=spark,
    )
    scores, meta = read_scores(out)
    expected, _ = read_scores(local.path)
    assert len(scores) == len(expected) > 0
    pd.testing.assert_frame_equal(by_id(scores), by_id(expected), check_exact=False, rtol=1e-9)
    assert result.summary.rows == local.summary.rows
    assert result.summary.risk_bands == local.summary.risk_bands
    assert result.summary.offers == local.summary.offers
    assert result.summary.expected_value == pytest.approx(local.summary.expected_value)
    assert meta == result.meta and meta["engine"] == "spark local[2]"
    assert meta["models"] == local.meta["models"] and meta["rows"] == len(scores)
    assert hidden(tmp_path) == []


def test_cli_spark_engine_on_csv_then_campaign(batch_env, spark, tmp_path, monkeypatch):
    """The same tables as CSV give the same scores through `churn score --engine spark`."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    data = tmp_path / "csv"
    data.mkdir()
    for name in TABLES:  # every contract table, the engagement events too
        pd.read_parquet(batch_env.data / f"{name}.parquet").to_csv(
            data / f"{name}.csv", index=False
        )
    config = str(batch_env.config(tmp_path))
    out = tmp_path / "scores"
    result = runner.invoke(
        app,
        [
            "score",
            "--engine",
            "spark",
            "--data",
            str(data),
            "--as-of",
            "2025-12-31",
            "--out",
            str(out),
            "--partitions",
            "2",
            "--reasons",
            "0",
            "--config",
            config,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "customers scored as of 2025-12-31: " in plain(result.output)
    assert " active, 0 lapsed, 0 cancelled." in plain(result.output)
    local = score_base(
        batch_env.tables,
        batch_env.models,
        as_of=batch_env.as_of,
        out=tmp_path / "local.parquet",
        options=ScoreOptions(reasons=0),
    )
    pd.testing.assert_frame_equal(
        by_id(read_scores(out)[0]),
        by_id(read_scores(local.path)[0]),
        check_exact=False,
        rtol=1e-9,
    )
    result = runner.invoke(
        app, ["campaign", "--scores", str(out), "--budget", "200", "--config", config]
    )
    assert result.exit_code == 0, result.output
    assert pd.read_csv(tmp_path / "campaign.csv")["offer_cost"].sum() <= 200


def test_missing_column_is_refused_before_the_job(batch_env, spark, tmp_path):
    from serving.batch.spark import score_spark

    data = shutil.copytree(batch_env.data, tmp_path / "data")
    customers = pd.read_parquet(data / "customers.parquet").drop(columns="signup_at")
    customers.to_parquet(data / "customers.parquet")
    with pytest.raises(DataContractError, match="signup_at"):
        score_spark(
            data, batch_env.models, as_of=batch_env.as_of, out=tmp_path / "out", spark=spark
        )
    assert not (tmp_path / "out").exists() and hidden(tmp_path) == []


def test_task_errors_come_back_as_churn_errors(batch_env, spark, tmp_path):
    from serving.batch.spark import score_spark

    data = tmp_path / "data"
    data.mkdir()
    stamp = pd.Timestamp("2025-01-01", tz="UTC")
    pd.DataFrame({CUSTOMER_ID: [1, 2], "signup_at": [stamp, stamp]}).to_parquet(
        data / "customers.parquet"
    )
    pd.DataFrame(
        {
            CUSTOMER_ID: [1, 2],
            "ordered_at": [stamp, stamp],
            "amount": [-5.0, 10.0],
            "is_refund": [False, False],
        }
    ).to_parquet(data / "transactions.parquet")
    # the models were trained with engagement events: without them the feature check
    # refuses before any task runs
    pd.DataFrame({CUSTOMER_ID: [1], "occurred_at": [stamp], "event_type": ["login"]}).to_parquet(
        data / "events.parquet"
    )
    with pytest.raises(ChurnError, match="is negative but is_refund is not true"):
        score_spark(
            data,
            batch_env.models,
            as_of=batch_env.as_of,
            out=tmp_path / "out",
            partitions=2,
            spark=spark,
        )
    assert not (tmp_path / "out").exists() and hidden(tmp_path) == []


def test_empty_base_is_refused(batch_env, spark, tmp_path):
    from serving.batch.spark import score_spark

    with pytest.raises(EmptyBaseError, match="none of the 3,000 customers"):
        score_spark(
            batch_env.data,
            batch_env.models,
            as_of="2027-06-30",
            out=tmp_path / "out",
            partitions=2,
            spark=spark,
        )
    assert list(tmp_path.iterdir()) == []
