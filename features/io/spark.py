"""Spark plumbing shared by every Spark job: the session, the contract tables by customer group.

The contract tables are read by Spark (Parquet files or folders, or CSV), each row
tagged with its table and its columns prefixed (``transactions__amount``), unioned, and
grouped by a customer partition number (``xxhash64(customer_id) mod partitions``), so
every group holds whole customers with all their events: :func:`grouped_tables` builds
that, :func:`group_tables` turns one group back into the validated
:class:`~features.contract.tables.Tables` that the per-partition code (features, training rows,
scores) takes. A domain error in a task is marked (:func:`task_error`) and re-raised on
the driver as a :class:`~features.contract.errors.ChurnError` with its message (:func:`reraise`).

pyspark is imported lazily: nothing else in the package needs it.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa

from features.contract.errors import ChurnError, ConfigError, DataContractError, Problem
from features.contract.files import parquet_parts
from features.contract.load import empty_tables, validate_tables
from features.contract.schema import CUSTOMER_ID, TABLES, ColumnMap, EventTypeMap, rename_map
from features.contract.tables import Tables
from features.families.build import DEFAULT_WINDOWS, EVENT_COLUMNS, build_features
from features.families.events import as_utc
from features.io.atomic import check_target
from features.io.snapshot import SnapshotMeta, write_partitions

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

TABLE = "_table"
PARTITION = "_partition"
_SEP = "__"
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


def read_tables(
    spark: SparkSession,
    data: str,
    column_map: ColumnMap | None,
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> tuple[dict, dict]:
    """``{table: Spark DataFrame}`` of the tables found, and their paths.

    Kept: the contract's required columns and those the features read (every customer
    column; :data:`features.families.build.EVENT_COLUMNS` of the event tables), so no unused
    column (an order id, say) is shuffled.

    ``<data>/<table>.parquet`` is read first, else ``<table>.csv`` (header row, types
    inferred; ``validate_tables`` parses what is left as text, as for the local engine).
    """
    frames, paths, problems = {}, {}, []
    for name, spec in TABLES.items():
        base = f"{data.rstrip('/')}/{name}"
        if exists(spark, f"{base}.parquet"):
            path, frame = f"{base}.parquet", spark.read.parquet(f"{base}.parquet")
        elif exists(spark, f"{base}.csv"):
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
        used = used_columns(name)
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


def used_columns(table: str) -> set[str]:
    """Contract columns of ``table`` that scoring reads; every column of ``customers``."""
    if table not in EVENT_COLUMNS:
        return {c.name for c in TABLES[table].columns}
    time_column, others = EVENT_COLUMNS[table]
    return {CUSTOMER_ID, time_column, *others}


def integer_ids(frames: Mapping[str, DataFrame]) -> bool:
    from pyspark.sql.types import IntegralType

    return all(
        isinstance(frame.schema[CUSTOMER_ID].dataType, IntegralType) for frame in frames.values()
    )


def tagged(name: str, frame: DataFrame, id_type: str) -> DataFrame:
    """``frame`` with its table name, id as ``id_type`` and other columns prefixed."""
    from pyspark.sql import functions as F

    return frame.select(
        F.col(CUSTOMER_ID).cast(id_type).alias(CUSTOMER_ID),
        F.lit(name).alias(TABLE),
        *(F.col(c).alias(f"{name}{_SEP}{c}") for c in frame.columns if c != CUSTOMER_ID),
    )


def reraise(error: Exception) -> None:
    """Raise a task's domain error as a ChurnError with its message; else ``error``."""
    found = _MARK.search(str(error))
    if found:
        raise ChurnError(f"A Spark task failed ({found.group(1)}): {found.group(2)}") from error
    raise error


def exists(spark: SparkSession, path: str) -> bool:
    fs, p = hadoop_fs(spark, path)
    return bool(fs.exists(p))


def hadoop_fs(spark: SparkSession, path: str):
    """Hadoop FileSystem and Path objects for ``path`` (any scheme Spark can write)."""
    jvm = spark.sparkContext._jvm
    p = jvm.org.apache.hadoop.fs.Path(path)
    return p.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), p


