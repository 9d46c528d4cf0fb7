"""The ``churn`` command line: each command builds the settings and calls the library.

Every :class:`~features.errors.ChurnError` becomes one clear paragraph on stderr and
exit code 2; nothing the user can fix ends in a traceback.

The consoles do not parse Rich markup: messages carry file names, column values and
ids from the user's data (``[/x]`` is a valid CSV cell), so every string is printed as
it is, and the CLI's own colours are given as ``style=`` or :class:`rich.text.Text`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text
from typer.core import TyperGroup

from churn.options import MkdirOpt, as_of_option, today_utc
from churn.settings import Settings, load_settings
from features.errors import ChurnError, ConfigError

# markup=False: user data (values, ids, paths) is never read as Rich markup.
console = Console(markup=False)
err_console = Console(stderr=True, markup=False)


def print_warning(message: object, *, label: str = "warning") -> None:
    """Print ``label: message`` on stderr, the label in yellow, the message as plain text."""
    err_console.print(Text.assemble((f"{label}: ", "yellow"), str(message)))


class _UserErrorGroup(TyperGroup):
    """Turns domain errors into a message and exit code 2 instead of a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ChurnError as e:
            err_console.print(
                Panel(
                    Text(str(e)),
                    title="churn: error",
                    title_align="left",
                    border_style="red",
                    expand=False,
                )
            )
            raise typer.Exit(2) from None


app = typer.Typer(
    cls=_UserErrorGroup,
    help="Churn and customer-lifetime-value: features, models, scores and retention offers.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="Settings file (default: $CHURN_CONFIG or ./churn.toml)."),
]
DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data", help="Folder with the contract tables (default: data.dir of the settings)."
    ),
]


def _settings(config: Path | None) -> Settings:
    return load_settings(config)


def note_default_offers(settings: Settings) -> None:
    """Say so when the offer catalog is the packaged default (no ``offers.toml`` found)."""
    from churn.settings import uses_packaged_offers

    if uses_packaged_offers(settings):
        print_warning(
            "no offers.toml here and [serving] offers_file is not set: using the default "
            f"offer catalog shipped with the package ({settings.serving.offers_file}).",
            label="note",
        )


def progress_bar() -> Progress:
    """The Rich progress bar every long command shows."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )


def _load(settings: Settings, data: Path | None):
    from features.load import load_tables

    data_settings = settings.data
    tables = load_tables(
        data or data_settings.dir,
        column_map=data_settings.columns,
        delimiter=data_settings.delimiter,
        encoding=data_settings.encoding,
    )
    for warning in tables.warnings:
        print_warning(warning)
    return tables


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="Folder to write the tables into.")] = Path("data/demo"),
    customers: Annotated[int, typer.Option(min=1, help="Number of customers.")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same data.")] = 0,
    start: Annotated[str, typer.Option(help="First day of history (UTC).")] = "2022-01-01",
    end: Annotated[str, typer.Option(help="End of history (UTC, exclusive).")] = "2025-12-31",
    file_format: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    shift: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Population shift 0–1 (for drift tests).")
    ] = 0.0,
) -> None:
    """Write a realistic synthetic data set (with its latent ground truth)."""
    from features.synthetic import generate as run

    try:
        summary = run(
            out,
            customers=customers,
            seed=seed,
            start=start,
            end=end,
            file_format=file_format,
            population_shift=shift,
        )
    except ValueError as e:
        raise ChurnError(str(e)) from e
    rows = ", ".join(f"{n} {t}" for t, n in summary.rows.items())
    console.print(f"Wrote {out}: {rows}; mean monthly churn {summary.monthly_churn_rate:.1%}.")


@app.command()
def validate(data: DataOpt = None, config: ConfigOpt = None) -> None:
    """Check the tables against the data contract and summarise them."""
    tables = _load(_settings(config), data)
    for name, frame in tables.frames().items():
        source = tables.sources.get(name)
        console.print(f"{name:16} {len(frame):>10,} rows  {source or '(absent)'}")
    console.print("The data meets the contract.", style="green")


@app.command()
def features(
    as_of: Annotated[
        datetime | None,
        as_of_option("Cutoff date (exclusive, UTC); only events before it count. Default: today."),
    ] = None,
    data: DataOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Snapshot file (default: <data>/features/features_<as-of>.parquet)."),
    ] = None,
    partitions: Annotated[
        int | None,
        typer.Option(
            min=1, help="Customer partitions (default: features.partitions of the settings)."
        ),
    ] = None,
    mkdir: MkdirOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Build the point-in-time feature table as of a cutoff and write it as a snapshot."""
    from features.atomic import check_target
    from features.snapshot import make_snapshot

    settings = _settings(config)
    cutoff = as_of if as_of is not None else today_utc()
    if out is not None:
        check_target(out, mkdir=mkdir)  # before loading anything
    tables = _load(settings, data)
    n = partitions or settings.features.partitions
    with progress_bar() as bar:
        task = bar.add_task("features", total=n)
        path, meta = make_snapshot(
            tables,
            as_of=cutoff,
            out=out,
            partitions=n,
            windows=settings.features.windows,
            sla_hours=settings.features.sla_hours,
            on_partition=lambda done, total: bar.update(task, completed=done),
            mkdir=mkdir,
        )
    console.print(
        f"Wrote {path}: {meta.rows:,} customers × {len(meta.features)} features "
        f"as of {cutoff:%Y-%m-%d}."
    )


