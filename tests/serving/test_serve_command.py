"""`churn serve` stops cleanly: SIGTERM/SIGINT reach the whole server and nothing is left.

Issue 14 item 12: SIGTERM to `churn serve` used to orphan its `bentoml serve` child and
worker, which kept the port and kept answering with the old models.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from features.io.snapshot import make_snapshot
from tests.serving.api.test_service import KEY, free_port
from tests.serving.conftest import OFFERS_FILE, REPO

START_SECONDS = 240
STOP_SECONDS = 10


def _running(processes: list[psutil.Process]) -> list[int]:
    alive = []
    for p in processes:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p.pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def _port_free(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def _wait_ready(proc: subprocess.Popen, url: str, log) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"churn serve exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"churn serve was not ready in {START_SECONDS} s:\n{log.read_text()[-3000:]}")


@pytest.mark.slow
def test_sigterm_drains_then_leaves_no_process_and_a_free_port(batch_env, tmp_path):
    """A request in flight at SIGTERM is answered; within 10 s the port is free, no child left."""
    proc, url, port, log = _serve(batch_env, tmp_path, "--drain-seconds", "8")
    children: list[psutil.Process] = []
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 2  # bentoml serve and its worker

        started, answer = threading.Event(), {}
        in_flight = _held_request(url, started, answer, pause=1.5)

        request = threading.Thread(target=in_flight)
        request.start()
        assert started.wait(30)
        time.sleep(0.3)
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        while time.monotonic() - signalled < STOP_SECONDS and (
            _running(children) or not _port_free(port)
        ):
            time.sleep(0.1)
        took = time.monotonic() - signalled
        assert _running(children) == [], f"left running after {took:.1f} s"
        assert _port_free(port) and took < STOP_SECONDS
        request.join(30)
        assert answer["status"] == 200, answer
        assert proc.wait(30) == 0  # then churn serve itself exits, cleanly
    finally:  # whatever failed, leave nothing running
        for p in children:
            if _running([p]):
                p.kill()
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_sigint_is_forwarded_and_a_server_that_ignores_it_is_killed_after_the_drain(tmp_path):
    """`supervise` with a stand-in server: a child that ignores SIGINT and a grandchild."""
    pids = tmp_path / "pids"
    server = textwrap.dedent(
        f"""
        import os, signal, subprocess, sys, time
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open({str(pids)!r}, "w").write(f"{{os.getpid()}} {{child.pid}}")
        time.sleep(60)
        """
    )
    runner = (
        "import sys; from churn.serve_commands import supervise; "
        f"sys.exit(supervise([sys.executable, '-c', {server!r}], dict(__import__('os').environ), "
        "drain_seconds=1.5) and 0)"
    )
    proc = subprocess.Popen([sys.executable, "-c", runner], cwd=REPO)
    try:
        deadline = time.monotonic() + 30
        while not (pids.exists() and len(pids.read_text().split()) == 2):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        started = [psutil.Process(int(p)) for p in pids.read_text().split()]
        signalled = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
        took = time.monotonic() - signalled
        assert _running(started) == []
        assert 1.5 <= took < 5  # the stand-in ignored SIGINT: killed once the drain ran out
    finally:
        if proc.poll() is None:
            proc.kill()


def _held_request(url: str, started: threading.Event, answer: dict, *, pause: float):
    """A ``/score`` call whose body stalls ``pause`` s after its first bytes (``started`` is
    set then), so a stop signal arrives while it is in flight; its status (or the error)
    goes to ``answer["status"]``. Returns the function to run in a thread."""
    body = json.dumps({"customer_ids": [17, 42]}).encode()

    def slow_body():
        yield body[:5]
        started.set()
        time.sleep(pause)
        yield body[5:]

    def in_flight() -> None:
        headers = {"X-API-Key": KEY, "Content-Type": "application/json"}
        try:
            answer["status"] = httpx.post(
                f"{url}/score", content=slow_body(), headers=headers, timeout=30
            ).status_code
        except httpx.HTTPError as e:
            answer["status"] = repr(e)

    return in_flight


def _serve(batch_env, tmp_path, *extra: str) -> tuple[subprocess.Popen, str, int, Path]:
    """`churn serve` on a copy of ``batch_env``'s registry and a fresh snapshot; ready."""
    shutil.copy(batch_env.root / "mlflow.db", tmp_path / "mlflow.db")
    make_snapshot(batch_env.tables, as_of=batch_env.as_of, folder=tmp_path / "data" / "features")
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "CHURN_SERVING__API_KEY": KEY,
        "CHURN_SERVING__REQUIRE_API_KEY": "true",
        "CHURN_SERVING__OFFERS_FILE": str(OFFERS_FILE),
        "BENTOML_DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "churn", "serve", "--port", str(port)]
    command += ["--data", str(tmp_path / "data"), *extra]
    with log.open("w") as out:
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(proc, url, log)
    except BaseException:
        proc.kill()
        raise
    return proc, url, port, log


