"""Training against a real `mlflow server` started on a loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from features.contract.load import load_tables
from training.registry.registry import CHALLENGER, CHURN_MODEL, load_model
from training.train import TrainConfig, train


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("server")
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--workers",
            "1",
        ],
        # no job runner and its three huey consumers (GenAI jobs, which training never
        # asks for): four fewer processes importing MLflow on a 2-core machine
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        stdout=subprocess.DEVNULL,
        stderr=(root / "server.log").open("w"),  # noqa: SIM115 (lives as long as the server)
        start_new_session=True,  # its workers (uvicorn, huey) go with it: killpg below
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180  # a loaded 2-core machine needs ~60 s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"mlflow server did not start: {(root / 'server.log').read_text()[-2000:]}")
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.slow
def test_train_and_load_through_a_tracking_server(small_world, server, monkeypatch):
    """Plumbing through a server: the small world (600 customers) is enough data."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    result = train(load_tables(small_world), config=TrainConfig(train_cutoffs=2))
    loaded = load_model(CHURN_MODEL, CHALLENGER)
    assert loaded.run_id and loaded.version == result.churn.version
    p = loaded.model.predict_proba(result.churn.validation)
    assert p.shape == (len(result.churn.validation),) and ((p >= 0) & (p <= 1)).all()