def grouped_tables(
    spark: SparkSession,
    data: str,
    *,
    partitions: int,
    column_map: ColumnMap | None = None,
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> tuple[DataFrame, dict, dict, str]:
    """The tables of ``data`` unioned and repartitioned by customer group.

    Returns ``(grouped, frames, paths, id_type)``: the union with a :data:`PARTITION`
    column (``xxhash64(customer_id) mod partitions``), the Spark frame and path of each
    table found, and the Spark type of ``customer_id`` (``bigint`` or ``string``).
    """
    from pyspark.sql import functions as F

    frames, paths = read_tables(spark, data, column_map, delimiter=delimiter, encoding=encoding)
    id_type = "bigint" if integer_ids(frames) else "string"
    union = reduce(
        lambda a, b: a.unionByName(b, allowMissingColumns=True),
        (tagged(name, frame, id_type) for name, frame in frames.items()),
    )
    grouped = union.withColumn(
        PARTITION, F.pmod(F.xxhash64(CUSTOMER_ID), F.lit(partitions))
    ).repartition(partitions, PARTITION)
    return grouped, frames, paths, id_type


def group_frames(group: pd.DataFrame, tables: list[str]) -> dict[str, pd.DataFrame]:
    """One group of :func:`grouped_tables` split back into ``{table: frame}``."""
    frames = {}
    for name in tables:
        rows = group.loc[group[TABLE] == name]
        prefix = f"{name}{_SEP}"
        columns = {c: c.removeprefix(prefix) for c in rows.columns if c.startswith(prefix)}
        frames[name] = rows[[CUSTOMER_ID, *columns]].rename(columns=columns)
    return frames


def group_tables(
    group: pd.DataFrame,
    tables: list[str],
    *,
    id_type: str,
    event_types: EventTypeMap | None = None,
) -> Tables | None:
    """The validated tables of one group; None when it has no customer or no order.

    ``id_type`` is the Spark type of the ids (:func:`grouped_tables`), so every group
    types ``customer_id`` alike.
    """
    frames = group_frames(group, tables)
    if frames["customers"].empty or frames["transactions"].empty:
        return None
    return validate_tables(
        frames,
        event_types=event_types,
        id_kind="int" if id_type == "bigint" else "str",
        log_warnings=False,
    )


def task_error(error: ChurnError) -> RuntimeError:
    """A task's domain error, marked so :func:`reraise` finds its message on the driver."""
    return RuntimeError(f"[churn:{type(error).__name__}] {error} [/churn]")


def snapshot_spark(
    data: str | os.PathLike[str],
    *,
    as_of: str | pd.Timestamp,
    out: str | os.PathLike[str],
    partitions: int = 16,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    sla_hours: float = 48.0,
    column_map: ColumnMap | None = None,
    event_types: EventTypeMap | None = None,
    delimiter: str = ",",
    encoding: str = "utf-8",
    spark: SparkSession | None = None,
    on_partition: Callable[[int, int], None] | None = None,
    mkdir: bool = False,
) -> tuple[Path, SnapshotMeta]:
    """The feature snapshot as of ``as_of``, its features built on Spark per customer group.

    ``groupBy(partition).applyInPandas`` runs the validation and
    :func:`features.families.build.build_features` per group; Spark writes the rows as Parquet
    part files to a temporary folder beside ``out``, and the driver appends them, one
    part file at a time, to the snapshot (written atomically, as the local engine's).
    The rows equal the local engine's (in another order).

    Raises
    ------
    DataContractError, OutputError, ChurnError
        A missing table or column before the job; a task's domain error with its message.
    """
    import pyarrow.parquet as pq
    from pyspark.sql.pandas.types import from_arrow_schema

    as_of = as_utc(as_of)
    out = check_target(out, mkdir=mkdir)
    spark = spark or spark_session()
    grouped, frames, paths, id_type = grouped_tables(
        spark,
        str(data),
        partitions=partitions,
        column_map=column_map,
        delimiter=delimiter,
        encoding=encoding,
    )
    absent = frozenset() if "events" in frames else frozenset({"events"})
    empty = build_features(empty_tables(absent=absent), as_of=as_of, windows=windows)
    empty[CUSTOMER_ID] = empty[CUSTOMER_ID].astype("int64" if id_type == "bigint" else object)
    schema = pa.Schema.from_pandas(empty, preserve_index=False)  # pandas dtypes kept
    arrow_id = pa.int64() if id_type == "bigint" else pa.string()
    schema = schema.set(schema.get_field_index(CUSTOMER_ID), pa.field(CUSTOMER_ID, arrow_id))
    tables = list(frames)

    def run(group: pd.DataFrame) -> pd.DataFrame:
        try:
            parts = group_tables(group, tables, id_type=id_type, event_types=event_types)
            rows = (
                empty
                if parts is None
                else build_features(parts, as_of=as_of, windows=windows, sla_hours=sla_hours)
            )
        except ChurnError as e:
            raise task_error(e) from e
        return spark_ready(rows)

    spark_schema = from_arrow_schema(schema.remove_metadata())
    result = grouped.groupBy(PARTITION).applyInPandas(run, schema=spark_schema)
    with tempfile.TemporaryDirectory(prefix=".features-spark-", dir=out.parent) as tmp:
        write_parquet(spark, result, f"{tmp}/rows")
        parts = parquet_parts(Path(tmp) / "rows")
        return write_partitions(
            (pq.read_table(p).to_pandas() for p in parts),
            out,
            as_of=as_of,
            sources={name: Path(p) for name, p in paths.items()},
            total=len(parts),
            schema=schema,
            on_partition=on_partition,
            mkdir=mkdir,
        )


def spark_ready(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with Arrow-backed string columns as objects (what pyspark converts)."""
    for name in rows.columns[rows.dtypes == "string"]:
        rows[name] = rows[name].astype(object)
    return rows


def write_parquet(spark: SparkSession, result: DataFrame, path: str) -> None:
    """Write ``result`` as Parquet at ``path`` (timestamps as UTC micros); task errors re-raised."""
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    try:
        result.write.mode("overwrite").parquet(path)
    except Exception as e:  # noqa: BLE001 - a task failed; find our message in it
        reraise(e)
