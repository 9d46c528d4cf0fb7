"""Shared pieces of the benchmarks: isolated timed runs with peak memory, medians, tables.

Every timed run happens in a fresh spawned process, so one run's allocations, caches and
imports never flatter the next, and the process's peak resident set size is the run's
own. The untimed ``setup`` (loading data, say) runs in the same child first; the peak is
then reset, so ``peak_rss_mib`` is the high-water mark *during the timed call*, counting
everything the process holds at that time (the loaded data included).
"""

from __future__ import annotations

import contextlib
import os
import resource
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

import psutil

KIB_PER_MIB = 1024


@dataclass(frozen=True)
class Measurement:
    """One isolated run of a timed call.

    Attributes
    ----------
    seconds : float
        Wall-clock time of the timed call, seconds.
    cpu_seconds : float
        CPU time (user + system, all threads) of the timed call, seconds; above
        ``seconds`` when the call runs on several cores.
    peak_rss_mib : float
        Peak resident set size of the child during the timed call, MiB (whole process:
        interpreter, loaded data and the call's own working memory).
    base_rss_mib : float
        Resident set size when the timed call started, MiB (after ``setup``).
    peak_exact : bool
        True when the peak could be reset after ``setup`` (Linux ``clear_refs``); when
        False, ``peak_rss_mib`` is the peak of the whole child, ``setup`` included.
    result : object
        What the timed call returned, or None unless ``keep_result`` was asked for.
    """

    seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    base_rss_mib: float
    peak_exact: bool
    result: Any = None


@dataclass(frozen=True)
class Timing:
    """Summary of repeated measurements of one call.

    Attributes
    ----------
    seconds : tuple of float
        Every run's wall-clock time, in run order.
    cpu_seconds : tuple of float
        Every run's CPU time (user + system, all threads), in run order.
    peak_rss_mib : float
        Largest peak resident set size over the runs, MiB.
    base_rss_mib : float
        Largest resident set size at the start of the timed call (after ``setup``), MiB.
    peak_exact : bool
        Whether every run's peak was reset after ``setup``, so that a higher transient
        peak while setting up is not counted (see :class:`Measurement`).
    result : object
        The first run's result, when kept.
    """

    seconds: tuple[float, ...]
    cpu_seconds: tuple[float, ...]
    peak_rss_mib: float
    base_rss_mib: float
    peak_exact: bool
    result: Any = None

    @property
    def median(self) -> float:
        """Median wall-clock time over the runs, seconds."""
        return median_seconds(self.seconds)

    @property
    def median_cpu(self) -> float:
        """Median CPU time over the runs, seconds."""
        return median_seconds(self.cpu_seconds)

    @classmethod
    def of(cls, runs: Sequence[Measurement]) -> Timing:
        """Summarise runs (the first run's result is kept, if it was sent back)."""
        if not runs:
            raise ValueError("Timing.of needs at least one Measurement, got none.")
        return cls(
            seconds=tuple(r.seconds for r in runs),
            cpu_seconds=tuple(r.cpu_seconds for r in runs),
            peak_rss_mib=max(r.peak_rss_mib for r in runs),
            base_rss_mib=max(r.base_rss_mib for r in runs),
            peak_exact=all(r.peak_exact for r in runs),
            result=runs[0].result,
        )


def median_seconds(seconds: Sequence[float]) -> float:
    """Median of run times in seconds (the figure every benchmark reports).

    Raises
    ------
    ValueError
        When ``seconds`` is empty.
    """
    if not len(seconds):
        raise ValueError("median_seconds needs at least one run time, got none.")
    return float(statistics.median(seconds))


@contextlib.contextmanager
def tree_peak_mib(pid: int, *, itself: bool = True) -> Iterator[list[float]]:
    """Sample the summed RSS of process ``pid``'s descendants (and of ``pid`` unless
    ``itself`` is False) every 0.2 s while the block runs.

    Yields a list that holds one number once the block ends: the peak, MiB. Children
    that a process starts in sessions of their own (BentoML's worker) still count.
    """
    root, stop, out = psutil.Process(pid), threading.Event(), []

    def sample() -> None:
        peak = 0
        while not stop.is_set():
            total = 0
            with contextlib.suppress(psutil.Error):
                for p in [root, *root.children(recursive=True)][0 if itself else 1 :]:
                    with contextlib.suppress(psutil.Error):  # a process may end meanwhile
                        total += p.memory_info().rss
            peak = max(peak, total)
            stop.wait(0.2)
        out.append(peak / 2**20)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield out
    finally:
        stop.set()
        sampler.join()


