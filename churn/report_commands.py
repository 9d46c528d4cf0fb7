"""`churn report` and `churn monitor`: the retention KPI report and drift monitoring."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from churn.app import (
    ConfigOpt,
    DataOpt,
    app,
    console,
    err_console,
    load_data,
    note_default_offers,
    print_warning,
    read_settings,
)
from churn.options import MkdirOpt, as_of_option


class MonitorMode(StrEnum):
    """How the report gets its monitoring section (see serving.report.report.MONITORING)."""

    auto = "auto"
    latest = "latest"
    run = "run"
    skip = "skip"


def _loader(settings):
    return lambda folder: load_data(settings, Path(folder))


@app.command()
def report(
    data: DataOpt = None,
    scores: Annotated[
        Path | None,
        typer.Option(
            help="Scores Parquet from `churn score` (default: <data>/scores.parquet if present)."
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="The HTML file to write.")] = Path("report.html"),
    monitor: Annotated[
        MonitorMode,
        typer.Option(
            "--monitor",
            help="Monitoring section: the latest check of the current champions, "
            "running one if there is none (auto), only a logged one (latest), a fresh one "
            "(run), or none (skip).",
        ),
    ] = MonitorMode.auto,
    mkdir: MkdirOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Write the retention report: KPIs per month, RFM segments, risk × value, models, drift."""
    from features.io.atomic import check_target
    from serving.policy.catalog import load_catalog
    from serving.report.report import make_report, read_scores, write_report

    settings = read_settings(config)
    check_target(out, mkdir=mkdir)  # before the work
    tables = load_data(settings, data)
    data_dir = Path(data or settings.data.dir)
    if scores is None and (data_dir / "scores.parquet").is_file():
        scores = data_dir / "scores.parquet"
    frame = read_scores(scores) if scores is not None else None
    offers_file = Path(settings.serving.offers_file)
    if offers_file.is_file():
        note_default_offers(settings)
    catalog = load_catalog(offers_file) if offers_file.is_file() else None
    with err_console.status("building the report"):
        result = make_report(
            tables,
            scores=frame,
            scores_source=str(scores or ""),
            tracking_uri=settings.tracking_uri,
            monitoring=monitor.value,
            snapshots=data_dir / "features",
            load=_loader(settings),
            catalog=catalog,
        )
    path = write_report(result.html, out, mkdir=mkdir)
    size = path.stat().st_size / 1024
    console.print(
        f"Wrote {path} ({size:,.0f} KB, {len(result.sections)} sections); open it in a browser."
    )
    if result.monitor_run_id:
        console.print(f"Drift check: MLflow run {result.monitor_run_id}.")
    for note in result.notes:
        print_warning(note, label="note")


@app.command("monitor")
def monitor_command(
    data: DataOpt = None,
    as_of: Annotated[
        datetime | None,
        as_of_option(
            "Compare the customers active on this date (default: the latest "
            "feature snapshot, else the day after the latest event)."
        ),
    ] = None,
    fail_on_drift: Annotated[
        bool,
        typer.Option(
            "--fail-on-drift", help="Exit with code 1 when retraining is advised (for CI)."
        ),
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Compare today's features and scores with the champion's training data (PSI, churn rate)."""
    from rich.table import Table

    from training.monitoring.monitor import monitor

    settings = read_settings(config)
    tables = load_data(settings, data)
    data_dir = Path(data or settings.data.dir)
    with err_console.status("comparing with the champion's training data"):
        result = monitor(
            tables,
            as_of=as_of,
            snapshots=data_dir / "features",
            tracking_uri=settings.tracking_uri,
            load=_loader(settings),
        )
    table = Table(title=f"Feature drift as of {result.as_of} (top 10 of {len(result.features)})")
    for column in ("feature", "PSI", "level", "key feature"):
        table.add_column(column, justify="left" if column == "feature" else "right")
    for name, row in result.features.head(10).iterrows():
        table.add_row(name, f"{row['psi']:.3f}", row["level"], "yes" if row["key"] else "")
    console.print(table)
    console.print(
        f"Reference: {result.reference_source} ({', '.join(result.reference_cutoffs)}; "
        f"{result.rows_reference:,} rows); current: {result.rows_current:,} active customers "
        f"({result.current_source})."
    )
    console.print(
        f"Score PSI: churn probability {result.score_psi:.3f}, predicted LTV "
        f"{result.ltv_score_psi:.3f}. Churn rate: training {result.churn_rate_reference:.1%}, "
        f"observed {_pct(result.churn_rate_observed)} at {result.observed_cutoff or '–'} "
        f"(expected {_pct(result.churn_rate_expected)}), predicted now "
        f"{_pct(result.churn_rate_predicted)}."
    )
    if result.retraining_advised:
        console.print("Retraining advised:", style="bold red")
        for reason in result.reasons:
            console.print(f"  - {reason}")
    else:
        console.print("No retraining needed: no threshold crossed.", style="green")
    if result.run_id:
        console.print(f"Logged as MLflow run {result.run_id}.")
    if fail_on_drift and result.retraining_advised:
        raise typer.Exit(1)


def _pct(value: float) -> str:
    return "–" if value != value else f"{value:.1%}"
