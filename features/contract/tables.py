"""The validated contract tables as one object: :class:`Tables`.

Built by :func:`features.contract.load.load_tables` (from files) or
:func:`features.contract.load.validate_tables` (from frames); everything downstream takes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from features.contract.errors import DataContractError, Problem
from features.contract.schema import CUSTOMER_ID, TABLES
from features.contract.timestamps import end_of_today


@dataclass
class Tables:
    """The six contract tables, validated. Optional tables are empty frames when absent.

    Attributes
    ----------
    customers, transactions, support_tickets, surveys, offers, events : pandas.DataFrame
        One frame per contract table, with contract column names; ``events.event_type``
        holds the family (categorical of :data:`features.contract.schema.EVENT_FAMILIES`).
    sources : dict of str to Path
        The file each table came from (absent optional tables are not listed).
    warnings : list of Problem
        Findings that are reported but do not stop the load (e.g. rows for unknown
        customers, which no feature can use).
    absent : frozenset of str
        Optional tables that were not supplied (their empty frames stand in). A feature
        family of an absent table is left out, not filled with zeros: without
        ``events``, the features are those of a data set that never had them.
    """

    customers: pd.DataFrame
    transactions: pd.DataFrame
    support_tickets: pd.DataFrame
    surveys: pd.DataFrame
    offers: pd.DataFrame
    events: pd.DataFrame
    sources: dict[str, Path] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)
    absent: frozenset[str] = frozenset()

    def frames(self) -> dict[str, pd.DataFrame]:
        """Return ``{table name: frame}`` for the six tables."""
        return {name: getattr(self, name) for name in TABLES}

    def has(self, table: str) -> bool:
        """Whether ``table`` was supplied (it may still have no rows)."""
        return table not in self.absent

    def replace(self, **frames: pd.DataFrame) -> Tables:
        """Return a copy with some frames replaced (sources, warnings, absent kept)."""
        return Tables(
            **{**self.frames(), **frames},
            sources=self.sources,
            warnings=self.warnings,
            absent=self.absent,
        )

    def of_customers(self, ids: pd.Series | np.ndarray) -> Tables:
        """The same tables holding only the customers ``ids`` and their events."""
        return self.replace(
            **{
                name: frame.loc[frame[CUSTOMER_ID].isin(ids)].reset_index(drop=True)
                for name, frame in self.frames().items()
            }
        )

    def data_end(self, *, now: pd.Timestamp | None = None) -> pd.Timestamp:
        """Latest event timestamp over all tables (UTC) that is not in the future.

        The end of observed history: events after today (UTC, of ``now``; default the
        clock) are ignored, so one mistyped ``2031`` cannot move it (and with it every
        label horizon) into years with no data.

        Raises
        ------
        DataContractError
            When no event is dated today or earlier.
        """
        future = end_of_today(now)
        stamps = [
            frame.loc[frame[spec.time_column] < future, spec.time_column].max()
            for spec, frame in zip(TABLES.values(), self.frames().values(), strict=True)
            if spec.time_column and len(frame)
        ]
        stamps = [s for s in stamps if pd.notna(s)]
        if not stamps:
            raise DataContractError(
                [Problem("the tables", None, f"have no event before {future:%Y-%m-%d} (UTC)")]
            )
        return max(stamps)

    def future_events(self, *, now: pd.Timestamp | None = None) -> int:
        """How many events (rows, by each table's time column) are dated after today."""
        future = end_of_today(now)
        return sum(
            int((frame[spec.time_column] >= future).sum())
            for spec, frame in zip(TABLES.values(), self.frames().values(), strict=True)
            if spec.time_column and len(frame)
        )
