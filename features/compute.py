"""The thread budget: how many threads LightGBM (OpenMP) and BLAS may use in this process.

A host's core count is the wrong answer in a container or beside other jobs: LightGBM's
OpenMP threads default to every core of the host and spin while they wait for one
another, so a fit that holds more threads than it has cores slows down many-fold as
soon as another process wants one. The budget is the cores this process may actually
use:

- the CPU affinity mask (``os.sched_getaffinity``: ``taskset``, a Spark executor's
  cgroup cpuset, Kubernetes' static CPU manager), and
- the cgroup CPU quota (``cpu.max`` of cgroup v2, ``cpu.cfs_quota_us`` /
  ``cpu.cfs_period_us`` of v1), rounded up to whole cores,

whichever is smaller. Small fits (fewer than :data:`SMALL_ROWS` rows) run on one
thread: LightGBM's own docs note small data trains faster on fewer threads, and one
thread cannot spin against a busy neighbour. ``[compute] threads`` (``threads=`` of
:func:`set_threads`) overrides the budget.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

from features.contract.errors import ConfigError

log = logging.getLogger(__name__)

SMALL_ROWS = 50_000
"""Fits and predicts on fewer rows than this use one thread."""
CGROUP_ROOT = Path("/sys/fs/cgroup")

_override: int | None = None


@dataclass(frozen=True)
class Cores:
    """The cores this process may use, and what limits them.

    Attributes
    ----------
    usable : int
        ``min(affinity, quota)``, at least 1.
    affinity : int
        CPUs in the affinity mask.
    quota : float or None
        The cgroup CPU quota in cores (e.g. 1.5), None when unlimited.
    """

    usable: int
    affinity: int
    quota: float | None

    @property
    def source(self) -> str:
        """What set :attr:`usable`, in words (for the MLflow run)."""
        if self.quota is not None and math.ceil(self.quota) < self.affinity:
            return f"cgroup quota {self.quota:g} cores"
        return f"affinity mask {self.affinity} cpus"


def cgroup_quota(root: Path | None = None) -> float | None:
    """The cgroup CPU quota of this process in cores; None when there is none.

    Reads cgroup v2's ``cpu.max`` (``"<quota> <period>"`` or ``"max <period>"``), else
    v1's ``cpu/cpu.cfs_quota_us`` and ``cpu/cpu.cfs_period_us`` (quota -1: none), below
    ``root`` (default :data:`CGROUP_ROOT`). An unreadable or malformed file counts as no
    quota.
    """
    root = CGROUP_ROOT if root is None else root
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota <= 0 or period <= 0 else quota / period
    except (OSError, ValueError):
        return None


def affinity_cpus() -> int:
    """CPUs in this process's affinity mask (``os.cpu_count()`` where there is no mask)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def usable_cores(*, cgroup_root: Path | None = None) -> Cores:
    """The cores this process may use: the smaller of its affinity mask and cgroup quota."""
    affinity = affinity_cpus()
    quota = cgroup_quota(cgroup_root)
    usable = affinity if quota is None else min(affinity, max(1, math.ceil(quota)))
    return Cores(max(1, usable), affinity, quota)


def set_threads(threads: int | None) -> None:
    """Set (or, with None, clear) the ``[compute] threads`` override of the budget."""
    global _override
    if threads is not None and threads < 1:
        raise ConfigError("compute.threads", threads, "a whole number of at least 1, or unset")
    _override = threads


def thread_budget(rows: int | None = None, *, cgroup_root: Path | None = None) -> int:
    """Threads for one fit or predict over ``rows`` rows.

    The ``[compute] threads`` override when set; else 1 for fewer than
    :data:`SMALL_ROWS` rows; else :func:`usable_cores`.
    """
    if _override is not None:
        return _override
    if rows is not None and rows < SMALL_ROWS:
        return 1
    return usable_cores(cgroup_root=cgroup_root).usable


def budget_record(*, cgroup_root: Path | None = None) -> dict[str, object]:
    """The budget and where it comes from, for MLflow params (``compute.*``)."""
    cores = usable_cores(cgroup_root=cgroup_root)
    return {
        "compute.threads": _override if _override is not None else cores.usable,
        "compute.threads_source": "[compute] threads" if _override is not None else cores.source,
        "compute.affinity_cpus": cores.affinity,
        "compute.cgroup_quota": "none" if cores.quota is None else f"{cores.quota:g}",
        "compute.small_fit_rows": SMALL_ROWS,
    }


def limit_native_threads(*, cgroup_root: Path | None = None) -> int:
    """Cap OpenMP and BLAS pools of this process at the budget; return it.

    Called once by each entry point (CLI, service); covers scikit-learn, numpy and any
    library that starts threads without a parameter for it.
    """
    from threadpoolctl import threadpool_limits

    threads = thread_budget(cgroup_root=cgroup_root)
    threadpool_limits(limits=threads)
    log.debug("native thread pools limited to %d", threads)
    return threads


def predict(booster, X, **kwargs):
    """``booster.predict(X, **kwargs)`` on the :func:`thread_budget` of ``X``'s rows.

    A booster keeps the ``num_threads`` of its fit; a predict of a few rows (the
    service's) runs on one thread whatever the fit used. Returns what
    ``lightgbm.Booster.predict`` returns.
    """
    return booster.predict(X, num_threads=thread_budget(X.shape[0]), **kwargs)
