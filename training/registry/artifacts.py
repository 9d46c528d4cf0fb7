"""Reading small run artifacts (JSON summaries, PNG plots) back from MLflow, quietly.

MLflow shows a progress bar for every download; for the handful of small files a
report or a monitor summary needs, that is noise on the terminal, so these helpers
switch it off for the duration of the call.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

_PROGRESS = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


@contextmanager
def no_progress_bar() -> Iterator[None]:
    """Disable MLflow's artifact progress bar inside the block (restored after)."""
    before = os.environ.get(_PROGRESS)
    os.environ[_PROGRESS] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(_PROGRESS, None)
        else:
            os.environ[_PROGRESS] = before


def load_json(run_id: str, path: str) -> dict | None:
    """The JSON artifact ``path`` of run ``run_id`` as a dict; None when absent or unreadable."""
    try:
        run = MlflowClient().get_run(run_id)
        with no_progress_bar():
            return mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/{path}")
    except (MlflowException, OSError, ValueError):
        return None


def load_bytes(run_id: str, path: str) -> bytes | None:
    """The bytes of artifact ``path`` of run ``run_id``; None when absent or unreadable."""
    with tempfile.TemporaryDirectory() as tmp, no_progress_bar():
        try:
            local = MlflowClient().download_artifacts(run_id, path, tmp)
        except (MlflowException, OSError):
            return None
        file = Path(local)
        return file.read_bytes() if file.is_file() else None
