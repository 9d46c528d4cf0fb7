"""Batch scoring of the whole customer base, one customer partition at a time.

The nightly job: every customer *active* at ``as_of`` (signed up, not cancelled, at
least one order and one in the 90 days before, as :func:`training.labels.active_customers`
defines it for training) is scored with :func:`serving.scoring.score`, the function the
HTTP service uses, so batch and online scores always agree.

Features come from the feature snapshot of that ``as_of`` when one exists
(:func:`score_snapshot`: read in chunks of rows; who is active is read from the
snapshot's own features, so no table is loaded) or are built from the tables one
customer partition at a time, for the active customers only (:func:`score_base`):
peak working memory is one chunk's, not the base's. Each chunk's scores are appended
to a temporary Parquet file beside the output, which is renamed over it only once
everything succeeded: an interrupted or failed run leaves no partial file. The file's
key-value metadata (key ``churn_scores``) records ``as_of``, model versions and MLflow
run ids, row counts and the summary.

:func:`score_partition` is the unit of work shared with the Spark engine
(:mod:`serving.spark`); :func:`campaign_scores` prepares a scores file for
:func:`serving.campaign.select_campaign`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.atomic import AtomicTarget
from features.build import DEFAULT_WINDOWS, build_features, feature_inputs, split_tables
from features.errors import ConfigError, EmptyBaseError, OutputError, SnapshotError
from features.events import as_utc, days_before
from features.load import Tables, fingerprint, table_files, validate_tables
from features.schema import CONTRACT_VERSION, CUSTOMER_ID
from features.snapshot import read_meta, snapshot_path
from serving.campaign import SCORE_COLUMNS as CAMPAIGN_COLUMNS
from serving.offers import RISK_BANDS, OfferCatalog, require_columns
from training.labels import ACTIVE_FEATURES, active_customers, population_in_features

if TYPE_CHECKING:  # serving.scoring imports MLflow: only scoring needs it, not campaigns
    from serving.scoring import ScoringModels
    from training.churn_model import Attribution

__all__ = [
    "META_KEY",
    "META_SIDECAR",
    "BatchResult",
    "ScoreOptions",
    "ScoreSummary",
    "campaign_scores",
    "check_features",
    "check_partitions",
    "find_snapshot",
    "read_scores",
    "score_base",
    "score_partition",
    "score_schema",
    "score_snapshot",
]

log = logging.getLogger(__name__)

META_KEY = b"churn_scores"
"""Parquet key-value metadata key of a scores file's record (JSON)."""
META_SIDECAR = "_churn_scores.json"
"""The record's file inside a scores *folder* (as the Spark engine writes)."""

_VALUE_TYPES: dict[str, pa.DataType] = {
    "status": pa.string(),
    "churn_probability": pa.float64(),
    "risk_band": pa.string(),
    "predicted_ltv": pa.float64(),
    "value_segment": pa.string(),
    "reasons": pa.list_(pa.string()),
    "offer_id": pa.string(),
    "offer_name": pa.string(),
    "offer_cost": pa.float64(),
    "expected_value": pa.float64(),
    "churn_model_version": pa.string(),
    "ltv_model_version": pa.string(),
}
"""Types of the score columns after ``customer_id``, in ``serving.scoring.SCORE_COLUMNS`` order."""


@dataclass(frozen=True)
class ScoreOptions:
    """How features and the scored base are defined (one scoring run's settings).

    Attributes
    ----------
    windows : tuple of int
        Feature look-back windows, days (as the models were trained with).
    sla_hours : float
        Support resolution SLA, hours.
    min_orders : int
        Orders before ``as_of`` needed to count as active.
    active_days : int or None
        An order within this many days before ``as_of`` is needed to count as active.
    reasons : int
        Reasons in words per customer (0 skips the contribution computation).
    attribution : {"path", "shap"}
        The churn model's feature contributions behind the reasons: path attributions
        (about a predict's cost) or exact TreeSHAP (≈ 40× dearer); see
        :func:`serving.scoring.score`.
    """

    windows: tuple[int, ...] = DEFAULT_WINDOWS
    sla_hours: float = 48.0
    min_orders: int = 1
    active_days: int | None = 90
    reasons: int = 3
    attribution: Attribution = "path"

    def active_rule(self) -> str:
        """The definition of the scored population, in words."""
        if self.active_days is None:
            return (
                f"signed up, at least {self.min_orders} order(s) (population all: lapsed "
                "customers included, cancelled ones reported as churned)"
            )
        return (
            f"signed up, not cancelled, at least {self.min_orders} order(s), one in the "
            f"{self.active_days} days before (population active)"
        )


