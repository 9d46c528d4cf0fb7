"""`churn generate`, `validate`, `features` and `import orders`: data in, snapshots out."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text
from typer.core import TyperGroup

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
    progress_bar,
    read_settings,
    reading,
)
from churn.options import Engine, EngineOpt, MkdirOpt, as_of_option, today_utc
from features.contract.errors import ChurnError, ConfigError


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
    tables = load_data(read_settings(config), data)
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
            min=1,
            help="Customer partitions, the fewest (default: features.partitions of the "
            "settings; more when features.memory_mb needs them).",
        ),
    ] = None,
    engine: EngineOpt = Engine.local,
    mkdir: MkdirOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Build the point-in-time feature table as of a cutoff and write it as a snapshot."""
    from features.compute import usable_cores
    from features.io.atomic import check_target
    from features.io.snapshot import make_snapshot, snapshot_path

    settings = read_settings(config)
    cutoff = as_of if as_of is not None else today_utc()
    if out is not None:
        check_target(out, mkdir=mkdir)  # before loading anything
    n = partitions or settings.features.partitions
    options = {"windows": settings.features.windows, "sla_hours": settings.features.sla_hours}
    if engine is Engine.spark:
        from features.io.spark import snapshot_spark

        data_dir = Path(data or settings.data.dir)
        if out is None:
            out, mkdir = snapshot_path(data_dir / "features", cutoff), True
        with err_console.status(f"building features on Spark ({n} partitions)"):
            path, meta = snapshot_spark(
                data_dir,
                as_of=cutoff,
                out=out,
                partitions=n,
                mkdir=mkdir,
                **options,
                **reading(settings),
            )
    else:
        source = open_data(settings, data, partitions=n)
        with progress_bar() as bar:
            task = bar.add_task("features", total=source.partitions)
            path, meta = make_snapshot(
                source,
                as_of=cutoff,
                out=out,
                on_partition=lambda done, total: bar.update(task, completed=done),
                mkdir=mkdir,
                workers=usable_cores().usable,
                **options,
            )
        print_data_warnings(source)
    console.print(
        f"Wrote {path}: {meta.rows:,} customers × {len(meta.features)} features "
        f"as of {cutoff:%Y-%m-%d}."
    )


import_app = typer.Typer(
    cls=TyperGroup, help="Convert raw exports into the contract tables.", no_args_is_help=True
)
app.add_typer(import_app, name="import")


class TableFormat(StrEnum):
    """File format of the tables written (see features.io.atomic.FILE_FORMATS)."""

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
    from features.io.orders_import import import_orders

    options = read_settings(config).import_
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
