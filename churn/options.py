"""Options shared by several commands, parsed once: ``--as-of`` and ``--mkdir``.

``--as-of`` goes through :func:`features.families.events.parse_as_of` for every command: a whole
UTC day (``2025-06-30``), returned as a UTC-aware ``pandas.Timestamp`` (a ``datetime``);
a time of day or an unparseable value is one clear error (exit code 2). Nothing heavy
is imported until an option is actually parsed.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

import typer

__all__ = ["Engine", "EngineOpt", "MkdirOpt", "as_of_option", "parse_as_of_option", "today_utc"]


class Engine(StrEnum):
    """Where ``churn score``, ``churn features`` and ``churn train`` build features."""

    local = "local"
    spark = "spark"


EngineOpt = Annotated[
    Engine,
    typer.Option(
        help="local: partition by partition in this process; spark: per customer group on "
        "Spark (SPARK_MASTER, else local[*])."
    ),
]


def parse_as_of_option(value: str | datetime) -> datetime:
    """The ``--as-of`` parser: a UTC-midnight ``pandas.Timestamp`` or a ChurnError."""
    from features.families.events import as_utc, parse_as_of

    if isinstance(value, datetime):  # a default already parsed
        return as_utc(value)
    return parse_as_of(value, name="--as-of")


def today_utc() -> datetime:
    """Today's UTC midnight, the default cutoff of commands that default to today."""
    import pandas as pd

    return pd.Timestamp.now(tz="UTC").floor("D")


def as_of_option(help_text: str) -> typer.models.OptionInfo:
    """The ``--as-of DATE`` option with ``help_text``, parsed by :func:`parse_as_of_option`.

    Use as ``Annotated[datetime | None, as_of_option("...")]``.
    """
    return typer.Option("--as-of", parser=parse_as_of_option, metavar="DATE", help=help_text)


MkdirOpt = Annotated[
    bool,
    typer.Option(
        "--mkdir",
        help="Create the output's missing folders (without it, a missing folder is an error).",
    ),
]
