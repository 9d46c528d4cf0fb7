"""`churn serve`: start the BentoML scoring service (registered by importing this module).

The server (``bentoml serve``) runs in a process group of its own that ``churn serve``
owns; BentoML starts its worker in yet another session, so ``churn serve`` makes itself
the reaper of its orphaned descendants (Linux) and tracks every process below it.
SIGTERM or SIGINT to ``churn serve`` (systemd, ``docker stop``, Kubernetes, Ctrl-C) is
forwarded to the server, whose worker answers new requests with a JSON 503 and lets
requests in flight finish (:mod:`serving.api.drain`); after ``--drain-seconds`` every
process left below ``churn serve`` is killed, so stopping it never leaves a server
holding the port.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from churn.app import ConfigOpt, DataOpt, app, console, read_settings
from features.contract.errors import ChurnError

log = logging.getLogger(__name__)

SERVICE = "serving.api.service:ChurnService"
DRAIN_ENV = "CHURN_SERVING__DRAIN_SECONDS"
STOP_MARGIN_SECONDS = 1.0
"""The worker stops listening this long before the drain time ends and the kill comes,
so no request it takes is cut off by the kill."""
FORWARDED = (signal.SIGTERM, signal.SIGINT)


PR_SET_CHILD_SUBREAPER = 36
"""``prctl`` option (Linux): orphaned descendants are re-parented to the caller, not init."""


def _become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux; False elsewhere).

    BentoML's process manager starts each worker in a session of its own, out of the
    server's process group; should the manager die first, the worker would be re-parented
    to init and out of reach. As a subreaper, ``churn serve`` stays its ancestor.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def descendants(pid: int) -> list[int]:
    """Running (not zombie) descendants of ``pid``, whatever their group or session."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    children: dict[int, list[int]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if fields[0] not in ("Z", "X"):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], list(children.get(pid, ()))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, ()))
    return found


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _kill_tree(pgid: int) -> None:
    """SIGKILL the server's process group and every descendant of this process."""
    _signal_group(pgid, signal.SIGKILL)
    for pid in descendants(os.getpid()):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _reap_zombies() -> None:
    """Collect the exit status of finished children (orphans re-parented to us)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def supervise(command: Sequence[str], env: Mapping[str, str], *, drain_seconds: float) -> int:
    """Run ``command`` as a new process group until it exits or a stop signal comes.

    SIGTERM and SIGINT received meanwhile are forwarded to the group; from the first
    one, the server has ``drain_seconds`` to finish its requests and exit before every
    process it started is killed (SIGKILL), the worker BentoML starts in a session of
    its own included. A second signal kills them at once. When the server's main process
    exits by itself, what is left of it gets SIGTERM and the same bounded wait.

    Returns
    -------
    int
        The server's exit code (negative: the signal that ended it; after a stop signal,
        a server killed once the drain time ran out counts as stopped by that signal).
    """
    _become_subreaper()
    process = subprocess.Popen(list(command), env=dict(env), start_new_session=True)
    pgid = process.pid  # the session leader's pid is its group id
    deadline: list[float] = []
    asked: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        if deadline:  # asked twice: stop waiting
            _kill_tree(pgid)
            return
        deadline.append(time.monotonic() + drain_seconds)
        asked.append(signum)
        console.print(
            f"Stopping the server ({signal.Signals(signum).name}): finishing requests in "
            f"flight, at most {drain_seconds:g} s."
        )
        _signal_group(pgid, signum)

    previous = {s: signal.signal(s, forward) for s in FORWARDED}
    try:
        code = _wait(process, deadline)
        if deadline and code == -signal.SIGKILL:  # the stop asked for, ended by the kill
            code = -asked[0]
        _reap(pgid, deadline[0] if deadline else time.monotonic() + drain_seconds)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return code


def _wait(process: subprocess.Popen, deadline: list[float]) -> int:
    """Wait for the server's main process; kill every process of it past the deadline."""
    while True:
        try:
            return process.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            if deadline and time.monotonic() > deadline[0]:
                log.warning("The server did not stop in time; killing it.")
                _kill_tree(process.pid)


