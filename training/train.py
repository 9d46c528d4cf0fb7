"""One training run: churn and LTV models, their baselines, metrics, plots, and the registry.

MLflow layout: one parent run per training with the data provenance, the cutoff plans
and side-by-side metric tables; one child run per model (LightGBM and each baseline)
with its own metrics and plots. The LightGBM models are registered as
``churn-classifier`` and ``ltv-regressor`` with the alias ``challenger``.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd

from features.contract.errors import EmptyTrainingSetError
from features.contract.tables import Tables
from features.families.build import DEFAULT_WINDOWS
from features.families.population import ACTIVE_DAYS
from features.io.partitioned import CustomerPartitions
from training.dataset import CutoffPlan, run_plans
from training.evaluation import churn_plots, explain_plots, ltv_plots
from training.evaluation.churn_metrics import churn_metrics
from training.evaluation.ltv_metrics import decile_table, ltv_metrics
from training.models.baselines import LogisticChurn, RecencyHeuristic, historical_average_ltv
from training.models.btyd import BTYDFeatures, with_btyd_features
from training.models.churn import ChurnModel
from training.models.ltv import VARIANTS, LTVModel
from training.registry.registry import CHURN_MODEL, LTV_MODEL, log_and_register
from training.registry.runs import start_run
from training.registry.tracking import configure
from training.run_record import LIGHTGBM, child, log_provenance, record_population, version_tags
from training.training_set import (
    BTYD_MAX_ROWS,
    SetSpec,
    TrainingSet,
    build_local,
    check_not_empty,
    check_outcomes,
)

Builder = Callable[..., TrainingSet]
PLOT_ROWS = 2_000
"""Validation rows behind the contribution figure (TreeSHAP costs ~40 predicts)."""
LTV_ROLES = ("ltv_train", "ltv_validation", "ltv_refit_train")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Options of a training run (see ``[training]`` and ``[scoring]`` in ``churn.toml``).

    ``active_days`` is the population: customers with an order in the ``active_days``
    before a cutoff (``population = "active"``), or every customer with an order who has
    not cancelled when None (``"all"``). Models are trained on the population they score.
    """

    horizon_days: int = 90
    ltv_horizon_days: int = 365
    active_days: int | None = ACTIVE_DAYS
    train_cutoffs: int = 4
    spacing_days: int = 30
    seed: int = 0
    windows: tuple[int, ...] = DEFAULT_WINDOWS
    sla_hours: float = 48.0
    calibration: str = "auto"
    lgb_params: dict | None = None
    max_rows: int | None = 300_000
    """Rows the fits read at most: above it, a customer-level sample (the rate is logged);
    the validation cutoff is judged on every customer."""

    @property
    def population(self) -> str:
        """``"active"`` or ``"all"``."""
        return "all" if self.active_days is None else "active"


@dataclass
class ModelOutcome:
    """What a training run produced for one registered model.

    ``validated`` is fit before the validation cutoff and judged on it (``metrics``);
    ``model``, refit on cutoffs up to the newest complete one with the same settings, is
    the one registered to deploy.
    """

    name: str
    plan: CutoffPlan
    model: object
    metrics: pd.DataFrame
    beats_baselines: bool
    validation: pd.DataFrame = field(repr=False)
    validated: object = field(default=None, repr=False)
    version: str | None = None


@dataclass
class TrainResult:
    """The parent run id and both models' outcomes."""

    run_id: str
    churn: ModelOutcome
    ltv: ModelOutcome


