"""The Spark engine of batch scoring: the local engine's per-partition code on a cluster.

The contract tables are read and grouped by customer as :mod:`features.io.spark` describes,
so every group holds whole customers with all their events.
``groupBy(partition).applyInPandas`` then runs,
per group, exactly what the local engine runs per partition: the table validation of
:func:`features.contract.load.validate_tables` and :func:`serving.batch.runs.score_partition`
(features, active customers, :func:`serving.policy.scoring.score`). Features being a pure
function of whole customers, the rows equal the local engine's.

The models are loaded once on the driver (from the registry, by alias or version)
and broadcast pickled to the executors; executors need the package and its
dependencies installed, not access to MLflow. The scores are written as a folder of
Parquet part files to a temporary folder beside the output, with the run's record in
``_churn_scores.json``, and renamed over the output once complete (through Hadoop's
FileSystem, so the output may be a local path, ``hdfs://``, ``s3a://`` or ``dbfs:/``;
the rename is atomic on local and HDFS storage, a copy on object stores).

pyspark is imported lazily: nothing else in the package needs it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa

from features.contract.errors import (
    ChurnError,
    EmptyBaseError,
    OutputError,
)
from features.contract.schema import CUSTOMER_ID, ColumnMap, EventTypeMap
from features.families.events import as_utc
from features.io.atomic import is_stale, temp_name
from features.io.spark import (
    PARTITION,
    group_tables,
    grouped_tables,
    hadoop_fs,
    reraise,
    spark_session,
    task_error,
)
from serving.batch.local import check_partitions, run_record
from serving.batch.runs import (
    GROUP_KEYS,
    META_SIDECAR,
    BatchResult,
    ScoreOptions,
    ScoreSummary,
    check_features,
    feature_names,
    score_partition,
    score_schema,
)
from serving.policy.scores import SCORE_COLUMNS
from serving.policy.scoring import ScoringModels

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["score_spark", "spark_session"]

log = logging.getLogger(__name__)

_DDL = {
    pa.int64(): "bigint",
    pa.int32(): "int",
    pa.timestamp("s", tz="UTC"): "timestamp",
    pa.string(): "string",
    pa.float64(): "double",
    pa.list_(pa.string()): "array<string>",
}


def score_spark(
    data: str | os.PathLike[str],
    models: ScoringModels,
    *,
    as_of: str | pd.Timestamp,
    out: str | os.PathLike[str],
    partitions: int = 16,
    options: ScoreOptions | None = None,
    column_map: ColumnMap | None = None,
    event_types: EventTypeMap | None = None,
    delimiter: str = ",",
    encoding: str = "utf-8",
    spark: SparkSession | None = None,
    mkdir: bool = False,
) -> BatchResult:
    """Score every customer active at ``as_of`` on Spark; same rows as the local engine.

    Parameters
    ----------
    data : path or URI
        Folder of the contract tables (``customers.parquet``, ... each a file or a
        folder of part files; ``.csv`` also read), on storage every executor can read.
    models : ScoringModels
        Loaded on the driver; broadcast to the executors.
    as_of : str or Timestamp
        Feature cutoff (exclusive; naive is UTC).
    out : path or URI
        Output folder of Parquet part files (with ``_churn_scores.json``), replaced
        atomically on local and HDFS storage.
    partitions : int, default 16
        Customer groups; each is scored in one Python worker's memory, so choose about
        one per 100,000 customers and at least the number of executor cores.
    options : ScoreOptions, optional
        Default ``ScoreOptions()``.
    column_map : mapping, optional
        ``{table: {contract name: your name}}`` as in ``churn.toml``.
    event_types : mapping, optional
        ``{your event type: family}`` as in ``churn.toml``'s ``[data.event_types]``.
    delimiter, encoding : str
        How CSV tables are written (Parquet is read first and preferred).
    spark : SparkSession, optional
        Default: :func:`spark_session`.
    mkdir : bool, default False
        Make the missing parent folder of ``out`` (else a missing folder is an
        OutputError, raised before the job runs).

    Returns
    -------
    BatchResult

    Raises
    ------
    ConfigError, DataContractError, SnapshotError, OutputError, EmptyBaseError
        As the local engine; an error inside a Spark task is re-raised as a
        :class:`~features.contract.errors.ChurnError` with the task's message.
    """
    check_partitions(partitions)
    as_of = as_utc(as_of)
    options = options or ScoreOptions()
    spark = spark or spark_session()
    from pyspark.sql import functions as F

    grouped, frames, paths, id_type = grouped_tables(
        spark,
        str(data),
        partitions=partitions,
        column_map=column_map,
        delimiter=delimiter,
        encoding=encoding,
    )
    check_features(
        feature_names(options, events="events" in frames), models, source="The feature build"
    )
    schema = score_schema(pa.int64() if id_type == "bigint" else pa.string(), models.horizon_days)
    ddl = ", ".join(f"{f.name} {_DDL[f.type]}" for f in schema)
    run = _group_scorer(
        spark.sparkContext.broadcast(models), list(frames), as_of, options, id_type, event_types
    )
    target = _Target(spark, str(out), mkdir=mkdir)
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    try:
        result = grouped.groupBy(PARTITION).applyInPandas(run, schema=ddl)
        spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        try:
            result.write.mode("overwrite").parquet(target.tmp)
        except Exception as e:  # noqa: BLE001 - a task failed; find our message in it
            reraise(e)
        seconds["score"] = time.perf_counter() - start
        summary = _summary(spark.read.parquet(target.tmp))
        if not summary.rows:
            signed_up = F.col("signup_at") < F.lit(as_of.to_pydatetime())
            known = frames["customers"].where(signed_up).count()
            raise EmptyBaseError(f"{as_of:%Y-%m-%d}", known, options.active_rule())
        meta = run_record(
            models,
            as_of=as_of,
            engine=f"spark {spark.sparkContext.master}",
            partitions=partitions,
            summary=summary,
            known=None,
            source="built from the tables",
            options=options,
            data=paths,
        )
        target.write_text(META_SIDECAR, json.dumps(meta, indent=2))
        target.commit()
    finally:
        target.discard()
    seconds["total"] = time.perf_counter() - start
    log.info("Wrote %s: %d rows as of %s.", out, summary.rows, f"{as_of:%Y-%m-%d}")
    return BatchResult(str(out), summary, meta, seconds)


def _group_scorer(models_bc, tables: list[str], as_of, options, id_type: str, event_types=None):
    """The function ``applyInPandas`` runs per customer group (pickled to executors)."""

    def run(group: pd.DataFrame) -> pd.DataFrame:
        try:
            parts = group_tables(group, tables, id_type=id_type, event_types=event_types)
            if parts is None:
                return pd.DataFrame({c: [] for c in SCORE_COLUMNS})  # no one can be active
            scores = score_partition(parts, models_bc.value, as_of=as_of, options=options)
        except ChurnError as e:
            raise task_error(e) from e
        if id_type == "string":
            scores[CUSTOMER_ID] = scores[CUSTOMER_ID].astype(str)
        return scores

    return run


def _summary(scores: DataFrame) -> ScoreSummary:
    """The run's summary from one aggregation over the written scores."""
    from pyspark.sql import functions as F

    value = F.when(F.col("offer_id").isNotNull(), F.col("expected_value")).otherwise(0.0)
    kind = F.split(F.col("no_offer_reason"), ":").getItem(0)
    groups = (
        scores.withColumn("no_offer", kind)
        .groupBy(*GROUP_KEYS)
        .agg(F.count(F.lit(1)).alias("n"), F.sum(value).alias("value"))
        .toPandas()
    )
    return ScoreSummary.of_groups([groups])


