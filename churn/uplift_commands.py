"""`churn train-uplift`: learn each offer's uplift from the offers history."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from churn.app import (
    ConfigOpt,
    DataOpt,
    app,
    console,
    err_console,
    load_data,
    print_warning,
    read_settings,
)
from churn.train_commands import _print_decisions, _tracking


def _uplift_config(settings):
    from features.families.population import POPULATIONS
    from training.uplift_train import UpliftConfig

    u = settings.uplift
    return UpliftConfig(
        horizon_days=settings.training.horizon_days,
        window_days=u.window_days,
        max_cutoffs=u.max_cutoffs,
        holdout=u.holdout,
        active_days=POPULATIONS[settings.scoring.population],
        overlap_low=u.overlap_low,
        min_overlap_share=u.min_overlap_share,
        min_treated_rows=u.min_treated_rows,
        seed=settings.training.seed,
        windows=tuple(settings.features.windows),
        sla_hours=settings.features.sla_hours,
    )


def _span(cutoffs) -> str:
    return (
        ", ".join(f"{t:%Y-%m-%d}" for t in cutoffs)
        if len(cutoffs) <= 3
        else (f"{cutoffs[0]:%Y-%m-%d} … {cutoffs[-1]:%Y-%m-%d}")
    )


@app.command("train-uplift")
def train_uplift(
    data: DataOpt = None,
    promote: Annotated[
        bool,
        typer.Option("--promote/--no-promote", help="Run the promotion gate after training."),
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Learn each offer's uplift from past offers (offer-uplift), with an overlap check.

    Without an offers history (or with too little of it) nothing is trained and the
    offer policy keeps the catalog's uplift; the command says so and exits 2.
    """
    from training.registry.promotion import promote as run_gate
    from training.registry.registry import UPLIFT_MODEL
    from training.uplift_train import train_uplift as run

    settings = read_settings(config)
    tables = load_data(settings, data)
    with err_console.status("training offer-uplift") as status:
        result = run(
            tables,
            config=_uplift_config(settings),
            tracking_uri=settings.tracking_uri,
            on_step=lambda text: status.update(Text(text)),
        )
    plan = result.plan
    console.print(
        f"{UPLIFT_MODEL} v{result.version}: trained on {len(plan.train)} campaigns "
        f"{_span(plan.train)}, held out {_span(plan.validation)}, deployed refit on "
        f"{len(plan.refit_train)} campaigns {_span(plan.refit_train)}."
    )
    table = Table(title="held-out campaigns, inverse-propensity weighted")
    for column in (
        "offer",
        "treated",
        "AUUC",
        "AUUC churn risk",
        "uplift@10%",
        "mean τ",
        "IPW ATE",
    ):
        table.add_column(column, justify="right" if column != "offer" else "left")
    for offer, row in result.metrics.iterrows():
        table.add_row(
            str(offer),
            f"{int(row['treated_rows']):,}",
            *(
                f"{row[k]:.4f}"
                for k in ("auuc", "auuc_churn_risk", "uplift_at_k", "mean_uplift", "ipw_ate")
            ),
        )
    console.print(table)
    overlap = Table(title="propensity overlap (training rows)")
    for column in ("offer", "treated rows", "rows in overlap", "treated in overlap"):
        overlap.add_column(column, justify="right" if column != "offer" else "left")
    for offer, o in result.overlap.items():
        overlap.add_row(
            offer,
            f"{o.treated_rows:,}",
            f"{o.share_in_overlap:.1%}",
            f"{o.treated_in_overlap:.1%}",
        )
    console.print(overlap)
    if result.overlap_reason:
        print_warning(f"overlap too thin, this version cannot be promoted: {result.overlap_reason}")
    console.print(
        f"MLflow run {result.run_id}; view with: mlflow ui --backend-store-uri "
        f"{_tracking(settings)}"
    )
    if promote:
        _print_decisions(
            run_gate({UPLIFT_MODEL: result.validation}, tracking_uri=settings.tracking_uri)
        )