def train(
    data: Tables | CustomerPartitions,
    *,
    config: TrainConfig = TrainConfig(),
    tracking_uri: str | None = None,
    register: bool = True,
    on_step: Callable[[str], None] | None = None,
    builder: Builder | None = None,
    work_dir: str | Path | None = None,
    workers: int = 1,
) -> TrainResult:
    """Train, evaluate and (optionally) register both models; see the module doc.

    Parameters
    ----------
    data : Tables or CustomerPartitions
        Validated tables (split in memory), or tables read one customer partition at a
        time (:meth:`~features.io.partitioned.CustomerPartitions.open`), with enough
        history for the cutoff plans.
    config : TrainConfig
    tracking_uri : str, optional
        MLflow tracking URI (``MLFLOW_TRACKING_URI`` wins).
    register : bool, default True
        Register the refit LightGBM models (alias ``challenger``).
    on_step : callable, optional
        Called with a short description before each step (for a progress display).
    builder : callable, optional
        Builds the training set: ``builder(source, spec, folder, on_partition=...)``
        returning a :class:`~training.training_set.TrainingSet`; default
        :func:`~training.training_set.build_local` (``training.spark_set.SparkBuilder``
        runs the same per-partition code on Spark). Its ``engine`` attribute, when it has
        one, is logged.
    work_dir : path, optional
        Folder to write the training set in (kept); default a temporary folder, removed
        after the run. On a Spark cluster, a folder every executor can write.
    workers : int, default 1
        Processes of the local builder (see :func:`~training.training_set.build_local`).
    """
    step = on_step or (lambda _: None)
    configure(tracking_uri)
    source = data if isinstance(data, CustomerPartitions) else CustomerPartitions.of_tables(data)
    span = source.time_span()
    end = span.end
    churn_plan, ltv_plan = run_plans(
        end,
        span.start,
        horizon_days=config.horizon_days,
        ltv_horizon_days=config.ltv_horizon_days,
        train_cutoffs=config.train_cutoffs,
        spacing_days=config.spacing_days,
    )
    if churn_plan.reduced:
        step(f"short history, reduced plan: {churn_plan.reduced}")
        log.warning("churn cutoff plan reduced: %s", churn_plan.reduced)
    spec = SetSpec.of_plans(
        churn_plan,
        ltv_plan,
        data_end=end,
        horizon_days=config.horizon_days,
        ltv_horizon_days=config.ltv_horizon_days,
        active_days=config.active_days,
        windows=tuple(config.windows),
        sla_hours=config.sla_hours,
        seed=config.seed,
    )
    with tempfile.TemporaryDirectory(prefix="churn-training-set-") as tmp:
        folder = Path(work_dir) if work_dir is not None else Path(tmp)
        step(
            f"building the training set: {len(spec.cutoffs)} cutoffs in one pass over "
            f"{source.partitions} customer partition(s)"
        )
        rows = (builder or partial(build_local, workers=workers))(
            source,
            spec,
            folder,
            on_partition=lambda done, total: step(
                f"building the training set: partition {done}/{total}"
            ),
        )
        check_not_empty(rows, spec, source.customer_count())
        rate = rows.sample_rate(churn_plan.train, config.max_rows)
        if rate < 1.0:
            step(f"training on a customer sample of rate {rate:.4f} ([training] max_rows)")
        return _train_and_log(
            rows,
            source,
            churn_plan,
            ltv_plan,
            config=config,
            rate=rate,
            register=register,
            step=step,
            engine=getattr(builder, "engine", "local"),
        )


