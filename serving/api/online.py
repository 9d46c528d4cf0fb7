"""The online view: champion models, the latest feature snapshot and every customer's score.

At load, every customer of the snapshot is scored once with :func:`serving.policy.scoring.score`,
the function the nightly batch uses, so a request by customer id is a lookup and both
paths always say the same thing. Scores depend only on the models, the snapshot and the
offer catalog, and those change only together, through a new :class:`OnlineState` that
replaces the old one in a single reference swap (see :mod:`serving.api.hot_reload`).

A state is identified by a :class:`StateKey`: the two model versions, the snapshot file
and the offer catalog file with their modification times. :func:`current_key` reads the
key the registry and the data folder point at now; :func:`load_state` builds its state.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow import MlflowClient

from features.contract.errors import ModelRegistryError, SnapshotError
from features.contract.schema import CUSTOMER_ID
from features.io.snapshot import SnapshotMeta, latest_snapshot, read_snapshot
from serving.api.feature_rows import feature_kinds, frame_problems
from serving.models import load_scoring_models
from serving.policy.catalog import OPTIONAL_COLUMNS, ORDER_VALUE, order_value
from serving.policy.scores import SCORE_COLUMNS
from serving.policy.scoring import ScoringModels, score
from training.registry.registry import CHAMPION, CHURN_MODEL, LTV_MODEL, alias_version
from training.registry.tracking import resolve_uri

log = logging.getLogger(__name__)

MAX_REASONS = 5
"""Reasons in words computed per customer at load; requests ask for up to this many."""

CHUNK_ROWS = 50_000
"""Customers scored per :func:`~serving.policy.scoring.score` call at load (bounds peak memory)."""


def customer_key(customer_id: object) -> str:
    """The lookup key of a customer id: its text, so ``17`` and ``"17"`` are one customer."""
    return str(customer_id)


@dataclass(frozen=True)
class OnlineSource:
    """Where the online view is loaded from.

    Attributes
    ----------
    tracking_uri : str or None
        MLflow tracking/registry URI; ``MLFLOW_TRACKING_URI`` wins, else the local store.
    snapshot_dir : Path
        Folder of the feature snapshots (``<data dir>/features``); the latest is served.
    offers_file : Path
        The offer catalog (``offers.toml``).
    alias : str, default "champion"
        Registry alias of both models.
    """

    tracking_uri: str | None
    snapshot_dir: Path
    offers_file: Path
    alias: str = CHAMPION

    def client(self) -> MlflowClient:
        """A registry client for this source's tracking URI."""
        uri = resolve_uri(self.tracking_uri)
        return MlflowClient(tracking_uri=uri, registry_uri=uri)


@dataclass(frozen=True)
class StateKey:
    """What an online state was built from; a different key means a reload is due."""

    churn_version: str
    ltv_version: str
    snapshot: str
    snapshot_mtime_ns: int
    offers_mtime_ns: int

    def describe(self) -> str:
        """``churn-classifier v3, ltv-regressor v2, snapshot features_2025-12-31.parquet``."""
        return (
            f"{CHURN_MODEL} v{self.churn_version}, {LTV_MODEL} v{self.ltv_version}, "
            f"snapshot {Path(self.snapshot).name}"
        )


