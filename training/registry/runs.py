"""Training runs that end even when their process does not: owned, and failed when orphaned.

A run is started through :func:`start_run`, which tags it with its owner (host, process
id and the process's start time, :data:`OWNER_TAG`). A process killed mid-run
(``kill -9``, an out-of-memory kill, a lost node) leaves its MLflow run ``RUNNING`` for
good; the next :func:`start_run` on the same store finds such runs whose owner process
is gone from this host and marks them, and their child runs, ``FAILED`` with the reason
(:data:`FAILED_TAG`). Runs of other hosts, and runs without an owner, are left alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import mlflow
from mlflow import MlflowClient

log = logging.getLogger(__name__)

OWNER_TAG = "churn.owner"
"""``<host>:<pid>:<process start ticks>`` of the process that started the run."""
FAILED_TAG = "churn.failed_reason"
PARENT_TAG = "mlflow.parentRunId"
ABANDONED = "its process ended before the run did (killed?); marked failed by the next run"


def _start_ticks(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot, Linux); "" when unknown."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def owner() -> str:
    """This process as a run owner: ``host:pid:start ticks``."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid)}"


def owner_alive(text: str) -> bool:
    """Whether the owner ``text`` names may still run (True when it cannot be told)."""
    try:
        host, pid_text, ticks = text.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return True
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not ticks or _start_ticks(pid) in ("", ticks)  # a reused pid is another process


def fail_abandoned_runs(experiment_id: str, *, client: MlflowClient | None = None) -> list[str]:
    """Mark ``RUNNING`` runs whose owner process is gone, and their children, ``FAILED``.

    Returns
    -------
    list of str
        The ids of the runs marked.
    """
    client = client or MlflowClient()
    running = client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'")
    dead = {
        r.info.run_id
        for r in running
        if OWNER_TAG in r.data.tags and not owner_alive(r.data.tags[OWNER_TAG])
    }
    marked = [
        r.info.run_id
        for r in running
        if r.info.run_id in dead or r.data.tags.get(PARENT_TAG) in dead
    ]
    for run_id in marked:
        client.set_tag(run_id, FAILED_TAG, ABANDONED)
        client.set_terminated(run_id, status="FAILED")
        log.warning("MLflow run %s was left RUNNING: %s.", run_id, ABANDONED)
    return marked


@contextlib.contextmanager
def start_run(run_name: str) -> Iterator[mlflow.ActiveRun]:
    """:func:`mlflow.start_run` in the configured experiment, owned by this process.

    Runs left ``RUNNING`` by a process that is gone are marked failed first.
    """
    experiment_id = mlflow.tracking.fluent._get_experiment_id()
    if experiment_id is not None:
        fail_abandoned_runs(experiment_id)
    with mlflow.start_run(run_name=run_name, tags={OWNER_TAG: owner()}) as run:
        yield run
