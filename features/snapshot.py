"""Feature snapshots: a feature table as Parquet plus a small metadata record.

The metadata (``as_of``, contract version, row count, feature list, input
fingerprints) rides in the Parquet file's key-value metadata under ``churn``, so the
file is the whole record. Writes go through :mod:`features.atomic` (a temporary file
renamed into place): an interrupted write never leaves a partial snapshot.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.atomic import check_target, write_table_atomic
from features.errors import SnapshotError
from features.events import as_utc
from features.schema import CONTRACT_VERSION, CUSTOMER_ID

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

    ``mkdir`` makes a missing folder (else it is an :class:`~features.errors.OutputError`).
    """
    table = pa.Table.from_pandas(features, preserve_index=False)
    schema_meta = dict(table.schema.metadata or {})
    schema_meta[META_KEY] = json.dumps(asdict(meta)).encode()
    return write_table_atomic(table.replace_schema_metadata(schema_meta), path, mkdir=mkdir)


def read_meta(path: str | Path) -> SnapshotMeta:
    """Read only the metadata record of a snapshot."""
    try:
        raw = pq.read_schema(path).metadata or {}
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
    """The snapshot in ``folder`` with the latest ``as_of`` (by file name)."""
    found = sorted(Path(folder).glob(SNAPSHOT_GLOB))
    if not found:
        raise SnapshotError(
            f"No feature snapshot ({SNAPSHOT_GLOB}) in {folder}; run `churn features` first."
        )
    return found[-1]


def make_snapshot(
    tables,
    *,
    as_of: str | pd.Timestamp,
    out: str | Path | None = None,
    folder: str | Path | None = None,
    partitions: int = 4,
    on_partition=None,
    mkdir: bool = False,
    **options,
) -> tuple[Path, SnapshotMeta]:
    """Build features for ``as_of`` partition by partition and write them as a snapshot.

    Parameters
    ----------
    tables : Tables
        Validated tables.
    as_of : str or Timestamp
        Exclusive cutoff (UTC).
    out : path, optional
        Snapshot file; default ``folder/features_<as_of>.parquet``.
    folder : path, optional
        Used when ``out`` is not given; default ``<data dir>/features`` (made if missing).
    mkdir : bool, default False
        Make the missing folder of an explicit ``out``; without it, a missing folder is
        an :class:`~features.errors.OutputError` (checked before any feature is built).
    partitions, on_partition, **options
        Passed to :func:`features.build.build_features_partitioned`.
    """
    from features.build import build_features_partitioned
    from features.files import fingerprint

    as_of = as_utc(as_of)
    if out is None:
        data_dir = next(iter(tables.sources.values())).parent if tables.sources else Path(".")
        out, mkdir = snapshot_path(folder or data_dir / "features", as_of), True
    check_target(out, mkdir=mkdir)
    frame = build_features_partitioned(
        tables, as_of=as_of, partitions=partitions, on_partition=on_partition, **options
    )
    meta = SnapshotMeta(
        as_of=as_of.isoformat(),
        rows=len(frame),
        features=[c for c in frame.columns if c != CUSTOMER_ID],
        fingerprints={name: fingerprint(p) for name, p in tables.sources.items()},
        extra={"warnings": [str(w) for w in tables.warnings]},
    )
    return write_snapshot(frame, out, meta, mkdir=mkdir), meta
