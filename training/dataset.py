"""Time-ordered training sets: stacked cutoffs, a validation cutoff, and the refit to deploy.

For a label horizon ``H``, the end of the data ``E`` and the first order ``S``:

- validation cutoff ``t_val``: the latest day with ``t_val + H <= E`` (its outcomes are
  complete);
- **full plan** (churn): calibration cutoff ``t_cal = t_val - H``, its outcomes ending
  where the validation outcomes begin; training cutoffs ``t_cal - H - j * spacing``;
- **reduced plan** (churn, when no training cutoff fits before ``t_cal - H``): no
  calibration cutoff of its own; training cutoffs ``t_val - H - j * spacing`` and the
  calibrator (and early stopping) by cross-fitting over customers of the training rows;
- LTV: training cutoffs ``t_val - H - j * spacing`` (no calibration);
- a training cutoff needs ``spacing`` days of history after ``S`` to be kept.

Every training label window ends at or before the next held-out cutoff, so no training
row has seen the future of the rows it is judged on. The minimum history is
``2 H + spacing`` days (reduced plan); below it the plan names the minimum.

After validation the model is **refit to deploy** on the same layout moved one horizon
later: training cutoffs ``t_val - H - j * spacing`` with calibration on ``t_val`` (full
plan), or ``t_val - j * spacing`` with cross-fitting (reduced plan and LTV): the newest
complete cutoff is the newest the deployed model learns from. Never a random split
across time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from features.contract.errors import ConfigError, EmptyTrainingSetError
from features.contract.schema import CUSTOMER_ID
from features.contract.tables import Tables
from features.families.build import DEFAULT_WINDOWS, build_features
from features.families.population import ACTIVE_DAYS
from training.labels import make_labels
from training.models.btyd import BTYDParams, fit_btyd, rfm_of_features, with_btyd_features


@dataclass(frozen=True)
class CutoffPlan:
    """Cutoffs of one model's training run, UTC midnights, oldest first within each role.

    Attributes
    ----------
    horizon_days : int
    train : tuple of Timestamp
        Training cutoffs of the validated model.
    validation : Timestamp
    calibration : Timestamp or None
        Calibration (and early-stopping) cutoff; None: cross-fitting over ``train``.
    refit_train : tuple of Timestamp
        Training cutoffs of the model to deploy.
    refit_calibration : Timestamp or None
        Its calibration cutoff (``validation``), None with cross-fitting.
    reduced : str
        What the plan gave up for a short history, in words ("" for a full plan).
    """

    horizon_days: int
    train: tuple[pd.Timestamp, ...]
    validation: pd.Timestamp
    calibration: pd.Timestamp | None = None
    refit_train: tuple[pd.Timestamp, ...] = ()
    refit_calibration: pd.Timestamp | None = None
    reduced: str = ""

    def as_dict(self) -> dict[str, str]:
        """For MLflow params."""
        out = {
            "train_cutoffs": _days(self.train),
            "validation_cutoff": f"{self.validation:%Y-%m-%d}",
            "refit_train_cutoffs": _days(self.refit_train),
            "reduced": self.reduced or "no",
        }
        if self.calibration is not None:
            out["calibration_cutoff"] = f"{self.calibration:%Y-%m-%d}"
        if self.refit_calibration is not None:
            out["refit_calibration_cutoff"] = f"{self.refit_calibration:%Y-%m-%d}"
        return out


def _days(cutoffs: Sequence[pd.Timestamp]) -> str:
    return ",".join(f"{t:%Y-%m-%d}" for t in cutoffs)


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
        When not even the reduced plan fits one training cutoff after ``data_start``.
    """
    if train_cutoffs < 1 or spacing_days < 1:
        raise ConfigError("cutoffs/spacing", (train_cutoffs, spacing_days), "at least 1 each")
    h, spacing = pd.Timedelta(days=horizon_days), pd.Timedelta(days=spacing_days)
    validation = (data_end - h).floor("D")

    def stack(newest: pd.Timestamp) -> tuple[pd.Timestamp, ...]:
        cutoffs = [newest - spacing * j for j in range(train_cutoffs)]
        if data_start is not None:
            cutoffs = [t for t in cutoffs if t > data_start + spacing]
        return tuple(sorted(cutoffs))

    if calibration and (train := stack(validation - 2 * h)):
        return CutoffPlan(
            horizon_days,
            train,
            validation,
            validation - h,
            refit_train=stack(validation - h),
            refit_calibration=validation,
        )
    train = stack(validation - h)
    if not train:
        span = "" if data_start is None else f"{(data_end - data_start).days} days "
        raise ConfigError(
            "data history",
            f"{span}({data_start:%Y-%m-%d} to {data_end:%Y-%m-%d})"
            if data_start is not None
            else f"up to {data_end:%Y-%m-%d}",
            f"at least {2 * horizon_days + spacing_days} days (two {horizon_days}-day "
            f"horizons plus {spacing_days} days) for a training cutoff before "
            f"{validation - h:%Y-%m-%d}",
        )
    reduced = ""
    if calibration:
        reduced = (
            f"no calibration cutoff of its own (needs {3 * horizon_days + spacing_days} days "
            "of history): calibrated and early-stopped by cross-fitting over customers"
        )
    return CutoffPlan(
        horizon_days, train, validation, None, refit_train=stack(validation), reduced=reduced
    )


