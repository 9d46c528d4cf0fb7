"""Reading the tables one customer partition at a time gives what a whole read gives."""

from __future__ import annotations

import shutil

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from features.contract.errors import DataContractError, Problem
from features.contract.files import fingerprint
from features.contract.load import load_tables
from features.families.build import build_features
from features.io.partitioned import BYTES_PER_ROW, CustomerPartitions, merge_problems

AS_OF = "2025-06-30"


def _features(source: CustomerPartitions) -> pd.DataFrame:
    return pd.concat([build_features(p, as_of=AS_OF) for p in source], ignore_index=True)


@pytest.fixture(scope="module")
def whole(small_world):
    tables = load_tables(small_world)
    return tables, build_features(tables, as_of=AS_OF)


class TestPartitionedRead:
    def test_same_features_as_a_whole_read(self, small_world, whole):
        source = CustomerPartitions.open(small_world, partitions=3, memory_mb=None)
        assert source.partitions == 3
        assert not source.in_memory  # read per partition
        pd.testing.assert_frame_equal(_features(source), whole[1])

    def test_partitions_hold_whole_customers(self, small_world, whole):
        source = CustomerPartitions.open(small_world, partitions=4, memory_mb=None)
        seen = [set(source.read(p).customers["customer_id"]) for p in range(4)]
        assert sum(len(s) for s in seen) == len(whole[0].customers)
        for p in range(4):
            txn = source.read(p).transactions
            assert set(txn["customer_id"]) <= seen[p]

    def test_time_span_is_the_whole_tables(self, small_world, whole):
        span = CustomerPartitions.open(small_world, partitions=3).time_span()
        tables = whole[0]
        assert span.end == tables.data_end()
        assert span.start == tables.transactions["ordered_at"].min()

    def test_hive_partitioned_folder_is_a_table(self, small_world, whole, tmp_path):
        data = tmp_path / "data"
        shutil.copytree(small_world, data)
        txn = pq.read_table(data / "transactions.parquet")
        (data / "transactions.parquet").unlink()
        month = pa.array(txn.column("ordered_at").to_pandas().dt.strftime("%Y-%m"))
        ds.write_dataset(
            txn.append_column("month", month),
            data / "transactions",
            format="parquet",
            partitioning=ds.partitioning(pa.schema([("month", pa.string())]), flavor="hive"),
        )
        assert len(list((data / "transactions").glob("month=*"))) > 12
        source = CustomerPartitions.open(data, partitions=3, memory_mb=None)
        assert source.sources["transactions"] == data / "transactions"
        pd.testing.assert_frame_equal(_features(source), whole[1])
        pd.testing.assert_frame_equal(build_features(load_tables(data), as_of=AS_OF), whole[1])
        assert len(fingerprint(data / "transactions")) == 64

    def test_csv_is_read_whole_and_split(self, small_world, whole, tmp_path):
        tables = whole[0]
        for name, frame in tables.frames().items():
            if tables.has(name):
                frame.to_csv(tmp_path / f"{name}.csv", index=False)
        source = CustomerPartitions.open(tmp_path, partitions=3, memory_mb=None)
        assert source.in_memory  # read whole, split in memory
        pd.testing.assert_frame_equal(_features(source), whole[1], check_dtype=False)

    def test_memory_target_adds_partitions(self, small_world, whole):
        rows = sum(len(f) for n, f in whole[0].frames().items() if n != "customers")
        target_mb = rows * BYTES_PER_ROW / 2**20 / 5  # needs five partitions
        source = CustomerPartitions.open(small_world, partitions=2, memory_mb=target_mb)
        assert source.partitions == 5
        pd.testing.assert_frame_equal(_features(source), whole[1])

    def test_text_ids(self, small_world, tmp_path):
        for path in small_world.glob("*.parquet"):
            table = pq.read_table(path)
            i = table.schema.get_field_index("customer_id")
            ids = pa.array([f"c-{v:05d}" for v in table.column(i).to_pylist()])
            pq.write_table(table.set_column(i, "customer_id", ids), tmp_path / path.name)
        source = CustomerPartitions.open(tmp_path, partitions=3, memory_mb=None)
        assert not source.integer_ids
        whole = build_features(load_tables(tmp_path), as_of=AS_OF)
        pd.testing.assert_frame_equal(_features(source), whole)


