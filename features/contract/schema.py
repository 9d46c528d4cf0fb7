"""The data contract: tables, their columns and types, and the mapping of a user's names.

Column names live here and nowhere else; every other module refers to them through
these constants. ``CONTRACT_VERSION`` is written into every feature snapshot so a
consumer can tell which contract produced it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from features.contract.errors import ConfigError

CONTRACT_VERSION = "1.1"
"""1.1: the optional ``events`` table (engagement events)."""

Kind = Literal["id", "timestamp", "date", "float", "int", "bool", "str"]


@dataclass(frozen=True)
class Column:
    """One contract column.

    Parameters
    ----------
    name : str
        Contract name.
    kind : {"id", "timestamp", "date", "float", "int", "bool", "str"}
        Logical type; timestamps are made UTC-aware at load.
    required : bool
        Whether the column must be present.
    bounds : tuple of (float, float) or None
        Inclusive range for numeric columns, checked at load (every numeric column is
        also held to finite values within ±:data:`MAX_ABS_NUMBER`).
    open_end : bool
        For the end of something that may not have happened (``cancelled_at``,
        ``resolved_at``): a date past :data:`LATEST_TIMESTAMP`, the usual "never"
        sentinel such as ``9999-12-31``, is read as missing (reported as a warning)
        instead of refused.
    """

    name: str
    kind: Kind
    required: bool = False
    bounds: tuple[float, float] | None = None
    open_end: bool = False


@dataclass(frozen=True)
class TableSpec:
    """One contract table: its file stem, whether it must exist, and its columns."""

    name: str
    columns: tuple[Column, ...]
    required: bool = False
    time_column: str | None = None

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


CUSTOMER_ID = "customer_id"

MAX_ABS_NUMBER = 1e12
"""Largest absolute value of any number in the tables (amounts, costs, quantities, ...):
a trillion currency units is no order; larger values are data errors (``1e308``)."""

EARLIEST_TIMESTAMP = "1677-09-22"
LATEST_TIMESTAMP = "2262-04-10"
"""First and last UTC day of the timestamps the package computes with (both included):
nanoseconds since 1970 in an int64, pandas' ``datetime64[ns]``."""

CUSTOMERS = TableSpec(
    "customers",
    (
        Column(CUSTOMER_ID, "id", required=True),
        Column("signup_at", "timestamp", required=True),
        Column("cancelled_at", "timestamp", open_end=True),
        Column("birth_date", "date"),
        Column("country", "str"),
        Column("channel", "str"),
        Column("plan", "str"),
        Column("loyalty_tier", "str"),
        Column("contract_type", "str"),
    ),
    required=True,
    time_column="signup_at",
)

TRANSACTIONS = TableSpec(
    "transactions",
    (
        Column(CUSTOMER_ID, "id", required=True),
        Column("ordered_at", "timestamp", required=True),
        Column("amount", "float", required=True),
        Column("order_id", "str"),
        Column("quantity", "float", bounds=(0, float("inf"))),
        Column("category", "str"),
        Column("discount", "float", bounds=(0, float("inf"))),
        Column("is_refund", "bool"),
    ),
    required=True,
    time_column="ordered_at",
)

SUPPORT_TICKETS = TableSpec(
    "support_tickets",
    (
        Column(CUSTOMER_ID, "id", required=True),
        Column("opened_at", "timestamp", required=True),
        Column("resolved_at", "timestamp", open_end=True),
        Column("category", "str"),
        Column("channel", "str"),
        Column("escalated", "bool"),
        Column("csat", "float", bounds=(1, 5)),
    ),
    time_column="opened_at",
)

SURVEYS = TableSpec(
    "surveys",
    (
        Column(CUSTOMER_ID, "id", required=True),
        Column("answered_at", "timestamp", required=True),
        Column("nps", "float", bounds=(0, 10)),
        Column("csat", "float", bounds=(1, 5)),
        Column("ces", "float", bounds=(1, 7)),
    ),
    time_column="answered_at",
)

OFFERS = TableSpec(
    "offers",
    (
        Column(CUSTOMER_ID, "id", required=True),
        Column("offered_at", "timestamp", required=True),
        Column("offer_id", "str", required=True),
        Column("accepted", "bool"),
        Column("cost", "float", bounds=(0, float("inf"))),
    ),
    time_column="offered_at",
)

EVENTS = TableSpec(
    "events",
    (
        Column(CUSTOMER_ID, "id", required=True),
        Column("occurred_at", "timestamp", required=True),
        Column("event_type", "str", required=True),
        Column("value", "float"),
        Column("channel", "str"),
    ),
    time_column="occurred_at",
)
"""Engagement events (optional, often tens of millions of rows): sessions, logins,
e-mail opens and clicks, reviews, referrals. ``event_type`` holds the user's own
strings; at load they are mapped onto :data:`EVENT_FAMILIES` (see
:func:`event_family_map`) and the column holds the family from then on."""

TABLES: dict[str, TableSpec] = {
    t.name: t for t in (CUSTOMERS, TRANSACTIONS, SUPPORT_TICKETS, SURVEYS, OFFERS, EVENTS)
}

EVENT_FAMILIES = ("session", "login", "email_open", "email_click", "review", "referral", "other")
"""The engagement event families the features know; unknown event types become ``other``."""
OTHER_EVENT = "other"

EventTypeMap = Mapping[str, str]
"""``{your event type: family}`` as written in ``churn.toml``'s ``[data.event_types]``."""


def event_family_map(event_types: EventTypeMap | None) -> dict[str, str]:
    """Return ``{event type (lower case, trimmed): family}``, the families mapping to themselves.

    Raises
    ------
    ConfigError
        When a mapping's target is not one of :data:`EVENT_FAMILIES`.
    """
    mapping = {family: family for family in EVENT_FAMILIES}
    for event_type, family in (event_types or {}).items():
        if family not in EVENT_FAMILIES:
            raise ConfigError(
                f"event type mapping for {event_type!r}", family, f"one of {list(EVENT_FAMILIES)}"
            )
        mapping[str(event_type).strip().lower()] = family
    return mapping


CONTRACT_TYPES = ("subscription", "non_contractual")

ColumnMap = Mapping[str, Mapping[str, str]]
"""``{table: {contract_name: user_name}}`` as written in ``churn.toml``'s ``[columns.*]``."""


def rename_map(table: str, column_map: ColumnMap | None) -> dict[str, str]:
    """Return ``{user_name: contract_name}`` for ``table``, checking the contract names.

    Raises
    ------
    ConfigError
        When the mapping names a table or contract column that does not exist.
    """
    if not column_map:
        return {}
    for name in column_map:
        if name not in TABLES:
            raise ConfigError("column mapping table", name, f"one of {sorted(TABLES)}")
    mapping = column_map.get(table, {})
    known = {c.name for c in TABLES[table].columns}
    for contract_name in mapping:
        if contract_name not in known:
            raise ConfigError(
                f"column mapping for {table}", contract_name, f"one of {sorted(known)}"
            )
    return {user: contract for contract, user in mapping.items()}