def run_plans(
    end: pd.Timestamp,
    start: pd.Timestamp,
    *,
    horizon_days: int,
    ltv_horizon_days: int,
    train_cutoffs: int,
    spacing_days: int,
) -> tuple[CutoffPlan, CutoffPlan]:
    """The churn plan (with calibration) and the LTV plan of a run on data ``start``–``end``."""
    churn_plan = plan_cutoffs(
        end,
        horizon_days=horizon_days,
        train_cutoffs=train_cutoffs,
        spacing_days=spacing_days,
        calibration=True,
        data_start=start,
    )
    ltv_plan = plan_cutoffs(
        end,
        horizon_days=ltv_horizon_days,
        train_cutoffs=train_cutoffs,
        spacing_days=spacing_days,
        calibration=False,
        data_start=start,
    )
    return churn_plan, ltv_plan


def labelled_features(
    tables: Tables,
    cutoffs: Sequence[pd.Timestamp],
    *,
    horizon_days: int,
    ltv_horizon_days: int | None,
    active_days: int | None = ACTIVE_DAYS,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    sla_hours: float = 48.0,
    btyd: bool = True,
    cache: dict | None = None,
) -> pd.DataFrame:
    """Features as of each cutoff joined to that cutoff's labels, stacked.

    Returns one row per (customer in the population, cutoff): ``customer_id``,
    ``cutoff``, the features, with ``btyd`` the
    :data:`~training.models.btyd.BTYD_FEATURES` of a BG/NBD + Gamma-Gamma fitted at that cutoff
    (:func:`btyd_at`) over the label's horizon (``ltv_horizon_days`` when given, else
    ``horizon_days``), then ``churned`` and (when ``ltv_horizon_days``) ``ltv``. The
    population is every customer with an order who has not cancelled, and with
    ``active_days`` one in the ``active_days`` before the cutoff. ``cache`` (a dict)
    reuses feature builds and BTYD fits across calls for the same cutoff.

    Raises
    ------
    EmptyTrainingSetError
        When no customer is active at any of the ``cutoffs``: nothing to learn from or
        to judge on (raised before any model or MLflow run is started).
    """
    cache = {} if cache is None else cache
    parts = []
    for cutoff in cutoffs:
        features = cutoff_features(
            tables, cutoff, windows=windows, sla_hours=sla_hours, cache=cache
        )
        if btyd:
            features = with_btyd_features(
                features,
                btyd_at(features, cutoff, cache=cache),
                horizon_days=ltv_horizon_days or horizon_days,
            )
        labels = make_labels(
            tables,
            cutoff=cutoff,
            horizon_days=horizon_days,
            ltv_horizon_days=ltv_horizon_days,
            active_days=active_days,
        ).drop(columns="contract_type")
        part = features.merge(labels, on=CUSTOMER_ID, how="inner", validate="one_to_one")
        part.insert(1, "cutoff", cutoff)
        parts.append(part)
    stacked = pd.concat(parts, ignore_index=True)
    if stacked.empty:
        raise EmptyTrainingSetError(
            [f"{c:%Y-%m-%d}" for c in cutoffs], len(tables.customers), active_days
        )
    return stacked


def cutoff_features(
    tables: Tables,
    cutoff: pd.Timestamp,
    *,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    sla_hours: float = 48.0,
    cache: dict | None = None,
) -> pd.DataFrame:
    """:func:`~features.families.build.build_features` as of ``cutoff``, memoised in ``cache``."""
    cache = {} if cache is None else cache
    if cutoff not in cache:
        cache[cutoff] = build_features(tables, as_of=cutoff, windows=windows, sla_hours=sla_hours)
    return cache[cutoff]


def btyd_at(
    features: pd.DataFrame, cutoff: pd.Timestamp, *, cache: dict | None = None
) -> BTYDParams:
    """BG/NBD + Gamma-Gamma fitted on every customer with an order in ``features``.

    ``features`` are built as of ``cutoff`` (so the fit sees only events before it);
    memoised in ``cache`` under ``("btyd", cutoff)``. None when nobody has ordered yet.
    """
    cache = {} if cache is None else cache
    key = ("btyd", cutoff)
    if key not in cache:
        rfm = rfm_of_features(features)
        cache[key] = fit_btyd(rfm) if (rfm["T"] > 0).any() else None
    return cache[key]


def data_start(tables: Tables) -> pd.Timestamp:
    """Earliest order timestamp (UTC)."""
    return tables.transactions["ordered_at"].min()
