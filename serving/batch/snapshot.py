"""Batch scoring from an existing feature snapshot, read in row chunks; no table is loaded."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.contract.errors import SnapshotError
from features.contract.files import fingerprint, table_files
from features.contract.schema import CUSTOMER_ID
from features.families.events import as_utc
from features.families.population import ACTIVE_FEATURES, population_in_features
from features.io.snapshot import read_meta, snapshot_path

if TYPE_CHECKING:  # serving.policy.scoring imports MLflow: only scoring needs it, not campaigns
    from serving.policy.scoring import ScoringModels
from serving.batch.local import (
    _write_scores,
    check_partitions,
)
from serving.batch.runs import (
    BatchResult,
    ScoreOptions,
    _timed_iter,
    _timer,
    check_features,
    score_features,
    score_schema,
)

__all__ = [
    "find_snapshot",
    "score_snapshot",
]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------
# Snapshots


def find_snapshot(
    data_dir: str | Path, as_of: pd.Timestamp, sources: Mapping[str, Path] | None = None
) -> Path | None:
    """The snapshot ``<data_dir>/features/features_<as_of>.parquet`` if it fits the data.

    It fits when its recorded ``as_of`` is ``as_of`` and it was built from the same
    table files (``sources``, default: those in ``data_dir``; same fingerprints);
    otherwise None (and the reason is logged).
    """
    as_of = as_utc(as_of)
    path = snapshot_path(Path(data_dir) / "features", as_of)
    if not path.is_file():
        return None
    try:
        meta = read_meta(path)
    except SnapshotError as e:
        log.warning("Not reusing %s: %s", path, e)
        return None
    if meta.cutoff != as_of:
        log.warning("Not reusing %s: it is as of %s.", path, meta.as_of)
        return None
    changed = _changed_sources(meta.fingerprints, sources or table_files(data_dir))
    if changed:
        log.info("Not reusing %s: built before %s changed.", path, ", ".join(changed))
        return None
    return path


def _changed_sources(fingerprints: dict[str, str], sources: Mapping[str, Path]) -> list[str]:
    return [
        name
        for name, source in sources.items()
        if fingerprints.get(name) != fingerprint(Path(source))
    ]


def score_snapshot(
    snapshot: str | os.PathLike[str],
    models: ScoringModels,
    *,
    as_of: str | pd.Timestamp,
    out: str | os.PathLike[str],
    partitions: int = 4,
    options: ScoreOptions = ScoreOptions(),
    sources: Mapping[str, Path] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    mkdir: bool = False,
) -> BatchResult:
    """Score the customers active in a feature snapshot, chunk by chunk; no table is read.

    Who is active is read from the snapshot's own features
    (:func:`features.families.population.active_in_features`: the same rule, the same customers), so
    the nightly job that reuses a snapshot does not load the tables again.

    Parameters
    ----------
    snapshot : path
        A feature snapshot (:func:`features.io.snapshot.make_snapshot`) as of ``as_of``.
    models, as_of, out, partitions, options, on_progress, mkdir
        As :func:`score_base`; ``partitions`` is the number of row chunks.
    sources : mapping of str to path, optional
        ``{table: file}`` the scores are for; a warning is logged when the snapshot
        was built from other files, and they are recorded in the metadata.

    Raises
    ------
    OutputError, SnapshotError, EmptyBaseError
        As :func:`score_base`; SnapshotError also when the file is no snapshot, is for
        another ``as_of`` or lacks the features that tell who is active.
    """
    check_partitions(partitions)
    path, as_of = Path(snapshot), as_utc(as_of)
    meta = read_meta(path)
    if meta.cutoff != as_of:
        raise SnapshotError(
            f"Feature snapshot {path} is as of {meta.cutoff:%Y-%m-%d}, not "
            f"{as_of:%Y-%m-%d}; build one with `churn features --as-of {as_of:%Y-%m-%d}` "
            "or leave out --snapshot."
        )
    file = pq.ParquetFile(path)
    names = file.schema_arrow.names
    source = f"Feature snapshot {path}"
    check_features(names, models, source=source)
    if lacking := [c for c in ACTIVE_FEATURES if c not in names]:
        raise SnapshotError(
            f"{source} lacks {', '.join(lacking)}, needed to tell who is active; rebuild "
            "it with `churn features`."
        )
    if sources and (changed := _changed_sources(meta.fingerprints, sources)):
        log.warning("%s was built before %s changed.", source, ", ".join(changed))
    id_type = file.schema_arrow.field(CUSTOMER_ID).type
    rows = file.metadata.num_rows
    chunk = max(1, math.ceil(rows / partitions))
    stats: dict[str, float] = {"features": 0.0, "score": 0.0, "write": 0.0, "known": rows}

    def chunks() -> Iterator[pd.DataFrame]:
        for batch in _timed_iter(file.iter_batches(batch_size=chunk), stats, "features"):
            with _timer(stats, "features"):
                features = batch.to_pandas()
            with _timer(stats, "score"):
                scored = population_in_features(
                    features, min_orders=options.min_orders, active_days=options.active_days
                )
                scores = score_features(features.loc[scored], models, options, as_of)
            yield scores

    return _write_scores(
        chunks(),
        max(1, math.ceil(rows / chunk)),
        out=Path(out),
        schema=score_schema(
            pa.int64() if pa.types.is_integer(id_type) else pa.string(), models.horizon_days
        ),
        models=models,
        as_of=as_of,
        options=options,
        source=f"snapshot {path}",
        data={name: str(p) for name, p in (sources or {}).items()},
        stats=stats,
        on_progress=on_progress,
        mkdir=mkdir,
    )