class _Target:
    """A temporary output folder beside ``out``, renamed over it on :meth:`commit`.

    Named and cleaned up by the rules of :mod:`features.io.atomic` (the one writer's, here
    through Hadoop's FileSystem so ``out`` may be any URI Spark writes): the temporary
    folders of ``out`` left by killed earlier runs are removed first.
    """

    def __init__(self, spark: SparkSession, out: str, *, mkdir: bool = False):
        self.spark, self.out = spark, out
        name = Path(out.rstrip("/")).name
        parent = out.rstrip("/")[: -len(name)] or "./"
        self.tmp = f"{parent}{temp_name(name)}"
        try:
            self.fs, self.tmp_path = hadoop_fs(spark, self.tmp)
            _, self.out_path = hadoop_fs(spark, out)
            parent_path = self.out_path.getParent()
            if parent_path is not None and self.fs.exists(parent_path):
                if not self.fs.getFileStatus(parent_path).isDirectory():
                    raise OutputError(out, "its parent is a file, not a folder")
                self._remove_stale(parent_path, name)
            elif parent_path is not None and not mkdir:
                raise OutputError(
                    out, f"the folder {parent_path} does not exist (create it, or pass --mkdir)"
                )
            if not self.fs.mkdirs(self.tmp_path):
                raise OutputError(out, "cannot create a folder beside it")
        except OutputError:
            raise
        except Exception as e:  # noqa: BLE001 - Py4J wraps the Java IOException
            raise OutputError(out, str(e).splitlines()[0]) from e

    def _remove_stale(self, parent_path, name: str) -> None:
        now_ms = time.time() * 1000
        for status in self.fs.listStatus(parent_path):
            path = status.getPath()
            age = (now_ms - status.getModificationTime()) / 1000
            if is_stale(path.getName(), name, age_seconds=age):
                log.info("Removing the leftover temporary output %s", path.toString())
                self.fs.delete(path, True)

    def write_text(self, name: str, text: str) -> None:
        stream = self.fs.create(
            self.spark.sparkContext._jvm.org.apache.hadoop.fs.Path(self.tmp_path, name), True
        )
        try:
            stream.write(bytearray(text.encode("utf-8")))
        finally:
            stream.close()

    def commit(self) -> None:
        if self.fs.exists(self.out_path):
            self.fs.delete(self.out_path, True)
        if not self.fs.rename(self.tmp_path, self.out_path):
            raise OutputError(self.out, f"renaming {self.tmp} to it failed")
        self.tmp_path = None

    def discard(self) -> None:
        if self.tmp_path is not None and self.fs.exists(self.tmp_path):
            self.fs.delete(self.tmp_path, True)
        self.tmp_path = None
