"""Shared test helpers: tiny hand-made tables through the real validation path."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from features.contract.load import validate_tables
from features.contract.tables import Tables

AS_OF = pd.Timestamp("2025-06-30", tz="UTC")


def make_tables(**frames: list[dict] | pd.DataFrame) -> Tables:
    """Validate hand-made rows (lists of dicts or frames) into :class:`Tables`."""
    raw = {
        name: rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
        for name, rows in frames.items()
    }
    return validate_tables(raw)


@pytest.fixture
def as_of() -> pd.Timestamp:
    return AS_OF


SLOW_FIXTURES = {
    "batch_env": "churn and LTV champions trained on 3000 customers (tests/serving/conftest.py)",
}
"""Fixtures that train on larger data: every test that uses one, even through another
fixture, is marked ``slow`` (left out of ``make test-fast``, run by ``make test``)."""


SHARED_FIXTURES = ("batch_env", "generated", "spark_local")
"""Session fixtures dear to make (trained champions, a 6,000-customer world, a Spark
session): under ``pytest -n`` (pytest-xdist, ``--dist loadgroup``) every test file that
uses one runs on the same worker, so each is made once per run, not once per worker."""
GROUPS_FILE = "PYTEST_CHURN_GROUPS"
"""Environment variable (outside the settings' ``CHURN_`` prefix): the JSON file
``{test file: group}`` the workers write at collection and the controller's scheduler
reads (pytest 9 ignores xdist's own way of naming groups, a suffix to the node id)."""


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES.keys() & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    if not getattr(config.option, "loadgroup", False) or GROUPS_FILE not in os.environ:
        return
    # a test file is one group (its module fixtures are made once), unless one of its
    # tests uses a dear session fixture: then the whole file joins that fixture's group
    group: dict[str, str] = {}
    for item in items:
        path = item.nodeid.split("::")[0]
        shared = [f for f in SHARED_FIXTURES if f in getattr(item, "fixturenames", ())]
        if shared and group.get(path, path) == path:
            group[path] = shared[0]
        group.setdefault(path, path)
    # the dear groups first, then the files with a slow test, then the rest: the scheduler
    # hands the groups out in this order, so the long ones start early and the many short
    # files even out the workers' ends
    slow = {i.nodeid.split("::")[0] for i in items if i.get_closest_marker("slow")}
    items.sort(key=lambda i: _order(group[i.nodeid.split("::")[0]], slow))
    target = Path(os.environ[GROUPS_FILE])
    partial = target.with_name(f"{target.name}.{os.getpid()}")
    partial.write_text(json.dumps(group))
    os.replace(partial, target)


def _order(group: str, slow: set[str]) -> int:
    """Where a group goes in the run: 0 a dear fixture's, 1 a file with a slow test, 2 else."""
    return 0 if group in SHARED_FIXTURES else 1 if group in slow else 2


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup``: the groups of :func:`pytest_collection_modifyitems`."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    config.option.loadscopereorder = False  # the collection's order (see the hook above)

    class FileGroups(LoadScopeScheduling):
        """Scopes are the files' groups, handed out in the order they were collected."""

        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:
                source = Path(os.environ.get(GROUPS_FILE, "-"))
                self.groups = json.loads(source.read_text()) if source.is_file() else {}
            path = nodeid.split("::")[0]
            return self.groups.get(path, path)

    return FileGroups(config, log)


def pytest_configure(config):
    """Under pytest-xdist: the controller names the groups file; each worker gets its own
    share of the CPUs (affinity mask).

    So the thread budget (:func:`features.compute.usable_cores`), and with it LightGBM,
    never counts the cores another worker is using: two workers on two cores fit on one
    thread each, not two each.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        if config.pluginmanager.hasplugin("xdist") and config.getoption("numprocesses", None):
            folder = tempfile.mkdtemp(prefix="churn-test-groups-")
            config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))
            os.environ[GROUPS_FILE] = str(Path(folder) / "groups.json")
        return
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if count < 2 or not hasattr(os, "sched_setaffinity"):
        return
    cpus = sorted(os.sched_getaffinity(0))
    index = int(worker.removeprefix("gw"))
    share = [c for i, c in enumerate(cpus) if i % count == index % count]
    if share and len(cpus) >= count:
        os.sched_setaffinity(0, share)


@contextmanager
def mlflow_state_restored() -> Iterator[None]:
    """Run with no ``MLFLOW_*`` variables; leave MLflow's process state as found.

    ``mlflow.set_tracking_uri`` and ``set_registry_uri`` export MLFLOW_TRACKING_URI and
    MLFLOW_REGISTRY_URI; code that points MLflow at its own store runs inside this so
    later tests that rely on the default store are not captured by it.
    """
    import mlflow.tracking._model_registry.utils as registry_state
    import mlflow.tracking._tracking_service.utils as tracking_state
    import mlflow.tracking.fluent as fluent_state

    env = {k: os.environ.pop(k) for k in [k for k in os.environ if k.startswith("MLFLOW_")]}
    state = (
        tracking_state._tracking_uri,
        registry_state._registry_uri,
        fluent_state._active_experiment_id,
    )
    try:
        yield
    finally:
        (
            tracking_state._tracking_uri,
            registry_state._registry_uri,
            fluent_state._active_experiment_id,
        ) = state
        for key in [k for k in os.environ if k.startswith("MLFLOW_")]:
            del os.environ[key]
        os.environ.update(env)


@pytest.fixture(scope="module")
def isolated_mlflow() -> Iterator[None]:
    """A module's tests run inside :func:`mlflow_state_restored`."""
    with mlflow_state_restored():
        yield


@pytest.fixture(scope="session")
def small_world(tmp_path_factory):
    """600 generated customers over 2023–2025 as Parquet files (a folder path), made once.

    For plumbing tests (partitioned reads, training sets, engines): small enough that
    every cutoff of a training plan builds in a second.
    """
    from features.synthetic import generate

    out = tmp_path_factory.mktemp("small_world")
    generate(
        out, customers=600, seed=11, start="2023-01-01", end="2025-12-31", file_format="parquet"
    )
    return out


@pytest.fixture(scope="session")
def spark_local():
    """A Spark session on ``local[2]`` for the whole test session (starting one takes seconds)."""
    from features.io.spark import spark_session

    session = spark_session(
        master="local[2]",
        conf={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4"},
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
