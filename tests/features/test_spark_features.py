"""`churn features --engine spark`: the snapshot built on Spark equals the local one."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from churn.cli import app
from features.io.partitioned import CustomerPartitions
from features.io.snapshot import make_snapshot, read_snapshot
from features.io.spark import snapshot_spark

AS_OF = "2025-06-30"
pytestmark = pytest.mark.slow  # Spark (a local session), as tests/serving/batch/test_spark.py


def test_spark_snapshot_equals_local(small_world, spark_local, tmp_path):
    local, meta = make_snapshot(
        CustomerPartitions.open(small_world, partitions=3, memory_mb=None),
        as_of=AS_OF,
        out=tmp_path / "local.parquet",
    )
    spark, spark_meta = snapshot_spark(
        small_world, as_of=AS_OF, out=tmp_path / "spark.parquet", partitions=4, spark=spark_local
    )
    a, b = read_snapshot(local)[0], read_snapshot(spark)[0]
    b = b.sort_values("customer_id", kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert (spark_meta.rows, spark_meta.features, spark_meta.as_of) == (
        meta.rows,
        meta.features,
        meta.as_of,
    )
    assert spark_meta.fingerprints == meta.fingerprints
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_cli_features_engine_spark(small_world, spark_local, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "snap.parquet"
    result = CliRunner().invoke(
        app,
        ["features", "--data", str(small_world), "--as-of", AS_OF, "--out", str(out)]
        + ["--engine", "spark", "--partitions", "3"],
    )
    assert result.exit_code == 0, result.output
    frame, meta = read_snapshot(out)
    assert meta.rows == len(frame) > 0
    assert "customers" in result.output