def _status_kib(field: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` (``VmHWM``, ``VmRSS``), or None off Linux."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset this process's peak RSS (``VmHWM``) to its current RSS; False if impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def _peak_kib() -> int:
    hwm = _status_kib("VmHWM")
    if hwm is not None:
        return hwm
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS, KiB on Linux


def _child(setup: Callable[[], Any], task: Callable[[Any], Any], keep_result: bool) -> Measurement:
    state = setup()
    exact = _reset_peak()
    base = _status_kib("VmRSS") or 0
    cpu_start = time.process_time()
    start = time.perf_counter()
    result = task(state)
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    peak = _peak_kib()
    return Measurement(
        seconds=seconds,
        cpu_seconds=cpu_seconds,
        peak_rss_mib=peak / KIB_PER_MIB,
        base_rss_mib=base / KIB_PER_MIB,
        peak_exact=exact,
        result=result if keep_result else None,
    )


def measure_isolated(
    task: Callable[[Any], Any], *, setup: Callable[[], Any], keep_result: bool = False
) -> Measurement:
    """Run ``task(setup())`` once in a fresh spawned process; time and measure ``task``.

    Parameters
    ----------
    task : callable
        Called with what ``setup`` returned; this is the timed call. Must be picklable
        (a module-level function or a :func:`functools.partial` of one).
    setup : callable
        Untimed preparation in the child, e.g. loading tables. Picklable.
    keep_result : bool, default False
        Send the task's result back to the parent (it is pickled, so keep it small or
        ask for it once).

    Returns
    -------
    Measurement
    """
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_child, setup, task, keep_result).result()


def measure_repeated(
    tasks: Mapping[str, Callable[[Any], Any]],
    *,
    setup: Callable[[], Any],
    repeats: int,
    keep_first_result: bool = True,
    on_run: Callable[[str, int, Measurement], None] | None = None,
) -> dict[str, Timing]:
    """Measure each of several tasks ``repeats`` times, every run in its own fresh process.

    Runs are interleaved (a, b, a, b, ...) so that background load on the machine falls
    on every task alike rather than on whichever ran while it lasted.

    Parameters
    ----------
    tasks : mapping of str to callable
        ``{label: task}``; each task as for :func:`measure_isolated`.
    setup : callable
        Untimed preparation, run in every child before its task.
    repeats : int
        Runs per task, >= 1.
    keep_first_result : bool, default True
        Send back each task's result from its first run.
    on_run : callable, optional
        ``on_run(label, i, measurement)`` after run ``i`` (from 1) of a task.

    Returns
    -------
    dict of str to Timing
        One summary per label, in the order of ``tasks``.
    """
    if repeats < 1:
        raise ValueError(f"Invalid repeats: {repeats!r}; expected a whole number >= 1.")
    runs: dict[str, list[Measurement]] = {label: [] for label in tasks}
    for i in range(repeats):
        for label, task in tasks.items():
            run = measure_isolated(task, setup=setup, keep_result=keep_first_result and i == 0)
            runs[label].append(run)
            if on_run:
                on_run(label, i + 1, run)
    return {label: Timing.of(label_runs) for label, label_runs in runs.items()}


def format_table(rows: Sequence[dict[str, object]], *, floatfmt: str = ".2f") -> str:
    """Render dicts sharing the same keys as a plain-text table (numbers right-aligned)."""
    if not rows:
        return "(no rows)"
    headers = list(rows[0])

    def cell(value: object) -> str:
        if isinstance(value, float):
            return format(value, floatfmt)
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value:,}"
        return str(value)

    cells = [[cell(row[h]) for h in headers] for row in rows]
    numeric = [all(isinstance(row[h], int | float) for row in rows) for h in headers]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(c) for c in cells)])


def cpu_count() -> int:
    """CPUs this process may run on (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