class TestErrors:
    def test_missing_required_column_before_any_read(self, small_world, tmp_path):
        shutil.copytree(small_world, tmp_path / "d")
        table = pq.read_table(tmp_path / "d" / "transactions.parquet").drop(["amount"])
        pq.write_table(table, tmp_path / "d" / "transactions.parquet")
        with pytest.raises(DataContractError, match="transactions.parquet, column 'amount'"):
            CustomerPartitions.open(tmp_path / "d", partitions=2)

    def test_bad_value_names_file_column_and_partition(self, small_world, tmp_path):
        shutil.copytree(small_world, tmp_path / "d")
        path = tmp_path / "d" / "surveys.parquet"
        frame = pq.read_table(path).to_pandas()
        frame.loc[frame.index[-1], "nps"] = 42.0
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
        source = CustomerPartitions.open(tmp_path / "d", partitions=2, memory_mb=None)
        with pytest.raises(DataContractError) as e:
            list(source)
        assert "surveys.parquet, column 'nps'" in str(e.value)
        assert "customer partition" in str(e.value)

    def test_warnings_of_partitions_are_merged(self, small_world, tmp_path):
        shutil.copytree(small_world, tmp_path / "d")
        path = tmp_path / "d" / "transactions.parquet"
        frame = pq.read_table(path).to_pandas()
        orphans = frame.head(4).assign(customer_id=[-5, -4, 10**9, 10**9 + 1])
        pq.write_table(
            pa.Table.from_pandas(pd.concat([frame, orphans]), preserve_index=False), path
        )
        source = CustomerPartitions.open(tmp_path / "d", partitions=3, memory_mb=None)
        list(source)
        unknown = [w for w in source.warnings if "absent from customers" in w.issue]
        assert len(unknown) == 1 and unknown[0].rows == 4


def test_merge_problems_sums_rows_and_keeps_five_examples():
    a = Problem("t.csv", "x", "is odd", 3, ("1", "2", "3"))
    b = Problem("t.csv", "x", "is odd", 4, ("3", "4", "5", "6"))
    c = Problem("t.csv", "y", "is odd", 1, ("9",))
    merged = merge_problems([a, b, c])
    assert merged[0] == Problem("t.csv", "x", "is odd", 7, ("1", "2", "3", "4", "5"))
    assert merged[1] == c


def test_latest_snapshot_is_chosen_by_its_recorded_as_of(small_world, tmp_path):
    """A copy of an older snapshot under a later-sorting name is not the latest."""
    import shutil

    from features.io.snapshot import latest_snapshot, make_snapshot, read_meta

    folder = tmp_path / "features"
    source = CustomerPartitions.open(small_world, partitions=2, memory_mb=None)
    old, _ = make_snapshot(source, as_of="2025-03-31", folder=folder)
    new, _ = make_snapshot(source, as_of="2025-06-30", folder=folder)
    shutil.copy(old, folder / "features_old.parquet")
    (folder / "features_zzz.parquet").write_bytes(b"not parquet")
    assert latest_snapshot(folder) == new
    assert read_meta(latest_snapshot(folder)).as_of.startswith("2025-06-30")


class TestWorkers:
    """Partitions on spawned worker processes: same rows, errors and warnings come back."""

    def test_same_snapshot_on_two_workers(self, small_world, whole, tmp_path, monkeypatch):
        from features.io import parallel
        from features.io.snapshot import make_snapshot, read_snapshot

        monkeypatch.setattr(parallel, "PARALLEL_ROWS", 0)
        source = CustomerPartitions.open(small_world, partitions=3, memory_mb=None)
        path, meta = make_snapshot(source, as_of=AS_OF, out=tmp_path / "f.parquet", workers=2)
        pd.testing.assert_frame_equal(read_snapshot(path)[0], whole[1])
        assert meta.rows == len(whole[1])

    def test_a_worker_error_names_the_file(self, small_world, tmp_path, monkeypatch):
        from features.io import parallel
        from features.io.snapshot import make_snapshot

        monkeypatch.setattr(parallel, "PARALLEL_ROWS", 0)
        shutil.copytree(small_world, tmp_path / "d")
        path = tmp_path / "d" / "surveys.parquet"
        frame = pq.read_table(path).to_pandas()
        frame.loc[frame.index[0], "nps"] = 42.0
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
        source = CustomerPartitions.open(tmp_path / "d", partitions=2, memory_mb=None)
        with pytest.raises(DataContractError, match="surveys.parquet, column 'nps'"):
            make_snapshot(source, as_of=AS_OF, out=tmp_path / "f.parquet", workers=2)
        assert not (tmp_path / "f.parquet").exists()