@dataclass(frozen=True)
class ScoreSummary:
    """What a scoring run produced.

    Attributes
    ----------
    rows : int
        Customers scored.
    risk_bands : dict of str to int
        Customers per risk band, lowest risk first.
    offers : dict of str to int
        Customers per recommended offer id, most frequent first.
    expected_value : float
        Σ expected net value of the recommended offers, currency units.
    """

    rows: int = 0
    risk_bands: dict[str, int] = field(default_factory=dict)
    offers: dict[str, int] = field(default_factory=dict)
    expected_value: float = 0.0

    @property
    def offers_recommended(self) -> int:
        """Customers with a recommended offer."""
        return sum(self.offers.values())

    @staticmethod
    def groups(scores: pd.DataFrame) -> pd.DataFrame:
        """Counts and expected value per (risk band, offer id) of a scores chunk.

        Returns
        -------
        DataFrame
            ``risk_band``, ``offer_id`` (NA for no offer), ``n`` and ``value`` (Σ
            expected value); what the Spark engine computes with a ``groupBy``.
        """
        return (
            scores.assign(
                n=1, value=scores["expected_value"].where(scores["offer_id"].notna(), 0.0)
            )
            .groupby(["risk_band", "offer_id"], dropna=False, sort=False)[["n", "value"]]
            .sum()
            .reset_index()
        )

    @classmethod
    def of_groups(cls, groups: Sequence[pd.DataFrame]) -> ScoreSummary:
        """Sum :meth:`groups` of every chunk into one summary."""
        frame = (
            pd.concat(list(groups), ignore_index=True)
            if groups
            else pd.DataFrame({"risk_band": [], "offer_id": [], "n": [], "value": []})
        )
        bands = frame.groupby("risk_band")["n"].sum()
        offered = frame.loc[frame["offer_id"].notna()]
        offers = offered.groupby("offer_id")["n"].sum().sort_values(ascending=False, kind="stable")
        return cls(
            rows=int(frame["n"].sum()),
            risk_bands={band: int(bands.get(band, 0)) for band in RISK_BANDS},
            offers={str(k): int(v) for k, v in offers.items()},
            expected_value=math.fsum(offered["value"].astype(float)),
        )


@dataclass(frozen=True)
class BatchResult:
    """A finished scoring run.

    Attributes
    ----------
    path : str
        The scores written (a Parquet file; a folder of part files for Spark).
    summary : ScoreSummary
    meta : dict
        The metadata record stored with the scores (see :func:`read_scores`).
    seconds : dict of str to float
        Wall-clock time per stage, seconds: ``partition`` (splitting the tables by
        customer), ``features`` (building, or reading the snapshot), ``score``, ``write``.
    """

    path: str
    summary: ScoreSummary
    meta: dict
    seconds: dict[str, float]


# --------------------------------------------------------------------------------------
# The unit of work, shared with the Spark engine


def score_schema(id_type: pa.DataType) -> pa.Schema:
    """The Arrow schema of a scores file, columns :data:`serving.scoring.SCORE_COLUMNS`.

    ``id_type`` is ``pa.int64()`` when customer ids are integers, else ``pa.string()``.
    """
    return pa.schema([(CUSTOMER_ID, id_type), *_VALUE_TYPES.items()])


