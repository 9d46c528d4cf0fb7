"""The one atomic writer: file mode, missing folders, leftovers of killed runs, kill -9."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from churn.cli import app
from features.contract.errors import ConfigError, OutputError
from features.io.atomic import (
    STALE_AFTER_SECONDS,
    AtomicTarget,
    atomic_write,
    is_stale,
    remove_stale_temps,
    temp_name,
    write_table_atomic,
)
from features.io.snapshot import SnapshotMeta, read_snapshot, write_snapshot
from tests.features.test_bad_data import write_data

REPO = Path(__file__).resolve().parents[2]
SCORES = REPO / "tests" / "no-such-scores.parquet"  # never read: the output is checked first
FRAME = pd.DataFrame({"customer_id": [1, 2], "x": [0.5, 1.5]})
META = SnapshotMeta(as_of="2025-01-01T00:00:00+00:00", rows=2, features=["x"])


def plain_file_mode(folder: Path) -> int:
    """The mode ``open()`` gives a new file in ``folder`` under the current umask."""
    probe = folder / "probe.txt"
    probe.write_text("x")
    mode = stat.S_IMODE(probe.stat().st_mode)
    probe.unlink()
    return mode


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


class TestMode:
    @pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
    def test_snapshot_gets_the_mode_of_a_normally_created_file(self, tmp_path, umask):
        old = os.umask(umask)
        try:
            path = write_snapshot(FRAME, tmp_path / "features.parquet", META)
            assert stat.S_IMODE(path.stat().st_mode) == plain_file_mode(tmp_path)
            assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
        finally:
            os.umask(old)

    def test_every_writer_of_the_package_goes_through_features_atomic(self):
        writers = []
        for folder in ("features", "training", "serving", "churn", "benchmarks"):
            for path in (REPO / folder).rglob("*.py"):
                text = path.read_text(encoding="utf-8")
                if path.name != "atomic.py" and ("mkstemp" in text or "os.replace" in text):
                    writers.append(str(path.relative_to(REPO)))
        assert writers == []


class TestFolders:
    def test_missing_folder_is_an_error_and_nothing_is_created(self, tmp_path):
        target = tmp_path / "no" / "such" / "features.parquet"
        with pytest.raises(OutputError, match=r"the folder .*such does not exist.*--mkdir"):
            write_snapshot(FRAME, target, META)
        assert list(tmp_path.iterdir()) == []

    def test_mkdir_makes_the_folder(self, tmp_path):
        target = tmp_path / "no" / "such" / "features.parquet"
        write_snapshot(FRAME, target, META, mkdir=True)
        assert read_snapshot(target)[1] == META

    def test_parent_that_is_a_file(self, tmp_path):
        (tmp_path / "file").write_text("x")
        with pytest.raises(OutputError, match="is a file, not a folder"):
            write_snapshot(FRAME, tmp_path / "file" / "f.parquet", META, mkdir=True)

    def test_cli_refuses_a_missing_output_folder_before_loading(self, tmp_path):
        data = write_data(tmp_path / "data", {})
        out = tmp_path / "nonexistent" / "dir" / "x.parquet"
        args = ["features", "--data", str(data), "--as-of", "2025-01-01", "--out", str(out)]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "does not exist" in result.output and not (tmp_path / "nonexistent").exists()
        result = CliRunner().invoke(app, [*args, "--mkdir"])
        assert result.exit_code == 0, result.output
        assert read_snapshot(out)[0]["customer_id"].tolist() == [1, 2]

    @pytest.mark.parametrize("command", ["score", "report", "campaign"])
    def test_every_command_refuses_a_missing_output_folder(self, tmp_path, command):
        data = write_data(tmp_path / "data", {})
        out = str(tmp_path / "nonexistent" / "dir" / "x.out")
        args = {
            "score": ["score", "--as-of", "2025-12-31", "--data", str(data), "--out", out],
            "report": ["report", "--data", str(data), "--out", out, "--monitor", "skip"],
            "campaign": ["campaign", "--scores", str(SCORES), "--budget", "10", "--out", out],
        }[command]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "does not exist (create it, or pass --mkdir)" in " ".join(result.output.split())
        assert not (tmp_path / "nonexistent").exists()


class TestLeftovers:
    def test_failed_write_keeps_the_old_file_and_leaves_no_temp(self, tmp_path):
        path = tmp_path / "out.txt"
        path.write_text("old")
        with pytest.raises(RuntimeError), atomic_write(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk on fire")
        assert path.read_text() == "old" and temps(tmp_path) == []

    def test_a_dead_writers_temp_is_removed_by_the_next_write(self, tmp_path):
        path = tmp_path / "scores.parquet"
        name = temp_name(path.name)
        host, _pid, token = name[len(".scores.parquet.") : -len(".tmp")].rsplit(".", 2)
        dead = tmp_path / f".scores.parquet.{host}.{dead_pid()}.{token}.tmp"
        dead.write_text("half written by a killed run")
        with atomic_write(path) as tmp:
            tmp.write_text("new")
        assert path.read_text() == "new" and temps(tmp_path) == []

    def test_a_live_writers_fresh_temp_is_kept(self, tmp_path):
        path = tmp_path / "scores.parquet"
        sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            name = temp_name(path.name).replace(f".{os.getpid()}.", f".{sleeper.pid}.")
            (tmp_path / name).write_text("being written")
            mine = AtomicTarget(path)
            mine.open()
            assert (tmp_path / name).exists()  # a concurrent writer's file: not touched
            mine.discard()
        finally:
            sleeper.kill()
            sleeper.wait()
        remove_stale_temps(path)  # now its writer is gone
        assert temps(tmp_path) == []

    def test_foreign_and_old_style_temps_go_only_when_old(self, tmp_path):
        path = tmp_path / "campaign.csv"
        other_host = tmp_path / ".campaign.csv.elsewhere.12345.0123abcd.tmp"
        mkstemp_style = tmp_path / ".campaign.csv.k2j3h4_x.tmp"
        other_target = tmp_path / ".scores.parquet.elsewhere.1.0123abcd.tmp"
        for p in (other_host, mkstemp_style, other_target):
            p.write_text("x")
        assert remove_stale_temps(path) == []
        long_ago = time.time() - STALE_AFTER_SECONDS - 60
        for p in (other_host, mkstemp_style, other_target):
            os.utime(p, (long_ago, long_ago))
        assert sorted(remove_stale_temps(path)) == sorted([other_host, mkstemp_style])
        assert other_target.exists()

    def test_is_stale_rules(self):
        fresh = temp_name("x.csv")
        assert not is_stale(fresh, "x.csv", age_seconds=0)  # ours, alive
        assert is_stale(fresh, "x.csv", age_seconds=STALE_AFTER_SECONDS)
        assert not is_stale(fresh, "y.csv", age_seconds=STALE_AFTER_SECONDS)
        assert not is_stale("x.csv", "x.csv", age_seconds=STALE_AFTER_SECONDS)


BLOCK_AT_COMMIT = """
import os, pathlib, sys, time
real = os.replace
def replace(src, dst, *args, **kwargs):
    if str(src).endswith(".tmp"):  # the temporary file is complete: the commit point
        pathlib.Path(os.environ["READY"]).write_text(str(src))
        time.sleep(120)
    return real(src, dst, *args, **kwargs)
