"""One training run: churn and LTV models, their baselines, metrics, plots, and the registry.

MLflow layout: one parent run per training with the data provenance, the cutoff plans
and side-by-side metric tables; one child run per model (LightGBM and each baseline)
with its own metrics and plots. The LightGBM models are registered as
``churn-classifier`` and ``ltv-regressor`` with the alias ``challenger``.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd

from features.build import DEFAULT_WINDOWS
from features.files import fingerprint
from features.schema import CONTRACT_VERSION, CUSTOMER_ID
from features.tables import Tables
from training.compute import budget_record
from training.dataset import (
    CutoffPlan,
    btyd_at,
    cutoff_features,
    data_start,
    labelled_features,
    plan_cutoffs,
)
from training.evaluation import churn_plots, explain_plots, ltv_plots
from training.evaluation.churn_metrics import churn_metrics
from training.evaluation.ltv_metrics import decile_table, ltv_metrics
from training.models.baselines import LogisticChurn, RecencyHeuristic, historical_average_ltv
from training.models.btyd import BTYDFeatures
from training.models.churn import ChurnModel
from training.models.ltv import VARIANTS, LTVModel
from training.registry.registry import CHURN_MODEL, LTV_MODEL, log_and_register
from training.registry.tracking import configure, git_commit

log = logging.getLogger(__name__)

LIGHTGBM = "lightgbm"


@dataclass(frozen=True)
class TrainConfig:
    """Options of a training run (see ``[training]`` and ``[scoring]`` in ``churn.toml``).

    ``active_days`` is the population: customers with an order in the ``active_days``
    before a cutoff (``population = "active"``), or every customer with an order who has
    not cancelled when None (``"all"``). Models are trained on the population they score.
    """

    horizon_days: int = 90
    ltv_horizon_days: int = 365
    active_days: int | None = 90
    train_cutoffs: int = 4
    spacing_days: int = 30
    seed: int = 0
    windows: tuple[int, ...] = DEFAULT_WINDOWS
    sla_hours: float = 48.0
    calibration: str = "auto"
    lgb_params: dict | None = None

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
    tables: Tables,
    *,
    config: TrainConfig = TrainConfig(),
    tracking_uri: str | None = None,
    register: bool = True,
    on_step: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train, evaluate and (optionally) register both models; see the module doc.

    Parameters
    ----------
    tables : Tables
        Validated tables with enough history for the cutoff plans.
    config : TrainConfig
    tracking_uri : str, optional
        MLflow tracking URI (``MLFLOW_TRACKING_URI`` wins).
    register : bool, default True
        Register the refit LightGBM models (alias ``challenger``).
    on_step : callable, optional
        Called with a short description before each step (for a progress display).
    """
    step = on_step or (lambda _: None)
    configure(tracking_uri)
    end, start = tables.data_end(), data_start(tables)
    churn_plan = plan_cutoffs(
        end,
        horizon_days=config.horizon_days,
        train_cutoffs=config.train_cutoffs,
        spacing_days=config.spacing_days,
        calibration=True,
        data_start=start,
    )
    ltv_plan = plan_cutoffs(
        end,
        horizon_days=config.ltv_horizon_days,
        train_cutoffs=config.train_cutoffs,
        spacing_days=config.spacing_days,
        calibration=False,
        data_start=start,
    )
    if churn_plan.reduced:
        step(f"short history, reduced plan: {churn_plan.reduced}")
        log.warning("churn cutoff plan reduced: %s", churn_plan.reduced)
    cache: dict = {}
    needed = sorted(
        {
            *churn_plan.train,
            *churn_plan.refit_train,
            *ltv_plan.train,
            *ltv_plan.refit_train,
            churn_plan.validation,
            ltv_plan.validation,
        }
    )

    def frames(cutoffs: Sequence[pd.Timestamp | None], ltv: bool) -> pd.DataFrame | None:
        if not cutoffs or cutoffs[0] is None:
            return None
        return labelled_features(
            tables,
            cutoffs,
            horizon_days=config.horizon_days,
            ltv_horizon_days=config.ltv_horizon_days if ltv else None,
            active_days=config.active_days,
            windows=config.windows,
            sla_hours=config.sla_hours,
            cache=cache,
        )

    for i, cutoff in enumerate(needed, 1):
        step(f"building features and BTYD fits as of {cutoff:%Y-%m-%d} ({i}/{len(needed)})")
        features = cutoff_features(
            tables, cutoff, windows=config.windows, sla_hours=config.sla_hours, cache=cache
        )
        btyd_at(features, cutoff, cache=cache)
    churn_sets = ChurnSets(
        frames(churn_plan.train, False),
        frames([churn_plan.calibration], False),
        frames([churn_plan.validation], False),
        frames(churn_plan.refit_train, False),
        frames([churn_plan.refit_calibration], False),
    )
    ltv_sets = [
        frames(ltv_plan.train, True),
        frames([ltv_plan.validation], True),
        frames(ltv_plan.refit_train, True),
    ]

    def btyd(cutoffs: Sequence[pd.Timestamp | None], horizon: int) -> BTYDFeatures:
        newest = max(t for t in cutoffs if t is not None)
        return BTYDFeatures(btyd_at(cache[newest], newest, cache=cache), horizon)

    with mlflow.start_run(run_name=f"train data-end {end:%Y-%m-%d}") as parent:
        _log_provenance(tables, config, churn_plan, ltv_plan, churn_sets, ltv_sets)
        step("training the churn models (validated, baselines, then the refit to deploy)")
        churn = _train_churn(
            churn_plan,
            churn_sets,
            config=config,
            btyd=(
                btyd([*churn_plan.train, churn_plan.calibration], config.horizon_days),
                btyd([*churn_plan.refit_train, churn_plan.refit_calibration], config.horizon_days),
            ),
        )
        step("training the LTV models (validated, baselines, then the refit to deploy)")
        ltv = _train_ltv(
            ltv_plan,
            *ltv_sets,
            config=config,
            btyd=(
                btyd(ltv_plan.train, config.ltv_horizon_days),
                btyd(ltv_plan.refit_train, config.ltv_horizon_days),
            ),
        )
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
                    tags=_version_tags(outcome, config, parent.info.run_id),
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


