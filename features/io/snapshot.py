"""Feature snapshots: a feature table as Parquet plus a small metadata record.

The metadata (``as_of``, contract version, row count, feature list, input
fingerprints) rides in the Parquet file's key-value metadata under ``churn``, so the
file is the whole record. Writes go through :mod:`features.io.atomic` (a temporary file
renamed into place): an interrupted write never leaves a partial snapshot.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.contract.errors import SnapshotError
from features.contract.files import fingerprint
from features.contract.schema import CONTRACT_VERSION, CUSTOMER_ID
from features.contract.tables import Tables
from features.families.build import DEFAULT_WINDOWS, build_features
from features.families.events import as_utc
from features.io.atomic import AtomicParquet, check_target, write_table_atomic
from features.io.parallel import map_partitions
from features.io.partitioned import CustomerPartitions

log = logging.getLogger(__name__)

META_KEY = b"churn"
SNAPSHOT_GLOB = "features_*.parquet"


@dataclass(frozen=True)
class SnapshotMeta:
    """What a snapshot was built from."""

    as_of: str
    rows: int
    features: list[str]
    contract_version: str = CONTRACT_VERSION
    fingerprints: dict[str, str] = field(default_factory=dict)
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def cutoff(self) -> pd.Timestamp:
        """:attr:`as_of` (ISO 8601 text, as stored) as a UTC timestamp."""
        return as_utc(self.as_of)


def snapshot_path(folder: str | Path, as_of: pd.Timestamp) -> Path:
    """Conventional snapshot file for a cutoff: ``folder/features_YYYY-MM-DD.parquet``.

    A cutoff that is not a UTC midnight is named exactly,
    ``features_YYYY-MM-DDTHHMMSSZ.parquet`` (the CLI only takes whole days, but the
    library does not round): two different cutoffs never share a file name.
    """
    as_of = as_utc(as_of)
    if as_of == as_of.floor("D"):
        return Path(folder) / f"features_{as_of:%Y-%m-%d}.parquet"
    return Path(folder) / f"features_{as_of:%Y-%m-%dT%H%M%S}Z.parquet"


def write_snapshot(
    features: pd.DataFrame, path: str | Path, meta: SnapshotMeta, *, mkdir: bool = False
) -> Path:
    """Write ``features`` with ``meta`` to ``path`` atomically; return the path.

    ``mkdir`` makes a missing folder (else it is an :class:`~features.contract.errors.OutputError`).
    """
    table = pa.Table.from_pandas(features, preserve_index=False)
    schema_meta = dict(table.schema.metadata or {})
    schema_meta[META_KEY] = json.dumps(asdict(meta)).encode()
    return write_table_atomic(table.replace_schema_metadata(schema_meta), path, mkdir=mkdir)


def read_meta(path: str | Path) -> SnapshotMeta:
    """Read only the metadata record of a snapshot."""
    try:  # the file's key-value metadata (a streamed write), else the Arrow schema's
        raw = {**(pq.read_schema(path).metadata or {}), **(pq.read_metadata(path).metadata or {})}
    except (OSError, pa.ArrowInvalid) as e:
        raise SnapshotError(f"Cannot read feature snapshot {path}: {e}.") from e
    if META_KEY not in raw:
        raise SnapshotError(f"{path} is a Parquet file but not a feature snapshot (no metadata).")
    return SnapshotMeta(**json.loads(raw[META_KEY]))


def read_snapshot(path: str | Path) -> tuple[pd.DataFrame, SnapshotMeta]:
    """Read a snapshot and its metadata; the frame has ``customer_id`` as a column."""
    meta = read_meta(path)
    frame = pq.read_table(path).to_pandas()
    if CUSTOMER_ID not in frame.columns:
        raise SnapshotError(f"{path} has no {CUSTOMER_ID} column.")
    return frame, meta


def latest_snapshot(folder: str | Path) -> Path:
    """The snapshot in ``folder`` with the latest recorded ``as_of`` (not the latest name).

    Every ``features_*.parquet`` is asked for its metadata record; a file that is not a
    snapshot is skipped with a warning naming it. Of two snapshots with the same
    ``as_of``, the one written last wins.

    Raises
    ------
    SnapshotError
        When ``folder`` holds no readable snapshot.
    """
    found = []
    for path in Path(folder).glob(SNAPSHOT_GLOB):
        try:
            found.append((read_meta(path).cutoff, path.stat().st_mtime_ns, path))
        except (SnapshotError, OSError) as e:
            log.warning("Skipping %s: %s", path, e)
    if not found:
        raise SnapshotError(
            f"No feature snapshot ({SNAPSHOT_GLOB}) in {folder}; run `churn features` first."
        )
    return max(found)[2]


def make_snapshot(
    tables: Tables | CustomerPartitions,
    *,
    as_of: str | pd.Timestamp,
    out: str | Path | None = None,
    folder: str | Path | None = None,
    partitions: int = 4,
    on_partition: Callable[[int, int], None] | None = None,
    mkdir: bool = False,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    sla_hours: float = 48.0,
    workers: int = 1,
) -> tuple[Path, SnapshotMeta]:
    """Build features for ``as_of`` partition by partition and write them as a snapshot.

    Each partition's features are appended to the snapshot as a row group as soon as
    they are built, so peak memory is that of ``workers`` partitions; the file is
    renamed into place only when every partition succeeded. Partitions read from files
    run on ``workers`` processes (the CLI gives the cores of the thread budget,
    :func:`features.compute.usable_cores`; other processes need the
    ``if __name__ == "__main__":`` guard of :mod:`multiprocessing`'s spawn).

    Parameters
    ----------
    tables : Tables or CustomerPartitions
        Validated tables (split into ``partitions`` in memory), or tables read one
        customer partition at a time (their own partitions are used).
    as_of : str or Timestamp
        Exclusive cutoff (UTC).
    out : path, optional
        Snapshot file; default ``folder/features_<as_of>.parquet``.
    folder : path, optional
        Used when ``out`` is not given; default ``<data dir>/features`` (made if missing).
    on_partition : callable, optional
        ``on_partition(done, total)`` after each partition.
    mkdir : bool, default False
        Make the missing folder of an explicit ``out``; without it, a missing folder is
        an :class:`~features.contract.errors.OutputError` (checked before any feature is built).
    windows, sla_hours
        As for :func:`features.families.build.build_features`.
    """
    as_of = as_utc(as_of)
    source = (
        tables
        if isinstance(tables, CustomerPartitions)
        else CustomerPartitions.of_tables(tables, partitions)
    )
    if out is None:
        data_dir = next(iter(source.sources.values())).parent if source.sources else Path(".")
        out, mkdir = snapshot_path(folder or data_dir / "features", as_of), True
    check_target(out, mkdir=mkdir)
    path, meta = write_partitions(
        map_partitions(source, _features_of, as_of, windows, sla_hours, workers=workers),
        Path(out),
        as_of=as_of,
        sources=source.sources,
        warnings=source.warnings,
        total=source.partitions,
        on_partition=on_partition,
        mkdir=mkdir,
    )
    source.log_warnings()
    return path, meta


def _features_of(tables, partition: int, as_of, windows, sla_hours) -> pd.DataFrame:
    """:func:`features.families.build.build_features` of one partition (run by a worker)."""
    return build_features(tables, as_of=as_of, windows=windows, sla_hours=sla_hours)


def write_partitions(
    pieces: Iterable[pd.DataFrame],
    out: Path,
    *,
    as_of: pd.Timestamp,
    sources: Mapping[str, Path],
    warnings: Sequence[object] = (),
    total: int,
    schema: pa.Schema | None = None,
    on_partition: Callable[[int, int], None] | None = None,
    mkdir: bool = False,
) -> tuple[Path, SnapshotMeta]:
    """Write feature frames (one per partition, same columns) as one snapshot, atomically.

    ``schema`` (default: the first piece's) types every piece. The metadata record
    (``sources``' fingerprints where they are local files, ``warnings``) is written once
    every piece is; a failure leaves no file. ``warnings`` is read then, so a list that
    fills while the pieces are made is recorded whole.
    """
    sink, rows = None, 0
    with ExitStack() as stack:
        for done, frame in enumerate(pieces, start=1):
            if sink is None:
                schema = schema or pa.Schema.from_pandas(frame, preserve_index=False)
                sink = stack.enter_context(AtomicParquet(out, schema, mkdir=mkdir))
            sink.write(frame)
            rows += len(frame)
            if on_partition:
                on_partition(done, total)
        meta = SnapshotMeta(
            as_of=as_of.isoformat(),
            rows=rows,
            features=[c for c in schema.names if c != CUSTOMER_ID],
            fingerprints={
                name: fingerprint(Path(p)) for name, p in sources.items() if Path(p).exists()
            },
            extra={"warnings": [str(w) for w in warnings]},
        )
        sink.commit(asdict(meta), key=META_KEY)
    return out, meta
