"""`churn score` as a real process: kill -9 mid-write, and run from another folder (issue 14)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from churn.cli import app
from serving.batch.reader import read_scores
from tests.serving.conftest import REPO

pytestmark = pytest.mark.slow


def churn_process(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """The real CLI (``python -m churn``) of this checkout in a fresh process."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CHURN_", "MLFLOW_"))}
    return subprocess.Popen(
        [sys.executable, "-m", "churn", *args],
        cwd=cwd,
        env={**base, "PYTHONPATH": str(REPO), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def temps(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.tmp"))


def test_kill_9_during_score_keeps_the_old_scores_and_the_next_run_cleans_up(
    batch_env, tmp_path, monkeypatch
):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    config = batch_env.config(tmp_path)
    out = tmp_path / "scores.parquet"
    out.write_bytes(b"yesterday's scores")
    args = ["score", "--as-of", "2025-12-31", "--out", str(out), "--config", str(config)]
    process = churn_process(*args, "--partitions", "8", cwd=tmp_path)
    deadline = time.monotonic() + 180
    while not temps(tmp_path):  # the temporary scores file exists: the write has begun
        if process.poll() is not None:
            pytest.fail(f"score ended before it could be killed:\n{process.stdout.read()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("no temporary scores file appeared")
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)

    assert process.returncode == -signal.SIGKILL
    assert out.read_bytes() == b"yesterday's scores"
    [leftover] = temps(tmp_path)
    assert leftover.name.startswith(".scores.parquet.")

    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert temps(tmp_path) == []
    scores, meta = read_scores(out)
    assert len(scores) == meta["rows"] > 0


def test_score_from_another_folder_uses_the_packaged_offer_catalog(batch_env, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = elsewhere / "scores.parquet"
    process = churn_process(
        "score",
        "--as-of",
        "2025-12-31",
        "--data",
        str(batch_env.data),
        "--out",
        str(out),
        "--reasons",
        "0",
        cwd=elsewhere,
        env={"MLFLOW_TRACKING_URI": batch_env.tracking_uri},
    )
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output
    assert "default offer catalog" in " ".join(output.split())
    scores, meta = read_scores(out)
    assert len(scores) > 0 and meta["offers"]