def _mtime_ns(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1


def current_key(source: OnlineSource, *, client: MlflowClient | None = None) -> StateKey:
    """The key the registry aliases and the snapshot folder point at now.

    Raises
    ------
    ModelRegistryError
        When either model has no version under ``source.alias``.
    SnapshotError
        When the folder holds no snapshot.
    """
    client = client or source.client()
    versions = {}
    for name in (CHURN_MODEL, LTV_MODEL):
        version = alias_version(name, source.alias, client=client)
        if version is None:
            raise ModelRegistryError(
                f"Registered model '{name}' has no '{source.alias}' version in "
                f"{resolve_uri(source.tracking_uri)}; train and promote one with "
                "`churn train --promote`."
            )
        versions[name] = version
    snapshot = latest_snapshot(source.snapshot_dir)
    return StateKey(
        churn_version=versions[CHURN_MODEL],
        ltv_version=versions[LTV_MODEL],
        snapshot=str(snapshot),
        snapshot_mtime_ns=_mtime_ns(snapshot),
        offers_mtime_ns=_mtime_ns(Path(source.offers_file)),
    )


@dataclass(frozen=True, eq=False)
class OnlineState:
    """One consistent online view; never modified after :func:`load_state` builds it.

    Attributes
    ----------
    key : StateKey
    models : ScoringModels
    snapshot_meta : SnapshotMeta
    features : DataFrame, shape (n_customers, n_features + 1)
        The snapshot rows, ``customer_id`` included, in row order.
    scores : DataFrame, shape (n_customers, len(SCORE_COLUMNS))
        :func:`~serving.policy.scoring.score` of ``features`` with :data:`MAX_REASONS` reasons,
        same row order.
    loaded_at : datetime
        When the state was built (UTC).
    load_seconds : float
        How long loading and scoring took, seconds.
    """

    key: StateKey
    models: ScoringModels
    snapshot_meta: SnapshotMeta
    features: pd.DataFrame = field(repr=False)
    scores: pd.DataFrame = field(repr=False)
    loaded_at: datetime
    load_seconds: float
    _rows: dict[str, int] = field(init=False, repr=False)
    _columns: dict[str, list] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rows = {customer_key(c): i for i, c in enumerate(self.scores[CUSTOMER_ID].tolist())}
        columns = {c: [_plain(v) for v in self.scores[c].tolist()] for c in SCORE_COLUMNS}
        object.__setattr__(self, "_rows", rows)
        object.__setattr__(self, "_columns", columns)

    @property
    def customers(self) -> int:
        """Customers in the snapshot."""
        return len(self._rows)

    def rows(self, customer_ids: Iterable[object]) -> list[int | None]:
        """Row number of each customer id, None for ids not in the snapshot."""
        get = self._rows.get
        return [get(customer_key(c)) for c in customer_ids]

    def score_record(self, row: int, *, reasons: int = 3) -> dict[str, Any]:
        """The precomputed score of snapshot row ``row`` as plain Python values.

        Keys are :data:`~serving.policy.scores.SCORE_COLUMNS`; ``reasons`` is cut to the first
        ``reasons`` phrases; missing offer fields are None.
        """
        record = {c: values[row] for c, values in self._columns.items()}
        record["reasons"] = (record["reasons"] or [])[:reasons]
        return record

    def outside_population(self, row: int) -> str | None:
        """Why snapshot row ``row`` is outside the models' population, or None.

        A ``lapsed`` customer (no order in the last 90 days, or none at all) is outside a
        churn model trained on the ``active`` population: its score would be a guess.
        Cancelled customers are always answered (as churned).
        """
        status = self._columns["status"][row]
        if status != "lapsed" or self.models.population == "all":
            return None
        return (
            "lapsed customer (no order in the last 90 days): the models were trained on "
            'active customers only; set [scoring] population = "all" and retrain to '
            "score lapsed customers"
        )

    def offer_inputs(self, row: int) -> dict[str, Any]:
        """What the offer policy reads for snapshot row ``row`` (None when unknown)."""
        record = self.score_record(row, reasons=0)
        out = {
            "churn_probability": record["churn_probability"],
            "predicted_ltv": record["predicted_ltv"],
            "status": record["status"],
        }
        for column in OPTIONAL_COLUMNS:
            out[column] = (
                _plain(self.features[column].iat[row]) if column in self.features.columns else None
            )
        out[ORDER_VALUE] = _plain(order_value(self.features.iloc[[row]]).iat[0])
        return out


def _plain(value: object) -> object:
    """A numpy/pandas scalar as a Python value; missing values (NaN, NA, NaT) as None."""
    if isinstance(value, list | tuple | np.ndarray):
        return list(value)
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):  # a date of the scores (next_order_date)
        return f"{value:%Y-%m-%d}"
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def score_in_chunks(
    features: pd.DataFrame,
    models: ScoringModels,
    *,
    chunk_rows: int = CHUNK_ROWS,
    as_of: str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """:func:`~serving.policy.scoring.score` of ``features``, :data:`MAX_REASONS` reasons, chunked.

    Returns
    -------
    DataFrame, shape (len(features), len(SCORE_COLUMNS))
        Same row order as ``features``, fresh RangeIndex.
    """
    parts = [
        score(
            features.iloc[i : i + chunk_rows],
            models,
            reasons=MAX_REASONS,
            as_of=None if as_of is None else pd.Timestamp(as_of),
        )
        for i in range(0, len(features), chunk_rows)
    ]
    if not parts:
        return pd.DataFrame(columns=list(SCORE_COLUMNS))
    return pd.concat(parts, ignore_index=True)


def load_state(source: OnlineSource, key: StateKey | None = None) -> OnlineState:
    """Load the models and the snapshot ``key`` names and score every customer.

    Parameters
    ----------
    source : OnlineSource
    key : StateKey, optional
        What to load; default :func:`current_key`. Models are loaded by version number,
        not alias, so an alias moving during the load cannot mix versions.

    Returns
    -------
    OnlineState

    Raises
    ------
    ModelRegistryError, SnapshotError, ConfigError
        When a model, the snapshot or the offer catalog cannot be loaded, or the
        snapshot lacks a feature the models need or holds one of the wrong kind
        (the snapshot file is named).
    """
    start = time.perf_counter()
    key = key or current_key(source)
    models = load_scoring_models(
        tracking_uri=source.tracking_uri,
        churn_ref=key.churn_version,
        ltv_ref=key.ltv_version,
        offers_file=source.offers_file,
    )
    features, meta = read_snapshot(key.snapshot)
    features = features.reset_index(drop=True)
    if problems := frame_problems(features, feature_kinds(models)):
        raise SnapshotError(
            f"Feature snapshot {key.snapshot} does not fit the served models "
            f"({key.describe()}): {'; '.join(problems)}. Rebuild it with `churn features`."
        )
    try:
        scores = score_in_chunks(features, models, as_of=meta.as_of)
    except Exception as e:  # whatever the snapshot holds, say which file it was
        raise SnapshotError(
            f"Cannot score feature snapshot {key.snapshot} with {key.describe()}: "
            f"{type(e).__name__}: {e}. Rebuild it with `churn features`."
        ) from e
    state = OnlineState(
        key=key,
        models=models,
        snapshot_meta=meta,
        features=features,
        scores=scores,
        loaded_at=datetime.now(UTC),
        load_seconds=time.perf_counter() - start,
    )
    log.info(
        "Loaded %s: %d customers as of %s, scored in %.1f s.",
        key.describe(),
        state.customers,
        meta.as_of,
        state.load_seconds,
    )
    return state
