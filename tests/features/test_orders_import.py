"""Order-lines import: exact tables from a hand-made export, mapping, bad input, CLI, UCI."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from typer.testing import CliRunner

from churn.cli import app
from features.contract.errors import ConfigError, DataContractError, OutputError
from features.contract.load import load_tables
from features.io.orders_import import UCI_COLUMNS, convert_order_lines, import_orders

UCI_FILE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "online_retail.parquet"

# Two-line invoice (lines out of time order), a cancellation, a negative invoice without
# the "C", an invoice without customer id, a zero-amount invoice, an invoice shared by
# two customers, blank countries.
LINES = """\
InvoiceNo,CustomerID,InvoiceDate,Quantity,UnitPrice,Country
1001,17,2024-01-05 10:02:00,1,10,France
1001,17,2024-01-05 10:00:00,2,3.5,France
1002,18,2024-01-06 09:00:00,4,2.5,Germany
C1003,17,2024-01-07 12:00:00,-1,10,France
1004,18,2024-01-08 08:00:00,-2,5,Germany
1005,,2024-01-08 09:00:00,3,1,United Kingdom
1005,,2024-01-08 09:00:00,1,1,United Kingdom
1006,19,2024-01-09 11:00:00,1,0,Spain
1007,17,2024-01-10 15:00:00,1,4,Spain
1008,20,2024-01-11 10:00:00,1,2,
1009,19,2024-01-12 10:00:00,2,1.5,Spain
1009,20,2024-01-12 10:00:00,1,1,Spain
1010,21,2024-01-13 10:00:00,1,1,
"""


def utc(*stamps: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(stamps), utc=True)).astype("datetime64[ns, UTC]")


def expected_transactions() -> pd.DataFrame:
    """The contract view (as ``load_tables`` returns it) of LINES' transactions."""
    rows = [  # customer, order, time, amount, quantity, refund
        (17, "1001", "2024-01-05 10:00", 17.0, 3.0, False),
        (18, "1002", "2024-01-06 09:00", 10.0, 4.0, False),
        (17, "C1003", "2024-01-07 12:00", -10.0, 1.0, True),
        (18, "1004", "2024-01-08 08:00", -10.0, 2.0, True),
        (19, "1006", "2024-01-09 11:00", 0.0, 1.0, False),
        (17, "1007", "2024-01-10 15:00", 4.0, 1.0, False),
        (20, "1008", "2024-01-11 10:00", 2.0, 1.0, False),
        (19, "1009", "2024-01-12 10:00", 3.0, 2.0, False),
        (20, "1009", "2024-01-12 10:00", 1.0, 1.0, False),
        (21, "1010", "2024-01-13 10:00", 1.0, 1.0, False),
    ]
    ids, orders, times, amounts, quantities, refunds = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "customer_id": pd.Series(ids, dtype="int64"),
            "order_id": pd.Series(orders, dtype="string"),
            "ordered_at": utc(*times),
            "amount": pd.Series(amounts, dtype="float64"),
            "quantity": pd.Series(quantities, dtype="float64"),
            "is_refund": pd.Series(refunds, dtype="boolean"),
        }
    )


def expected_customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.Series([17, 18, 19, 20, 21], dtype="int64"),
            "signup_at": utc(
                "2024-01-05 10:00",
                "2024-01-06 09:00",
                "2024-01-09 11:00",
                "2024-01-11 10:00",
                "2024-01-13 10:00",
            ),  # fmt: skip
            "country": pd.Series(["France", "Germany", "Spain", "Spain", pd.NA], dtype="string"),
        }
    )


def lines_frame(text: str = LINES) -> pd.DataFrame:
    from io import StringIO

    return pd.read_csv(StringIO(text))


