"""Repeated transactions: exact duplicate rows, and an order id reused for another order.

An export that repeats rows (a retried batch, two overlapping extracts appended) would
count each order as often as it appears: spend, frequency and every window of them
inflate, silently. :func:`check_transactions`, run by
:func:`features.contract.load.validate_tables`, finds

- *exact duplicates*: rows equal in every column to an earlier row. By default they
  are dropped (each order counted once) and reported as a warning; with
  ``duplicates="refuse"`` they are a contract problem.
- *a reused order id*: rows of one customer with the same ``order_id`` that differ in
  some other column. Which one is right cannot be told, so they are refused, the order
  ids named.

Both are judged within a customer's rows (an ``order_id`` names an order of its
customer, as ``churn import orders`` writes one row per invoice and customer), so
reading the tables by customer partition finds exactly what reading them whole does.
"""

from __future__ import annotations

from typing import Literal

import pandas as pd

from features.contract.errors import Problem
from features.contract.schema import CUSTOMER_ID

Duplicates = Literal["drop", "refuse"]
DUPLICATES: tuple[Duplicates, ...] = ("drop", "refuse")
SHOWN = 5

EXACT_DROPPED = "has rows equal in every column to an earlier row: dropped, each counted once"
EXACT_REFUSED = (
    "has rows equal in every column to an earlier row (duplicates='refuse'); remove "
    "them, or let them be dropped"
)
REUSED = (
    "is reused by rows of one customer that differ in other columns (an order id must "
    "name one order); fix or remove the rows"
)


def check_transactions(
    frame: pd.DataFrame, file: str, *, duplicates: Duplicates = "drop"
) -> tuple[pd.DataFrame, list[Problem], list[Problem]]:
    """``frame`` without exact duplicate rows, the problems and the warnings found.

    Parameters
    ----------
    frame : DataFrame
        Validated transactions (contract columns and types).
    file : str
        The file named in messages.
    duplicates : {"drop", "refuse"}, default "drop"
        What exact duplicate rows are: dropped with a warning, or a problem.

    Returns
    -------
    frame : DataFrame
        Without the exact duplicates when they are dropped (fresh RangeIndex).
    problems : list of Problem
        Reused order ids; exact duplicates under ``"refuse"``.
    warnings : list of Problem
        Exact duplicates dropped.
    """
    if duplicates not in DUPLICATES:
        raise ValueError(f"Unknown duplicates option {duplicates!r}; expected one of {DUPLICATES}.")
    problems: list[Problem] = []
    warnings: list[Problem] = []
    exact = frame.duplicated(keep="first")
    if exact.any():
        found = Problem(
            file,
            None,
            EXACT_DROPPED if duplicates == "drop" else EXACT_REFUSED,
            int(exact.sum()),
            _row_examples(frame.loc[exact].drop_duplicates()),
        )
        (warnings if duplicates == "drop" else problems).append(found)
        frame = frame.loc[~exact].reset_index(drop=True)
    if "order_id" in frame.columns:
        distinct = frame.drop_duplicates()
        keyed = distinct.loc[distinct["order_id"].notna()]
        reused = keyed.duplicated([CUSTOMER_ID, "order_id"], keep=False)
        if reused.any():
            rows = keyed.loc[reused]
            ids = rows["order_id"].drop_duplicates().head(SHOWN)
            examples = tuple(
                f"{order_id} ({int((rows['order_id'] == order_id).sum())} different rows)"
                for order_id in ids
            )
            problems.append(Problem(file, "order_id", REUSED, int(reused.sum()), examples))
    return frame, problems, warnings


def _row_examples(rows: pd.DataFrame) -> tuple[str, ...]:
    """``order_id 1042`` when rows have one, else ``customer 17 at 2025-03-01T10:00:00Z``."""
    out = []
    for record in rows.head(SHOWN).to_dict("records"):
        order_id = record.get("order_id")
        if order_id is not None and not pd.isna(order_id):
            out.append(f"order_id {order_id}")
        else:
            when = pd.Timestamp(record["ordered_at"]).strftime("%Y-%m-%dT%H:%M:%SZ")
            out.append(f"customer {record[CUSTOMER_ID]} at {when}")
    return tuple(out)
