"""Build the point-in-time feature table: one row per customer known at ``as_of``.

The feature code is a pure function of a set of whole customers, so any partition of
customers gives the same rows; :func:`build_features_partitioned` uses that to bound
memory, and the Spark engine to run the same code per partition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from features.contract.errors import ConfigError
from features.contract.schema import CUSTOMER_ID
from features.contract.tables import Tables
from features.families.attributes import CATEGORICAL_ATTRIBUTES, attribute_features, offer_features
from features.families.basket import basket_features
from features.families.engagement import engagement_features
from features.families.events import as_utc, known_before, visible_events
from features.families.frequency import frequency_features
from features.families.occasions import occasion_features
from features.families.purchase_days import purchase_day_features
from features.families.recency import recency_features, tenure_features
from features.families.spend import spend_features
from features.families.support import support_features
from features.families.surveys import survey_features
from features.families.upsell import upsell_features

DEFAULT_WINDOWS = (30, 90, 180, 365)
CATEGORICAL_FEATURES = (*CATEGORICAL_ATTRIBUTES, "nps_class_last")


EVENT_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    # event table: (time column, the other columns the features read)
    "transactions": ("ordered_at", ("amount", "is_refund", "discount", "category", "quantity")),
    "support_tickets": ("opened_at", ("resolved_at", "escalated", "csat")),
    "surveys": ("answered_at", ("nps", "csat", "ces")),
    "offers": ("offered_at", ("accepted",)),
    "events": ("occurred_at", ("event_type",)),
}


def feature_inputs(tables: Tables) -> Tables:
    """``tables`` with the event tables cut to the columns :func:`build_features` reads.

    The features (and the active rule) are unchanged; splitting and copying the
    tables by customer partition gets cheaper (an order id column, say, is not moved).
    """
    return tables.replace(
        **{
            name: getattr(tables, name)[[CUSTOMER_ID, time, *others]]
            for name, (time, others) in EVENT_COLUMNS.items()
        }
    )


def in_event_order(tables: Tables) -> Tables:
    """``tables`` with each event table sorted by customer, then time (stable).

    The order :func:`features.families.events.visible_events` works in: a caller that builds
    features of the same tables at many cutoffs sorts once here, and no cutoff sorts
    again; the transactions' ``category`` text is coded once (a categorical). Features are
    unchanged (they depend on neither row order nor the category's dtype).
    """
    frames = {
        name: frame.sort_values([CUSTOMER_ID, time], kind="stable").reset_index(drop=True)
        for name, (time, _) in EVENT_COLUMNS.items()
        if len(frame := getattr(tables, name))
    }
    if "transactions" in frames:
        frames["transactions"]["category"] = frames["transactions"]["category"].astype("category")
    return tables.replace(**frames)


def build_features(
    tables: Tables,
    *,
    as_of: str | pd.Timestamp,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    sla_hours: float = 48.0,
) -> pd.DataFrame:
    """Compute every feature family as of ``as_of`` from events strictly before it.

    Parameters
    ----------
    tables : Tables
        Validated contract tables (see :func:`features.contract.load.load_tables`).
    as_of : str or Timestamp
        Exclusive cutoff; naive values are UTC.
    windows : sequence of int, default (30, 90, 180, 365)
        Look-back windows in days for the windowed counts and sums.
    sla_hours : float, default 48
        Resolution time above which a ticket breaches the support SLA.

    Returns
    -------
    DataFrame, shape (n_customers_known, n_features + 1)
        ``customer_id`` then the features, one row per customer whose ``signup_at`` is
        before ``as_of``, sorted by ``customer_id``. Numeric features are float64 (NaN
        when undefined, e.g. no order yet); :data:`CATEGORICAL_FEATURES` are strings.
        The engagement family (:mod:`features.families.engagement`) is there only when the
        ``events`` table was supplied (``tables.has("events")``).
    """
    as_of = as_utc(as_of)
    windows = _check_windows(windows)
    customers = tables.customers
    known = customers.loc[known_before(customers["signup_at"], as_of)]
    known = known.sort_values(CUSTOMER_ID, kind="stable").reset_index(drop=True)
    index = pd.Index(known[CUSTOMER_ID])

    def view(table: str):
        time_column, columns = EVENT_COLUMNS[table]
        frame = getattr(tables, table)
        return visible_events(
            frame, time_column, index=index, as_of=as_of, columns=(time_column, *columns)
        )

    txn = view("transactions")
    orders = txn.subset(txn.column("is_refund") != 1)
    tickets, surveys, offers = view("support_tickets"), view("surveys"), view("offers")

    columns: dict[str, object] = {CUSTOMER_ID: known[CUSTOMER_ID].to_numpy()}
    columns |= tenure_features(known, as_of)
    columns |= recency_features(orders, tickets, surveys, offers)
    columns |= frequency_features(orders, windows=windows)
    columns |= spend_features(txn, windows=windows)
    columns |= basket_features(txn, orders)
    columns |= upsell_features(txn, windows=windows)
    columns |= purchase_day_features(txn, time_column=EVENT_COLUMNS["transactions"][0], as_of=as_of)
    columns |= support_features(tickets, windows=windows, as_of=as_of, sla_hours=sla_hours)
    columns |= survey_features(surveys)
    columns |= offer_features(offers)
    columns |= attribute_features(known, as_of)
    columns |= occasion_features(known, as_of)
    if tables.has("events"):
        columns |= engagement_features(view("events"), windows=windows)
    frame = pd.DataFrame(columns)
    for name in CATEGORICAL_FEATURES:
        frame[name] = frame[name].astype("string")
    return frame


def _check_windows(windows: Sequence[int]) -> tuple[int, ...]:
    out = tuple(int(w) for w in windows)
    if not out or any(w <= 0 for w in out) or len(set(out)) != len(out):
        raise ConfigError("windows", list(windows), "distinct positive numbers of days")
    if 365 not in out or 90 not in out:
        raise ConfigError("windows", list(windows), "a list that includes 90 and 365")
    return out


def partition_of(ids: pd.Series, partitions: int) -> np.ndarray:
    """Stable partition number in ``[0, partitions)`` of each customer id."""
    return (pd.util.hash_pandas_object(ids, index=False).to_numpy() % partitions).astype("int64")


def split_tables(tables: Tables, partitions: int) -> Iterator[Tables]:
    """Yield ``partitions`` Tables, each holding whole customers and all their events."""
    parts = {
        name: partition_of(frame[CUSTOMER_ID], partitions)
        for name, frame in tables.frames().items()
    }
    for p in range(partitions):
        yield tables.replace(
            **{
                name: frame.loc[parts[name] == p].reset_index(drop=True)
                for name, frame in tables.frames().items()
            }
        )


def build_features_partitioned(
    tables: Tables,
    *,
    as_of: str | pd.Timestamp,
    partitions: int = 4,
    on_partition: Callable[[int, int], None] | None = None,
    **options,
) -> pd.DataFrame:
    """:func:`build_features` computed per customer partition and concatenated.

    Equal to ``build_features(tables, as_of=as_of, **options)``; peak working memory is
    that of one partition. ``on_partition(done, total)`` is called after each one.
    """
    if partitions < 1:
        raise ConfigError("partitions", partitions, "a whole number of at least 1")
    pieces = []
    for i, part in enumerate(split_tables(feature_inputs(tables), partitions)):
        pieces.append(build_features(part, as_of=as_of, **options))
        if on_partition:
            on_partition(i + 1, partitions)
    frame = pd.concat(pieces, ignore_index=True)
    return frame.sort_values(CUSTOMER_ID, kind="stable").reset_index(drop=True)