@pytest.mark.slow
def test_sigterm_under_load_with_a_held_request_answers_everything_and_ends_every_process(
    batch_env, tmp_path
):
    """Issue 20 items 2 and 8.

    Clients keep scoring 100 ids; one request holds its body open for good; one slow
    request is in flight. On SIGTERM the slow request is answered 200, new requests get
    a JSON 503 with ``Connection: close``, no request the server took is left without an
    answer, and after the drain time every process `churn serve` started is gone (the
    worker too, which BentoML runs in a session of its own) and the port is free.
    """
    drain = 6.0
    proc, url, port, log = _serve(batch_env, tmp_path, "--drain-seconds", str(drain))
    children = psutil.Process(proc.pid).children(recursive=True)
    workers = [c for c in children if "_bentoml_impl.worker" in " ".join(c.cmdline())]
    assert workers and os.getsid(workers[0].pid) != os.getsid(proc.pid)  # a session of its own
    held = None
    try:
        snapshot_ids = httpx.post(
            f"{url}/model_info", headers={"X-API-Key": KEY}, timeout=30
        ).json()
        assert snapshot_ids["snapshot"]["customers"] > 100
        ids = list(range(1, 101))
        head = (
            "POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"X-API-Key: {KEY}\r\nContent-Length: 1000\r\n\r\n"
        )
        held = socket.create_connection(("127.0.0.1", port), timeout=30)
        held.sendall(head.encode() + b'{"customer_ids": [')

        outcomes: dict[str, int] = {}
        lost: list[str] = []
        stop = threading.Event()
        lock = threading.Lock()

        def client() -> None:
            with httpx.Client(headers={"X-API-Key": KEY}, timeout=30) as c:
                while not stop.is_set():
                    try:
                        r = c.post(f"{url}/score", json={"customer_ids": ids})
                    except httpx.ConnectError:
                        return  # refused: the server is gone, nothing was taken
                    except httpx.HTTPError as e:
                        with lock:
                            lost.append(repr(e))
                        return
                    with lock:
                        outcomes[r.status_code] = outcomes.get(r.status_code, 0) + 1
                        if r.status_code == 503:
                            assert r.headers.get("connection") == "close"
                            assert "stopping" in r.json()["error"]
                    time.sleep(0.01)

        started, answer = threading.Event(), {}
        in_flight = _held_request(url, started, answer, pause=2)

        threads = [threading.Thread(target=client) for _ in range(6)]
        threads.append(threading.Thread(target=in_flight))
        for t in threads:
            t.start()
        assert started.wait(30)
        time.sleep(0.5)
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        time.sleep(1)
        late = httpx.post(
            f"{url}/score", json={"customer_ids": ids}, headers={"X-API-Key": KEY}, timeout=10
        )
        assert late.status_code == 503 and late.headers["connection"] == "close"
        assert "stopping" in late.json()["error"]
        while time.monotonic() - signalled < drain + 5 and (
            _running(children) or not _port_free(port)
        ):
            time.sleep(0.1)
        took = time.monotonic() - signalled
        stop.set()
        for t in threads:
            t.join(30)
        assert _running(children) == [], (
            f"left running after {took:.1f} s: {log.read_text()[-2000:]}"
        )
        assert _port_free(port)
        assert answer["status"] == 200, answer
        assert lost == [], (lost, outcomes)
        assert outcomes.get(200, 0) > 0 and outcomes.get(503, 0) > 0, outcomes
        assert proc.wait(30) == 0
    finally:
        if held is not None:
            held.close()
        for p in children:
            if _running([p]):
                p.kill()
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
