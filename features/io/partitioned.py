"""The contract tables read one customer partition at a time: :class:`CustomerPartitions`.

No step holds a whole table: Parquet tables (files, or folders of part files,
hive-partitioned or not) are read per partition through ``pyarrow.dataset`` with a filter
on ``customer_id`` ranges, so a partition's rows are all a read brings into memory (row
groups whose id statistics miss the range are skipped). The ranges split the customers
table's sorted ids into equal counts, so partitions concatenated in order are sorted by
``customer_id``. Each partition is validated with
:func:`features.contract.load.validate_tables`, the ids typed as decided over all partitions,
and its warnings merged into :attr:`CustomerPartitions.warnings` (counts summed).

A data folder with a CSV table is read whole (:func:`features.contract.load.load_tables`) and
split in memory, as are :class:`~features.contract.tables.Tables` already loaded
(:meth:`CustomerPartitions.of_tables`): the same interface, without the memory bound.
Convert CSV to Parquet for data that does not fit.

``partitions`` is at least ``[features] partitions`` and grows with the rows so a
partition's working set stays near ``memory_mb`` (:data:`BYTES_PER_ROW` per event row).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from features.contract.errors import ConfigError, DataContractError, Problem
from features.contract.files import is_parquet, parquet_dataset, table_files
from features.contract.load import IdKind, integer_like, load_tables, validate_tables
from features.contract.schema import TABLES, ColumnMap, EventTypeMap, rename_map
from features.contract.tables import Tables
from features.contract.timestamps import end_of_today, parse_timestamps
from features.families.build import EVENT_COLUMNS, feature_inputs

log = logging.getLogger(__name__)

BYTES_PER_ROW = 400
"""Working memory per event row while a partition's features are built (measured: the
frames, their sorted views and the feature arrays of ``make bench-scale``)."""
DEFAULT_MEMORY_MB = 1024


@dataclass(frozen=True)
class TimeSpan:
    """What a scan of the time columns found (before any partition is read).

    Attributes
    ----------
    start : Timestamp
        Earliest order (``transactions.ordered_at``), UTC.
    end : Timestamp
        Latest event over all tables not after today (:meth:`Tables.data_end`).
    future_events : int
        Rows dated after today (they do not move ``end``).
    """

    start: pd.Timestamp
    end: pd.Timestamp
    future_events: int = 0


def merge_problems(problems: list[Problem]) -> list[Problem]:
    """Problems of several partitions as one list: same file, column and issue summed."""
    merged: dict[tuple, Problem] = {}
    for p in problems:
        key = (p.file, p.column, p.issue)
        if key in merged:
            seen = merged[key]
            examples = tuple(dict.fromkeys(seen.examples + p.examples))[:5]
            merged[key] = replace(seen, rows=seen.rows + p.rows, examples=examples)
        else:
            merged[key] = p
    return list(merged.values())


@dataclass
class CustomerPartitions:
    """The contract tables as ``partitions`` sets of whole customers, read one at a time.

    Build with :meth:`open` (a data folder) or :meth:`of_tables` (loaded tables). Any
    partition holds every row of its customers in every table, so features, labels and
    scores computed per partition and concatenated equal those of the whole tables.

    Attributes
    ----------
    partitions : int
    sources : dict of str to Path
        The file or folder of each table found.
    absent : frozenset of str
        Optional tables not supplied.
    warnings : list of Problem
        Warnings of the partitions read so far, merged (complete after a full pass).
    rows : int
        Rows of the event tables (all but ``customers``).
    """

    partitions: int
    sources: dict[str, Path]
    absent: frozenset[str]
    warnings: list[Problem] = field(default_factory=list)
    rows: int = 0
    _tables: Tables | None = None
    _datasets: dict[str, ds.Dataset] = field(default_factory=dict)
    _columns: dict[str, list[str]] = field(default_factory=dict)
    _renames: dict[str, dict[str, str]] = field(default_factory=dict)
    _bounds: list = field(default_factory=list)
    _id_kind: IdKind = "auto"
    _event_types: EventTypeMap | None = None
    _now: pd.Timestamp | None = None
    _span: TimeSpan | None = None

    # ----------------------------------------------------------------------------------
    # construction

    @classmethod
    def of_tables(cls, tables: Tables, partitions: int = 1) -> CustomerPartitions:
        """Loaded ``tables`` split in memory by a hash of ``customer_id``.

        The event tables are cut to the columns features and labels read
        (:func:`features.families.build.feature_inputs`), so a split moves no unused column.
        """
        _check(partitions)
        source = cls(
            partitions,
            dict(tables.sources),
            tables.absent,
            list(tables.warnings),
            sum(len(f) for name, f in tables.frames().items() if name != "customers"),
            _tables=feature_inputs(tables),
        )
        source._set_bounds(pa.chunked_array([pa.array(tables.customers["customer_id"])]))
        return source

    @classmethod
    def open(
        cls,
        data_dir: str | Path,
        *,
        partitions: int = 4,
        memory_mb: float | None = DEFAULT_MEMORY_MB,
        column_map: ColumnMap | None = None,
        event_types: EventTypeMap | None = None,
        delimiter: str = ",",
        encoding: str = "utf-8",
        now: pd.Timestamp | None = None,
    ) -> CustomerPartitions:
        """The tables of ``data_dir``; Parquet read per partition, CSV whole.

        Parameters
        ----------
        data_dir : path
            Folder of the contract tables (see :func:`features.contract.load.load_tables`).
        partitions : int, default 4
            The fewest partitions.
        memory_mb : float or None, default 1024
            Working memory a partition may take; more partitions when the rows need
            them (None: exactly ``partitions``).
        column_map, event_types, delimiter, encoding, now
            As for :func:`features.contract.load.load_tables`.

        Raises
        ------
        DataContractError
            When a required table or column is missing, or a file is unreadable.
        """
        _check(partitions)
        data_dir = Path(data_dir)
        if not data_dir.is_dir():
            raise DataContractError([Problem(str(data_dir), None, "is not a folder")])
        sources = table_files(data_dir)
        if not all(is_parquet(p) for p in sources.values()):
            tables = load_tables(
                data_dir,
                column_map=column_map,
                event_types=event_types,
                delimiter=delimiter,
                encoding=encoding,
                now=now,
            )
            source = cls.of_tables(tables, partitions)
            more = _enough(partitions, memory_mb, source.rows)
            return source if more == partitions else cls.of_tables(tables, more)
        source = cls(partitions, sources, frozenset(), _event_types=event_types, _now=now)
        source._open_datasets(data_dir, column_map)
        source.absent = frozenset(t for t in TABLES if t not in source._datasets)
        rows = sum(d.count_rows() for name, d in source._datasets.items() if name != "customers")
        source.partitions, source.rows = _enough(partitions, memory_mb, rows), rows
        source._scan()
        return source

    def _open_datasets(self, data_dir: Path, column_map: ColumnMap | None) -> None:
        problems = []
        for name, spec in TABLES.items():
            path = self.sources.get(name)
            if path is None:
                if spec.required:
                    problems.append(
                        Problem(f"{data_dir}/{name}.parquet", None, "is missing (or .csv)")
                    )
                continue
            try:
                dataset = parquet_dataset(path)
            except (pa.ArrowException, OSError) as e:
                detail = str(e).splitlines()[0][:200]
                problems.append(Problem(path.name, None, f"cannot be read as parquet: {detail}"))
                continue
            renames = rename_map(name, column_map)  # {yours: contract}
            yours = {contract: mine for mine, contract in renames.items()}
            wanted = [yours.get(c.name, c.name) for c in spec.columns if _used(name, c.name)]
            present = set(dataset.schema.names)
            missing = [c for c in spec.required_columns if yours.get(c, c) not in present]
            problems += [
                Problem(path.name, c, "is missing (required by the data contract)") for c in missing
            ]
            self._datasets[name] = dataset
            self._columns[name] = [c for c in wanted if c in present]
            self._renames[name] = renames
        if problems:
            raise DataContractError(problems)

    def _id_field(self, table: str) -> str:
        return next(
            (mine for mine, contract in self._renames[table].items() if contract == "customer_id"),
            "customer_id",
        )

    def _scan(self) -> None:
        """One streaming pass over ids and time columns: id type, ranges, time span."""
        future = end_of_today(self._now)
        integer, ends, future_rows, start = True, [], 0, None
        for name, dataset in self._datasets.items():
            id_field, time_column = self._id_field(name), TABLES[name].time_column
            time_field = next(
                (m for m, c in self._renames[name].items() if c == time_column), time_column
            )
            columns = [id_field] + ([time_field] if time_column else [])
            for batch in dataset.to_batches(columns=columns):
                ids = batch.column(0)
                if integer and not pa.types.is_integer(ids.type):
                    integer = integer_like(ids.to_pandas())
                if not time_column or not batch.num_rows:
                    continue
                stamps = parse_timestamps(batch.column(1).to_pandas())[0]
                past = stamps.loc[stamps < future]
                future_rows += int((stamps >= future).sum())
                if len(past) and pd.notna(past.max()):
                    ends.append(past.max())
                low = stamps.min()
                if name == "transactions" and pd.notna(low):
                    start = low if start is None or low < start else start
        if not ends:
            raise DataContractError(
                [Problem("the tables", None, f"have no event before {future:%Y-%m-%d} (UTC)")]
            )
        self._id_kind = "int" if integer else "str"
        self._span = TimeSpan(start if start is not None else pd.NaT, max(ends), future_rows)
        ids = self._datasets["customers"].to_table(columns=[self._id_field("customers")])
        self._set_bounds(_typed_ids(ids.column(0), self._id_kind))

    def _set_bounds(self, ids: pa.ChunkedArray) -> None:
        """Split the sorted distinct ``ids`` into :attr:`partitions` equal ranges."""
        ids = pc.unique(ids).sort()
        if len(ids) < self.partitions:
            self.partitions = max(1, len(ids))
        self._bounds = [
            ids[len(ids) * k // self.partitions].as_py() for k in range(1, self.partitions)
        ]

    # ----------------------------------------------------------------------------------
    # reading

    def customer_count(self) -> int:
        """Rows of the customers table."""
        if self._tables is not None:
            return len(self._tables.customers)
        return self._datasets["customers"].count_rows()

    @property
    def id_type(self) -> pa.DataType:
        """Arrow type of ``customer_id`` in every partition (int64 or string)."""
        return pa.int64() if self.integer_ids else pa.string()

    @property
    def in_memory(self) -> bool:
        """Whether the tables were loaded whole (:meth:`of_tables`, or CSV)."""
        return self._tables is not None

    @property
    def integer_ids(self) -> bool:
        """Whether ``customer_id`` is int64 in every partition (else text)."""
        if self._tables is not None:
            return pd.api.types.is_integer_dtype(self._tables.customers["customer_id"])
        return self._id_kind == "int"

    def has(self, table: str) -> bool:
        """Whether ``table`` was supplied."""
        return table not in self.absent

    def time_span(self) -> TimeSpan:
        """First order, end of the data and future rows, over every table."""
        if self._span is None:
            tables = self._tables
            self._span = TimeSpan(
                tables.transactions["ordered_at"].min(),
                tables.data_end(now=self._now),
                tables.future_events(now=self._now),
            )
        return self._span

    def read(self, partition: int) -> Tables:
        """The validated tables of partition ``partition`` (0-based).

        Raises
        ------
        DataContractError
            With the partition's problems (counts are of that partition's rows).
        """
        if not 0 <= partition < self.partitions:
            raise ConfigError("partition", partition, f"0 to {self.partitions - 1}")
        if self._tables is not None:
            return self._split(partition)
        frames = {}
        for name, dataset in self._datasets.items():
            ids = ds.field(self._id_field(name))
            id_type = dataset.schema.field(self._id_field(name)).type
            if self._id_kind == "str" and not pa.types.is_string(id_type):
                ids = ids.cast(pa.string())
            elif self._id_kind == "int" and not pa.types.is_integer(id_type):
                ids = ids.cast(pa.int64())
            keep = self._range(ids, partition)
            rows = dataset.to_table(columns=self._columns[name], filter=keep)
            frames[name] = rows.to_pandas().rename(columns=self._renames[name])
        try:
            tables = validate_tables(
                frames,
                sources=self.sources,
                now=self._now,
                event_types=self._event_types,
                id_kind=self._id_kind,
                log_warnings=False,
            )
        except DataContractError as e:
            where = f"customer partition {partition + 1} of {self.partitions}"
            raise DataContractError(
                [replace(p, issue=f"{p.issue} [{where}]") for p in e.problems]
            ) from e
        self.warnings[:] = merge_problems([*self.warnings, *tables.warnings])
        return tables

    def _range(self, ids: ds.Expression, partition: int) -> ds.Expression | None:
        low = self._bounds[partition - 1] if partition > 0 else None
        high = self._bounds[partition] if partition < len(self._bounds) else None
        keep = None
        if low is not None:
            keep = ids >= low
        if high is not None:
            keep = (ids < high) if keep is None else keep & (ids < high)
        return keep

    def _split(self, partition: int) -> Tables:
        tables = self._tables
        if self.partitions == 1:
            return tables
        bounds = np.asarray(self._bounds, dtype=object if not self.integer_ids else "int64")
        return tables.replace(
            **{
                name: frame.loc[
                    np.searchsorted(bounds, frame["customer_id"].to_numpy(), side="right")
                    == partition
                ].reset_index(drop=True)
                for name, frame in tables.frames().items()
            }
        )

    def __iter__(self) -> Iterator[Tables]:
        """Every partition in turn."""
        return (self.read(p) for p in range(self.partitions))

    def log_warnings(self) -> None:
        """Log the merged warnings of the partitions read (once, after a pass).

        Tables loaded whole logged theirs at load: nothing is logged twice.
        """
        for w in self.warnings if self._tables is None else ():
            log.warning("%s", w)


def _used(table: str, column: str) -> bool:
    """Columns read per partition: required ones and those the features and labels read."""
    spec = TABLES[table]
    if table not in EVENT_COLUMNS or column in spec.required_columns:
        return True
    time_column, others = EVENT_COLUMNS[table]
    return column in (time_column, *others)


def _typed_ids(ids: pa.ChunkedArray, kind: IdKind) -> pa.ChunkedArray:
    """The customers' ids as the partition filters compare them (int64 or string)."""
    return ids.cast(pa.string() if kind == "str" else pa.int64())


def _check(partitions: object) -> None:
    if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
        raise ConfigError("partitions", partitions, "a whole number of at least 1")


def _enough(partitions: int, memory_mb: float | None, rows: int) -> int:
    """At least ``partitions``; more when ``rows`` event rows need them for ``memory_mb``."""
    if memory_mb is None:
        return partitions
    return max(partitions, math.ceil(rows * BYTES_PER_ROW / memory_mb / 2**20))
