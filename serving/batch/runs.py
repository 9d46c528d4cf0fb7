"""Batch scoring runs: options, summary and result, and the unit of work all engines share.

Batch scoring of the whole customer base, one customer partition at a time.

The nightly job: every customer of the population (``all`` who ever ordered by default, or
the *active* ones as :func:`features.families.population.active_customers` defines them)
is scored with :func:`serving.policy.scoring.score`, the function the HTTP service uses,
so batch and online scores always agree.

Features come from the feature snapshot of that ``as_of`` when one exists
(:func:`serving.batch.snapshot.score_snapshot`: read in chunks of rows; who is active is
read from the snapshot's own features, so no table is loaded) or are built from the tables
one customer partition at a time, for the active customers only
(:func:`serving.batch.local.score_base`): peak working memory is one chunk's, not the
base's. Each chunk's scores are appended to a temporary Parquet file beside the output,
which is renamed over it only once everything succeeded: an interrupted or failed run leaves
no partial file. The file's key-value metadata (key ``churn_scores``) records ``as_of``,
model versions and MLflow run ids, row counts and the summary.

:func:`score_partition` is the unit of work shared with the Spark engine
(:mod:`serving.batch.spark`); :func:`serving.batch.reader.campaign_scores` prepares a scores
file for :func:`serving.batch.campaign.select_campaign`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa

from features.contract.errors import SnapshotError
from features.contract.load import empty_tables
from features.contract.schema import CUSTOMER_ID
from features.contract.tables import Tables
from features.families.build import DEFAULT_WINDOWS, build_features
from features.families.events import known_before
from features.families.population import ACTIVE_DAYS, active_customers, population_in_features
from serving.policy.catalog import RISK_BANDS
from serving.policy.decide import NO_OFFER_KINDS
from serving.policy.scores import SCORE_COLUMNS, SCORE_TYPES

if TYPE_CHECKING:  # scoring loads LightGBM and scikit-learn (seconds); the score reader does not
    from serving.policy.scoring import ScoringModels
    from training.models.churn import Attribution

__all__ = [
    "META_KEY",
    "META_SIDECAR",
    "BatchResult",
    "ScoreOptions",
    "ScoreSummary",
    "check_features",
    "score_partition",
    "score_schema",
]

log = logging.getLogger(__name__)

META_KEY = b"churn_scores"
"""Parquet key-value metadata key of a scores file's record (JSON)."""
META_SIDECAR = "_churn_scores.json"
"""The record's file inside a scores *folder* (as the Spark engine writes)."""


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
        :func:`serving.policy.scoring.score`.
    """

    windows: tuple[int, ...] = DEFAULT_WINDOWS
    sla_hours: float = 48.0
    min_orders: int = 1
    active_days: int | None = ACTIVE_DAYS
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


GROUP_KEYS = ("status", "risk_band", "offer_id", "no_offer")
"""What a scoring run's summary counts by; ``no_offer`` is the kind of ``no_offer_reason``."""
STATUSES = ("active", "lapsed", "cancelled")


@dataclass(frozen=True)
class ScoreSummary:
    """What a scoring run produced.

    Attributes
    ----------
    rows : int
        Customers scored.
    statuses : dict of str to int
        Customers per status (active, lapsed, cancelled).
    risk_bands : dict of str to int
        Customers per risk band, lowest risk first.
    offers : dict of str to int
        Customers per recommended offer id, most frequent first.
    no_offer : dict of str to int
        Customers without an offer per kind of reason, in the order low risk, not
        eligible, none pays, cancelled.
    expected_value : float
        Σ expected net value of the recommended offers, currency units.
    """

    rows: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    risk_bands: dict[str, int] = field(default_factory=dict)
    offers: dict[str, int] = field(default_factory=dict)
    no_offer: dict[str, int] = field(default_factory=dict)
    expected_value: float = 0.0

    @property
    def offers_recommended(self) -> int:
        """Customers with a recommended offer."""
        return sum(self.offers.values())

    @staticmethod
    def groups(scores: pd.DataFrame) -> pd.DataFrame:
        """Counts and expected value per :data:`GROUP_KEYS` of a scores chunk.

        Returns
        -------
        DataFrame
            :data:`GROUP_KEYS` (``offer_id`` NA for no offer, ``no_offer`` NA with one),
            ``n`` and ``value`` (Σ expected value); what the Spark engine computes with a
            ``groupBy``.
        """
        kind = scores["no_offer_reason"].astype("string").str.split(":", n=1).str[0]
        return (
            scores.assign(
                n=1,
                value=scores["expected_value"].where(scores["offer_id"].notna(), 0.0),
                no_offer=kind,
            )
            .groupby(list(GROUP_KEYS), dropna=False, sort=False)[["n", "value"]]
            .sum()
            .reset_index()
        )

    @classmethod
    def of_groups(cls, groups: Sequence[pd.DataFrame]) -> ScoreSummary:
        """Sum :meth:`groups` of every chunk into one summary."""
        frame = (
            pd.concat(list(groups), ignore_index=True)
            if groups
            else pd.DataFrame({k: [] for k in (*GROUP_KEYS, "n", "value")})
        )
        statuses = frame.groupby("status")["n"].sum()
        bands = frame.groupby("risk_band")["n"].sum()
        offered = frame.loc[frame["offer_id"].notna()]
        offers = offered.groupby("offer_id")["n"].sum().sort_values(ascending=False, kind="stable")
        none = frame.groupby("no_offer")["n"].sum()
        kinds = [k for k in NO_OFFER_KINDS if k in none.index]
        none = none.reindex([*kinds, *sorted(set(none.index) - set(kinds))])
        return cls(
            rows=int(frame["n"].sum()),
            statuses={status: int(statuses.get(status, 0)) for status in STATUSES},
            risk_bands={band: int(bands.get(band, 0)) for band in RISK_BANDS},
            offers={str(k): int(v) for k, v in offers.items()},
            no_offer={str(k): int(v) for k, v in none.items()},
            expected_value=math.fsum(offered["value"].astype(float)),
        )

    def describe(self, as_of: pd.Timestamp) -> str:
        """The headline, e.g. ``"4,316 customers scored as of 2025-12-31: 3,012 active,
        763 lapsed, 541 cancelled."``."""
        parts = ", ".join(f"{n:,} {status}" for status, n in self.statuses.items())
        return f"{self.rows:,} customers scored as of {as_of:%Y-%m-%d}: {parts}."

    def describe_no_offer(self) -> str:
        """Why customers got no offer, one line: ``"3,120 low risk · 850 none pays"``."""
        return " · ".join(f"{n:,} {kind}" for kind, n in self.no_offer.items()) or "-"


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


