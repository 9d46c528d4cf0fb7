"""Running a per-partition function on worker processes: :func:`map_partitions`.

The local engine's way to use every core the thread budget allows
(:func:`features.compute.usable_cores`): each worker, a spawned process with one thread
for its native pools, reads its own partition of a
:class:`~features.io.partitioned.CustomerPartitions` and runs the function; results come
back in partition order. Spark does the same across a cluster.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import pyarrow as pa

from features.contract.errors import ChurnError, DataContractError, Problem
from features.io.partitioned import CustomerPartitions, merge_problems

T = TypeVar("T")
PARALLEL_ROWS = 2_000_000
"""Event rows from which :func:`map_partitions` runs partitions in worker processes."""


def map_partitions(
    source: CustomerPartitions, fn: Callable[..., T], *args, workers: int = 1
) -> Iterator[T]:
    """``fn(tables, partition, *args)`` for every partition, results in partition order.

    With ``workers`` > 1 and tables read from files of at least :data:`PARALLEL_ROWS`
    event rows (below, starting processes costs more than it saves), the partitions run in that many
    spawned processes (each reads its own partition; pyarrow and OpenMP on one thread
    each), so a pass uses the cores the thread budget allows; peak memory is then that
    of ``workers`` partitions. ``fn`` must be a module-level function (it is pickled).
    The warnings the workers find are merged into ``source.warnings``; a domain error
    in a worker is raised here with its message.
    """
    if workers <= 1 or source.in_memory or source.partitions == 1 or source.rows < PARALLEL_ROWS:
        for p in range(source.partitions):
            yield fn(source.read(p), p, *args)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        min(workers, source.partitions), mp_context=context, initializer=_one_thread
    ) as pool:
        futures = [
            pool.submit(_run_partition, source, p, fn, args) for p in range(source.partitions)
        ]
        for future in futures:
            result, warnings, failure = future.result()
            source.warnings[:] = merge_problems([*source.warnings, *warnings])
            if failure is not None:
                for rest in futures:
                    rest.cancel()
                raise failure.error()
            yield result


@dataclass(frozen=True)
class _Failure:
    """A domain error of a worker, carried back as data (its exception may not unpickle)."""

    message: str
    problems: tuple[Problem, ...] | None

    def error(self) -> ChurnError:
        return DataContractError(self.problems) if self.problems else ChurnError(self.message)


def _one_thread() -> None:
    from threadpoolctl import threadpool_limits

    pa.set_cpu_count(1)
    pa.set_io_thread_count(2)
    threadpool_limits(limits=1)


def _run_partition(source: CustomerPartitions, partition: int, fn, args):
    try:
        result = fn(source.read(partition), partition, *args)
    except ChurnError as e:
        return None, list(source.warnings), _Failure(str(e), getattr(e, "problems", None))
    return result, list(source.warnings), None
