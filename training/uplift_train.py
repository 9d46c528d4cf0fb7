"""One uplift training run: the ``offer-uplift`` model from the offers history.

The rows are past campaigns (:mod:`training.uplift_data`); the model is fitted on the
campaigns whose outcomes end before the held-out one (:func:`plan_uplift`), judged on
the held-out campaign with inverse-propensity weighted Qini/AUUC per offer against
ranking by churn risk (what the catalog policy does within an offer), then refit on
every complete campaign and registered as ``offer-uplift`` (alias ``challenger``).

**Overlap.** Offers were targeted, not randomised. The propensity model's balanced
propensity (:func:`training.evaluation.uplift_metrics.overlap`) is computed on the
training rows per offer; an offer is *thin* when it has fewer than
``min_treated_rows`` treated rows or fewer than ``min_overlap_share`` of its
comparison rows lie in ``[overlap_low, 1 − overlap_low]``. Any thin offer sets the
version's tag ``overlap_ok`` to false with the reason, and the promotion gate refuses
it (:mod:`training.registry.promotion`). Everything is logged to MLflow: per-offer
metrics and overlap, the Qini curves, the naive (confounded) churn rates by group.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import mlflow
import numpy as np
import pandas as pd

from features.contract.load import Tables
from features.contract.schema import CONTRACT_VERSION
from features.families.build import DEFAULT_WINDOWS
from features.families.population import ACTIVE_DAYS
from training.evaluation.uplift_metrics import (
    Overlap,
    evaluate_uplift,
    gain_bound,
    offer_comparison,
    offer_rows,
    overlap,
    pairwise_propensity,
    qini_curve,
    summary,
)
from training.evaluation.uplift_plots import qini_figure
from training.models.uplift import UpliftModel
from training.registry.registry import UPLIFT_MODEL, log_and_register
from training.registry.runs import start_run
from training.registry.tracking import configure, git_commit
from training.uplift_data import (
    NO_OFFER,
    TREATMENT,
    UpliftPlan,
    confounding_summary,
    plan_uplift,
    uplift_rows,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UpliftConfig:
    """Options of an uplift run (``[uplift]`` of ``churn.toml``; horizon from ``[training]``).

    Attributes
    ----------
    horizon_days : int
        Churn horizon after each campaign cutoff, days.
    window_days : int
        Days after a campaign cutoff in which an offer counts as that campaign's.
    max_cutoffs : int
        Newest campaigns used.
    holdout : int
        Newest complete campaigns held out for evaluation and the gate.
    active_days : int or None
        Population, as for the churn model.
    overlap_low : float
        Balanced propensity bounds ``[overlap_low, 1 − overlap_low]``.
    min_overlap_share : float
        Least share of an offer's comparison rows inside those bounds.
    min_treated_rows : int
        Fewest training rows per offer.
    """

    horizon_days: int = 90
    window_days: int = 14
    max_cutoffs: int = 24
    holdout: int = 3
    active_days: int | None = ACTIVE_DAYS
    overlap_low: float = 0.05
    min_overlap_share: float = 0.9
    min_treated_rows: int = 30
    seed: int = 0
    windows: tuple[int, ...] = DEFAULT_WINDOWS
    sla_hours: float = 48.0


@dataclass
class UpliftResult:
    """What an uplift run produced."""

    run_id: str
    plan: UpliftPlan
    metrics: pd.DataFrame
    overlap: dict[str, Overlap]
    overlap_reason: str
    beats_baseline: bool
    model: UpliftModel
    validated: UpliftModel
    validation: pd.DataFrame = field(repr=False)
    version: str | None = None
    gain: dict[str, float] = field(default_factory=dict)
    """Held-out gain over the catalog rule and its 95 % lower bound
    (:func:`training.evaluation.uplift_metrics.gain_bound`); ``beats_baseline`` is
    ``gain_lower > 0``."""

    @property
    def overlap_ok(self) -> bool:
        """No offer's overlap is too thin."""
        return not self.overlap_reason


