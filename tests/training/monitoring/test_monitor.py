"""Drift monitoring against a real champion trained on generated data.

The champion is trained on an unshifted population; the same seed generated with
``population_shift=1`` (younger, more partner-channel, riskier, lower-spending sign-ups)
must be flagged, the unshifted data must not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from churn.cli import app
from features.contract.errors import ModelRegistryError
from features.contract.load import load_tables
from features.io.snapshot import make_snapshot
from features.synthetic import generate
from training.monitoring.drift import psi_table
from training.monitoring.monitor import MonitorResult, Thresholds, advise, latest_monitor, monitor
from training.monitoring.monitor_data import data_fingerprint
from training.registry.registry import CHAMPION
from training.train import TrainConfig, train

CUSTOMERS, SEED = 3000, 11
ENV = "MLFLOW_TRACKING_URI"
pytestmark = pytest.mark.usefixtures("isolated_mlflow")


@pytest.fixture(scope="module")
def worlds(tmp_path_factory):
    """The same seed generated twice: as is, and with a fully shifted population."""
    root = tmp_path_factory.mktemp("worlds")
    for name, shift in (("base", 0.0), ("shifted", 1.0)):
        generate(
            root / name,
            customers=CUSTOMERS,
            seed=SEED,
            population_shift=shift,
            file_format="parquet",
        )
        # The shift moves who the customers are (age, channel, plan ...), not how they
        # interact: without events the model leans on those attributes, as this test means
        # to check; with them, the engagement features lead and barely move.
        (root / name / "events.parquet").unlink()
    return root


@pytest.fixture(scope="module")
def store(worlds):
    """A champion pair trained on the unshifted data."""
    uri = f"sqlite:///{worlds / 'mlruns' / 'mlflow.db'}"
    result = train(
        load_tables(worlds / "base"), config=TrainConfig(train_cutoffs=2), tracking_uri=uri
    )
    client = MlflowClient(uri)
    # The promotion gate is tested elsewhere; 3000 customers are too few for it to be a
    # reliable way of getting a champion here, so the alias is set directly.
    for outcome in (result.churn, result.ltv):
        client.set_registered_model_alias(outcome.name, CHAMPION, outcome.version)
    return uri


@pytest.fixture(scope="module")
def base(worlds):
    return load_tables(worlds / "base")


@pytest.fixture(scope="module")
def shifted(worlds):
    return load_tables(worlds / "shifted")


@pytest.fixture(scope="module")
def base_result(base, store):
    return monitor(base, tracking_uri=store, load=load_tables)


@pytest.mark.slow  # a champion trained on 3000 customers: larger data
class TestDriftVerdict:
    def test_shifted_population_advises_retraining(self, shifted, store):
        result = monitor(shifted, tracking_uri=store, load=load_tables, log_run=False)
        assert result.retraining_advised, result.features.head()
        assert "age_years" in result.drifted_features
        assert "training files" in result.reference_source  # the base files, by fingerprint
        assert result.churn_rate_observed > result.churn_rate_reference

    def test_unshifted_population_does_not(self, base_result):
        assert not base_result.retraining_advised, base_result.reasons
        assert "same files" in base_result.reference_source
        assert base_result.score_psi < 0.1

    def test_rows_compared_are_the_training_rows_and_todays_active_customers(self, base_result):
        assert len(base_result.reference_cutoffs) == 2
        assert base_result.rows_reference > base_result.rows_current > 0
        assert base_result.as_of == "2025-12-31"  # the day after the latest event
        assert base_result.features["key"].sum() >= 10
        assert 0.05 < base_result.churn_rate_reference < 0.6


@pytest.mark.slow  # a champion trained on 3000 customers: larger data
class TestLogging:
    def test_run_and_summary_round_trip(self, base_result, base, store):
        client = MlflowClient(store)
        run = client.get_run(base_result.run_id)
        assert run.data.tags["kind"] == "monitor"
        assert run.data.metrics["psi_churn_probability"] == pytest.approx(base_result.score_psi)
        plots = {f.path for f in client.list_artifacts(base_result.run_id, "plots")}
        assert plots == {"plots/monitor_psi.png", "plots/monitor_scores.png"}
        found = latest_monitor(
            tracking_uri=store, models=base_result.models, data=data_fingerprint(base)
        )
        assert found.run_id == base_result.run_id
        pd.testing.assert_series_equal(found.features["psi"], base_result.features["psi"])
        assert found.reasons == base_result.reasons
        assert latest_monitor(tracking_uri=store, data="another-data-set") is None

    def test_snapshot_is_the_current_population(self, base, worlds, store):
        make_snapshot(base, as_of="2025-09-30", partitions=1)
        result = monitor(
            base, snapshots=worlds / "base" / "features", tracking_uri=store, log_run=False
        )
        assert result.as_of == "2025-09-30"
        assert result.current_source == "snapshot features_2025-09-30.parquet"


class TestCommand:
    @pytest.mark.slow  # the champion trained on 3000 customers
    def test_monitor_command_fails_on_drift(self, worlds, store):
        out = CliRunner().invoke(
            app,
            ["monitor", "--data", str(worlds / "shifted"), "--fail-on-drift"],
            env={"MLFLOW_TRACKING_URI": store},
        )
        assert out.exit_code == 1, out.output
        assert "Retraining advised" in out.output and "age_years" in out.output

    def test_without_champion_the_error_is_clear(self, base, tmp_path, monkeypatch):
        monkeypatch.delenv(ENV, raising=False)
        with pytest.raises(ModelRegistryError, match="No version 'champion'"):
            monitor(base, tracking_uri=f"sqlite:///{tmp_path / 'empty.db'}")


def hand_made(**changes) -> MonitorResult:
    features = psi_table(
        pd.DataFrame({"a": [1.0, 2.0], "b": [1.0, 2.0]}),
        pd.DataFrame({"a": [1.0, 2.0], "b": [1.0, 2.0]}),
        ["a", "b"],
    )
    features["key"] = [True, False]
    values = dict(
        as_of="2025-12-31",
        reference_source="test",
        reference_cutoffs=["2025-03-01"],
        models={"churn-classifier": "1", "ltv-regressor": "1"},
        rows_reference=10,
        rows_current=5,
        features=features,
        score_psi=0.01,
        ltv_score_psi=0.02,
        score_histogram=pd.DataFrame(
            {"low": [0.0], "high": [1.0], "reference_pct": [100.0], "current_pct": [100.0]}
        ),
        ltv_histogram=pd.DataFrame(
            {"low": [0.0], "high": [1.0], "reference_pct": [100.0], "current_pct": [100.0]}
        ),
        churn_rate_reference=0.20,
        churn_rate_observed=0.21,
        churn_rate_expected=0.2,
        churn_rate_predicted=0.19,
        observed_cutoff="2025-10-01",
        horizon_days=90,
    )
    values.update(changes)
    return MonitorResult(**values)


class TestAdvice:
    def test_quiet_result_advises_nothing(self):
        assert advise(hand_made()) == []

    def test_each_threshold(self):
        result = hand_made()
        result.features.loc["a", "psi"] = 0.3  # a key feature
        assert "key feature drifted" in advise(result)[0]
        result.features.loc["a", ["psi", "key"]] = [0.3, False]
        result.features.loc["b", "psi"] = 0.3  # 2 of 2 features, not key: broad drift
        assert "2 of 2 features" in advise(result)[0]
        assert "churn probability" in advise(hand_made(score_psi=0.25))[0]
        assert "observed churn rate" in advise(hand_made(churn_rate_observed=0.30))[0]

    def test_thresholds_are_parameters(self):
        assert advise(hand_made(score_psi=0.25, thresholds=Thresholds(score_psi=0.3))) == []

    def test_nan_rates_are_no_reason(self):
        assert advise(hand_made(churn_rate_observed=np.nan, churn_rate_expected=np.nan)) == []

    def test_summary_round_trip_through_json(self):
        result = hand_made(churn_rate_observed=np.nan, observed_cutoff=None)
        back = MonitorResult.from_dict(result.to_dict())
        assert np.isnan(back.churn_rate_observed) and back.observed_cutoff is None
        assert back.features["key"].tolist() == [True, False]
        assert back.thresholds == result.thresholds