def loaded(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(transactions, customers)`` of ``folder`` through the contract loader, our columns."""
    tables = load_tables(folder)
    assert tables.warnings == []
    transactions = tables.transactions[list(expected_transactions().columns)]
    return transactions, tables.customers[list(expected_customers().columns)]


def plain(output: str) -> str:
    """CLI output without the error panel's borders and line wrapping."""
    return " ".join(re.sub(r"[│╭╮╰╯─┌┐└┘├┤┬┴┼]", " ", output).split())


@pytest.fixture
def orders_csv(tmp_path: Path) -> Path:
    path = tmp_path / "orders.csv"
    path.write_text(LINES)
    return path


class TestImportOrders:
    @pytest.mark.parametrize("source, file_format", [("csv", "parquet"), ("parquet", "csv")])
    def test_round_trip_gives_the_exact_tables(self, tmp_path, orders_csv, source, file_format):
        orders = orders_csv
        if source == "parquet":
            orders = tmp_path / "orders.parquet"
            lines_frame().to_parquet(orders)
        out = tmp_path / "out"
        summary = import_orders(orders, out, file_format=file_format)
        assert summary.files == {
            name: out / f"{name}.{file_format}" for name in ("customers", "transactions")
        }
        transactions, customers = loaded(out)
        assert_frame_equal(transactions, expected_transactions())
        assert_frame_equal(customers, expected_customers())
        assert sorted(p.name for p in out.iterdir()) == sorted(
            f"{name}.{file_format}" for name in ("customers", "transactions")
        )  # no temporary file left

    def test_summary_counts_every_line(self, tmp_path, orders_csv):
        s = import_orders(orders_csv, tmp_path / "out")
        assert (s.lines, s.lines_without_customer) == (13, 2)
        assert (s.invoices, s.invoices_without_customer) == (10, 1)
        assert (s.transactions, s.customers) == (10, 5)
        assert (s.refunds, s.cancellations, s.negative_not_cancelled) == (2, 1, 1)
        assert s.zero_amount == 1 and s.net_amount == pytest.approx(18.0)
        assert s.first_line_at == pd.Timestamp("2024-01-05 10:00", tz="UTC")
        assert s.last_line_at == pd.Timestamp("2024-01-13 10:00", tz="UTC")
        assert s.with_country

    def test_files_follow_the_umask(self, tmp_path, orders_csv):
        old = os.umask(0o027)
        try:
            summary = import_orders(orders_csv, tmp_path / "out")
        finally:
            os.umask(old)
        for path in summary.files.values():
            assert stat.S_IMODE(path.stat().st_mode) == 0o640

    def test_a_table_in_the_other_format_is_refused(self, tmp_path, orders_csv):
        out = tmp_path / "out"
        import_orders(orders_csv, out, file_format="csv")
        with pytest.raises(OutputError, match=r"holds customers\.csv, which load_tables would"):
            import_orders(orders_csv, out, file_format="parquet")
        assert not (out / "customers.parquet").exists()

    def test_unknown_format_is_a_config_error(self, tmp_path, orders_csv):
        with pytest.raises(ConfigError, match="file format: 'xlsx'"):
            import_orders(orders_csv, tmp_path / "out", file_format="xlsx")

    def test_missing_file(self, tmp_path):
        with pytest.raises(DataContractError, match="does not exist"):
            import_orders(tmp_path / "nope.csv", tmp_path / "out")


class TestConvertOrderLines:
    def test_custom_column_names_are_mapped(self):
        mine = {
            "invoice": "Invoice",
            "customer_id": "Customer ID",
            "ordered_at": "Date",
            "quantity": "Qty",
            "unit_price": "Price",
            "country": "Land",
        }
        renamed = lines_frame().rename(columns={UCI_COLUMNS[f]: mine[f] for f in mine})
        ours = convert_order_lines(renamed, columns=mine)
        uci = convert_order_lines(lines_frame())
        assert_frame_equal(ours.transactions, uci.transactions)
        assert_frame_equal(ours.customers, uci.customers)
        assert ours.summary == uci.summary

    def test_a_partial_mapping_keeps_the_other_default_names(self):
        frame = lines_frame().rename(columns={"CustomerID": "client"})
        converted = convert_order_lines(frame, columns={"customer_id": "client"})
        assert converted.summary.customers == 5

    def test_unknown_field_is_a_config_error(self):
        with pytest.raises(ConfigError, match="field: 'price'"):
            convert_order_lines(lines_frame(), columns={"price": "UnitPrice"})

    def test_cancellations_are_refunds_whatever_the_sign_convention(self):
        text = LINES.replace("C1003,17,2024-01-07 12:00:00,-1,", "C1003,17,2024-01-07 12:00:00,1,")
        transactions = convert_order_lines(lines_frame(text)).transactions
        row = transactions.loc[transactions["order_id"] == "C1003"].iloc[0]
        assert (row["amount"], row["quantity"], row["is_refund"]) == (-10.0, 1.0, True)

    def test_refund_prefix_is_configurable(self):
        text = LINES.replace("C1003", "R1003")
        converted = convert_order_lines(lines_frame(text), refund_prefix="R")
        assert converted.summary.cancellations == 1 and converted.summary.refunds == 2
        plain_c = convert_order_lines(lines_frame(), refund_prefix="")
        assert plain_c.summary.cancellations == 0 and plain_c.summary.refunds == 2

    def test_timestamps_are_utc(self):
        text = LINES.replace("2024-01-05 10:00:00,", "2024-01-05T11:00:00+01:00,")
        customers = convert_order_lines(lines_frame(text)).customers
        assert str(customers["signup_at"].dtype) == "datetime64[ns, UTC]"
        assert customers["signup_at"].iloc[0] == pd.Timestamp("2024-01-05 10:00", tz="UTC")

    def test_date_format_reads_non_iso_exports(self):
        text = LINES.replace("2024-01-05 10:00:00,", "01/05/2024 10:00,")
        with pytest.raises(DataContractError, match="'InvoiceDate': is not a timestamp"):
            convert_order_lines(lines_frame(text))
        frame = lines_frame(text)
        frame["InvoiceDate"] = frame["InvoiceDate"].str.replace(
            r"(\d{4})-(\d\d)-(\d\d) (\d\d:\d\d):00", r"\2/\3/\1 \4", regex=True
        )
        converted = convert_order_lines(frame, date_format="%m/%d/%Y %H:%M")
        assert_frame_equal(converted.customers, convert_order_lines(lines_frame()).customers)

    def test_text_customer_ids_stay_text(self):
        frame = lines_frame()
        frame["CustomerID"] = frame["CustomerID"].map(lambda v: f"K-{v:.0f}", na_action="ignore")
        converted = convert_order_lines(frame)
        assert converted.customers["customer_id"].tolist() == [f"K-{i}" for i in range(17, 22)]
        assert converted.summary.lines_without_customer == 2

    def test_without_a_country_column_customers_have_no_country(self):
        converted = convert_order_lines(lines_frame().drop(columns="Country"))
        assert list(converted.customers.columns) == ["customer_id", "signup_at"]
        assert not converted.summary.with_country

    def test_a_country_tie_goes_to_the_earliest_line(self):
        text = (
            LINES + "1011,21,2024-01-01 09:00:00,1,1,Italy\n1012,21,2024-01-14 09:00:00,1,1,Peru\n"
        )
        customers = convert_order_lines(lines_frame(text)).customers.set_index("customer_id")
        assert customers.loc[21, "country"] == "Italy"
        assert customers.loc[21, "signup_at"] == pd.Timestamp("2024-01-01 09:00", tz="UTC")


class TestBadInput:
    def test_missing_column_is_named(self):
        with pytest.raises(DataContractError) as err:
            convert_order_lines(lines_frame().drop(columns="UnitPrice"), file="orders.csv")
        assert "orders.csv, column 'UnitPrice': is missing (field unit_price" in str(err.value)

    def test_unparseable_values_name_column_count_and_examples(self, tmp_path):
        text = LINES.replace("2024-01-06 09:00:00", "yesterday").replace(",4,2.5,", ",four,2.5,")
        text = text.replace("1007,17,2024-01-10 15:00:00,1,4,", "1007,17,2024-01-10 15:00:00,1,,")
        (tmp_path / "orders.csv").write_text(text)
        with pytest.raises(DataContractError) as err:
            import_orders(tmp_path / "orders.csv", tmp_path / "out")
        message = str(err.value)
        assert "3 problems" in message
        assert "orders.csv, column 'InvoiceDate': is not a timestamp" in message
        assert "(1 row; e.g. yesterday)" in message
        assert "column 'Quantity': is not a finite number (1 row; e.g. four)" in message
        assert "column 'UnitPrice': is empty (required) (1 row; e.g. row 9)" in message
        assert not (tmp_path / "out").exists()

    def test_no_line_with_a_customer_id(self):
        frame = lines_frame().assign(CustomerID=np.nan)
        with pytest.raises(DataContractError, match="'CustomerID': is empty on every line"):
            convert_order_lines(frame)


class TestCli:
    def test_import_prints_the_summary_and_the_lines_left_out(self, tmp_path, orders_csv):
        out = tmp_path / "out"
        result = CliRunner().invoke(
            app, ["import", "orders", "--orders", str(orders_csv), "--out", str(out)]
        )
        assert result.exit_code == 0, result.output
        text = plain(result.output)
        assert "transactions 10 one per invoice and customer" in text
        assert "refunds 2 1 cancelled + 1 other negative" in text
        assert "2 of 13 order lines have no customer id and were not imported" in text
        assert load_tables(out).customers.shape[0] == 5

    def test_mapping_from_settings_and_options(self, tmp_path):
        frame = lines_frame().rename(columns={"CustomerID": "client", "InvoiceNo": "bill"})
        frame.to_csv(tmp_path / "orders.csv", index=False)
        config = tmp_path / "churn.toml"
        config.write_text('[import.columns]\ncustomer_id = "client"\n')
        args = ["import", "orders", "--orders", str(tmp_path / "orders.csv"), "--format", "csv"]
        args += [
            "--out",
            str(tmp_path / "out"),
            "--config",
            str(config),
            "--column",
            "invoice=bill",
        ]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert_frame_equal(loaded(tmp_path / "out")[0], expected_transactions())

    def test_the_import_section_and_its_environment_override(self, tmp_path, monkeypatch):
        from serving.settings import load_settings

        config = tmp_path / "churn.toml"
        config.write_text('[import]\nrefund_prefix = "R"\n[import.columns]\ninvoice = "bill"\n')
        monkeypatch.setenv("CHURN_IMPORT__DATE_FORMAT", "%d.%m.%Y")
        options = load_settings(config).import_
        assert options.columns == {"invoice": "bill"} and options.refund_prefix == "R"
        assert options.date_format == "%d.%m.%Y"

    def test_bad_input_is_one_error_panel_and_exit_2(self, tmp_path):
        (tmp_path / "orders.csv").write_text(LINES.replace("2024-01-06 09:00:00", "[soon]"))
        result = CliRunner().invoke(
            app,
            ["import", "orders", "--orders", str(tmp_path / "orders.csv"), "--out", str(tmp_path)],
        )
        assert result.exit_code == 2
        assert result.output.count("churn: error") == 1 and "Traceback" not in result.output
        text = plain(result.output)
        assert "orders.csv, column 'InvoiceDate': is not a timestamp" in text
        assert "e.g. [soon]" in text and "set [import] date_format" in text

    def test_a_malformed_column_option_is_refused(self, tmp_path, orders_csv):
        result = CliRunner().invoke(
            app,
            ["import", "orders", "--orders", str(orders_csv), "--out", str(tmp_path / "o")]
            + ["--column", "invoice"],
        )
        assert result.exit_code == 2 and "Invalid --column: 'invoice'" in plain(result.output)


class TestUciOnlineRetail:
    def test_every_line_with_a_customer_id_is_accounted_for(self, tmp_path):
        lines = pd.read_parquet(UCI_FILE)
        known = lines.loc[lines["CustomerID"].notna()]
        summary = import_orders(UCI_FILE, tmp_path)
        assert (summary.lines, summary.lines_without_customer) == (541_909, 541_909 - 406_829)
        assert (summary.customers, summary.invoices) == (4_372, 25_900)
        tables = load_tables(tmp_path)
        assert tables.warnings == []
        assert len(tables.customers) == 4_372 and len(tables.transactions) == summary.transactions
        assert summary.transactions == known.groupby(["InvoiceNo", "CustomerID"]).ngroups
        assert tables.transactions["amount"].sum() == pytest.approx(
            (known["Quantity"] * known["UnitPrice"]).sum(), abs=0.01
        )
        cancelled = tables.transactions["order_id"].str.startswith("C")
        assert (
            summary.cancellations
            == cancelled.sum()
            == known["InvoiceNo"][known["InvoiceNo"].str.startswith("C")].nunique()
        )
        assert tables.transactions.loc[cancelled, "is_refund"].all()
        assert (tables.transactions.loc[cancelled, "amount"] <= 0).all()
