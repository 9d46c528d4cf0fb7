"""The Spark engine of batch scoring: the local engine's per-partition code on a cluster.

The contract tables are read by Spark (Parquet, or CSV), each row tagged with its table and
its columns prefixed (``transactions__amount``), unioned, and grouped by a customer
partition number (``xxhash64(customer_id) mod partitions``), so every group holds
whole customers with all their events. ``groupBy(partition).applyInPandas`` then runs,
per group, exactly what the local engine runs per partition: the table validation of
:func:`features.load.validate_tables` and :func:`serving.batch.runs.score_partition`
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
import re
import sys
import time
import warnings
from collections.abc import Mapping
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa

from features.atomic import is_stale, temp_name
from features.build import EVENT_COLUMNS
from features.errors import (
    ChurnError,
    ConfigError,
    DataContractError,
    EmptyBaseError,
    OutputError,
    Problem,
)
from features.events import as_utc
from features.load import validate_tables
from features.schema import CUSTOMER_ID, TABLES, ColumnMap, EventTypeMap, rename_map
from serving.batch.local import check_partitions, run_record
from serving.batch.runs import (
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

TABLE = "_table"
PARTITION = "_partition"
_SEP = "__"
_DDL = {
    pa.int64(): "bigint",
    pa.string(): "string",
    pa.float64(): "double",
    pa.list_(pa.string()): "array<string>",
}
_MARK = re.compile(r"\[churn:(\w+)\] (.*?) \[/churn\]", re.S)
_PANDAS3_WARNING = "PySpark does not yet fully support pandas"


def spark_session(
    *, master: str | None = None, conf: Mapping[str, str] | None = None
) -> SparkSession:
    """The active Spark session, or a new one.

    Parameters
    ----------
    master : str, optional
        Spark master URL. Default: ``$SPARK_MASTER`` if set; else the cluster's when
        running under ``spark-submit`` or on Databricks; else ``local[*]`` (every local
        core, with this interpreter as the Python worker).
    conf : mapping, optional
        Extra Spark settings for a new session, e.g. ``{"spark.driver.memory": "8g"}``.

    Raises
    ------
    ConfigError
        When pyspark is not installed or Spark cannot start (e.g. no Java).
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as e:
        raise ConfigError(
            "--engine", "spark", "pyspark installed (pip install 'pyspark>=3.5,<5') and Java 17"
        ) from e
    warnings.filterwarnings("ignore", message=_PANDAS3_WARNING, category=FutureWarning)
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder.appName("churn-score")
    master = master or os.environ.get("SPARK_MASTER")
    on_cluster = "PYSPARK_GATEWAY_PORT" in os.environ or "DATABRICKS_RUNTIME_VERSION" in os.environ
    if master or not on_cluster:
        master = master or "local[*]"
        builder = builder.master(master)
        if master.startswith("local"):
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    settings = {"spark.sql.session.timeZone": "UTC", "spark.ui.showConsoleProgress": "false"}
    for key, value in {**settings, **(conf or {})}.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as e:  # noqa: BLE001 - PySparkRuntimeError, Py4J errors, OSError
        raise ConfigError(
            "Spark master",
            master or "(the cluster's)",
            f"a Spark that starts; is Java 17 installed and JAVA_HOME set? ({e})",
        ) from e
    session.sparkContext.setLogLevel("ERROR")
    return session


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
        :class:`~features.errors.ChurnError` with the task's message.
    """
    check_partitions(partitions)
    as_of = as_utc(as_of)
    options = options or ScoreOptions()
    spark = spark or spark_session()
    from pyspark.sql import functions as F

    frames, paths = _read_tables(
        spark, str(data), column_map, delimiter=delimiter, encoding=encoding
    )
    check_features(
        feature_names(options, events="events" in frames), models, source="The feature build"
    )
    id_type = "bigint" if _integer_ids(frames) else "string"
    union = reduce(
        lambda a, b: a.unionByName(b, allowMissingColumns=True),
        (_tagged(name, frame, id_type) for name, frame in frames.items()),
    )
    grouped = union.withColumn(
        PARTITION, F.pmod(F.xxhash64(CUSTOMER_ID), F.lit(partitions))
    ).repartition(partitions, PARTITION)
    schema = score_schema(pa.int64() if id_type == "bigint" else pa.string())
    ddl = ", ".join(f"{f.name} {_DDL[f.type]}" for f in schema)
    run = _group_scorer(
        spark.sparkContext.broadcast(models), list(frames), as_of, options, id_type, event_types
    )
    target = _Target(spark, str(out), mkdir=mkdir)
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    try:
        result = grouped.groupBy(PARTITION).applyInPandas(run, schema=ddl)
        try:
            result.write.mode("overwrite").parquet(target.tmp)
        except Exception as e:  # noqa: BLE001 - a task failed; find our message in it
            _reraise(e)
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


def _read_tables(
    spark: SparkSession,
    data: str,
    column_map: ColumnMap | None,
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> tuple[dict, dict]:
    """``{table: Spark DataFrame}`` of the tables found, and their paths.

    Kept: the contract's required columns and those the features read (every customer
    column; :data:`features.build.EVENT_COLUMNS` of the event tables), so no unused
    column (an order id, say) is shuffled.

    ``<data>/<table>.parquet`` is read first, else ``<table>.csv`` (header row, types
    inferred; ``validate_tables`` parses what is left as text, as for the local engine).
    """
    frames, paths, problems = {}, {}, []
    for name, spec in TABLES.items():
        base = f"{data.rstrip('/')}/{name}"
        if _exists(spark, f"{base}.parquet"):
            path, frame = f"{base}.parquet", spark.read.parquet(f"{base}.parquet")
        elif _exists(spark, f"{base}.csv"):
            path = f"{base}.csv"
            frame = spark.read.csv(
                path, header=True, inferSchema=True, sep=delimiter, encoding=encoding
            )
        else:
            if spec.required:
                problems.append(Problem(f"{base}.parquet", None, "is missing (or .csv)"))
            continue
        frame = frame.withColumnsRenamed(rename_map(name, column_map))
        missing = [c for c in spec.required_columns if c not in frame.columns]
        problems += [
            Problem(path, c, "is missing (required by the data contract)") for c in missing
        ]
        used = _used_columns(name)
        frames[name] = frame.select(
            [
                c.name
                for c in spec.columns
                if c.name in frame.columns and (c.required or c.name in used)
            ]
        )
        paths[name] = path
    if problems:
        raise DataContractError(problems)
    return frames, paths


def _used_columns(table: str) -> set[str]:
    """Contract columns of ``table`` that scoring reads; every column of ``customers``."""
    if table not in EVENT_COLUMNS:
        return {c.name for c in TABLES[table].columns}
    time_column, others = EVENT_COLUMNS[table]
    return {CUSTOMER_ID, time_column, *others}


def _integer_ids(frames: Mapping[str, DataFrame]) -> bool:
    from pyspark.sql.types import IntegralType

    return all(
        isinstance(frame.schema[CUSTOMER_ID].dataType, IntegralType) for frame in frames.values()
    )


def _tagged(name: str, frame: DataFrame, id_type: str) -> DataFrame:
    """``frame`` with its table name, id as ``id_type`` and other columns prefixed."""
    from pyspark.sql import functions as F

    return frame.select(
        F.col(CUSTOMER_ID).cast(id_type).alias(CUSTOMER_ID),
        F.lit(name).alias(TABLE),
        *(F.col(c).alias(f"{name}{_SEP}{c}") for c in frame.columns if c != CUSTOMER_ID),
    )


def _group_scorer(models_bc, tables: list[str], as_of, options, id_type: str, event_types=None):
    """The function ``applyInPandas`` runs per customer group (pickled to executors)."""

    def run(group: pd.DataFrame) -> pd.DataFrame:
        try:
            frames = {}
            for name in tables:
                rows = group.loc[group[TABLE] == name]
                prefix = f"{name}{_SEP}"
                columns = {c: c.removeprefix(prefix) for c in rows.columns if c.startswith(prefix)}
                frames[name] = rows[[CUSTOMER_ID, *columns]].rename(columns=columns)
            if frames["customers"].empty or frames["transactions"].empty:
                return pd.DataFrame({c: [] for c in SCORE_COLUMNS})  # no one can be active
            parts = validate_tables(frames, event_types=event_types)
            scores = score_partition(parts, models_bc.value, as_of=as_of, options=options)
        except ChurnError as e:
            raise RuntimeError(f"[churn:{type(e).__name__}] {e} [/churn]") from e
        if id_type == "string":
            scores[CUSTOMER_ID] = scores[CUSTOMER_ID].astype(str)
        return scores

    return run


def _reraise(error: Exception) -> None:
    """Raise a task's domain error as a ChurnError with its message; else ``error``."""
    found = _MARK.search(str(error))
    if found:
        raise ChurnError(f"A Spark task failed ({found.group(1)}): {found.group(2)}") from error
    raise error


