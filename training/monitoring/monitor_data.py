"""The data side of drift monitoring: the champion's training rows and today's rows.

The reference is rebuilt, not stored: features are point in time, so features as of a
past cutoff computed from today's (append-only) history are exactly the ones the
champion was trained on, and its training run records the cutoffs
(``churn.train_cutoffs``) and the feature options (``config.*``). When the history was
rewritten instead, the training run's own files are used if they still exist unchanged
(their SHA-256 is in the run's ``data.json``). See :func:`reference_tables`.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from features.contract.errors import IncompleteHorizonError, ModelRegistryError, SnapshotError
from features.contract.files import fingerprint
from features.contract.schema import CUSTOMER_ID
from features.contract.tables import Tables
from features.families.build import build_features
from features.families.events import as_utc
from features.families.population import active_customers
from features.io.snapshot import latest_snapshot, read_snapshot, snapshot_path
from training.labels import make_labels
from training.registry.artifacts import load_json
from training.registry.registry import LoadedModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingRecord:
    """What the champion's training run says about its data (from MLflow)."""

    run_id: str
    cutoffs: tuple[pd.Timestamp, ...]
    horizon_days: int
    active_days: int | None
    windows: tuple[int, ...]
    sla_hours: float
    fingerprints: dict[str, str]
    sources: dict[str, str]


def training_record(model: LoadedModel) -> TrainingRecord:
    """Read the cutoffs, feature options and data files of ``model``'s training run.

    Raises
    ------
    ModelRegistryError
        When the version has no ``parent_run_id`` tag or the run lacks the cutoffs.
    """
    run_id = model.tags.get("parent_run_id") or model.run_id
    client = MlflowClient()
    try:
        run = client.get_run(run_id)
    except MlflowException as e:
        raise ModelRegistryError(
            f"The training run {run_id} of {model.name} v{model.version} cannot be read: {e}."
        ) from e
    params = run.data.params
    if "churn.train_cutoffs" not in params:
        raise ModelRegistryError(
            f"The training run {run_id} of {model.name} v{model.version} "
            "records no churn.train_cutoffs; retrain it with `churn train`."
        )
    data = load_json(run_id, "data.json")
    if data is None:
        log.warning("no data.json in training run %s; its training files are unknown", run_id)
        data = {}
    active = params.get("config.active_days", "90")
    return TrainingRecord(
        run_id=run_id,
        cutoffs=tuple(as_utc(t) for t in params["churn.train_cutoffs"].split(",")),
        horizon_days=int(params.get("config.horizon_days", model.tags.get("horizon_days", 90))),
        active_days=None if active == "None" else int(active),
        windows=tuple(ast.literal_eval(params.get("config.windows", "(30, 90, 180, 365)"))),
        sla_hours=float(params.get("config.sla_hours", 48.0)),
        fingerprints=dict(data.get("fingerprints", {})),
        sources=dict(data.get("sources", {})),
    )


def reference_tables(
    tables: Tables, record: TrainingRecord, *, load: Callable[[Path], Tables] | None = None
) -> tuple[Tables, str]:
    """The tables to rebuild the reference from, and a sentence saying which they are.

    The current tables when they are the training files (same SHA-256); else the
    training files when they still exist unchanged and ``load`` is given (called with
    their folder); else the current tables, which give the training rows exactly when
    the history was only appended to since.
    """
    current = {name: fingerprint(Path(p)) for name, p in tables.sources.items()}
    if record.fingerprints and current == record.fingerprints:
        return tables, "the champion's training data (same files), rebuilt at its training cutoffs"
    paths = {name: Path(p) for name, p in record.sources.items()}
    unchanged = bool(paths) and all(
        p.is_file() and fingerprint(p) == record.fingerprints.get(name) for name, p in paths.items()
    )
    folders = {p.parent for p in paths.values()}
    if load is not None and unchanged and len(folders) == 1:
        folder = folders.pop()
        return load(
            folder
        ), f"the champion's training files in {folder}, rebuilt at its training cutoffs"
    return tables, (
        "the current tables at the champion's training cutoffs (its training files "
        "are gone or changed; exact when history was only appended to)"
    )


