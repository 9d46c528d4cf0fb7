"""The ``churn`` CLI's base: the Typer app every command module registers on, and its parts.

Each command builds the settings and calls the library; the command modules
(``data_commands``, ``train_commands``, ``batch_commands``, ``report_commands``,
``serve_commands``) import this module and register on :data:`app`;
:mod:`churn.cli` imports them all and runs the app.

Every :class:`~features.contract.errors.ChurnError` becomes one clear paragraph on stderr and
exit code 2; nothing the user can fix ends in a traceback.

The consoles do not parse Rich markup: messages carry file names, column values and
ids from the user's data (``[/x]`` is a valid CSV cell), so every string is printed as
it is, and the CLI's own colours are given as ``style=`` or :class:`rich.text.Text`.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text
from typer.core import TyperGroup

from features.contract.errors import ChurnError, Problem
from serving.settings import Settings, load_settings

# markup=False: user data (values, ids, paths) is never read as Rich markup.
console = Console(markup=False)
err_console = Console(stderr=True, markup=False)


def print_warning(message: object, *, label: str = "warning") -> None:
    """Print ``label: message`` on stderr, the label in yellow, the message as plain text."""
    err_console.print(Text.assemble((f"{label}: ", "yellow"), str(message)))


DATA_WARNING_LOGGERS = ("features.contract.load", "features.io.partitioned")
"""Where the library logs a load's data warnings (:class:`~features.contract.errors.Problem`)."""


class _PrintedByTheCli(logging.Filter):
    """Drop log records of data warnings: the commands print them (once, in yellow)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.args and isinstance(record.args[0], Problem))


def quiet_printed_warnings() -> None:
    """Keep the library's data warnings out of the log (once per process), and
    scikit-learn's note on all-missing columns out of the output (the logistic baseline
    meets them on short histories; it is a baseline, not a finding about the data)."""
    warnings.filterwarnings("ignore", message="Skipping features without any observed values")
    for name in DATA_WARNING_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _PrintedByTheCli) for f in logger.filters):
            logger.addFilter(_PrintedByTheCli())


class _UserErrorGroup(TyperGroup):
    """Turns domain errors into a message and exit code 2 instead of a traceback."""

    def invoke(self, ctx):
        quiet_printed_warnings()
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


def read_settings(config: Path | None) -> Settings:
    """The settings of ``config`` (or the default file) overlaid by ``CHURN_*`` variables.

    Also sets the process's thread budget (``[compute] threads``, else the cores it may
    use; see :mod:`features.compute`).
    """
    from features.compute import limit_native_threads, set_threads

    settings = load_settings(config)
    set_threads(settings.compute.threads)
    limit_native_threads()
    return settings


def note_default_offers(settings: Settings) -> None:
    """Say so when the offer catalog is the packaged default (no ``offers.toml`` found)."""
    from serving.settings import uses_packaged_offers

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


def open_data(settings: Settings, data: Path | None, *, partitions: int | None = None):
    """The tables of ``data`` (default ``data.dir``), read one customer partition at a time.

    Parquet tables are read per partition (at least ``partitions``, default
    ``features.partitions``, more when ``features.memory_mb`` needs them); CSV tables are
    loaded whole. Returns a :class:`~features.io.partitioned.CustomerPartitions`, whose
    warnings are complete after a pass: print them then (:func:`print_data_warnings`).
    """
    from features.io.partitioned import CustomerPartitions

    source = CustomerPartitions.open(
        data or settings.data.dir,
        partitions=partitions or settings.features.partitions,
        memory_mb=settings.features.memory_mb,
        **reading(settings),
    )
    return source


def reading(settings: Settings) -> dict[str, object]:
    """How the tables are read (column mapping, event types, CSV format), as keywords
    of the Spark engines."""
    data = settings.data
    return {
        "column_map": data.columns,
        "event_types": data.event_types,
        "delimiter": data.delimiter,
        "encoding": data.encoding,
    }


def print_data_warnings(source) -> None:
    """Print the data warnings of a :class:`~features.io.partitioned.CustomerPartitions`."""
    for warning in source.warnings:
        print_warning(warning)


def load_data(settings: Settings, data: Path | None):
    """Load and validate the tables of ``data`` (default ``data.dir``); print their warnings."""
    from features.contract.load import load_tables

    data_settings = settings.data
    tables = load_tables(
        data or data_settings.dir,
        column_map=data_settings.columns,
        event_types=data_settings.event_types,
        delimiter=data_settings.delimiter,
        encoding=data_settings.encoding,
    )
    for warning in tables.warnings:
        print_warning(warning)
    return tables