def _reap(pgid: int, deadline: float) -> None:
    """Stop what is left of the server (its group, our descendants) by ``deadline``."""
    _signal_group(pgid, signal.SIGTERM)
    for pid in descendants(os.getpid()):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    while True:
        _reap_zombies()
        if not descendants(os.getpid()) and not _group_alive(pgid):
            return
        if time.monotonic() > deadline:
            _kill_tree(pgid)
            deadline = float("inf")
        time.sleep(0.1)


def _group_alive(pgid: int) -> bool:
    """Whether process group ``pgid`` still has a process (zombies included)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _preflight(settings, *, data: Path | None, reload_seconds: float | None) -> str:
    """Check what the service needs at start-up; return a one-line description of it.

    Raises
    ------
    ChurnError
        When the API key is required but unset, the catalog is invalid, a champion is
        missing or there is no snapshot: the service would not become ready.
    """
    from serving.api.online import current_key
    from serving.api.service import ServiceConfig
    from serving.policy.catalog import load_catalog

    if data is not None:
        settings.data.dir = data
    config = ServiceConfig.from_settings(settings)
    if config.require_api_key and not config.api_key:
        raise ChurnError(
            "The API needs a key: set CHURN_SERVING__API_KEY, or serving.api_key_file to a "
            "file holding it (clients send it in the X-API-Key header), or set "
            "serving.require_api_key = false for a local trial."
        )
    load_catalog(config.source.offers_file)
    key = current_key(config.source)
    every = reload_seconds or config.reload_seconds
    return f"{key.describe()}; checking for a new champion every {every:g} s"


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Interface to listen on; 0.0.0.0 opens the API to the network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 3000,
    data: DataOpt = None,
    reload_seconds: Annotated[
        float | None,
        typer.Option(
            "--reload-seconds",
            min=0.1,
            help="Seconds between checks for a new champion or snapshot "
            "(default: serving.reload_seconds or 30).",
        ),
    ] = None,
    drain_seconds: Annotated[
        float | None,
        typer.Option(
            "--drain-seconds",
            min=0,
            help="On SIGTERM/SIGINT, seconds requests in flight get to finish before the "
            "server is killed (default: serving.drain_seconds or 20).",
        ),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Start the scoring API on the champion models and the latest feature snapshot.

    Listens on 127.0.0.1 unless --host says otherwise. SIGTERM or SIGINT stops it
    gracefully: requests in flight finish (at most --drain-seconds), then it exits.
    """
    from serving.api.service import RELOAD_ENV

    settings = read_settings(config)
    summary = _preflight(settings, data=data, reload_seconds=reload_seconds)
    env = dict(os.environ)
    env.setdefault("BENTOML_DO_NOT_TRACK", "true")
    if config is not None:
        env["CHURN_CONFIG"] = str(config.resolve())
    if data is not None:
        env["CHURN_DATA__DIR"] = str(data.resolve())
    if reload_seconds is not None:
        env[RELOAD_ENV] = str(reload_seconds)
    if drain_seconds is None:
        drain_seconds = settings.serving.drain_seconds
    # the worker stops taking requests (even 503s) a moment before we kill what is left
    env[DRAIN_ENV] = str(max(0.0, drain_seconds - STOP_MARGIN_SECONDS))
    url = f"http://{host}:{port}"
    console.print(f"Serving {escape(summary)}.")
    console.print(
        f"Swagger page: {escape(url)}  (API key in the X-API-Key header: "
        f"{'required' if settings.serving.require_api_key else 'NOT required'})"
    )
    command = [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        SERVICE,
        "--host",
        host,
        "--port",
        str(port),
    ]
    code = supervise(command, env, drain_seconds=drain_seconds)
    if code not in (0, -signal.SIGINT, -signal.SIGTERM, 128 + signal.SIGINT):
        raise typer.Exit(code)
