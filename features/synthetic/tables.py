"""The files written: table names, Arrow schemas, typed tables from codes, the writer."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from features.contract.schema import CONTRACT_TYPES, CUSTOMER_ID, EVENT_FAMILIES
from features.contract.schema import TABLES as CONTRACT_TABLES
from features.io.atomic import AtomicTarget
from features.synthetic.params import (
    CATEGORIES,
    CHANNELS,
    COUNTRIES,
    EVENT_CHANNELS,
    NO_TIME,
    OFFER_IDS,
    PLANS,
    SEGMENTS,
    TICKET_CATEGORIES,
    TICKET_CHANNELS,
    TIERS,
)

FileFormat = Literal["csv", "parquet"]
FILE_FORMATS: tuple[str, ...] = ("csv", "parquet")

TABLES: tuple[str, ...] = tuple(CONTRACT_TABLES)
"""The contract tables written, in file order (:mod:`features.contract.schema`)."""
GROUND_TRUTH = "ground_truth"


_TS = pa.timestamp("us", tz="UTC")
_I64, _F64, _STR, _BOOL = pa.int64(), pa.float64(), pa.string(), pa.bool_()

SCHEMAS: dict[str, pa.Schema] = {
    "customers": pa.schema(
        [
            (CUSTOMER_ID, _I64),
            ("signup_at", _TS),
            ("cancelled_at", _TS),
            ("birth_date", pa.date32()),
            ("country", _STR),
            ("channel", _STR),
            ("plan", _STR),
            ("loyalty_tier", _STR),
            ("contract_type", _STR),
        ]
    ),
    "transactions": pa.schema(
        [
            ("order_id", _I64),
            (CUSTOMER_ID, _I64),
            ("ordered_at", _TS),
            ("amount", _F64),
            ("quantity", _I64),
            ("category", _STR),
            ("discount", _F64),
            ("is_refund", _BOOL),
        ]
    ),
    "support_tickets": pa.schema(
        [
            ("ticket_id", _I64),
            (CUSTOMER_ID, _I64),
            ("opened_at", _TS),
            ("resolved_at", _TS),
            ("category", _STR),
            ("channel", _STR),
            ("escalated", _BOOL),
            ("csat", _I64),
        ]
    ),
    "surveys": pa.schema(
        [
            (CUSTOMER_ID, _I64),
            ("answered_at", _TS),
            ("nps", _I64),
            ("csat", _I64),
            ("ces", _I64),
        ]
    ),
    "offers": pa.schema(
        [
            (CUSTOMER_ID, _I64),
            ("offered_at", _TS),
            ("offer_id", _STR),
            ("accepted", _BOOL),
            ("cost", _F64),
        ]
    ),
    "events": pa.schema(
        [
            (CUSTOMER_ID, _I64),
            ("occurred_at", _TS),
            ("event_type", _STR),
            ("value", _F64),
            ("channel", _STR),
        ]
    ),
    GROUND_TRUTH: pa.schema(
        [
            (CUSTOMER_ID, _I64),
            ("segment", _STR),
            ("purchase_rate_per_day", _F64),
            ("mean_order_value", _F64),
            ("base_monthly_hazard", _F64),
            ("churned_at", _TS),
            ("is_subscription", _BOOL),
            ("annual_billing", _BOOL),
            *[(f"uplift_{offer}", _F64) for offer in OFFER_IDS],
            ("shift_strength", _F64),
        ]
    ),
}
"""Arrow schema of every file written, columns in file order (timestamps UTC, µs)."""


_LABELS: dict[str, dict[str, tuple[str, ...]]] = {
    "customers": {
        "country": COUNTRIES,
        "channel": CHANNELS,
        "plan": PLANS,
        "loyalty_tier": TIERS,
        "contract_type": CONTRACT_TYPES,
    },
    "transactions": {"category": CATEGORIES},
    "support_tickets": {"category": TICKET_CATEGORIES, "channel": TICKET_CHANNELS},
    "surveys": {},
    "offers": {"offer_id": OFFER_IDS},
    "events": {"event_type": EVENT_FAMILIES, "channel": EVENT_CHANNELS},
    GROUND_TRUTH: {"segment": SEGMENTS},
}
_RENAMES = {"offer": "offer_id", "resolved": "resolved_at"}


def to_arrow(name: str, cols: dict[str, np.ndarray], first_row_id: int) -> pa.Table:
    """Typed Arrow table from simulated columns (seconds, codes; missing values marked).

    Event rows of ``transactions`` and ``support_tickets`` get running ids from
    ``first_row_id`` in file order.
    """
    cols = {_RENAMES.get(key, key): values for key, values in cols.items()}
    n = len(cols[CUSTOMER_ID])
    row_ids = np.arange(first_row_id, first_row_id + n, dtype=np.int64)
    if name == "transactions":
        cols["order_id"] = row_ids
    elif name == "support_tickets":
        cols["ticket_id"] = row_ids
    arrays = []
    for fld in SCHEMAS[name]:
        values = cols[fld.name]
        if pa.types.is_timestamp(fld.type):
            missing = values == NO_TIME
            micros = np.where(missing, 0, values) * 1_000_000
            arrays.append(pa.array(micros, type=pa.int64(), mask=missing).cast(fld.type))
        elif pa.types.is_date32(fld.type):
            arrays.append(pa.array(values.astype(np.int32), type=pa.int32()).cast(fld.type))
        elif fld.name in _LABELS[name]:
            codes = pa.array(values.astype(np.int32), type=pa.int32(), mask=values < 0)
            labels = pa.array(_LABELS[name][fld.name], type=_STR)
            arrays.append(pa.DictionaryArray.from_arrays(codes, labels).dictionary_decode())
        elif fld.type == _I64 and fld.name in ("nps", "csat", "ces"):
            arrays.append(pa.array(values, type=_I64, mask=values < 0))
        elif name == "events" and fld.type == _F64:  # a review's stars; empty otherwise
            arrays.append(pa.array(values, type=_F64, mask=np.isnan(values)))
        else:
            arrays.append(pa.array(values, type=fld.type))
    return pa.Table.from_arrays(arrays, schema=SCHEMAS[name])


class Sink:
    """One output file, written in appended pieces under a temporary name, then renamed.

    The temporary file is :class:`features.io.atomic.AtomicTarget`'s (mode by the umask,
    leftovers of a killed earlier run removed, fsync before the rename).
    """

    def __init__(self, path: Path, schema: pa.Schema, file_format: str):
        self.path = path
        self.target = AtomicTarget(path)
        self.schema = schema
        self.file_format = file_format
        self._writer: pq.ParquetWriter | pacsv.CSVWriter | None = None

    def write(self, table: pa.Table) -> None:
        if self.file_format == "csv":
            table = _csv_view(table)
        if self._writer is None:
            tmp = self.target.open()
            if self.file_format == "parquet":
                self._writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
            else:
                options = pacsv.WriteOptions(quoting_style="none", quoting_header="none")
                self._writer = pacsv.CSVWriter(tmp, table.schema, write_options=options)
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is None:  # nothing written: still leave a typed, empty file
            self.write(self.schema.empty_table())
        assert self._writer is not None
        self._writer.close()
        self._writer = None

    def commit(self) -> None:
        self.target.commit()

    def abort(self) -> None:
        """Close and delete the temporary file, if any (no-op after :meth:`commit`)."""
        if self._writer is not None:
            try:
                self._writer.close()
            finally:
                self._writer = None
        self.target.discard()


def _csv_view(table: pa.Table) -> pa.Table:
    """Timestamps as ``2024-03-05T13:22:10Z``, dates as ``1990-04-02``, the rest as is."""
    columns = []
    for fld, col in zip(table.schema, table.columns, strict=True):
        if pa.types.is_timestamp(fld.type):
            naive = col.cast(pa.timestamp("s", tz="UTC")).cast(pa.timestamp("s"))
            text = pc.replace_substring(naive.cast(_STR), " ", "T")
            col = pc.binary_join_element_wise(text, "Z", "")
        elif pa.types.is_date32(fld.type):
            col = col.cast(_STR)
        columns.append(col)
    return pa.Table.from_arrays(columns, names=table.schema.names)
