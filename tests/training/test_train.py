"""A real training run on generated data, logged to a real MLflow store in a temp dir."""

from __future__ import annotations

import numpy as np
import pytest
from mlflow import MlflowClient
from pandas.testing import assert_frame_equal

from features.contract.errors import ModelRegistryError
from training.models.matrix import model_matrices
from training.registry.promotion import promote
from training.registry.registry import (
    CHALLENGER,
    CHAMPION,
    CHURN_MODEL,
    LTV_MODEL,
    alias_version,
    load_model,
)
from training.train import TrainConfig, train
from training.training_set import TrainingSet, build_local

CONFIG = TrainConfig(train_cutoffs=3)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('mlruns') / 'mlflow.db'}"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    """Where :func:`run` kept its training set, and the spec it was built for."""
    return {"folder": tmp_path_factory.mktemp("training-set")}


@pytest.fixture(scope="module")
def run(generated, store, built):
    def recording(source, spec, folder, **kwargs):
        built["spec"] = spec
        return build_local(source, spec, folder, **kwargs)

    return train(
        generated, config=CONFIG, tracking_uri=store, builder=recording, work_dir=built["folder"]
    )


def reusing(built: dict):
    """A builder that hands back :func:`run`'s rows when asked for the same spec.

    Another run over the same data and plans reads the very rows ``build_local`` wrote;
    building them again would only repeat the feature build.
    """

    def builder(source, spec, folder, **kwargs):
        assert spec == built["spec"]
        return TrainingSet(built["folder"])

    return builder


@pytest.mark.slow  # a full training run on 6000 customers: larger data
class TestTrainingRun:
    def test_churn_model_beats_baselines_and_is_calibrated(self, run):
        m = run.churn.metrics
        assert m.loc["lightgbm", "roc_auc"] > m.loc["logistic_regression", "roc_auc"] + 0.01
        assert m.loc["lightgbm", "roc_auc"] > m.loc["recency_heuristic", "roc_auc"] + 0.02
        assert m.loc["lightgbm", "ece"] <= 0.03
        assert run.churn.beats_baselines

    def test_ltv_model_beats_historical_average_and_btyd(self, run):
        gini = run.ltv.metrics["normalized_gini"]
        assert gini["lightgbm"] > gini["historical_average"]
        assert gini["lightgbm"] > gini["bgnbd_gamma_gamma"]
        assert run.ltv.beats_baselines

    def test_mlflow_has_parent_child_runs_metrics_and_plots(self, run, store):
        client = MlflowClient(store)
        parent = client.get_run(run.run_id)
        assert parent.data.metrics["churn_roc_auc"] == pytest.approx(
            run.churn.metrics.loc["lightgbm", "roc_auc"]
        )
        assert (
            parent.data.params["churn.validation_cutoff"] == f"{run.churn.plan.validation:%Y-%m-%d}"
        )
        assert len(parent.data.tags["data_fingerprint"]) > 20
        children = client.search_runs(
            [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run.run_id}'"
        )
        names = {c.info.run_name for c in children}
        assert {
            "churn-lightgbm",
            "churn-logistic-regression",
            "churn-recency-heuristic",
            "churn-bgnbd",
            "ltv-lightgbm-tweedie",
            "ltv-lightgbm-two-part",
            "ltv-historical-average",
            "ltv-bgnbd-gamma-gamma",
        } <= names
        plots = {f.path for f in client.list_artifacts(run.run_id, "plots")}
        assert {
            "plots/churn_roc.png",
            "plots/churn_calibration.png",
            "plots/churn_gains.png",
            "plots/ltv_deciles.png",
        } <= plots
        lgbm = next(c for c in children if c.info.run_name == "churn-lightgbm")
        assert {f.path for f in client.list_artifacts(lgbm.info.run_id, "plots")} >= {
            "plots/importance.png",
            "plots/contributions.png",
        }

    def test_registry_round_trip_by_alias(self, run, store):
        loaded = load_model(CHURN_MODEL, CHALLENGER, tracking_uri=store)
        assert loaded.version == run.churn.version
        val = run.churn.validation
        np.testing.assert_allclose(
            loaded.model.predict_proba(val), run.churn.model.predict_proba(val)
        )
        ltv = load_model(LTV_MODEL, CHALLENGER, tracking_uri=store)
        np.testing.assert_allclose(
            ltv.model.predict(run.ltv.validation), run.ltv.model.predict(run.ltv.validation)
        )
        assert loaded.tags["validation_cutoff"] == f"{run.churn.plan.validation:%Y-%m-%d}"

    def test_both_models_share_one_btyd_fit_and_the_scoring_core_builds_the_same_matrices(
        self, run
    ):
        churn, ltv = run.churn.model, run.ltv.model
        assert churn.btyd_.params == ltv.btyd_.params  # the newest fit the plans allow
        assert (churn.btyd_.horizon_days, ltv.btyd_.horizon_days) == (
            CONFIG.horizon_days,
            CONFIG.ltv_horizon_days,
        )
        # a scoring frame: the validation features without the BTYD columns
        frame = run.churn.validation.drop(columns=list(churn.btyd_.names))
        shared = model_matrices(frame, [churn, ltv])
        for model, X in zip((churn, ltv), shared, strict=True):
            assert_frame_equal(X, model.matrix(frame))
        assert not shared[0].equals(shared[1])  # the horizons differ: so do the BTYD columns

    def test_unknown_alias_is_a_clear_error(self, run, store):
        with pytest.raises(
            ModelRegistryError, match="No version '42' of registered model 'churn-classifier'"
        ):
            load_model(CHURN_MODEL, "42", tracking_uri=store)


@pytest.mark.slow  # a full training run on 6000 customers: larger data
class TestPromotionGate:
    def test_gate_both_ways(self, generated, run, store, built):
        validation = {CHURN_MODEL: run.churn.validation, LTV_MODEL: run.ltv.validation}
        first = promote(validation, tracking_uri=store)
        assert all(d.promoted for d in first), first
        assert alias_version(CHURN_MODEL, CHAMPION) == run.churn.version

        # A crippled challenger (a stump after 3 rounds) must not replace the champion.
        weak = train(
            generated,
            config=TrainConfig(
                train_cutoffs=3,
                lgb_params={"num_leaves": 2, "learning_rate": 0.001, "min_data_in_leaf": 5000},
            ),
            tracking_uri=store,
            builder=reusing(built),  # the same data and plans: the same rows
        )
        refused = promote(validation, tracking_uri=store)
        assert not any(d.promoted for d in refused), refused
        assert alias_version(CHURN_MODEL, CHAMPION) == run.churn.version
        assert alias_version(CHURN_MODEL, CHALLENGER) == weak.churn.version

        # With the weak version made champion, the good one (as challenger again) wins it back.
        client = MlflowClient(store)
        for name, good, bad in (
            (CHURN_MODEL, run.churn.version, weak.churn.version),
            (LTV_MODEL, run.ltv.version, weak.ltv.version),
        ):
            client.set_registered_model_alias(name, CHAMPION, bad)
            client.set_registered_model_alias(name, CHALLENGER, good)
        back = promote(validation, tracking_uri=store)
        assert all(d.promoted for d in back), back
        assert alias_version(CHURN_MODEL, CHAMPION) == run.churn.version
        runs = client.search_runs(
            [client.get_run(run.run_id).info.experiment_id], filter_string="tags.kind = 'promotion'"
        )
        assert len(runs) == 6
        assert {r.data.tags["promoted"] for r in runs} == {"true", "false"}


def test_nine_months_of_history_train_with_a_reduced_plan(tmp_path):
    """Two horizons plus a month of history: cross-fitted calibration, freshest refit."""
    import pandas as pd

    from features.contract.load import load_tables
    from features.synthetic import generate

    generate(tmp_path / "data", customers=500, seed=9, start="2025-03-20", end="2025-12-31")
    tables = load_tables(tmp_path / "data")
    config = TrainConfig(horizon_days=90, ltv_horizon_days=90, train_cutoffs=2)
    result = train(
        tables, config=config, tracking_uri=f"sqlite:///{tmp_path / 'm.db'}", register=False
    )
    plan, h = result.churn.plan, pd.Timedelta(days=90)
    assert plan.calibration is None and "cross-fitting" in plan.reduced
    assert all(t + h <= plan.validation for t in plan.train)  # no overlap with validation
    assert max(plan.refit_train) == plan.validation  # the deployed model is the freshest
    assert result.churn.model.calibration_ in ("isotonic", "sigmoid")
    assert 0.5 < result.churn.metrics.loc["lightgbm", "roc_auc"] <= 1.0
    p = result.churn.model.predict_proba(result.churn.validation)
    assert np.isfinite(p).all() and p.min() >= 0 and p.max() <= 1