def score_schema(id_type: pa.DataType, horizon_days: int | None = None) -> pa.Schema:
    """The Arrow schema of a scores file, columns :data:`serving.policy.scores.SCORE_COLUMNS`.

    ``id_type`` is ``pa.int64()`` when customer ids are integers, else ``pa.string()``.
    With ``horizon_days`` (the churn model's), the ``churn_probability`` field's metadata
    says so: ``{"horizon_days": "90"}``.
    """
    fields = [pa.field(CUSTOMER_ID, id_type)]
    for name, kind in SCORE_TYPES.items():
        meta = None
        if name == "churn_probability" and horizon_days is not None:
            meta = {"horizon_days": str(horizon_days), "unit": "probability over the horizon"}
        fields.append(pa.field(name, kind, metadata=meta))
    return pa.schema(fields)


def id_type_of(ids: pd.Series) -> pa.DataType:
    """Arrow type of customer ids as :func:`features.contract.load.load_tables` leaves them."""
    return pa.int64() if pd.api.types.is_integer_dtype(ids) else pa.string()


def score_features(
    features: pd.DataFrame,
    models: ScoringModels,
    options: ScoreOptions,
    as_of: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Score every row of ``features`` (active customers' features) with ``options``.

    Returns
    -------
    DataFrame, shape (n, len(SCORE_COLUMNS))
        As :func:`serving.policy.scoring.score`; empty (with the same columns) when ``features``
        is.
    """
    if features.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in SCORE_COLUMNS})
    from serving.policy.scoring import score

    return score(
        features, models, reasons=options.reasons, attribution=options.attribution, as_of=as_of
    )


def score_partition(
    tables: Tables,
    models: ScoringModels,
    *,
    as_of: pd.Timestamp,
    options: ScoreOptions,
    stats: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Build features for the population's customers of a set of whole customers; score them.

    A pure function of the customers in ``tables`` (all their events included), so
    any partition of the base by customer gives the same rows; this is what both the
    local and the Spark engine run per partition. With the active population, features
    are built for the active customers only (features of a customer depend on that
    customer's events alone).

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
    DataFrame, shape (n_population, len(SCORE_COLUMNS))
        One row per customer of the population at ``as_of``, sorted by ``customer_id``.
    """
    stats = {} if stats is None else stats
    known = known_before(tables.customers["signup_at"], as_of)
    stats["known"] = stats.get("known", 0) + int(known.sum())
    with _timer(stats, "features"):
        # the population rule applied once: on the tables for the active (then features
        # are built for them only), on the features for all who ordered
        if options.active_days is not None:
            tables = tables.of_customers(
                active_customers(
                    tables, as_of, min_orders=options.min_orders, active_days=options.active_days
                )[CUSTOMER_ID]
            )
        features = build_features(
            tables, as_of=as_of, windows=options.windows, sla_hours=options.sla_hours
        )
        if options.active_days is None:
            features = features.loc[
                population_in_features(features, min_orders=options.min_orders, active_days=None)
            ]
    with _timer(stats, "score"):
        return score_features(features, models, options, as_of)


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


def feature_names(options: ScoreOptions, *, events: bool = False) -> list[str]:
    """The feature columns :func:`features.families.build.build_features` makes with ``options``.

    Read from its output on typed empty tables (no customer needed); with ``events``, as
    for data that has an ``events`` table (the engagement family).
    """
    tables = empty_tables(absent=frozenset() if events else frozenset({"events"}))
    frame = build_features(
        tables, as_of="2000-02-01", windows=options.windows, sla_hours=options.sla_hours
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
            "are older (or built with other windows, or without an optional table such as "
            "events that the training data had) than the models' feature set: rebuild "
            "them with `churn features --as-of ...` using the settings the models were "
            "trained with, or score with models trained on these features."
        )
