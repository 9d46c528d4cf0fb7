"""`churn train`, `promote` and `models`: train, gate and list the registered models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from churn.app import (
    ConfigOpt,
    DataOpt,
    app,
    console,
    err_console,
    load_data,
    open_data,
    print_data_warnings,
    print_warning,
    read_settings,
    reading,
)
from churn.options import Engine, EngineOpt
from serving.settings import Settings


def _train_config(settings: Settings):
    from features.families.population import POPULATIONS
    from training.train import TrainConfig

    t = settings.training
    return TrainConfig(
        active_days=POPULATIONS[settings.scoring.population],
        horizon_days=t.horizon_days,
        ltv_horizon_days=t.ltv_horizon_days,
        train_cutoffs=t.cutoffs,
        spacing_days=t.cutoff_spacing_days,
        seed=t.seed,
        windows=tuple(settings.features.windows),
        sla_hours=settings.features.sla_hours,
        max_rows=t.max_rows,
    )


def _print_decisions(decisions) -> None:
    for d in decisions:
        verdict = ("promoted", "green") if d.promoted else ("kept champion", "yellow")
        console.print(Text.assemble(f"{d.model}: v{d.challenger} ", verdict, f" — {d.reason}"))


@app.command()
def train(
    data: DataOpt = None,
    promote: Annotated[
        bool, typer.Option("--promote/--no-promote", help="Run the promotion gate after training.")
    ] = False,
    engine: EngineOpt = Engine.local,
    partitions: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Customer partitions, the fewest (default: features.partitions; more when "
            "features.memory_mb needs them; with spark, the customer groups).",
        ),
    ] = None,
    training_set: Annotated[
        Path | None,
        typer.Option(
            help="Folder to write the training set in, kept (default: a temporary folder, "
            "removed after the run). On a Spark cluster, a folder every executor can write.",
        ),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Train the churn and LTV models with baselines, log to MLflow, register challengers."""
    from rich.table import Table

    from features.compute import usable_cores
    from training.registry.promotion import promote as run_gate
    from training.train import train as run

    settings = read_settings(config)
    source = open_data(settings, data, partitions=partitions)
    train_config = _train_config(settings)
    console.print(_data_end_line(source.time_span()))
    console.print(
        f"Training on population '{train_config.population}' "
        f"({source.customer_count():,} customers, {source.partitions} partition(s))."
    )
    builder = None
    if engine is Engine.spark:
        from training.spark_set import SparkBuilder

        builder = SparkBuilder(
            data or settings.data.dir,
            partitions=partitions or settings.features.partitions,
            **reading(settings),
        )
    with err_console.status("training") as status:

        def step(text: str) -> None:
            status.update(Text(text))
            if text.startswith("short history"):
                print_warning(text, label="note")

        try:
            result = run(
                source,
                config=train_config,
                tracking_uri=settings.tracking_uri,
                on_step=step,
                builder=builder,
                work_dir=training_set,
                workers=usable_cores().usable,
            )
        finally:  # what was found before a failure is reported too
            print_data_warnings(source)
    for outcome in (result.churn, result.ltv):
        plan = outcome.plan
        console.print(
            f"{outcome.name}: validated on cutoffs {_days(plan.train)} → "
            f"{plan.validation:%Y-%m-%d}; deployed refit on {_days(plan.refit_train)}"
            + (
                f" (calibrated on {plan.refit_calibration:%Y-%m-%d})"
                if plan.refit_calibration
                else ""
            )
        )
    for outcome, keys in (
        (result.churn, ["roc_auc", "pr_auc", "log_loss", "brier", "ece", "lift_top_decile"]),
        (result.ltv, ["normalized_gini", "spearman", "mae", "rmse"]),
    ):
        table = Table(
            title=f"{outcome.name} v{outcome.version} — validation cutoff "
            f"{outcome.plan.validation:%Y-%m-%d}"
        )
        table.add_column("model")
        for k in keys:
            table.add_column(k, justify="right")
        for name, row in outcome.metrics.iterrows():
            table.add_row(str(name), *(f"{row[k]:.4f}" for k in keys))
        console.print(table)
    console.print(
        f"MLflow run {result.run_id}; view with: mlflow ui --backend-store-uri "
        f"{_tracking(settings)}"
    )
    if promote:
        _print_decisions(
            run_gate(
                {
                    result.churn.name: result.churn.validation,
                    result.ltv.name: result.ltv.validation,
                },
                tracking_uri=settings.tracking_uri,
                metrics={result.churn.name: settings.training.promote_metric},
            )
        )


def _days(cutoffs) -> str:
    return ", ".join(f"{t:%Y-%m-%d}" for t in cutoffs)


def _data_end_line(span) -> str:
    """What `churn train` takes as the end of the data, and what it leaves out."""
    end = span.end
    line = (
        f"Data end: {end:%Y-%m-%d %H:%M} UTC (the latest event not after today); the label "
        "horizons and cutoffs are placed back from it."
    )
    if future := span.future_events:
        line += f" {future:,} event(s) dated after today do not count."
    return line


def _tracking(settings: Settings) -> str:
    from training.registry.tracking import resolve_uri

    return resolve_uri(settings.tracking_uri)


@app.command()
def promote(data: DataOpt = None, config: ConfigOpt = None) -> None:
    """Compare each challenger with its champion on the same validation cutoff; move the alias."""
    from features.families.population import POPULATIONS
    from training.registry.promotion import promote as run_gate
    from training.registry.promotion import validation_frames
    from training.registry.registry import CHURN_MODEL

    settings = read_settings(config)
    tables = load_data(settings, data)
    frames = validation_frames(
        tables,
        horizon_days=settings.training.horizon_days,
        ltv_horizon_days=settings.training.ltv_horizon_days,
        tracking_uri=settings.tracking_uri,
        windows=settings.features.windows,
        sla_hours=settings.features.sla_hours,
        active_days=POPULATIONS[settings.scoring.population],
    )
    metrics = {CHURN_MODEL: settings.training.promote_metric}
    _print_decisions(run_gate(frames, tracking_uri=settings.tracking_uri, metrics=metrics))


@app.command()
def models(config: ConfigOpt = None) -> None:
    """List the registered model versions with their aliases and headline metric."""
    from rich.table import Table

    from training.registry.registry import list_versions

    settings = read_settings(config)
    versions = list_versions(tracking_uri=settings.tracking_uri)
    table = Table(title=f"Registered models in {_tracking(settings)}")
    for column in ("model", "version", "aliases", "validated on", "gate metric", "run"):
        table.add_column(column, overflow="fold")
    for row in versions.itertuples(index=False):
        table.add_row(
            row.model,
            str(row.version),
            row.aliases or "-",
            row.validation_cutoff,
            f"{row.metric} {row.value}",
            row.run_id[:8],
        )
    console.print(table)