def id_type_of(ids: pd.Series) -> pa.DataType:
    """Arrow type of customer ids as :func:`features.load.load_tables` leaves them."""
    return pa.int64() if pd.api.types.is_integer_dtype(ids) else pa.string()


def score_features(
    features: pd.DataFrame, models: ScoringModels, options: ScoreOptions
) -> pd.DataFrame:
    """Score every row of ``features`` (active customers' features) with ``options``.

    Returns
    -------
    DataFrame, shape (n, len(SCORE_COLUMNS))
        As :func:`serving.scoring.score`; empty (with the same columns) when ``features``
        is.
    """
    if features.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in [CUSTOMER_ID, *_VALUE_TYPES]})
    from serving.scoring import score

    return score(features, models, reasons=options.reasons, attribution=options.attribution)


def score_partition(
    tables: Tables,
    models: ScoringModels,
    *,
    as_of: pd.Timestamp,
    options: ScoreOptions,
    stats: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Build features for the active customers of a set of whole customers; score them.

    A pure function of the customers in ``tables`` (all their events included), so
    any partition of the base by customer gives the same rows; this is what both the
    local and the Spark engine run per partition. Features are built for the active
    customers only (features of a customer depend on that customer's events alone).

    Parameters
    ----------
    tables : Tables
        Validated tables holding whole customers.
    models : ScoringModels
    as_of : Timestamp
        Feature cutoff (exclusive, UTC).
    options : ScoreOptions
    stats : dict, optional
        When given, ``features`` and ``score`` (seconds) and ``known`` (customers signed
        up before ``as_of``) are added to it.

    Returns
    -------
    DataFrame, shape (n_active, len(SCORE_COLUMNS))
        One row per customer active at ``as_of``, sorted by ``customer_id``.
    """
    stats = {} if stats is None else stats
    known = days_before(tables.customers["signup_at"], as_of) > 0
    stats["known"] = stats.get("known", 0) + int(known.sum())
    with _timer(stats, "features"):
        if options.active_days is not None:  # build features for the active ones only
            tables = tables.of_customers(
                active_customers(
                    tables, as_of, min_orders=options.min_orders, active_days=options.active_days
                )[CUSTOMER_ID]
            )
        features = build_features(
            tables, as_of=as_of, windows=options.windows, sla_hours=options.sla_hours
        )
        features = features.loc[
            population_in_features(
                features, min_orders=options.min_orders, active_days=options.active_days
            )
        ]
    with _timer(stats, "score"):
        return score_features(features, models, options)


@contextmanager
def _timer(stats: dict[str, float], key: str) -> Iterator[None]:
    """Add the block's wall-clock seconds to ``stats[key]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        stats[key] = stats.get(key, 0.0) + time.perf_counter() - start


def _timed_iter(items: Iterator, stats: dict[str, float], key: str) -> Iterator:
    """``items``, the seconds spent producing them added to ``stats[key]``."""
    while True:
        with _timer(stats, key):
            item = next(items, _DONE)
        if item is _DONE:
            return
        yield item


_DONE = object()


def feature_names(options: ScoreOptions) -> list[str]:
    """The feature columns :func:`features.build.build_features` makes with ``options``.

    Found by building features for one made-up customer (a few milliseconds).
    """
    probe = validate_tables(
        {
            "customers": pd.DataFrame({CUSTOMER_ID: [1], "signup_at": ["2000-01-01"]}),
            "transactions": pd.DataFrame(
                {CUSTOMER_ID: [1], "ordered_at": ["2000-01-02"], "amount": [1.0]}
            ),
        }
    )
    frame = build_features(
        probe, as_of="2000-02-01", windows=options.windows, sla_hours=options.sla_hours
    )
    return [c for c in frame.columns if c != CUSTOMER_ID]


def check_features(available: Sequence[str], models: ScoringModels, *, source: str) -> None:
    """Refuse features that lack a column either model was trained with.

    Raises
    ------
    SnapshotError
        Naming ``source``, the models and up to ten missing features.
    """
    have = set(available)
    missing = [name for name in models.feature_names if name not in have]
    if missing:
        versions = ", ".join(f"{name} v{v}" for name, v in models.versions.items())
        raise SnapshotError(
            f"{source} lacks {len(missing)} feature(s) that {versions} were trained with: "
            f"{', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}. The features "
            "are older (or built with other windows) than the models' feature set: rebuild "
            "them with `churn features --as-of ...` using the settings the models were "
            "trained with, or score with models trained on these features."
        )


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
    path = snapshot_path(Path(data_dir) / "features", as_utc(as_of))
    if not path.is_file():
        return None
    try:
        meta = read_meta(path)
    except SnapshotError as e:
        log.warning("Not reusing %s: %s", path, e)
        return None
    if as_utc(meta.as_of) != as_utc(as_of):
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
    (:func:`training.labels.active_in_features`: the same rule, the same customers), so
    the nightly job that reuses a snapshot does not load the tables again.

    Parameters
    ----------
    snapshot : path
        A feature snapshot (:func:`features.snapshot.make_snapshot`) as of ``as_of``.
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
    if as_utc(meta.as_of) != as_of:
        raise SnapshotError(
            f"Feature snapshot {path} is as of {as_utc(meta.as_of):%Y-%m-%d}, not "
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
                scores = score_features(features.loc[scored], models, options)
            yield scores

    return _write_scores(
        chunks(),
        max(1, math.ceil(rows / chunk)),
        out=Path(out),
        schema=score_schema(pa.int64() if pa.types.is_integer(id_type) else pa.string()),
        models=models,
        as_of=as_of,
        options=options,
        source=f"snapshot {path}",
        data={name: str(p) for name, p in (sources or {}).items()},
        stats=stats,
        on_progress=on_progress,
        mkdir=mkdir,
    )


# --------------------------------------------------------------------------------------
# The local engine


class _AtomicParquet:
    """A Parquet file written in row groups to a temporary file, renamed into place on commit.

    The temporary file (:class:`features.atomic.AtomicTarget`) is made on entry, so an
    unwritable output fails before any work; leaving the block without :meth:`commit`
    (an error, Ctrl-C) deletes it.
    """

    def __init__(self, path: Path, schema: pa.Schema, *, mkdir: bool = False):
        self.path, self.schema = path, schema
        self.target = AtomicTarget(path, mkdir=mkdir)
        self.writer: pq.ParquetWriter | None = None

    def __enter__(self) -> _AtomicParquet:
        tmp = self.target.open()
        try:
            self.writer = pq.ParquetWriter(tmp, self.schema)
        except OSError as e:
            self._discard()
            raise OutputError(str(self.path), e.strerror or str(e)) from e
        return self

    def write(self, frame: pd.DataFrame) -> None:
        """Append ``frame`` (columns of the schema) as one row group."""
        if len(frame):
            table = pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False)
            self.writer.write_table(table)

    def commit(self, meta: dict) -> None:
        """Store ``meta`` in the file's metadata, close it and rename it over the output."""
        self.writer.add_key_value_metadata({META_KEY: json.dumps(meta).encode()})
        self.writer.close()
        self.writer = None
        self.target.commit()

    def _discard(self) -> None:
        if self.writer is not None:
            try:
                self.writer.close()
            except Exception:  # noqa: BLE001 - already failing; the file is deleted next
                log.debug("closing the temporary scores file failed", exc_info=True)
            self.writer = None
        self.target.discard()

    def __exit__(self, *exc) -> None:
        self._discard()


def score_base(
    tables: Tables,
    models: ScoringModels,
    *,
    as_of: str | pd.Timestamp,
    out: str | os.PathLike[str],
    partitions: int = 4,
    options: ScoreOptions = ScoreOptions(),
    on_progress: Callable[[int, int], None] | None = None,
    mkdir: bool = False,
) -> BatchResult:
    """Build features and score every customer active at ``as_of``, partition by partition.

    Parameters
    ----------
    tables : Tables
        The validated tables.
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
    check_features(feature_names(options), models, source="The feature build")
    stats: dict[str, float] = {"partition": 0.0, "features": 0.0, "score": 0.0, "write": 0.0}
    chunks = (
        score_partition(part, models, as_of=as_of, options=options, stats=stats)
        for part in _timed_iter(
            split_tables(feature_inputs(tables), partitions), stats, "partition"
        )
    )
    return _write_scores(
        chunks,
        partitions,
        out=Path(out),
        schema=score_schema(id_type_of(tables.customers[CUSTOMER_ID])),
        models=models,
        as_of=as_of,
        options=options,
        source="built from the tables",
        data={name: str(p) for name, p in tables.sources.items()},
        stats=stats,
        on_progress=on_progress,
        mkdir=mkdir,
    )


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
    with _AtomicParquet(out, schema, mkdir=mkdir) as sink:
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
            sink.commit(meta)
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
            for m in (models.churn, models.ltv)
        },
        "offers": list(models.catalog.ids),
        "active_rule": options.active_rule(),
        "options": asdict(options),
        "contract_version": CONTRACT_VERSION,
        "data": data,
        "summary": asdict(summary),
    }
    return json.loads(json.dumps(record))


# --------------------------------------------------------------------------------------
# Reading scores; preparing a campaign


def read_scores(path: str | os.PathLike[str]) -> tuple[pd.DataFrame, dict]:
    """Read a scores file (or a Spark engine's folder of part files) and its record.

    Returns
    -------
    (DataFrame, dict)
        The scores and the metadata record (empty when there is none).

    Raises
    ------
    ConfigError
        When ``path`` does not exist or is not readable Parquet.
    """
    path = Path(path)
    expected = "a scores Parquet file (or folder) written by `churn score`"
    if not path.exists():
        raise ConfigError("scores file", str(path), expected)
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as e:
        raise ConfigError("scores file", str(path), f"{expected} ({e})") from e
    if path.is_dir():
        sidecar = path / META_SIDECAR
        meta = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else {}
    else:  # in the footer's key-value metadata, not in the Arrow schema
        raw = (pq.read_metadata(path).metadata or {}).get(META_KEY)
        meta = json.loads(raw) if raw else {}
    return table.to_pandas(), meta


def campaign_scores(scores: pd.DataFrame, catalog: OfferCatalog) -> pd.DataFrame:
    """Add each recommended offer's ``uplift`` from the catalog, for ``select_campaign``.

    Parameters
    ----------
    scores : DataFrame
        Scores as :func:`score_base` writes them (at least
        :data:`serving.campaign.SCORE_COLUMNS` but ``uplift``).
    catalog : OfferCatalog
        The catalog the scores were made with.

    Returns
    -------
    DataFrame
        ``scores`` with an ``uplift`` column (0–1; NaN where no offer is recommended).

    Raises
    ------
    ConfigError
        When a column is missing, or an offer in the scores is not in the catalog or
        costs something else there (the scores were made with another catalog).
    """
    require_columns(scores, [c for c in CAMPAIGN_COLUMNS if c != "uplift"], what="scores")
    offered = scores.loc[scores["offer_id"].notna(), ["offer_id", "offer_cost"]]
    unknown = sorted(set(offered["offer_id"]) - set(catalog.ids))
    if unknown:
        raise ConfigError(
            "offer ids in the scores",
            unknown,
            f"offers of the catalog ({', '.join(catalog.ids)}); score again with this catalog",
        )
    cost = offered["offer_id"].map({o.id: o.cost for o in catalog.offers})
    differs = ~np.isclose(offered["offer_cost"].astype(float), cost.astype(float))
    if differs.any():
        first = offered.loc[differs].iloc[0]
        raise ConfigError(
            f"cost of offer {first['offer_id']} in the scores",
            float(first["offer_cost"]),
            f"the catalog's {catalog.offer(first['offer_id']).cost:g}; the scores were made "
            "with another catalog, score again",
        )
    return scores.assign(uplift=scores["offer_id"].map({o.id: o.uplift for o in catalog.offers}))