def _train_and_log(
    rows: TrainingSet,
    source: CustomerPartitions,
    churn_plan: CutoffPlan,
    ltv_plan: CutoffPlan,
    *,
    config: TrainConfig,
    rate: float,
    register: bool,
    step: Callable[[str], None],
    engine: str,
) -> TrainResult:
    """Fit, judge, log and register both models from the training set ``rows``."""
    end = source.time_span().end

    def frames(cutoffs: Sequence[pd.Timestamp | None], ltv: bool, sampled: bool = True):
        if not cutoffs or cutoffs[0] is None:
            return None
        frame = rows.frame(cutoffs, ltv=ltv, rate=rate if sampled else 1.0)
        if frame.empty:
            raise EmptyTrainingSetError(
                [f"{c:%Y-%m-%d}" for c in cutoffs], source.customer_count(), config.active_days
            )
        horizon = config.ltv_horizon_days if ltv else config.horizon_days
        return pd.concat(
            [
                with_btyd_features(part, rows.btyd_at(cutoff), horizon_days=horizon)
                for cutoff, part in frame.groupby("cutoff", sort=True)
            ],
            ignore_index=True,
        )

    def btyd(cutoffs: Sequence[pd.Timestamp | None], horizon: int) -> BTYDFeatures:
        newest = max(t for t in cutoffs if t is not None)
        return BTYDFeatures(rows.btyd_at(newest), horizon)

    step("reading the churn training, calibration and validation rows")
    churn_sets = ChurnSets(
        frames(churn_plan.train, False),
        frames([churn_plan.calibration], False),
        frames([churn_plan.validation], False, sampled=False),
        frames(churn_plan.refit_train, False),
        frames([churn_plan.refit_calibration], False),
    )
    check_outcomes(churn_sets.train["churned"], "training", churn_plan.train)
    check_outcomes(churn_sets.validation["churned"], "validation", [churn_plan.validation])
    with start_run(f"train data-end {end:%Y-%m-%d}") as parent:
        log_provenance(source, config, churn_plan, ltv_plan, churn_sets)
        mlflow.log_params(
            {
                "training.engine": engine,
                "training.sample_rate": f"{rate:.6g}",
                "training.max_rows": config.max_rows,
                "training.partitions": source.partitions,
                "training.btyd_max_rows": BTYD_MAX_ROWS,
            }
        )
        step("training the churn models (validated, baselines, then the refit to deploy)")
        # one BTYD fit per model variant, the newest the plans allow (the churn plan's: its
        # shorter horizon leaves newer cutoffs), shared by the LTV model over its own
        # horizon, so scoring computes one BTYD block for both (model_matrices)
        fits = (
            btyd([*churn_plan.train, churn_plan.calibration], config.horizon_days),
            btyd([*churn_plan.refit_train, churn_plan.refit_calibration], config.horizon_days),
        )
        churn = _train_churn(churn_plan, churn_sets, config=config, btyd=fits)
        del churn_sets
        step("reading the LTV training and validation rows")
        ltv_sets = [
            frames(ltv_plan.train, True),
            frames([ltv_plan.validation], True, sampled=False),
            frames(ltv_plan.refit_train, True),
        ]
        mlflow.log_params(
            {
                f"rows.{k}": len(v)
                for k, v in zip(
                    ("ltv_train", "ltv_validation", "ltv_refit_train"), ltv_sets, strict=True
                )
            }
        )
        step("training the LTV models (validated, baselines, then the refit to deploy)")
        ltv = _train_ltv(
            ltv_plan,
            *ltv_sets,
            config=config,
            btyd=tuple(BTYDFeatures(fit.params, config.ltv_horizon_days) for fit in fits),
        )
        del ltv_sets
        record_population(churn, ltv)
        for outcome in (churn, ltv):
            short = "churn" if outcome.name == CHURN_MODEL else "ltv"
            mlflow.log_metrics(
                {
                    f"{short}_{k}": float(v)
                    for k, v in outcome.metrics.loc[LIGHTGBM].items()
                    if np.isfinite(v)
                }
            )
            mlflow.log_table(outcome.metrics.reset_index(names="model"), f"{short}_metrics.json")
            if register:
                step(f"registering {outcome.name}")
                outcome.version = log_and_register(
                    outcome.model,
                    name=outcome.name,
                    example=outcome.validation,
                    tags=version_tags(outcome, config, parent.info.run_id),
                    validated=outcome.validated,
                )
    return TrainResult(parent.info.run_id, churn, ltv)


@dataclass(frozen=True)
class ChurnSets:
    """Labelled feature frames of the churn plan's roles (None where the plan has none)."""

    train: pd.DataFrame
    calibration: pd.DataFrame | None
    validation: pd.DataFrame
    refit_train: pd.DataFrame
    refit_calibration: pd.DataFrame | None