def _summary(scores: DataFrame) -> ScoreSummary:
    """The run's summary from one aggregation over the written scores."""
    from pyspark.sql import functions as F

    value = F.when(F.col("offer_id").isNotNull(), F.col("expected_value")).otherwise(0.0)
    groups = (
        scores.groupBy("risk_band", "offer_id")
        .agg(F.count(F.lit(1)).alias("n"), F.sum(value).alias("value"))
        .toPandas()
    )
    return ScoreSummary.of_groups([groups])


def _exists(spark: SparkSession, path: str) -> bool:
    fs, p = _fs(spark, path)
    return bool(fs.exists(p))


def _fs(spark: SparkSession, path: str):
    """Hadoop FileSystem and Path objects for ``path`` (any scheme Spark can write)."""
    jvm = spark.sparkContext._jvm
    p = jvm.org.apache.hadoop.fs.Path(path)
    return p.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), p


class _Target:
    """A temporary output folder beside ``out``, renamed over it on :meth:`commit`.

    Named and cleaned up by the rules of :mod:`features.atomic` (the one writer's, here
    through Hadoop's FileSystem so ``out`` may be any URI Spark writes): the temporary
    folders of ``out`` left by killed earlier runs are removed first.
    """

    def __init__(self, spark: SparkSession, out: str, *, mkdir: bool = False):
        self.spark, self.out = spark, out
        name = Path(out.rstrip("/")).name
        parent = out.rstrip("/")[: -len(name)] or "./"
        self.tmp = f"{parent}{temp_name(name)}"
        try:
            self.fs, self.tmp_path = _fs(spark, self.tmp)
            _, self.out_path = _fs(spark, out)
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
