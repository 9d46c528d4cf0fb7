"""Issue 20: what a hostile client, a bad snapshot and a slow connection get from the service.

Real `bentoml serve` processes on loopback ports, called over HTTP (and raw sockets where
the client must misbehave), on the champion models of the shared ``batch_env``:

- ``hardened``: a healthy server with short header and body timeouts (items 1, 6, 9, 11);
- ``unfit``: a server started on a snapshot whose ``plan`` column holds numbers, then
  given a good snapshot and a newer bad one by hot reload (items 4 and 7).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest

from features.io.snapshot import make_snapshot, read_snapshot, snapshot_path, write_snapshot
from tests.serving.api.test_service import (
    KEY,
    OFFERS_FILE,
    REPO,
    _plain,
    _wait_for,
    _wait_ready,
    free_port,
)
from tests.serving.conftest import stop_process_group

HEADER_TIMEOUT = 2
BODY_TIMEOUT = 2
FORGED = "2026-12-04T17:00:00+0000 [ERROR] forged"


@dataclass(frozen=True)
class Running:
    url: str
    port: int
    log: Path
    snapshots: Path
    snapshot: pd.DataFrame


@contextlib.contextmanager
def bentoml_serve(
    batch_env, root: Path, env: dict[str, str], *, wait: bool = True
) -> Iterator[Running]:
    """`bentoml serve` of the service on a copy of ``batch_env``'s registry, in ``root``."""
    shutil.copy(batch_env.root / "mlflow.db", root / "mlflow.db")
    port = free_port()
    full = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "CHURN_DATA__DIR": str(root / "data"),
        "CHURN_SERVING__API_KEY": KEY,
        "CHURN_SERVING__REQUIRE_API_KEY": "true",
        "CHURN_SERVING__OFFERS_FILE": str(OFFERS_FILE),
        "CHURN_SERVING__RELOAD_SECONDS": "1",
        "BENTOML_DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        **env,
    }
    log = root / "serve.log"
    command = [sys.executable, "-m", "bentoml", "serve", "serving.api.service:ChurnService"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with log.open("w") as out:
        proc = subprocess.Popen(
            command,
            cwd=REPO,
            env=full,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    snapshots = root / "data" / "features"
    try:
        if wait:
            _wait_ready(proc, url, log)
        else:
            _wait_for(lambda: _answers(url), "the server to listen", 240)
        first = sorted(snapshots.glob("features_*.parquet"))[0]
        yield Running(url, port, log, snapshots, read_snapshot(first)[0])
    finally:
        stop_process_group(proc)
        for pid in _session_leftovers(proc.pid):  # the worker runs in a session of its own
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/livez", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _session_leftovers(pid: int) -> list[int]:
    import psutil

    with contextlib.suppress(psutil.NoSuchProcess):
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    return []


@pytest.fixture(scope="module")
def hardened(batch_env, tmp_path_factory):
    root = tmp_path_factory.mktemp("hardened")
    make_snapshot(batch_env.tables, as_of=batch_env.as_of, folder=root / "data" / "features")
    env = {
        "CHURN_SERVING__HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
        "CHURN_SERVING__BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
    }
    with bentoml_serve(batch_env, root, env) as running:
        yield running


def _raw(port: int, data: bytes, *, wait: float = 10.0) -> bytes:
    """Send ``data`` on a fresh connection; return all it gets until closed or ``wait`` s."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(data)
        chunks = []
        with contextlib.suppress(TimeoutError):
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


@pytest.mark.slow
class TestLogForging:
    """Item 1: control characters a client sends are escaped in every log line."""

    def test_a_forged_line_stays_inside_the_refusal_and_the_access_log(self, hardened):
        path = f"/x%0a{FORGED}%0d%1b[31mred%00nul%c2%85".replace(" ", "%20")
        answer = _raw(hardened.port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert answer.startswith(b"HTTP/1.1 401")
        _wait_for(lambda: hardened.log.read_text().count("forged") >= 2, "both log lines", 10)
        raw = hardened.log.read_bytes()
        assert b"\x1b" not in raw and b"\x00" not in raw and "\x85" not in raw.decode()
        lines = raw.decode().splitlines()
        assert not [line for line in lines if line.startswith(FORGED[:24])]
        hits = [line for line in lines if "forged" in line]
        assert any("Refused GET /x\\n2026-12-04T17:00:00" in line for line in hits), hits
        assert any("path=/x\\n2026-12-04T17:00:00" in line for line in hits), hits  # access log
        assert all("\\x1b[31mred\\x00nul\\x85" in line for line in hits), hits


@pytest.mark.slow
class TestJsonErrors:
    """Item 11: every error status has the JSON ``error`` body; no third-party script."""

    def test_unknown_path_is_a_json_404(self, hardened):
        answer = httpx.get(f"{hardened.url}/nope", headers={"X-API-Key": KEY}, timeout=10)
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/json"
        assert answer.json() == {"error": "Not Found"}

    def test_wrong_method_is_a_json_405(self, hardened):
        answer = httpx.get(f"{hardened.url}/score", headers={"X-API-Key": KEY}, timeout=10)
        assert answer.status_code == 405
        assert answer.json() == {"error": "Method Not Allowed"}
        assert "POST" in answer.headers.get("allow", "")

    @pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
    def test_compressed_body_is_a_json_415(self, hardened, encoding):
        import gzip

        answer = httpx.post(
            f"{hardened.url}/score",
            content=gzip.compress(b'{"customer_ids": [1]}'),
            headers={
                "X-API-Key": KEY,
                "Content-Type": "application/json",
                "Content-Encoding": encoding,
            },
            timeout=10,
        )
        assert answer.status_code == 415
        assert "Content-Encoding" in answer.json()["error"] and encoding in answer.json()["error"]

    def test_swagger_page_loads_no_third_party_script(self, hardened):
        answer = httpx.get(f"{hardened.url}/", timeout=10)
        assert answer.status_code == 200 and "swagger-ui" in answer.text
        assert "googletagmanager" not in answer.text and "https://" not in answer.text
        assert "script-src 'self'" in answer.headers["content-security-policy"]
        for asset in ("swagger-ui-bundle.js", "swagger-initializer.js", "swagger-ui.css"):
            assert httpx.get(f"{hardened.url}/static_content/{asset}").status_code == 200


@pytest.mark.slow
class TestSlowClients:
    """Item 9: headers and bodies must arrive in time; a slow client holds nothing long."""

    def test_headers_that_never_end_get_a_408_and_the_connection_closed(self, hardened):
        start = time.monotonic()
        answer = _raw(hardened.port, b"POST /score HTTP/1.1\r\nHost: x\r\n", wait=30)
        took = time.monotonic() - start
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert b"header_timeout_seconds" in answer and took < HEADER_TIMEOUT + 5

    def test_a_body_that_never_ends_gets_a_408_and_the_connection_closed(self, hardened):
        head = (
            "POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"X-API-Key: {KEY}\r\nContent-Length: 100\r\n\r\n"
        )
        start = time.monotonic()
        answer = _raw(hardened.port, head.encode() + b'{"custo', wait=30)
        took = time.monotonic() - start
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert b"body_timeout_seconds" in answer and took < BODY_TIMEOUT + 5

    def test_slow_connections_do_not_keep_others_out(self, hardened):
        head = f"POST /score HTTP/1.1\r\nHost: x\r\nX-API-Key: {KEY}\r\nContent-Length: 50\r\n\r\n"
        held = []
        try:
            for _ in range(30):
                s = socket.create_connection(("127.0.0.1", hardened.port), timeout=10)
                s.sendall(head.encode() + b"{")
                held.append(s)
            ids = [_plain(hardened.snapshot["customer_id"].iloc[0])]
            answer = httpx.post(
                f"{hardened.url}/score",
                json={"customer_ids": ids},
                headers={"X-API-Key": KEY},
                timeout=10,
            )
            assert answer.status_code == 200
            time.sleep(BODY_TIMEOUT + 2)
            closed = 0
            for s in held:
                s.settimeout(5)
                data = s.recv(65536)
                closed += data.startswith(b"HTTP/1.1 408")
            assert closed == len(held)
        finally:
            for s in held:
                s.close()


def _feature_row(snapshot: pd.DataFrame) -> dict:
    from features.contract.schema import CUSTOMER_ID
    from features.families.population import status_in_features

    record = snapshot.loc[status_in_features(snapshot) == "active"].iloc[0].to_dict()
    return {
        "customer_id": _plain(record[CUSTOMER_ID]),
        "features": {k: _plain(v) for k, v in record.items() if k != CUSTOMER_ID},
    }


@pytest.mark.slow
def test_unknown_category_values_get_a_per_item_warning(hardened):
    """Item 6: ``"ZZZ"`` and ``"BRONZE"`` (for ``"bronze"``) are scored as missing, said so."""
    client = httpx.Client(base_url=hardened.url, headers={"X-API-Key": KEY}, timeout=60)
    info = client.post("/model_info").json()
    categorical = {f["name"]: f["levels"] for f in info["features"] if f["kind"] == "categorical"}
    assert categorical, info["features"]
    name, levels = next(iter(categorical.items()))
    good = _feature_row(hardened.snapshot)
    unknown = {**good, "features": {**good["features"], name: "ZZZ"}}
    cased = {**good, "features": {**good["features"], name: levels[0].upper()}}
    answer = client.post("/score_features", json={"rows": [good, unknown, cased]})
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert results[0]["warnings"] == []
    assert len(results[1]["warnings"]) == 1
    assert name in results[1]["warnings"][0] and "'ZZZ'" in results[1]["warnings"][0]
    assert "scored as missing" in results[1]["warnings"][0]
    if levels[0].upper() != levels[0]:
        assert f"did you mean {levels[0]!r}" in results[2]["warnings"][0]


def _with_plan_as_numbers(path: Path, folder: Path, as_of: str) -> Path:
    frame, meta = read_snapshot(path)
    frame["plan"] = 7
    from dataclasses import replace

    out = snapshot_path(folder, pd.Timestamp(as_of, tz="UTC"))
    return write_snapshot(frame, out, replace(meta, as_of=f"{as_of}T00:00:00+00:00"))


@pytest.mark.slow
def test_a_snapshot_that_does_not_fit_the_models_is_refused_with_its_file_named(
    batch_env, tmp_path
):
    """Items 4 and 7: at start-up 503 with the reason; on reload the old view stays."""
    staging = tmp_path / "staging"
    good, meta = make_snapshot(batch_env.tables, as_of=batch_env.as_of, folder=staging)
    folder = tmp_path / "data" / "features"
    folder.mkdir(parents=True)
    older = (batch_env.as_of - pd.Timedelta(days=30)).strftime("%Y-%m-%d")
    bad = _with_plan_as_numbers(good, folder, older)
    headers = {"X-API-Key": KEY}
    with bentoml_serve(batch_env, tmp_path, {}, wait=False) as running:
        score = {"customer_ids": [1]}
        _wait_for(
            lambda: "plan" in httpx.post(f"{running.url}/score", json=score, headers=headers).text,
            "the refusal",
            120,
        )
        for _ in range(3):
            answer = httpx.post(f"{running.url}/score", json=score, headers=headers, timeout=10)
            assert answer.status_code == 503
            error = answer.json()["error"]
            assert bad.name in error and "plan must hold text" in error, error
        assert httpx.get(f"{running.url}/readyz", timeout=10).status_code == 503
        log = running.log.read_text()
        assert "Traceback" not in log and "unexpected error" not in log
        assert bad.name in log

        shutil.copy(good, folder / good.name)  # a good, newer snapshot: served
        _wait_ready_again(running.url)
        as_served = httpx.post(f"{running.url}/model_info", headers=headers).json()
        assert as_served["snapshot"]["path"].endswith(good.name)

        newest = (batch_env.as_of + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
        worse = _with_plan_as_numbers(good, folder, newest)
        _wait_for(lambda: worse.name in running.log.read_text(), "the reload refusal", 60)
        as_served = httpx.post(f"{running.url}/model_info", headers=headers).json()
        assert as_served["snapshot"]["path"].endswith(good.name)  # still the good one
        assert "Reload failed" in running.log.read_text()
        assert "Traceback" not in running.log.read_text()
        assert meta.as_of in as_served["snapshot"]["as_of"]


def _wait_ready_again(url: str) -> None:
    _wait_for(
        lambda: httpx.get(f"{url}/readyz", timeout=5).status_code == 200, "a good snapshot", 120
    )
