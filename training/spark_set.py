"""The training set built on Spark: `partition_rows` per customer group, written as Parquet.

The tables are read and grouped by customer on Spark (:mod:`features.io.spark`), and
``groupBy(partition).applyInPandas`` runs, per group, the validation and the same
:func:`~training.training_set.partition_rows` the local engine runs per partition;
Spark writes the rows as a folder of Parquet part files, which the driver reads back
as a :class:`~training.training_set.TrainingSet` (a cutoff and a customer sample at a
time: nothing collects the whole set). Features being a pure function of whole
customers, the rows equal the local engine's (tested).

pyspark is imported lazily.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa

from features.contract.errors import ChurnError
from features.contract.schema import ColumnMap, EventTypeMap
from features.io.partitioned import CustomerPartitions
from features.io.spark import (
    PARTITION,
    group_tables,
    grouped_tables,
    spark_ready,
    spark_session,
    task_error,
    write_parquet,
)
from training.training_set import SetSpec, TrainingSet, partition_rows, schema_of

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class SparkBuilder:
    """Builds the training set of ``data`` on Spark; a ``builder`` of :func:`training.train.train`.

    Parameters
    ----------
    data : path or URI
        Folder of the contract tables, on storage every executor can read.
    partitions : int, default 16
        Customer groups; each is built in one Python worker's memory (about one per
        100,000 customers, and at least the executor cores).
    column_map, event_types, delimiter, encoding
        As in ``churn.toml``.
    spark : SparkSession, optional
        Default :func:`features.io.spark.spark_session`.
    """

    engine = "spark"

    def __init__(
        self,
        data: str | os.PathLike[str],
        *,
        partitions: int = 16,
        column_map: ColumnMap | None = None,
        event_types: EventTypeMap | None = None,
        delimiter: str = ",",
        encoding: str = "utf-8",
        spark: SparkSession | None = None,
    ):
        self.data = str(data)
        self.partitions = partitions
        self.column_map = column_map
        self.event_types = event_types
        self.delimiter = delimiter
        self.encoding = encoding
        self.spark = spark

    def __call__(
        self,
        source: CustomerPartitions,
        spec: SetSpec,
        folder: str | os.PathLike[str],
        *,
        on_partition: Callable[[int, int], None] | None = None,
    ) -> TrainingSet:
        """Write the rows of ``spec`` to ``folder`` (replaced) and return them.

        ``source`` (the driver's view of the same tables) is not read here: the time
        span and the plans come from it before. Raises a task's domain error as a
        :class:`~features.contract.errors.ChurnError` with its message.
        """
        from pyspark.sql.pandas.types import from_arrow_schema

        spark = self.spark or spark_session()
        grouped, frames, _, id_type = grouped_tables(
            spark,
            self.data,
            partitions=self.partitions,
            column_map=self.column_map,
            delimiter=self.delimiter,
            encoding=self.encoding,
        )
        arrow_id = pa.int64() if id_type == "bigint" else pa.string()
        schema = schema_of(spec, events="events" in frames, id_type=arrow_id)
        run = _group_rows(list(frames), spec, id_type, self.event_types, schema)
        result = grouped.groupBy(PARTITION).applyInPandas(run, schema=from_arrow_schema(schema))
        write_parquet(spark, result, str(folder))
        if on_partition:
            on_partition(self.partitions, self.partitions)
        return TrainingSet(folder)


def _group_rows(tables: list[str], spec: SetSpec, id_type: str, event_types, schema: pa.Schema):
    """The function ``applyInPandas`` runs per customer group (pickled to executors)."""

    def run(group: pd.DataFrame) -> pd.DataFrame:
        try:
            parts = group_tables(group, tables, id_type=id_type, event_types=event_types)
            if parts is None:
                return schema.empty_table().to_pandas()
            rows = partition_rows(parts, spec)
        except ChurnError as e:
            raise task_error(e) from e
        return spark_ready(rows)

    return run
