"""Issue 20 item 5: repeated transactions are dropped and reported; a reused order id is refused."""

from __future__ import annotations

import shutil

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.contract.duplicates import EXACT_DROPPED, REUSED, check_transactions
from features.contract.errors import DataContractError
from features.contract.load import load_tables
from features.families.build import build_features
from features.io.partitioned import CustomerPartitions
from tests.conftest import make_tables

AS_OF = pd.Timestamp("2025-12-31", tz="UTC")
CUSTOMERS = [
    {"customer_id": 1, "signup_at": "2024-01-01"},
    {"customer_id": 2, "signup_at": "2024-01-01"},
]
ORDERS = [
    {"customer_id": 1, "ordered_at": "2024-02-01", "amount": 10.0, "order_id": "A"},
    {"customer_id": 2, "ordered_at": "2024-02-03", "amount": 20.0, "order_id": "B"},
]


class TestCheckTransactions:
    def test_exact_duplicates_are_dropped_and_reported_with_their_order_ids(self):
        tables = make_tables(customers=CUSTOMERS, transactions=ORDERS + [ORDERS[0]] * 3)
        assert len(tables.transactions) == 2
        (found,) = [w for w in tables.warnings if w.issue == EXACT_DROPPED]
        assert found.file == "transactions" and found.rows == 3
        assert found.examples == ("order_id A",)

    def test_rows_without_order_ids_are_named_by_customer_and_time(self):
        rows = [{k: v for k, v in r.items() if k != "order_id"} for r in ORDERS]
        tables = make_tables(customers=CUSTOMERS, transactions=rows + rows[1:])
        (found,) = [w for w in tables.warnings if w.issue == EXACT_DROPPED]
        assert found.examples == ("customer 2 at 2024-02-03T00:00:00Z",)

    def test_refuse_makes_them_a_contract_problem(self):
        frame = make_tables(customers=CUSTOMERS, transactions=ORDERS).transactions
        doubled = pd.concat([frame, frame.head(1)], ignore_index=True)
        _, problems, warnings = check_transactions(doubled, "t.csv", duplicates="refuse")
        assert warnings == [] and len(problems) == 1 and problems[0].rows == 1
        with pytest.raises(ValueError, match="Unknown duplicates option 'keep'"):
            check_transactions(doubled, "t.csv", duplicates="keep")

    def test_a_reused_order_id_with_other_content_is_refused_with_the_id_named(self):
        other = {**ORDERS[1], "amount": 25.0}
        with pytest.raises(DataContractError) as caught:
            make_tables(customers=CUSTOMERS, transactions=[*ORDERS, other])
        (problem,) = caught.value.problems
        assert (problem.file, problem.column, problem.issue) == ("transactions", "order_id", REUSED)
        assert problem.rows == 2 and problem.examples == ("B (2 different rows)",)
        assert "order_id" in str(caught.value) and "B (2 different rows)" in str(caught.value)

    def test_the_same_order_id_for_two_customers_is_two_orders(self):
        other = {**ORDERS[1], "order_id": "A"}
        tables = make_tables(customers=CUSTOMERS, transactions=[ORDERS[0], other])
        assert len(tables.transactions) == 2 and not tables.warnings


def _repeat_rows(data, n: int) -> pd.DataFrame:
    path = data / "transactions.parquet"
    frame = pq.read_table(path).to_pandas()
    out = pd.concat([frame, frame.head(n)], ignore_index=True)
    pq.write_table(pa.Table.from_pandas(out, preserve_index=False), path)
    return frame


def test_repeated_rows_of_an_export_change_no_feature(small_world, tmp_path):
    """500 repeated rows: whole and partitioned reads drop them, the features are unchanged."""
    data = tmp_path / "d"
    shutil.copytree(small_world, data)
    _repeat_rows(data, 500)
    expected = build_features(load_tables(small_world), as_of=AS_OF)

    tables = load_tables(data)
    (found,) = [w for w in tables.warnings if w.issue == EXACT_DROPPED]
    assert found.rows == 500 and found.file == "transactions.parquet"
    pd.testing.assert_frame_equal(build_features(tables, as_of=AS_OF), expected)

    source = CustomerPartitions.open(data, partitions=3, memory_mb=None)
    parts = pd.concat([build_features(p, as_of=AS_OF) for p in source], ignore_index=True)
    (merged,) = [w for w in source.warnings if w.issue == EXACT_DROPPED]
    assert merged.rows == 500  # per partition, summed
    pd.testing.assert_frame_equal(parts, expected)


def test_a_reused_order_id_in_an_export_is_refused(small_world, tmp_path):
    data = tmp_path / "d"
    shutil.copytree(small_world, data)
    path = data / "transactions.parquet"
    frame = pq.read_table(path).to_pandas()
    changed = frame.head(1).assign(amount=frame["amount"].iloc[0] + 1)
    pq.write_table(pa.Table.from_pandas(pd.concat([frame, changed]), preserve_index=False), path)
    with pytest.raises(DataContractError, match="is reused by rows of one customer"):
        load_tables(data)


def test_the_cli_prints_each_data_warning_once(small_world, tmp_path):
    """Item 13: duplicates, orphan and future rows are each said once, not logged again."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    data = tmp_path / "d"
    shutil.copytree(small_world, data)
    frame = _repeat_rows(data, 3)
    odd = frame.head(2).assign(customer_id=[10**9, frame["customer_id"].iloc[0]])
    odd["ordered_at"] = [frame["ordered_at"].iloc[0], pd.Timestamp("2031-01-01", tz="UTC")]
    if "order_id" in odd:
        odd["order_id"] = [10**12, 10**12 + 1]
    path = data / "transactions.parquet"
    out = pd.concat([pq.read_table(path).to_pandas(), odd], ignore_index=True)
    pq.write_table(pa.Table.from_pandas(out, preserve_index=False), path)
    repo = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "CHURN_CONFIG"}
    for command in ("validate", "features"):
        extra = ["--out", str(tmp_path / "f.parquet")] if command == "features" else []
        done = subprocess.run(
            [sys.executable, "-m", "churn", command, "--data", str(data), *extra],
            cwd=tmp_path,
            env={**env, "COLUMNS": "400", "PYTHONPATH": str(repo)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        said = done.stdout + done.stderr
        assert done.returncode == 0, said[-3000:]
        for phrase in ("absent from customers", "is after today", "equal in every column"):
            assert said.count(phrase) == 1, (command, phrase, said[-3000:])