def thin_overlap(found: dict[str, Overlap], config: UpliftConfig) -> str:
    """Why the overlap is too thin to promote, one clause per offer; "" when it is not."""
    reasons = []
    for offer, o in found.items():
        if o.treated_rows < config.min_treated_rows:
            reasons.append(
                f"{offer}: {o.treated_rows} treated rows (needs {config.min_treated_rows})"
            )
        elif o.share_in_overlap < config.min_overlap_share:
            reasons.append(
                f"{offer}: {o.share_in_overlap:.0%} of rows have a balanced propensity in "
                f"[{config.overlap_low}, {1 - config.overlap_low}] (needs "
                f"{config.min_overlap_share:.0%})"
            )
    return "; ".join(reasons)


def overlap_by_offer(model: UpliftModel, rows: pd.DataFrame, *, low: float) -> dict[str, Overlap]:
    """:func:`overlap` of every offer of ``model`` on ``rows`` (its training rows)."""
    e = model.propensity(rows)
    treatment = rows[TREATMENT].to_numpy(dtype=object)
    out = {}
    for j, offer in enumerate(model.offers_):
        s = offer_rows(treatment, offer, no_offer=NO_OFFER)
        out[offer] = overlap(pairwise_propensity(e[s], j), treatment[s] == offer, low=low)
    return out


def train_uplift(
    tables: Tables,
    *,
    config: UpliftConfig = UpliftConfig(),
    tracking_uri: str | None = None,
    register: bool = True,
    on_step: Callable[[str], None] | None = None,
) -> UpliftResult:
    """Fit, evaluate, check overlap and (optionally) register ``offer-uplift``.

    Raises
    ------
    ConfigError
        When there is no offer history, or too little of it (names the offers table).
    """
    step = on_step or (lambda _: None)
    configure(tracking_uri)
    plan = plan_uplift(
        tables,
        horizon_days=config.horizon_days,
        max_cutoffs=config.max_cutoffs,
        holdout=config.holdout,
    )
    cutoffs = sorted({*plan.train, *plan.refit_train, *plan.validation})
    step(f"building features at {len(cutoffs)} campaign cutoffs")
    rows = uplift_rows(
        tables,
        cutoffs,
        horizon_days=config.horizon_days,
        window_days=config.window_days,
        active_days=config.active_days,
        windows=config.windows,
        sla_hours=config.sla_hours,
    )
    train_rows = rows[rows["cutoff"].isin(plan.train)]
    val_rows = rows[rows["cutoff"].isin(plan.validation)]
    refit_rows = rows[rows["cutoff"].isin(plan.refit_train)]
    end = tables.data_end()
    with start_run(f"uplift data-end {end:%Y-%m-%d}") as run:
        mlflow.set_tags({"kind": "uplift"})
        mlflow.log_params({f"config.{k}": v for k, v in asdict(config).items()})
        mlflow.log_params({f"uplift.{k}": v for k, v in plan.as_dict().items()})
        mlflow.log_params(
            {
                "contract_version": CONTRACT_VERSION,
                "git_commit": git_commit(),
                "rows.train": len(train_rows),
                "rows.validation": len(val_rows),
                "rows.refit_train": len(refit_rows),
                "learner": "T-learner, treated arm boosted from logit P(churn | no offer)",
                "outcome": "churned in [t, t+H) (churn label), intention to treat",
            }
        )
        naive = confounding_summary(train_rows)
        mlflow.log_table(naive.reset_index(), "naive_churn_by_treatment.json")
        step("fitting the uplift model on the earlier campaigns")
        validated = UpliftModel(seed=config.seed).fit(
            train_rows, train_rows[TREATMENT], train_rows["churned"], groups=train_rows["cutoff"]
        )
        found = overlap_by_offer(validated, train_rows, low=config.overlap_low)
        reason = thin_overlap(found, config)
        metrics = evaluate_uplift(validated, val_rows, no_offer=NO_OFFER)
        head = summary(metrics)
        bound = gain_bound(validated, val_rows, no_offer=NO_OFFER, seed=config.seed)
        head |= bound
        # the model replaces the catalog rule only when its gain is positive with 95 %
        # confidence (bootstrap lower bound over the held-out customers)
        beats = bool(bound["gain_lower"] > 0)
        _log_metrics(metrics, found, head, reason)
        _log_qini(validated, val_rows)
        step("refitting on every complete campaign")
        model = UpliftModel(seed=config.seed).fit(
            refit_rows, refit_rows[TREATMENT], refit_rows["churned"], groups=refit_rows["cutoff"]
        )
        result = UpliftResult(
            run.info.run_id,
            plan,
            metrics,
            found,
            reason,
            beats,
            model,
            validated,
            val_rows,
            gain=bound,
        )
        if reason:
            log.warning("offer-uplift overlap too thin: %s", reason)
        if register:
            step(f"registering {UPLIFT_MODEL}")
            result.version = log_and_register(
                model,
                name=UPLIFT_MODEL,
                example=val_rows,
                validated=validated,
                tags={
                    "validation_cutoff": f"{plan.validation[0]:%Y-%m-%d}",
                    "validation_cutoffs": plan.as_dict()["validation_cutoffs"],
                    "gate_metric": "auuc",
                    "gate_value": f"{head['auuc']:.5f}",
                    "baseline_auuc": f"{head['auuc_churn_risk']:.5f}",
                    "gain": f"{bound['gain']:.5f}",
                    "gain_lower_95": f"{bound['gain_lower']:.5f}",
                    "beats_baselines": str(beats).lower(),
                    "overlap_ok": str(not reason).lower(),
                    "overlap_reason": reason or "none",
                    "offers": ",".join(model.offers_),
                    "horizon_days": str(config.horizon_days),
                    "window_days": str(config.window_days),
                    "active_days": str(config.active_days),
                    "population": "all" if config.active_days is None else "active",
                    "features": json.dumps(model.input_names),
                    "parent_run_id": run.info.run_id,
                },
            )
    return result


