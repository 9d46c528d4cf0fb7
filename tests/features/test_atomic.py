"""The atomic table writer: whole files or none, permissions from the umask."""

from __future__ import annotations

import os
import stat

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.atomic import write_table_atomic
from features.errors import ConfigError, OutputError

TABLE = pa.table({"customer_id": [1, 2], "amount": [9.5, -1.0]})


class TestWriteTableAtomic:
    @pytest.mark.parametrize("file_format", ["parquet", "csv"])
    def test_writes_the_table_in_a_new_folder(self, tmp_path, file_format):
        path = write_table_atomic(
            TABLE, tmp_path / "a" / f"t.{file_format}", file_format=file_format
        )
        frame = pq.read_table(path).to_pandas() if file_format == "parquet" else pd.read_csv(path)
        assert frame.to_dict("list") == {"customer_id": [1, 2], "amount": [9.5, -1.0]}
        assert os.listdir(path.parent) == [path.name]

    def test_mode_follows_the_umask(self, tmp_path):
        old = os.umask(0o022)
        try:
            path = write_table_atomic(TABLE, tmp_path / "t.parquet")
        finally:
            os.umask(old)
        assert stat.S_IMODE(path.stat().st_mode) == 0o644

    def test_replaces_an_existing_file(self, tmp_path):
        path = tmp_path / "t.parquet"
        path.write_text("old")
        write_table_atomic(TABLE, path)
        assert pq.read_table(path).num_rows == 2

    def test_a_failed_write_leaves_the_old_file_and_no_temporary(self, tmp_path, monkeypatch):
        path = tmp_path / "t.parquet"
        path.write_text("old")

        def fail(*args, **kwargs):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(pq, "write_table", fail)
        with pytest.raises(OutputError, match="No space left on device. Nothing was written"):
            write_table_atomic(TABLE, path)
        assert path.read_text() == "old" and os.listdir(tmp_path) == ["t.parquet"]

    def test_a_file_where_the_folder_should_be(self, tmp_path):
        (tmp_path / "blocker").write_text("a file")
        with pytest.raises(OutputError, match="its folder .*blocker is a file"):
            write_table_atomic(TABLE, tmp_path / "blocker" / "t.parquet")

    def test_unknown_format(self, tmp_path):
        with pytest.raises(ConfigError, match="file format: 'xlsx'"):
            write_table_atomic(TABLE, tmp_path / "t.xlsx", file_format="xlsx")
