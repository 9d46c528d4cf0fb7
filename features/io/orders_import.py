"""Import a raw order-lines export (one row per invoice line) into the contract tables.

- ``transactions``: one row per (invoice, customer): ``order_id`` the invoice number,
  ``ordered_at`` its earliest line's timestamp (UTC; naive taken as UTC), ``amount`` the
  sum of quantity × unit price (currency units, :data:`AMOUNT_DECIMALS` places),
  ``quantity`` the net item count as a non-negative number (the sign is in ``amount``).
- A cancellation (invoice number starting with ``refund_prefix``, "C" by default) is a
  refund: ``is_refund`` true, amount negative whatever the export's sign convention.
  Another invoice with a negative net amount is flagged a refund too, and counted;
  zero-amount invoices are kept, and counted.
- ``customers``: one row per customer id: ``signup_at`` the timestamp of their first line
  of any kind, ``country`` the country of most of their lines (ties: the one seen first).
- Lines without a customer id cannot be attributed: they are counted, not imported.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from features.contract.errors import ConfigError, DataContractError, OutputError, Problem
from features.contract.files import SUFFIXES, read_file
from features.contract.schema import CUSTOMER_ID
from features.contract.timestamps import parse_utc
from features.io.atomic import FILE_FORMATS, FileFormat, write_table_atomic

log = logging.getLogger(__name__)

FIELDS = ("invoice", "customer_id", "ordered_at", "quantity", "unit_price", "country")
"""Fields of an order line; all but ``country`` are required."""

UCI_COLUMNS = {
    "invoice": "InvoiceNo",
    "customer_id": "CustomerID",
    "ordered_at": "InvoiceDate",
    "quantity": "Quantity",
    "unit_price": "UnitPrice",
    "country": "Country",
}
"""Default ``{field: column}``: the names of the UCI Online Retail export."""

AMOUNT_DECIMALS = 6
"""Decimal places kept of a transaction amount (drops floating-point summation noise)."""


@dataclass(frozen=True)
class ImportSummary:
    """What an import read and wrote. Counts are rows of the file or of the tables.

    Attributes
    ----------
    lines, lines_without_customer : int
        Order lines read; of them, lines with no customer id (not imported).
    invoices, invoices_without_customer : int
        Distinct invoice numbers read; of them, invoices with no customer id on any line.
    transactions, customers : int
        Rows of ``transactions`` (one per invoice and customer) and of ``customers``.
    refunds : int
        Transactions flagged ``is_refund``: ``cancellations + negative_not_cancelled``.
    cancellations, negative_not_cancelled, zero_amount : int
        Transactions whose invoice has the refund prefix; other transactions with a
        negative net amount (flagged refunds); transactions of amount 0 (kept).
    net_amount : float
        Sum of the transactions' ``amount``, currency units.
    first_line_at, last_line_at : pandas.Timestamp
        Earliest and latest timestamp of an imported line, UTC.
    with_country : bool
        Whether the export has the country column (``customers.country`` written).
    files : dict of str to Path
        ``{table: file written}``; empty until the tables are written.
    """

    lines: int
    lines_without_customer: int
    invoices: int
    invoices_without_customer: int
    transactions: int
    customers: int
    refunds: int
    cancellations: int
    negative_not_cancelled: int
    zero_amount: int
    net_amount: float
    first_line_at: pd.Timestamp
    last_line_at: pd.Timestamp
    with_country: bool
    files: dict[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class OrderTables:
    """The contract tables made from order lines, and the summary (``files`` empty)."""

    customers: pd.DataFrame
    transactions: pd.DataFrame
    summary: ImportSummary


def import_orders(
    orders: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    columns: Mapping[str, str] | None = None,
    refund_prefix: str = "C",
    date_format: str = "ISO8601",
    file_format: FileFormat = "parquet",
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> ImportSummary:
    """Convert an order-lines file into ``customers`` and ``transactions`` files in ``out``.

    Parameters
    ----------
    orders : path
        The export, ``.parquet`` or CSV (any other suffix is read as CSV).
    out : path
        Folder to write the two tables into (made if missing), each file atomically; it
        then loads with :func:`features.contract.load.load_tables`.
    columns : mapping, optional
        ``{field: your column}`` for fields of :data:`FIELDS`; others keep their
        :data:`UCI_COLUMNS` name. Without the country column, customers get no country.
    refund_prefix : str, default "C"
        Invoice-number prefix of cancellations; "" for none.
    date_format : str, default "ISO8601"
        How text timestamps are written: "ISO8601" or a strftime format.
    file_format : {"parquet", "csv"}, default "parquet"
        Format of the files written.
    delimiter, encoding : str
        How a CSV export is written.

    Returns
    -------
    ImportSummary
        The counts, with ``files`` naming what was written.

    Raises
    ------
    DataContractError
        When the file cannot be read, lacks a column or has unparseable or empty values
        (naming file, column, row count and examples); nothing is written then.
    ConfigError
        When ``columns`` names an unknown field or ``file_format`` is not allowed.
    OutputError
        When ``out`` cannot be written, or holds a table in the other format that
        ``load_tables`` would read instead of the new one.
    """
    orders, out = Path(orders), Path(out)
    if file_format not in FILE_FORMATS:
        raise ConfigError("file format", file_format, f"one of {', '.join(FILE_FORMATS)}")
    for name in ("customers", "transactions"):
        for other in (s for s in SUFFIXES if s != f".{file_format}"):
            if (out / f"{name}{other}").exists():
                raise OutputError(
                    str(out),
                    f"it holds {name}{other}, which load_tables would read instead of the "
                    f"new {name}.{file_format}; remove it or import with format {other[1:]}",
                )
    if not orders.is_file():
        raise DataContractError([Problem(str(orders), None, "does not exist or is not a file")])
    lines, problem = read_file(orders, delimiter=delimiter, encoding=encoding)
    if problem:
        raise DataContractError([problem])
    options = dict(columns=columns, refund_prefix=refund_prefix, date_format=date_format)
    converted = convert_order_lines(lines, **options, file=orders.name)
    files = {}
    for name in ("customers", "transactions"):
        table = pa.Table.from_pandas(getattr(converted, name), preserve_index=False)
        path = out / f"{name}.{file_format}"
        files[name] = write_table_atomic(table, path, file_format=file_format, mkdir=True)
    log.info("imported %s into %s: %s", orders, out, converted.summary)
    return replace(converted.summary, files=files)


def convert_order_lines(
    lines: pd.DataFrame,
    *,
    columns: Mapping[str, str] | None = None,
    refund_prefix: str = "C",
    date_format: str = "ISO8601",
    file: str = "order lines",
) -> OrderTables:
    """Convert order lines in memory; the options are :func:`import_orders`'s.

    ``lines`` has one row per invoice line; ``file`` names it in error messages. The
    tables have contract column names, timestamps ``datetime64[ns, UTC]``, customer ids
    int64 when every id is a whole number, else text.
    """
    for name in columns or {}:
        if name not in FIELDS:
            raise ConfigError("order-lines column mapping field", name, f"one of {FIELDS}")
    names = {**UCI_COLUMNS, **(columns or {})}
    parsed = _parse(lines, names, file=file, date_format=date_format)
    known = parsed.loc[parsed[CUSTOMER_ID].notna()]
    if not len(known):
        problem = Problem(file, names["customer_id"], "is empty on every line: nothing to import")
        raise DataContractError([problem])
    transactions, cancelled = _transactions(known, refund_prefix=refund_prefix)
    customers = _customers(known, with_country="country" in parsed.columns)
    amount = transactions["amount"]
    summary = ImportSummary(
        lines=len(parsed),
        lines_without_customer=len(parsed) - len(known),
        invoices=parsed["invoice"].nunique(),
        invoices_without_customer=parsed["invoice"].nunique() - known["invoice"].nunique(),
        transactions=len(transactions),
        customers=len(customers),
        refunds=int(transactions["is_refund"].sum()),
        cancellations=int(cancelled.sum()),
        negative_not_cancelled=int(((amount < 0) & ~cancelled).sum()),
        zero_amount=int((amount == 0).sum()),
        net_amount=float(amount.sum()),
        first_line_at=known["ordered_at"].min(),
        last_line_at=known["ordered_at"].max(),
        with_country="country" in parsed.columns,
    )
    return OrderTables(customers=customers, transactions=transactions, summary=summary)


def _parse(
    lines: pd.DataFrame, names: Mapping[str, str], *, file: str, date_format: str
) -> pd.DataFrame:
    """Order lines under field names with parsed types; every problem raised at once."""
    missing = [f for f in FIELDS[:-1] if names[f] not in lines.columns]
    if missing:
        present = ", ".join(map(str, lines.columns[:12]))
        raise DataContractError(
            Problem(file, names[f], f"is missing (field {f}; the file has {present})")
            for f in missing
        )
    out = {
        "invoice": _text(lines[names["invoice"]]),
        CUSTOMER_ID: _ids(lines[names["customer_id"]]),
    }
    out["ordered_at"] = parse_utc(lines[names["ordered_at"]], date_format=date_format)
    for name in ("quantity", "unit_price"):
        out[name] = pd.to_numeric(lines[names[name]], errors="coerce").astype("float64")
    problems = _empty(file, names["invoice"], out["invoice"].isna())
    for name in ("ordered_at", "quantity", "unit_price"):
        raw, empty = lines[names[name]], _blank(lines[names[name]])
        bad = ~empty & out[name].isna()
        if name == "ordered_at":
            kind = f"timestamp in the format {date_format} (set [import] date_format)"
        else:
            bad |= np.isinf(out[name])
            kind = "finite number"
        if bad.any():
            examples = tuple(str(v) for v in raw[bad].drop_duplicates().head(5))
            problems.append(
                Problem(file, names[name], f"is not a {kind}", int(bad.sum()), examples)
            )
        problems += _empty(file, names[name], empty)
    if problems:
        raise DataContractError(problems)
    if names["country"] in lines.columns:
        out["country"] = _text(lines[names["country"]])
    return pd.DataFrame(out).reset_index(drop=True)


def _blank(raw: pd.Series) -> pd.Series:
    """Missing values and blank text, as a boolean Series."""
    empty = raw.isna().to_numpy(copy=True)
    if raw.dtype == object or isinstance(raw.dtype, pd.StringDtype):
        empty |= (raw.astype("string").str.strip() == "").fillna(True).to_numpy(dtype=bool)
    return pd.Series(empty, index=raw.index)


def _empty(file: str, column: str, empty: pd.Series) -> list[Problem]:
    if not empty.any():
        return []
    rows = tuple(f"row {i + 1}" for i in np.flatnonzero(empty.to_numpy())[:5])
    return [Problem(file, column, "is empty (required)", int(empty.sum()), rows)]


def _text(values: pd.Series) -> pd.Series:
    """Stripped text, NA for missing or blank; whole floats lose their ".0"."""
    if pd.api.types.is_float_dtype(values) and _whole(values):
        values = values.astype("Int64")
    text = values.astype("string").str.strip()
    return text.mask(text == "")


def _ids(values: pd.Series) -> pd.Series:
    """Customer ids as nullable Int64 when every id is a whole number, else as text."""
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    return values.astype("Int64") if numeric and _whole(values) else _text(values)


def _whole(values: pd.Series) -> bool:
    numbers = values.dropna().to_numpy(dtype="float64")
    return bool(np.isfinite(numbers).all() and (numbers == np.floor(numbers)).all())


def _transactions(known: pd.DataFrame, *, refund_prefix: str) -> tuple[pd.DataFrame, pd.Series]:
    """One row per (invoice, customer), amounts signed, refunds flagged; and which rows
    are cancellations."""
    lines = known.assign(amount=known["quantity"] * known["unit_price"])
    txn = (
        lines.groupby(["invoice", CUSTOMER_ID], sort=False)
        .agg(
            ordered_at=("ordered_at", "min"), amount=("amount", "sum"), quantity=("quantity", "sum")
        )
        .reset_index()
        .rename(columns={"invoice": "order_id"})
        .sort_values(["ordered_at", "order_id", CUSTOMER_ID], kind="stable")
        .reset_index(drop=True)
    )
    cancelled = pd.Series(False, index=txn.index)
    if refund_prefix:
        cancelled = txn["order_id"].str.startswith(refund_prefix).astype(bool)
    amount = txn["amount"].round(AMOUNT_DECIMALS)
    txn["amount"] = amount.where(~cancelled, -amount.abs()) + 0.0  # + 0.0: no -0.0
    txn["quantity"] = txn["quantity"].abs()
    txn["is_refund"] = (cancelled | (txn["amount"] < 0)).to_numpy(dtype=bool)
    txn[CUSTOMER_ID] = _final_ids(txn[CUSTOMER_ID])
    columns = [CUSTOMER_ID, "order_id", "ordered_at", "amount", "quantity", "is_refund"]
    return txn[columns], cancelled


def _customers(known: pd.DataFrame, *, with_country: bool) -> pd.DataFrame:
    """One row per customer id: first line's timestamp, most frequent country."""
    first = known.groupby(CUSTOMER_ID, sort=True)["ordered_at"].min()
    customers = first.rename("signup_at").reset_index()
    if with_country:
        ranked = (
            known.dropna(subset=["country"])
            .groupby([CUSTOMER_ID, "country"], sort=False)["ordered_at"]
            .agg(["size", "min"])
            .reset_index()
            .sort_values(["size", "min"], ascending=[False, True], kind="stable")
            .drop_duplicates(CUSTOMER_ID)
        )
        country = ranked.set_index(CUSTOMER_ID)["country"]
        customers["country"] = customers[CUSTOMER_ID].map(country).astype("string")
    customers[CUSTOMER_ID] = _final_ids(customers[CUSTOMER_ID])
    return customers


def _final_ids(ids: pd.Series) -> pd.Series:
    """Known ids as int64 (from Int64) or as plain text."""
    return ids.astype("int64") if pd.api.types.is_integer_dtype(ids) else ids.astype(str)