import_app = typer.Typer(
    cls=TyperGroup, help="Convert raw exports into the contract tables.", no_args_is_help=True
)
app.add_typer(import_app, name="import")


class TableFormat(StrEnum):
    """File format of the tables written (see features.atomic.FILE_FORMATS)."""

    parquet = "parquet"
    csv = "csv"


@import_app.command("orders")
def import_orders_command(
    orders: Annotated[
        Path,
        typer.Option(
            "--orders", help="Order-lines export, one row per invoice line (.parquet or CSV)."
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Folder to write customers and transactions into.")
    ],
    file_format: Annotated[
        TableFormat, typer.Option("--format", help="Format of the tables written.")
    ] = TableFormat.parquet,
    column: Annotated[
        list[str] | None,
        typer.Option(
            "--column",
            metavar="FIELD=NAME",
            help="Your column for a field (invoice, customer_id, ordered_at, quantity, "
            "unit_price, country); repeatable; overrides \\[import.columns] of the settings.",
        ),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Turn an order-lines export into customers and transactions (one per invoice)."""
    from features.orders_import import import_orders

    options = _settings(config).import_
    columns = dict(options.columns)
    for item in column or []:
        field, sep, name = item.partition("=")
        if not sep or not field.strip() or not name.strip():
            raise ConfigError("--column", item, "FIELD=NAME, e.g. customer_id=Customer ID")
        columns[field.strip()] = name.strip()
    with err_console.status("importing order lines"):
        summary = import_orders(
            orders,
            out,
            columns=columns,
            refund_prefix=options.refund_prefix,
            date_format=options.date_format,
            file_format=file_format.value,
            delimiter=options.delimiter,
            encoding=options.encoding,
        )
    _print_import(summary, orders)


def _print_import(summary, orders: Path) -> None:
    """The import's counts as a Rich table, the files written, and what was left out."""
    from rich.table import Table

    s = summary
    refunds = f"{s.cancellations:,} cancelled + {s.negative_not_cancelled:,} other negative"
    country = "country: most frequent on their lines" if s.with_country else "no country"
    table = Table(title=Text(f"Imported {orders}"), show_header=False)
    for name, justify in (("what", "left"), ("rows", "right"), ("note", "left")):
        table.add_column(name, justify=justify)
    for what, n, note in (
        ("order lines read", s.lines, ""),
        ("lines without customer id", s.lines_without_customer, "not imported"),
        ("invoices", s.invoices, f"{s.invoices_without_customer:,} without a customer id"),
        ("transactions", s.transactions, "one per invoice and customer"),
        ("refunds", s.refunds, refunds),
        ("zero-amount transactions", s.zero_amount, "kept"),
        ("customers", s.customers, country),
    ):
        table.add_row(what, f"{n:,}", note)
    console.print(table)
    console.print(
        f"Net amount {s.net_amount:,.2f}; lines from {s.first_line_at:%Y-%m-%d %H:%M} to "
        f"{s.last_line_at:%Y-%m-%d %H:%M} UTC."
    )
    for name, path in s.files.items():
        console.print(f"Wrote {name}: {path}")
    if s.lines_without_customer:
        print_warning(
            f"{s.lines_without_customer:,} of {s.lines:,} order lines have no customer id "
            "and were not imported."
        )


def _train_config(settings: Settings):
    from training.labels import POPULATIONS
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
    config: ConfigOpt = None,
) -> None:
    """Train the churn and LTV models with baselines, log to MLflow, register challengers."""
    from rich.table import Table

    from training.registry.promotion import promote as run_gate
    from training.train import train as run

    settings = _settings(config)
    tables = _load(settings, data)
    train_config = _train_config(settings)
    console.print(_data_end_line(tables))
    console.print(
        f"Training on population '{train_config.population}' "
        f"({tables.transactions['customer_id'].nunique():,} customers with transactions)."
    )
    with err_console.status("training") as status:

        def step(text: str) -> None:
            status.update(Text(text))
            if text.startswith("short history"):
                print_warning(text, label="note")

        result = run(tables, config=train_config, tracking_uri=settings.tracking_uri, on_step=step)
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


def _data_end_line(tables) -> str:
    """What `churn train` takes as the end of the data, and what it leaves out."""
    end = tables.data_end()
    line = (
        f"Data end: {end:%Y-%m-%d %H:%M} UTC (the latest event not after today); the label "
        "horizons and cutoffs are placed back from it."
    )
    if future := tables.future_events():
        line += f" {future:,} event(s) dated after today do not count."
    return line


def _tracking(settings: Settings) -> str:
    from training.registry.tracking import resolve_uri

    return resolve_uri(settings.tracking_uri)


@app.command()
def promote(data: DataOpt = None, config: ConfigOpt = None) -> None:
    """Compare each challenger with its champion on the same validation cutoff; move the alias."""
    from training.labels import POPULATIONS
    from training.registry.promotion import promote as run_gate
    from training.registry.promotion import validation_frames
    from training.registry.registry import CHURN_MODEL

    settings = _settings(config)
    tables = _load(settings, data)
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

    settings = _settings(config)
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


# The later stages' commands live in their own modules; importing them registers them.
from churn import (  # noqa: E402, F401
    batch_commands,
    report_commands,
    serve_commands,
    uplift_commands,
)


def main() -> None:
    """Console-script entry point."""
    app()
