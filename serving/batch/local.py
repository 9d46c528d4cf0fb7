"""The local batch engine: the active base scored partition by partition, one atomic Parquet write.

Each chunk's scores are appended to a temporary Parquet file beside the output, renamed
over it only once everything succeeded; the file's metadata records the run.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa

from features.contract.errors import ConfigError, EmptyBaseError
from features.contract.schema import CONTRACT_VERSION
from features.contract.tables import Tables
from features.families.events import as_utc
from features.io.atomic import AtomicParquet
from features.io.parallel import map_partitions
from features.io.partitioned import CustomerPartitions
from serving.batch.runs import (
    META_KEY,
    BatchResult,
    ScoreOptions,
    ScoreSummary,
    _timed_iter,
    _timer,
    check_features,
    feature_names,
    score_partition,
    score_schema,
)
from serving.policy.scoring import ScoringModels

__all__ = [
    "check_partitions",
    "score_base",
]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------
# The local engine


def score_base(
    tables: Tables | CustomerPartitions,
    models: ScoringModels,
    *,
    as_of: str | pd.Timestamp,
    out: str | os.PathLike[str],
    partitions: int = 4,
    options: ScoreOptions = ScoreOptions(),
    on_progress: Callable[[int, int], None] | None = None,
    mkdir: bool = False,
    workers: int = 1,
) -> BatchResult:
    """Build features and score every customer active at ``as_of``, partition by partition.

    Parameters
    ----------
    tables : Tables or CustomerPartitions
        The validated tables, or tables read one customer partition at a time (whose
        own partitions are used, not ``partitions``).
    models : ScoringModels
        The churn and LTV model versions and the offer catalog.
    as_of : str or Timestamp
        Feature cutoff (exclusive; naive is UTC).
    out : path
        The scores file to create or replace; written atomically.
    partitions : int, default 4
        Customer partitions processed one at a time; more means less memory.
    options : ScoreOptions
    on_progress : callable, optional
        ``on_progress(done, total)`` after each partition.
    mkdir : bool, default False
        Make the missing folder of ``out`` (else a missing folder is an OutputError).
    workers : int, default 1
        Processes that read, build and score partitions of tables read from files
        (:func:`features.io.partitioned.map_partitions`; the models are pickled to each);
        the chunks are written here, in partition order.

    Returns
    -------
    BatchResult

    Raises
    ------
    OutputError
        When ``out`` cannot be written or its folder is missing (checked before any
        work).
    SnapshotError
        When the built features lack model features.
    EmptyBaseError
        When no customer is active at ``as_of``.

    See Also
    --------
    score_snapshot : the same from an existing feature snapshot.
    """
    check_partitions(partitions)
    as_of = as_utc(as_of)
    source = (
        tables
        if isinstance(tables, CustomerPartitions)
        else CustomerPartitions.of_tables(tables, partitions)
    )
    check_features(
        feature_names(options, events=source.has("events")), models, source="The feature build"
    )
    stats: dict[str, float] = {"partition": 0.0, "features": 0.0, "score": 0.0, "write": 0.0}
    if workers > 1 and not source.in_memory:
        chunks = _scored_by_workers(source, models, as_of, options, stats, workers)
    else:
        chunks = (
            score_partition(part, models, as_of=as_of, options=options, stats=stats)
            for part in _timed_iter(iter(source), stats, "partition")
        )
    return _write_scores(
        chunks,
        source.partitions,
        out=Path(out),
        schema=score_schema(pa.int64() if source.integer_ids else pa.string(), models.horizon_days),
        models=models,
        as_of=as_of,
        options=options,
        source="built from the tables",
        data={name: str(p) for name, p in source.sources.items()},
        stats=stats,
        on_progress=on_progress,
        mkdir=mkdir,
    )


def _scored_by_workers(source, models, as_of, options, stats, workers) -> Iterator[pd.DataFrame]:
    """The chunks of :func:`score_base` from ``workers`` processes; their timings summed."""
    for scores, seconds in map_partitions(
        source, _score_in_worker, models, as_of, options, workers=workers
    ):
        for key, value in seconds.items():
            stats[key] = stats.get(key, 0.0) + value
        yield scores


def _score_in_worker(tables: Tables, partition: int, models, as_of, options):
    """One partition's scores and the seconds it took (run in a worker)."""
    seconds: dict[str, float] = {}
    return score_partition(tables, models, as_of=as_of, options=options, stats=seconds), seconds


def check_partitions(partitions: object) -> None:
    """Refuse a partition count that is not a whole number of at least 1 (ConfigError)."""
    if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
        raise ConfigError("partitions", partitions, "a whole number of at least 1")


def _write_scores(
    chunks: Iterator[pd.DataFrame],
    total: int,
    *,
    out: Path,
    schema: pa.Schema,
    models: ScoringModels,
    as_of: pd.Timestamp,
    options: ScoreOptions,
    source: str,
    data: dict[str, str],
    stats: dict[str, float],
    on_progress: Callable[[int, int], None] | None,
    mkdir: bool = False,
) -> BatchResult:
    """Append each scored chunk to ``out`` atomically, then record and commit the run.

    ``stats["known"]`` (customers known at ``as_of``) must be set by the time the
    chunks are exhausted; the output is opened before the first chunk is made.
    """
    with AtomicParquet(out, schema, mkdir=mkdir) as sink:
        groups = []
        for done, frame in enumerate(chunks, start=1):
            with _timer(stats, "write"):
                sink.write(frame)
                groups.append(ScoreSummary.groups(frame))
            if on_progress:
                on_progress(done, total)
        summary = ScoreSummary.of_groups(groups)
        known = int(stats.pop("known", 0))
        if not summary.rows:
            raise EmptyBaseError(f"{as_of:%Y-%m-%d}", known, options.active_rule())
        meta = run_record(
            models,
            as_of=as_of,
            engine="local",
            partitions=total,
            summary=summary,
            known=known,
            source=source,
            options=options,
            data=data,
        )
        with _timer(stats, "write"):
            sink.commit(meta, key=META_KEY)
    log.info("Wrote %s: %d rows as of %s.", out, summary.rows, f"{as_of:%Y-%m-%d}")
    return BatchResult(str(out), summary, meta, stats)


def run_record(
    models: ScoringModels,
    *,
    as_of: pd.Timestamp,
    engine: str,
    partitions: int,
    summary: ScoreSummary,
    known: int | None,
    source: str,
    options: ScoreOptions,
    data: dict,
) -> dict:
    """The metadata record stored with a scores file (as read back from its JSON)."""
    record = {
        "as_of": as_of.isoformat(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "engine": engine,
        "partitions": partitions,
        "rows": summary.rows,
        "customers_known": known,
        "features": source,
        "models": {
            m.name: {"version": m.version, "run_id": m.run_id, "aliases": list(m.aliases)}
            for m in (models.churn, models.ltv, models.uplift)
            if m is not None
        },
        "uplift_source": models.uplift_source,
        "churn_horizon_days": models.horizon_days,
        "population_reference": models.population_reference.source,
        "offers": list(models.catalog.ids),
        "active_rule": options.active_rule(),
        "options": asdict(options),
        "contract_version": CONTRACT_VERSION,
        "data": data,
        "summary": asdict(summary),
    }
    return json.loads(json.dumps(record))