def _features_as_of(tables: Tables, record: TrainingRecord, as_of: pd.Timestamp) -> pd.DataFrame:
    """Features as of ``as_of`` with the feature options of the champion's training run."""
    return build_features(tables, as_of=as_of, windows=record.windows, sla_hours=record.sla_hours)


def _churn_labels(tables: Tables, record: TrainingRecord, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Churn labels at ``cutoff`` over the champion's horizon and population (no LTV)."""
    return make_labels(
        tables,
        cutoff=cutoff,
        horizon_days=record.horizon_days,
        ltv_horizon_days=None,
        active_days=record.active_days,
    )


def reference_rows(tables: Tables, record: TrainingRecord) -> pd.DataFrame:
    """Features and ``churned`` of the customers active at each training cutoff, stacked."""
    parts = []
    for cutoff in record.cutoffs:
        features = _features_as_of(tables, record, cutoff)
        labels = _churn_labels(tables, record, cutoff)
        parts.append(
            features.merge(labels[[CUSTOMER_ID, "churned"]], on=CUSTOMER_ID, validate="one_to_one")
        )
    return pd.concat(parts, ignore_index=True)


def current_rows(
    tables: Tables,
    record: TrainingRecord,
    *,
    as_of: str | pd.Timestamp | None = None,
    snapshots: str | Path | None = None,
    needed: list[str] | None = None,
) -> tuple[pd.DataFrame, pd.Timestamp, str]:
    """Feature rows of the customers active at ``as_of``; with the cutoff and the source.

    Without ``as_of``, the latest snapshot in ``snapshots`` is used (or, when there is
    none, features are built as of the day after the latest event). With ``as_of``, its
    snapshot is used when present, else the features are built. A snapshot that lacks
    a ``needed`` feature is rebuilt with the champion's feature options.
    """
    frame, source = None, ""
    if as_of is None and snapshots is not None:
        try:
            path = latest_snapshot(snapshots)
            frame, meta = read_snapshot(path)
            as_of, source = meta.cutoff, f"snapshot {path.name}"
        except SnapshotError:
            frame = None
    if as_of is None:
        as_of = tables.data_end().floor("D") + pd.Timedelta(days=1)
    as_of = as_utc(as_of)
    if frame is None and snapshots is not None:
        path = snapshot_path(snapshots, as_of)
        if path.is_file():
            frame, _ = read_snapshot(path)
            source = f"snapshot {path.name}"
    if frame is None or any(n not in frame.columns for n in needed or []):
        frame = _features_as_of(tables, record, as_of)
        source = f"features built as of {as_of:%Y-%m-%d}"
    active = active_customers(tables, as_of, active_days=record.active_days)[CUSTOMER_ID]
    return frame.loc[frame[CUSTOMER_ID].isin(active)].reset_index(drop=True), as_of, source


def observed_churn(
    tables: Tables, record: TrainingRecord, model: LoadedModel
) -> tuple[float, float, pd.Timestamp | None]:
    """Observed and expected churn rate at the latest cutoff with a complete horizon.

    Returns ``(observed, expected, cutoff)``: the churn rate of the customers active at
    ``cutoff = data end − horizon`` and the mean churn probability ``model`` gives them
    from their features as of ``cutoff``; NaN and None when that cutoff is not after the
    training cutoffs (the champion has seen it).
    """
    cutoff = (tables.data_end() - pd.Timedelta(days=record.horizon_days)).floor("D")
    if cutoff <= max(record.cutoffs):
        return np.nan, np.nan, None
    try:
        labels = _churn_labels(tables, record, cutoff)
    except IncompleteHorizonError:
        return np.nan, np.nan, None
    if not len(labels):
        return np.nan, np.nan, cutoff
    features = _features_as_of(tables, record, cutoff)
    rows = features.loc[features[CUSTOMER_ID].isin(labels[CUSTOMER_ID])]
    return float(labels["churned"].mean()), float(np.mean(model.model.predict_proba(rows))), cutoff


def data_fingerprint(tables: Tables) -> str:
    """Short fingerprint of the tables' files (SHA-256 prefixes); ``in-memory`` without files."""
    prints = {name: fingerprint(Path(p)) for name, p in tables.sources.items()}
    return "-".join(prints[k][:12] for k in sorted(prints)) or "in-memory"
