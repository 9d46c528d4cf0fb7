"""Loading and validation: every kind of bad input gets a clear, specific error."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from churn.cli import app
from features.contract.errors import DataContractError
from features.contract.load import load_tables

CUSTOMERS = (
    "customer_id,signup_at,plan\n1,2024-01-01,basic\n2,2024-02-01T10:00:00Z,\n3,2024-03-01,\n"
)
TRANSACTIONS = (
    "customer_id,ordered_at,amount,is_refund\n"
    "1,2024-05-01,10.5,false\n2,2024-05-02,20,false\n2,2024-05-09,-20,true\n"
)


def write(folder: Path, **files: str | bytes) -> Path:
    for name, text in files.items():
        path = folder / f"{name}.csv"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
    return folder


def problems_of(folder: Path, **kwargs) -> str:
    with pytest.raises(DataContractError) as err:
        load_tables(folder, **kwargs)
    return str(err.value)


class TestLoadTables:
    def test_valid_tables_load_with_contract_types(self, tmp_path):
        tables = load_tables(write(tmp_path, customers=CUSTOMERS, transactions=TRANSACTIONS))
        assert str(tables.customers["signup_at"].dtype) == "datetime64[ns, UTC]"
        assert tables.customers["customer_id"].dtype == "int64"
        assert tables.transactions["amount"].tolist() == [10.5, 20.0, -20.0]
        assert tables.transactions["is_refund"].tolist() == [False, False, True]
        assert len(tables.surveys) == 0 and "nps" in tables.surveys.columns
        assert tables.customers.loc[1, "signup_at"] == pd.Timestamp("2024-02-01 10:00", tz="UTC")

    def test_parquet_and_csv_load_alike(self, tmp_path):
        (tmp_path / "csv").mkdir()
        (tmp_path / "pq").mkdir()
        csv = load_tables(write(tmp_path / "csv", customers=CUSTOMERS, transactions=TRANSACTIONS))
        for name in ("customers", "transactions"):
            pd.read_csv(tmp_path / "csv" / f"{name}.csv").to_parquet(
                tmp_path / "pq" / f"{name}.parquet"
            )
        pq = load_tables(tmp_path / "pq")
        pd.testing.assert_frame_equal(csv.transactions, pq.transactions)
        pd.testing.assert_frame_equal(csv.customers, pq.customers)

    def test_missing_required_file(self, tmp_path):
        message = problems_of(write(tmp_path, customers=CUSTOMERS))
        assert "transactions.csv" in message and "is missing" in message

    def test_missing_required_column_names_file_and_column(self, tmp_path):
        bad = "customer_id,ordered_at\n1,2024-05-01\n"
        message = problems_of(write(tmp_path, customers=CUSTOMERS, transactions=bad))
        assert "transactions.csv, column 'amount': is missing" in message

    def test_unparseable_dates_and_numbers_count_rows_and_show_examples(self, tmp_path):
        bad = "customer_id,ordered_at,amount\n1,2024-05-01,ten\n2,yesterday,5\n3,2024-13-45,7\n"
        message = problems_of(write(tmp_path, customers=CUSTOMERS, transactions=bad))
        assert "column 'amount': is not a valid float (1 row; e.g. ten)" in message
        assert (
            "column 'ordered_at': is not a valid timestamp (2 rows; e.g. yesterday, 2024-13-45)"
            in message
        )

    def test_duplicate_customer_ids(self, tmp_path):
        dup = CUSTOMERS + "2,2024-04-01,\n"
        message = problems_of(write(tmp_path, customers=dup, transactions=TRANSACTIONS))
        assert "duplicate customer ids (2 rows; e.g. 2)" in message

    def test_negative_amount_not_flagged_as_refund(self, tmp_path):
        bad = "customer_id,ordered_at,amount,is_refund\n1,2024-05-01,-3,false\n"
        message = problems_of(write(tmp_path, customers=CUSTOMERS, transactions=bad))
        assert (
            "column 'amount': is negative but is_refund is not true (1 row; e.g. -3.0)" in message
        )

    def test_negative_amounts_are_refunds_when_no_flag_column(self, tmp_path):
        txn = "customer_id,ordered_at,amount\n1,2024-05-01,-3\n"
        tables = load_tables(write(tmp_path, customers=CUSTOMERS, transactions=txn))
        assert tables.transactions["is_refund"].tolist() == [True]

    def test_nps_outside_0_to_10(self, tmp_path):
        surveys = "customer_id,answered_at,nps\n1,2024-05-01,11\n2,2024-05-01,-1\n3,2024-05-01,7\n"
        message = problems_of(
            write(tmp_path, customers=CUSTOMERS, transactions=TRANSACTIONS, surveys=surveys)
        )
        assert "surveys.csv, column 'nps': is outside 0–10 (2 rows; e.g. 11, -1)" in message

    def test_unknown_customers_are_reported_not_dropped_silently(self, tmp_path):
        txn = TRANSACTIONS + "99,2024-05-01,5,false\n98,2024-05-01,5,false\n"
        tables = load_tables(write(tmp_path, customers=CUSTOMERS, transactions=txn))
        assert len(tables.transactions) == 5
        [warning] = tables.warnings
        assert warning.rows == 2 and warning.file == "transactions.csv"
        assert "absent from customers" in str(warning)

    @pytest.mark.parametrize("table", ["customers", "transactions"])
    def test_empty_required_table(self, tmp_path, table):
        files = {"customers": CUSTOMERS, "transactions": TRANSACTIONS}
        files[table] = files[table].splitlines()[0] + "\n"
        message = problems_of(write(tmp_path, **files))
        assert f"{table}.csv: has no rows" in message

    def test_wrong_encoding(self, tmp_path):
        customers = "customer_id,signup_at,country\n1,2024-01-01,M\xfcnchen\n".encode("latin-1")
        message = problems_of(write(tmp_path, customers=customers, transactions=TRANSACTIONS))
        assert "customers.csv, column 'country': is not valid utf-8 text" in message
        tables = load_tables(tmp_path, encoding="latin-1")
        assert tables.customers["country"].tolist() == ["M\xfcnchen"]

    def test_wrong_delimiter(self, tmp_path):
        message = problems_of(
            write(tmp_path, customers=CUSTOMERS.replace(",", ";"), transactions=TRANSACTIONS)
        )
        assert "looks delimited by ';'" in message

    def test_column_mapping_renames_user_columns(self, tmp_path):
        txn = TRANSACTIONS.replace("amount", "order_total")
        tables = load_tables(
            write(tmp_path, customers=CUSTOMERS, transactions=txn),
            column_map={"transactions": {"amount": "order_total"}},
        )
        assert tables.transactions["amount"].sum() == pytest.approx(10.5)

    def test_string_ids_are_kept_as_strings(self, tmp_path):
        customers = "customer_id,signup_at\nA1,2024-01-01\nB2,2024-01-01\n"
        txn = "customer_id,ordered_at,amount\nA1,2024-05-01,5\n"
        tables = load_tables(write(tmp_path, customers=customers, transactions=txn))
        assert tables.transactions["customer_id"].tolist() == ["A1"]


class TestCliErrors:
    def test_broken_file_exits_non_zero_with_one_paragraph_no_traceback(self, tmp_path):
        write(tmp_path, customers=CUSTOMERS, transactions="customer_id,ordered_at\n1,2024-05-01\n")
        result = CliRunner().invoke(
            app, ["features", "--data", str(tmp_path), "--as-of", "2025-01-01"]
        )
        assert result.exit_code == 2
        assert "transactions.csv" in result.output and "'amount'" in result.output
        assert "Traceback" not in result.output
        assert not (tmp_path / "features").exists()

    def test_bad_as_of_is_a_clear_error(self, tmp_path):
        write(tmp_path, customers=CUSTOMERS, transactions=TRANSACTIONS)
        result = CliRunner().invoke(app, ["features", "--data", str(tmp_path), "--as-of", "soon"])
        assert result.exit_code == 2 and "Invalid --as-of 'soon'" in result.output


class TestDataEnd:
    """Events after today are reported and do not move the end of the data (issue 14)."""

    NOW = pd.Timestamp("2026-03-15 10:00", tz="UTC")

    def tables(self, tmp_path, *extra: str):
        txn = TRANSACTIONS + "".join(extra)
        return load_tables(write(tmp_path, customers=CUSTOMERS, transactions=txn), now=self.NOW)

    def test_future_events_do_not_move_the_data_end(self, tmp_path):
        tables = self.tables(tmp_path, "1,2031-01-01,5,false\n3,2026-03-16T00:00:00Z,5,false\n")
        assert tables.data_end(now=self.NOW) == pd.Timestamp("2024-05-09", tz="UTC")
        assert tables.future_events(now=self.NOW) == 2
        [warning] = [w for w in tables.warnings if "after today" in w.issue]
        assert (warning.file, warning.column, warning.rows) == ("transactions.csv", "ordered_at", 2)
        assert "2026-03-15" in warning.issue
        assert warning.examples == ("2031-01-01T00:00:00Z", "2026-03-16T00:00:00Z")

    def test_an_event_later_today_is_not_in_the_future(self, tmp_path):
        tables = self.tables(tmp_path, "1,2026-03-15T23:59:00Z,5,false\n")
        assert tables.data_end(now=self.NOW) == pd.Timestamp("2026-03-15 23:59", tz="UTC")
        assert not [w for w in tables.warnings if "after today" in w.issue]

    def test_without_future_events_the_data_end_is_the_latest_event(self, tmp_path):
        tables = self.tables(tmp_path)
        assert tables.data_end() == tables.transactions["ordered_at"].max()
        assert tables.future_events() == 0


class TestOutOfRange:
    def test_never_sentinel_in_cancelled_at_is_missing(self, tmp_path):
        customers = "customer_id,signup_at,cancelled_at\n1,2024-01-01,9999-12-31\n2,2024-01-01,\n"
        tables = load_tables(write(tmp_path, customers=customers, transactions=TRANSACTIONS))
        assert tables.customers["cancelled_at"].isna().all()
        [never] = [w for w in tables.warnings if "'never'" in w.issue]
        assert (never.column, never.rows, never.examples) == ("cancelled_at", 1, ("9999-12-31",))

    def test_parquet_timestamps_out_of_the_ns_range(self, tmp_path):
        import pyarrow as pa
        import pyarrow.parquet as pq

        far = pa.array([pd.Timestamp("2024-01-01").to_pydatetime(), None], pa.timestamp("us"))
        never = pa.array([None, pd.Timestamp("9999-12-31").to_pydatetime()], pa.timestamp("us"))
        pq.write_table(
            pa.table({"customer_id": [1, 2], "signup_at": far, "cancelled_at": never}),
            tmp_path / "customers.parquet",
        )
        (tmp_path / "transactions.csv").write_text(
            "customer_id,ordered_at,amount\n1,1600-01-01,5\n"
        )
        message = problems_of(tmp_path)
        assert "customers.parquet, column 'signup_at': is empty (required)" in message
        assert "transactions.csv, column 'ordered_at': is outside the supported range" in message
        assert "cancelled_at" not in message  # a 'never' date, read as missing

    @pytest.mark.parametrize("value", ["inf", "-inf", "Infinity", "1e308", "-2e12"])
    def test_non_finite_and_absurd_amounts(self, tmp_path, value):
        txn = f"customer_id,ordered_at,amount,is_refund\n1,2024-05-01,{value},true\n"
        message = problems_of(write(tmp_path, customers=CUSTOMERS, transactions=txn))
        assert "transactions.csv, column 'amount': is" in message
        assert "(1 row; e.g." in message

    def test_a_large_but_plausible_amount_passes(self, tmp_path):
        txn = "customer_id,ordered_at,amount\n1,2024-05-01,999999999999\n"
        tables = load_tables(write(tmp_path, customers=CUSTOMERS, transactions=txn))
        assert tables.transactions["amount"].tolist() == [999999999999.0]
