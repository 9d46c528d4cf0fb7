"""The stacked training set: one read per partition, as the per-cutoff build, on both engines."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest

from features.contract.load import load_tables
from features.io.partitioned import CustomerPartitions
from tests.conftest import mlflow_state_restored
from training.dataset import labelled_features, run_plans
from training.train import TrainConfig, train
from training.training_set import SetSpec, TrainingSet, build_local, sample_key

CONFIG = TrainConfig(train_cutoffs=3, lgb_params={"num_threads": 1})


def _spec(source: CustomerPartitions, config: TrainConfig = CONFIG) -> SetSpec:
    span = source.time_span()
    churn, ltv = run_plans(
        span.end,
        span.start,
        horizon_days=config.horizon_days,
        ltv_horizon_days=config.ltv_horizon_days,
        train_cutoffs=config.train_cutoffs,
        spacing_days=config.spacing_days,
    )
    return SetSpec.of_plans(
        churn,
        ltv,
        data_end=span.end,
        horizon_days=config.horizon_days,
        ltv_horizon_days=config.ltv_horizon_days,
        active_days=config.active_days,
    )


@pytest.fixture(scope="module")
def built(small_world, tmp_path_factory):
    source = CustomerPartitions.open(small_world, partitions=3, memory_mb=None)
    spec = _spec(source)
    return source, spec, build_local(source, spec, tmp_path_factory.mktemp("set"))


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["cutoff", "customer_id"], kind="stable").reset_index(drop=True)


class TestOnePass:
    def test_each_partition_is_read_once(self, small_world, tmp_path, monkeypatch):
        source = CustomerPartitions.open(small_world, partitions=3, memory_mb=None)
        reads = []
        original = CustomerPartitions.read
        monkeypatch.setattr(
            CustomerPartitions, "read", lambda self, p: reads.append(p) or original(self, p)
        )
        spec = _spec(source)
        assert len(spec.cutoffs) > 5
        build_local(source, spec, tmp_path)
        assert reads == [0, 1, 2]
        assert sorted(p.name for p in tmp_path.glob("*.parquet")) == [
            f"part-0000{i}.parquet" for i in range(3)
        ]

    @pytest.mark.parametrize("ltv", [False, True])
    def test_rows_equal_the_per_cutoff_build(self, built, small_world, ltv):
        _, spec, rows = built
        tables = load_tables(small_world)
        cutoffs = sorted(spec.ltv_cutoffs) if ltv else list(spec.cutoffs[-3:])
        expected = labelled_features(
            tables,
            cutoffs,
            horizon_days=spec.horizon_days,
            ltv_horizon_days=spec.ltv_horizon_days if ltv else None,
            btyd=False,
        )
        pd.testing.assert_frame_equal(
            rows.frame(cutoffs, ltv=ltv), _sorted(expected), check_dtype=False
        )

    def test_btyd_fit_sees_every_customer_with_an_order(self, built, small_world):
        from training.dataset import btyd_at, cutoff_features

        _, spec, rows = built
        cutoff = spec.cutoffs[-1]
        features = cutoff_features(load_tables(small_world), cutoff)
        assert rows.btyd_at(cutoff) == btyd_at(features, cutoff)


class TestSample:
    def test_sample_keeps_whole_customers(self, built):
        _, spec, rows = built
        cutoffs = list(spec.cutoffs)
        full = rows.frame(cutoffs, ltv=False)
        rate = rows.sample_rate(cutoffs, len(full) // 3)
        assert 0.2 < rate < 0.5
        part = rows.frame(cutoffs, ltv=False, rate=rate)
        kept = set(part["customer_id"])
        assert 0.15 < len(kept) / full["customer_id"].nunique() < 0.6
        # every labelled row of a sampled customer is there, at every cutoff
        pd.testing.assert_frame_equal(
            part, full.loc[full["customer_id"].isin(kept)].reset_index(drop=True)
        )

    def test_sample_key_is_fixed_by_id_and_seed(self):
        ids = pd.Series([1, 2, 3, 4])
        assert (sample_key(ids, 0) == sample_key(ids.iloc[::-1], 0)[::-1]).all()
        assert not (sample_key(ids, 0) == sample_key(ids, 1)).all()
        assert ((sample_key(ids, 0) >= 0) & (sample_key(ids, 0) < 1)).all()

    def test_a_sampled_run_records_its_rate(self, small_world, tmp_path):
        source = CustomerPartitions.open(small_world, partitions=2, memory_mb=None)
        config = TrainConfig(train_cutoffs=2, max_rows=300, lgb_params={"num_threads": 1})
        with mlflow_state_restored():
            result = train(
                source,
                config=config,
                tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
                register=False,
                work_dir=tmp_path / "set",
            )
            params = mlflow.get_run(result.run_id).data.params
        rate = float(params["training.sample_rate"])
        assert 0 < rate < 1
        assert int(params["rows.churn_train"]) <= 1.5 * 300
        assert params["training.engine"] == "local"
        assert params["compute.threads"].isdigit()
        # judged on every customer at the validation cutoff, not on the sample
        validation = pd.Timestamp(params["churn.validation_cutoff"], tz="UTC")
        everyone = TrainingSet(tmp_path / "set").count([validation])
        assert int(params["rows.churn_validation"]) == everyone == len(result.churn.validation)


@pytest.mark.slow  # Spark
def test_spark_builds_the_same_rows(built, small_world, spark_local, tmp_path):
    from training.spark_set import SparkBuilder

    source, spec, rows = built
    spark_rows = SparkBuilder(small_world, partitions=4, spark=spark_local)(
        source, spec, tmp_path / "spark"
    )
    cutoffs = list(spec.cutoffs)
    for ltv in (False, True):
        chosen = sorted(spec.ltv_cutoffs) if ltv else cutoffs
        pd.testing.assert_frame_equal(
            spark_rows.frame(chosen, ltv=ltv), rows.frame(chosen, ltv=ltv), check_dtype=False
        )
    for cutoff in cutoffs[-2:]:
        assert spark_rows.btyd_at(cutoff) == rows.btyd_at(cutoff)