os.replace = replace
from churn.cli import main
sys.argv = ["churn", *sys.argv[1:]]
main()
"""


def run_until(command: list[str], *, cwd: Path, ready: Path, timeout: float = 60.0):
    """Start the real CLI in a subprocess; return it once ``ready`` exists."""
    env = {**os.environ, "READY": str(ready), "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-c", BLOCK_AT_COMMIT, *command],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + timeout
    while not ready.exists():
        if process.poll() is not None:
            raise AssertionError(process.stdout.read().decode())
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("the command never reached its commit point")
        time.sleep(0.05)
    return process


def test_kill_9_during_features_keeps_the_old_snapshot_and_the_next_run_cleans_up(tmp_path):
    """kill -9 with the new snapshot fully written but not yet renamed into place."""
    data = write_data(tmp_path / "data", {})
    out = tmp_path / "features.parquet"
    old = write_snapshot(FRAME, out, META).read_bytes()
    ready = tmp_path / "ready"
    command = ["features", "--data", str(data), "--as-of", "2025-01-01", "--out", str(out)]

    process = run_until(command, cwd=tmp_path, ready=ready)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)

    assert out.read_bytes() == old
    leftover = Path(ready.read_text())
    assert leftover.exists() and temps(tmp_path) == [leftover.name]

    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    assert temps(tmp_path) == []
    frame, meta = read_snapshot(out)
    assert meta.as_of.startswith("2025-01-01") and len(frame) == 2


TABLE = pa.table({"customer_id": [1, 2], "amount": [9.5, -1.0]})


class TestWriteTableAtomic:
    @pytest.mark.parametrize("file_format", ["parquet", "csv"])
    def test_writes_the_table_in_a_new_folder(self, tmp_path, file_format):
        path = write_table_atomic(
            TABLE, tmp_path / "a" / f"t.{file_format}", file_format=file_format, mkdir=True
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
        with pytest.raises(OutputError, match="blocker is a file, not a folder"):
            write_table_atomic(TABLE, tmp_path / "blocker" / "t.parquet")

    def test_unknown_format(self, tmp_path):
        with pytest.raises(ConfigError, match="file format: 'xlsx'"):
            write_table_atomic(TABLE, tmp_path / "t.xlsx", file_format="xlsx")