def _log_provenance(tables, config, churn_plan, ltv_plan, churn_sets, ltv_sets) -> None:
    mlflow.log_params({f"config.{k}": v for k, v in asdict(config).items()})
    mlflow.log_params({f"churn.{k}": v for k, v in churn_plan.as_dict().items()})
    mlflow.log_params({f"ltv.{k}": v for k, v in ltv_plan.as_dict().items()})
    mlflow.log_params(
        {
            "contract_version": CONTRACT_VERSION,
            "git_commit": git_commit(),
            "label.churn": "contractual: cancelled_at in [t, t+H); else no order in [t, t+H)",
            "label.ltv": "net spend in [t, t+L), floored at 0",
        }
    )
    rows = {
        "churn_train": churn_sets.train,
        "churn_calibration": churn_sets.calibration,
        "churn_validation": churn_sets.validation,
        "churn_refit_train": churn_sets.refit_train,
        "ltv_train": ltv_sets[0],
        "ltv_validation": ltv_sets[1],
        "ltv_refit_train": ltv_sets[2],
    }
    mlflow.log_params({f"rows.{k}": len(v) for k, v in rows.items() if v is not None})
    mlflow.log_params({"population": config.population, **budget_record()})
    mlflow.log_metrics(
        {
            "churn_base_rate_train": float(churn_sets.train["churned"].mean()),
            "churn_base_rate_validation": float(churn_sets.validation["churned"].mean()),
        }
    )
    fingerprints = {name: fingerprint(path) for name, path in tables.sources.items()}
    mlflow.set_tags({"data_fingerprint": _combined(fingerprints), "kind": "training"})
    mlflow.log_dict(
        {
            "fingerprints": fingerprints,
            "sources": {k: str(v) for k, v in tables.sources.items()},
            "features": [
                c for c in churn_sets.train.columns if c not in (CUSTOMER_ID, "cutoff", "churned")
            ],
        },
        "data.json",
    )


def _combined(fingerprints: dict[str, str]) -> str:
    return "-".join(fingerprints[k][:12] for k in sorted(fingerprints)) or "in-memory"


def _version_tags(outcome: ModelOutcome, config: TrainConfig, run_id: str) -> dict[str, str]:
    key = "roc_auc" if outcome.name == CHURN_MODEL else "normalized_gini"
    row = outcome.metrics.loc[LIGHTGBM]
    tags = {
        "validation_cutoff": f"{outcome.plan.validation:%Y-%m-%d}",
        "gate_metric": key,
        "gate_value": f"{row[key]:.4f}",
        "beats_baselines": str(outcome.beats_baselines).lower(),
        "parent_run_id": run_id,
        "horizon_days": str(outcome.plan.horizon_days),
        "features": json.dumps(outcome.model.input_names),
        "population": config.population,
        "active_days": str(config.active_days),
        "refit_cutoffs": ",".join(f"{t:%Y-%m-%d}" for t in outcome.plan.refit_train),
        "reduced_plan": outcome.plan.reduced or "no",
    }
    if outcome.name == CHURN_MODEL:
        tags |= {"ece": f"{row['ece']:.4f}", "calibration": outcome.model.calibration_}
    else:
        tags["variant"] = outcome.model.variant
    return tags


def _child(
    name: str,
    metrics: dict[str, float],
    params: dict | None = None,
    figures: dict[str, plt.Figure] | None = None,
) -> None:
    with mlflow.start_run(run_name=name, nested=True):
        mlflow.log_params(params or {})
        mlflow.log_metrics(
            {k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)}
        )
        for file, figure in (figures or {}).items():
            mlflow.log_figure(figure, f"plots/{file}")
            plt.close(figure)


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
    contrib = model.contributions(val_set)
    ece_by_cutoff = {f"ece_validation_{plan.validation:%Y%m%d}": metrics.loc[LIGHTGBM, "ece"]}
    if cal_set is not None:
        ece_by_cutoff[f"ece_calibration_{plan.calibration:%Y%m%d}"] = churn_metrics(
            cal[1], model.predict_proba(cal_set)
        )["ece"]
    _child(
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
                contrib, val_set[model.spec_.names]
            ),
        },
    )
    _child("churn-logistic-regression", metrics.loc["logistic_regression"].to_dict())
    _child("churn-recency-heuristic", metrics.loc["recency_heuristic"].to_dict())
    _child(
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
    _child(
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
        _child(
            f"ltv-{LIGHTGBM}-{variant.replace('_', '-')}",
            metrics.loc[name].to_dict(),
            {"variant": variant, "kept": variant == best},
            {
                "deciles.png": ltv_plots.ltv_decile_figure({name: deciles[name]}),
                "importance.png": explain_plots.importance_figure(candidate.importance()),
            },
        )
    _child("ltv-historical-average", metrics.loc["historical_average"].to_dict())
    _child(
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
    _child(
        f"ltv-{LIGHTGBM}-refit",
        {"mean_ltv_train": float(refit_set["ltv"].mean())},
        {"variant": best, "train_cutoffs": ",".join(f"{t:%Y-%m-%d}" for t in plan.refit_train)},
    )
    return ModelOutcome(LTV_MODEL, plan, deployed, metrics, beats, val_set, model)