def _log_metrics(
    metrics: pd.DataFrame, found: dict[str, Overlap], head: dict[str, float], reason: str
) -> None:
    values = {f"uplift_{k}": v for k, v in head.items()}
    for offer, row in metrics.iterrows():
        for key, value in row.items():
            values[f"{offer}.{key}"] = float(value)
    for offer, o in found.items():
        values[f"{offer}.overlap_share"] = o.share_in_overlap
        values[f"{offer}.overlap_treated_share"] = o.treated_in_overlap
        values[f"{offer}.train_treated_rows"] = o.treated_rows
    values["overlap_min_share"] = min((o.share_in_overlap for o in found.values()), default=0.0)
    values["overlap_min_treated_rows"] = min((o.treated_rows for o in found.values()), default=0)
    mlflow.log_metrics({k: float(v) for k, v in values.items() if np.isfinite(v)})
    mlflow.log_table(metrics.reset_index(), "uplift_metrics.json")
    mlflow.log_dict(
        {"overlap": {k: asdict(v) for k, v in found.items()}, "thin": reason or None},
        "overlap.json",
    )


def _log_qini(model: UpliftModel, rows: pd.DataFrame) -> None:
    """Qini curves per offer on the held-out campaigns (model vs churn-risk ranking)."""
    treatment = rows[TREATMENT].to_numpy(dtype=object)
    kept = 1 - rows["churned"].to_numpy(dtype=float)
    tau, e, p0 = model.predict(rows), model.propensity(rows), model.predict_untreated(rows)
    curves = {}
    for j, offer in enumerate(model.offers_):
        s, t, w = offer_comparison(treatment, e, j, offer, no_offer=NO_OFFER)
        if t.any():
            share, q = qini_curve(kept[s], t, tau[s, j], weight=w)
            curves[offer] = (share, q, qini_curve(kept[s], t, p0[s], weight=w)[1])
    mlflow.log_figure(qini_figure(curves), "plots/uplift_qini.png")