def _train_churn(plan: CutoffPlan, sets: ChurnSets, *, config, btyd) -> ModelOutcome:
    """The validated churn model and its baselines on the validation cutoff, then the refit."""
    train_set, cal_set, val_set = sets.train, sets.calibration, sets.validation
    y_train, y_val = train_set["churned"].to_numpy(), val_set["churned"].to_numpy()
    cal = None if cal_set is None else (cal_set, cal_set["churned"].to_numpy())
    model = ChurnModel(params=config.lgb_params, seed=config.seed, calibration=config.calibration)
    model.fit(
        train_set, y_train, calibration_set=cal, validation_set=(val_set, y_val), btyd=btyd[0]
    )
    p = {LIGHTGBM: model.predict_proba(val_set)}
    logistic = LogisticChurn(seed=config.seed).fit(train_set, y_train)
    p["logistic_regression"] = logistic.predict_proba(val_set)
    # the heuristic's isotonic map: on the calibration cutoff, else the newest training one
    heuristic_rows = cal_set if cal_set is not None else _newest(train_set)
    p["recency_heuristic"] = (
        RecencyHeuristic()
        .fit(heuristic_rows, heuristic_rows["churned"].to_numpy())
        .predict_proba(val_set)
    )
    # BG/NBD fitted at the validation cutoff on every customer with an order
    p["bgnbd_p_no_purchase"] = np.nan_to_num(
        val_set["btyd_p_no_purchase"].to_numpy(dtype="float64"), nan=1.0
    )
    metrics = pd.DataFrame({name: churn_metrics(y_val, prob) for name, prob in p.items()}).T
    curves = {name: (y_val, prob) for name, prob in p.items()}
    shown = val_set.sample(n=min(len(val_set), PLOT_ROWS), random_state=config.seed)
    contrib = model.contributions(shown)  # TreeSHAP: for the figure, a sample is plenty
    ece_by_cutoff = {f"ece_validation_{plan.validation:%Y%m%d}": metrics.loc[LIGHTGBM, "ece"]}
    if cal_set is not None:
        ece_by_cutoff[f"ece_calibration_{plan.calibration:%Y%m%d}"] = churn_metrics(
            cal[1], model.predict_proba(cal_set)
        )["ece"]
    child(
        f"churn-{LIGHTGBM}",
        {**metrics.loc[LIGHTGBM].to_dict(), **ece_by_cutoff},
        {
            "calibration": model.calibration_,
            "calibrated_by": "cross-fitting" if cal is None else "calibration cutoff",
            "best_iteration": model.booster_.best_iteration,
            **{f"lgb.{k}": v for k, v in model.booster_.params.items()},
        },
        {
            "calibration.png": churn_plots.calibration_figure({LIGHTGBM: curves[LIGHTGBM]}),
            "importance.png": explain_plots.importance_figure(model.importance()),
            "contributions.png": explain_plots.contribution_figure(
                contrib, shown[model.spec_.names]
            ),
        },
    )
    child("churn-logistic-regression", metrics.loc["logistic_regression"].to_dict())
    child("churn-recency-heuristic", metrics.loc["recency_heuristic"].to_dict())
    child(
        "churn-bgnbd",
        metrics.loc["bgnbd_p_no_purchase"].to_dict(),
        {f"btyd.{k}": v for k, v in btyd[0].params.as_dict().items()},
    )
    for file, fig in {
        "churn_roc.png": churn_plots.roc_figure(curves),
        "churn_pr.png": churn_plots.pr_figure(curves),
        "churn_calibration.png": churn_plots.calibration_figure(curves),
        "churn_gains.png": churn_plots.gains_figure(curves),
    }.items():
        mlflow.log_figure(fig, f"plots/{file}")
        plt.close(fig)
    baselines = metrics.drop(index=LIGHTGBM)
    beats = bool(metrics.loc[LIGHTGBM, "roc_auc"] > baselines["roc_auc"].max())
    deployed = _refit_churn(model, plan, sets, config=config, btyd=btyd[1])
    return ModelOutcome(CHURN_MODEL, plan, deployed, metrics, beats, val_set, model)


