"""`bentoml build` packages the scoring API as a Bento, and the Bento serves.

The Bento's includes (``bentofile.yaml``) follow the package tree: the service's code
and the packaged offer catalog are in it, the CLI package is not (the service reads
its settings from :mod:`serving.settings`, below the CLI).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from features.contract.schema import CUSTOMER_ID
from features.families.population import active_customers
from features.io.snapshot import make_snapshot
from tests.serving.api.test_service import KEY, free_port
from tests.serving.conftest import REPO
from tests.serving.test_serve_command import _wait_ready

BENTOML = Path(sys.executable).with_name("bentoml")


@pytest.mark.slow
def test_the_built_bento_holds_the_service_and_serves_scores(batch_env, tmp_path):
    home = tmp_path / "bentoml"
    env = {
        **os.environ,
        "BENTOML_HOME": str(home),
        "BENTOML_DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    built = subprocess.run(
        [str(BENTOML), "build", "--output", "tag"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    tag = re.search(r"__tag__:(\S+)", built.stdout).group(1)
    name, version = tag.split(":")
    src = home / "bentos" / name / version / "src"
    assert (src / "serving" / "api" / "service.py").is_file()
    assert (src / "serving" / "policy" / "default_offers.toml").is_file()
    assert (src / "serving" / "settings.py").is_file()
    assert not (src / "churn").exists()  # the service needs no CLI code
    assert not (src / "tests").exists()

    shutil.copy(batch_env.root / "mlflow.db", tmp_path / "mlflow.db")
    make_snapshot(batch_env.tables, as_of=batch_env.as_of, folder=tmp_path / "data" / "features")
    active = active_customers(batch_env.tables, batch_env.as_of)[CUSTOMER_ID]
    ids = [int(i) for i in active.head(3)]
    port = free_port()
    env |= {
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "CHURN_DATA__DIR": str(tmp_path / "data"),
        "CHURN_SERVING__API_KEY": KEY,
        "CHURN_SERVING__REQUIRE_API_KEY": "true",
        "PYTHONPATH": "",  # the Bento's own src, not this checkout, is on the path
    }
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(BENTOML), "serve", tag, "--port", str(port), "--host", "127.0.0.1"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(proc, url, log)
        answer = httpx.post(
            f"{url}/score", json={"customer_ids": ids}, headers={"X-API-Key": KEY}, timeout=60
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["scored"] == len(ids) and body["failed"] == 0, body
        assert all(0 <= r["churn_probability"] <= 1 for r in body["results"])
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
