"""Time-ordered training sets: several cutoffs stacked, a calibration and a validation cutoff.

For a label horizon ``H`` and the end of the data ``E``:

- validation cutoff ``t_val``: the latest day with ``t_val + H <= E`` (its outcomes are
  complete);
- calibration cutoff ``t_cal = t_val - H`` (churn only): its outcomes end where the
  validation outcomes begin;
- training cutoffs: ``t_cal - H - j * spacing`` (churn) or ``t_val - H - j * spacing``
  (LTV), ``j = 0, 1, ...``: every training label window ends before the next held-out
  cutoff, so no training row has seen the future of the rows it is judged on.

Never a random split across time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from features.build import DEFAULT_WINDOWS, build_features
from features.errors import ConfigError, EmptyTrainingSetError
from features.load import Tables
from features.schema import CUSTOMER_ID
from training.labels import make_labels


@dataclass(frozen=True)
class CutoffPlan:
    """Cutoffs of one model's training run, UTC midnights, oldest first within each role."""

    horizon_days: int
    train: tuple[pd.Timestamp, ...]
    validation: pd.Timestamp
    calibration: pd.Timestamp | None = None

    def as_dict(self) -> dict[str, str]:
        """For MLflow params."""
        out = {
            "train_cutoffs": ",".join(f"{t:%Y-%m-%d}" for t in self.train),
            "validation_cutoff": f"{self.validation:%Y-%m-%d}",
        }
        if self.calibration is not None:
            out["calibration_cutoff"] = f"{self.calibration:%Y-%m-%d}"
        return out


def plan_cutoffs(
    data_end: pd.Timestamp,
    *,
    horizon_days: int,
    train_cutoffs: int,
    spacing_days: int,
    calibration: bool,
    data_start: pd.Timestamp | None = None,
) -> CutoffPlan:
    """Place the cutoffs as described in the module doc.

    Raises
    ------
    ConfigError
        When fewer than one training cutoff fits after ``data_start``.
    """
    if train_cutoffs < 1 or spacing_days < 1:
        raise ConfigError("cutoffs/spacing", (train_cutoffs, spacing_days), "at least 1 each")
    h = pd.Timedelta(days=horizon_days)
    validation = (data_end - h).floor("D")
    calib = validation - h if calibration else None
    newest_train = (calib if calibration else validation) - h
    train = [newest_train - pd.Timedelta(days=spacing_days * j) for j in range(train_cutoffs)]
    if data_start is not None:
        train = [t for t in train if t > data_start + pd.Timedelta(days=spacing_days)]
    if not train:
        raise ConfigError(
            "data history",
            f"{data_start:%Y-%m-%d} to {data_end:%Y-%m-%d}",
            f"enough history for a training cutoff before {newest_train:%Y-%m-%d} "
            f"with a {horizon_days}-day horizon",
        )
    return CutoffPlan(horizon_days, tuple(sorted(train)), validation, calib)


def labelled_features(
    tables: Tables,
    cutoffs: Sequence[pd.Timestamp],
    *,
    horizon_days: int,
    ltv_horizon_days: int | None,
    active_days: int | None = 90,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    sla_hours: float = 48.0,
    cache: dict | None = None,
) -> pd.DataFrame:
    """Features as of each cutoff joined to that cutoff's labels, stacked.

    Returns one row per (active customer, cutoff): ``customer_id``, ``cutoff``, the
    features, ``churned`` and (when ``ltv_horizon_days``) ``ltv``. ``cache`` (a dict)
    reuses feature builds across calls for the same cutoff.

    Raises
    ------
    EmptyTrainingSetError
        When no customer is active at any of the ``cutoffs``: nothing to learn from or
        to judge on (raised before any model or MLflow run is started).
    """
    cache = {} if cache is None else cache
    parts = []
    for cutoff in cutoffs:
        if cutoff not in cache:
            cache[cutoff] = build_features(
                tables, as_of=cutoff, windows=windows, sla_hours=sla_hours
            )
        labels = make_labels(
            tables,
            cutoff=cutoff,
            horizon_days=horizon_days,
            ltv_horizon_days=ltv_horizon_days,
            active_days=active_days,
        ).drop(columns="contract_type")
        part = cache[cutoff].merge(labels, on=CUSTOMER_ID, how="inner", validate="one_to_one")
        part.insert(1, "cutoff", cutoff)
        parts.append(part)
    stacked = pd.concat(parts, ignore_index=True)
    if stacked.empty:
        raise EmptyTrainingSetError(
            [f"{c:%Y-%m-%d}" for c in cutoffs], len(tables.customers), active_days
        )
    return stacked


def data_start(tables: Tables) -> pd.Timestamp:
    """Earliest order timestamp (UTC)."""
    return tables.transactions["ordered_at"].min()