def _refit_churn(validated: ChurnModel, plan: CutoffPlan, sets: ChurnSets, *, config, btyd):
    """The churn model to deploy: the validated settings on the newest complete cutoffs."""
    rounds = int(validated.booster_.best_iteration)
    refit = ChurnModel(
        params=config.lgb_params,
        seed=config.seed,
        calibration=validated.calibration_,
        rounds=rounds,
    )
    rows, cal = sets.refit_train, sets.refit_calibration
    refit.fit(
        rows,
        rows["churned"].to_numpy(),
        calibration_set=None if cal is None else (cal, cal["churned"].to_numpy()),
        btyd=btyd,
    )
    child(
        f"churn-{LIGHTGBM}-refit",
        {"base_rate_train": float(rows["churned"].mean())},
        {
            "rounds": rounds,
            "calibration": refit.calibration_,
            "train_cutoffs": ",".join(f"{t:%Y-%m-%d}" for t in plan.refit_train),
            "calibration_cutoff": "cross-fitting" if cal is None else f"{plan.validation:%Y-%m-%d}",
        },
    )
    return refit


def _newest(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.loc[frame["cutoff"] == frame["cutoff"].max()]


def _train_ltv(plan, train_set, val_set, refit_set, *, config, btyd) -> ModelOutcome:
    """The validated LTV variants and baselines on the validation cutoff, then the refit."""
    y_train, y_val = train_set["ltv"].to_numpy(), val_set["ltv"].to_numpy()
    candidates = {
        v: LTVModel(variant=v, params=config.lgb_params, seed=config.seed).fit(
            train_set, y_train, btyd=btyd[0]
        )
        for v in VARIANTS
    }
    pred = {f"{LIGHTGBM}_{v}": m.predict(val_set) for v, m in candidates.items()}
    pred["historical_average"] = historical_average_ltv(
        val_set, ltv_horizon_days=config.ltv_horizon_days
    )
    pred["bgnbd_gamma_gamma"] = np.nan_to_num(
        val_set["btyd_expected_spend"].to_numpy(dtype="float64"), nan=0.0
    )
    metrics = pd.DataFrame({name: ltv_metrics(y_val, v) for name, v in pred.items()}).T
    best = max(VARIANTS, key=lambda v: metrics.loc[f"{LIGHTGBM}_{v}", "normalized_gini"])
    model = candidates[best]
    metrics = pd.concat(
        [
            metrics.loc[[f"{LIGHTGBM}_{best}"]].rename(index={f"{LIGHTGBM}_{best}": LIGHTGBM}),
            metrics,
        ]
    )
    deciles = {name: decile_table(y_val, v) for name, v in pred.items()}
    for variant, candidate in candidates.items():
        name = f"{LIGHTGBM}_{variant}"
        child(
            f"ltv-{LIGHTGBM}-{variant.replace('_', '-')}",
            metrics.loc[name].to_dict(),
            {"variant": variant, "kept": variant == best},
            {
                "deciles.png": ltv_plots.ltv_decile_figure({name: deciles[name]}),
                "importance.png": explain_plots.importance_figure(candidate.importance()),
            },
        )
    child("ltv-historical-average", metrics.loc["historical_average"].to_dict())
    child(
        "ltv-bgnbd-gamma-gamma",
        metrics.loc["bgnbd_gamma_gamma"].to_dict(),
        {f"btyd.{k}": v for k, v in btyd[0].params.as_dict().items()},
    )
    fig = ltv_plots.ltv_decile_figure(deciles)
    mlflow.log_figure(fig, "plots/ltv_deciles.png")
    plt.close(fig)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ltv_deciles.csv"
        pd.concat(deciles, names=["model"]).to_csv(path)
        mlflow.log_artifact(str(path), "tables")
    baselines = metrics.drop(index=[LIGHTGBM, *(f"{LIGHTGBM}_{v}" for v in VARIANTS)])
    beats = bool(metrics.loc[LIGHTGBM, "normalized_gini"] > baselines["normalized_gini"].max())
    deployed = LTVModel(variant=best, params=config.lgb_params, seed=config.seed).fit(
        refit_set, refit_set["ltv"].to_numpy(), btyd=btyd[1]
    )
    child(
        f"ltv-{LIGHTGBM}-refit",
        {"mean_ltv_train": float(refit_set["ltv"].mean())},
        {"variant": best, "train_cutoffs": ",".join(f"{t:%Y-%m-%d}" for t in plan.refit_train)},
    )
    return ModelOutcome(LTV_MODEL, plan, deployed, metrics, beats, val_set, model)
