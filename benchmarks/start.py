"""Benchmark of the scoring API's cold start against ``mlflow models serve``'s.

``python -m benchmarks.start`` (``make bench-start``) reuses ``make bench-serve``'s data
(champion models and a snapshot per size, cached under ``data/bench/serve-<n>c/``) and,
for each size, starts in turn, ``--rounds`` times, each from a fresh process:

* ours: ``bentoml serve serving.api.service:ChurnService``, ready (``/readyz``) once its
  worker has loaded both champions and the snapshot and scored every customer;
* ours without cached bytecode: the same with ``PYTHONDONTWRITEBYTECODE=1`` and an empty
  ``PYTHONPYCACHEPREFIX``, so every module is compiled from source, as in a container
  whose image was built without ``--compile-bytecode``;
* MLflow: ``mlflow models serve -m models:/churn-classifier@champion --env-manager
  local``, ready (``/ping``) once it has loaded the churn model alone.

It reports the median seconds to ready, the ratio ours/MLflow, and the peak resident
memory of each server's processes (their resident sets summed, sampled every
0.2 s), so the cost growth with the number of customers shows at three sizes.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks.common import cpu_count, format_table, tree_peak_mib
from benchmarks.serve import (
    DATA_ROOT,
    free_port,
    mlflow_command,
    ours_command,
    prepare,
    running,
    server_env,
)

log = logging.getLogger("benchmarks.start")

SIZES = (3_000, 30_000, 100_000)


def start_once(
    command: Callable[[int], list[str]], env: dict, ready_path: str, log_file: Path
) -> tuple[float, float]:
    """Seconds from launch to ready, and the peak MiB of the server's processes meanwhile."""
    port = free_port()
    started = time.monotonic()
    with (
        tree_peak_mib(os.getpid(), itself=False) as peak,
        running(
            command(port),
            env=env,
            ready_url=f"http://127.0.0.1:{port}{ready_path}",
            log_file=log_file,
        ),
    ):
        seconds = time.monotonic() - started
    return seconds, peak[0]


def measure_size(customers: int, rounds: int, root: Path) -> list[dict[str, object]]:
    """The three servers, ``rounds`` times each, alternating; one row per server."""
    prepared = prepare(customers, root=root)
    base = server_env(prepared)
    with tempfile.TemporaryDirectory(prefix="no-pyc-") as empty:
        servers = {  # name: (command, environment, ready path, log file's name)
            "ours": (ours_command, base, "/readyz", "ours"),
            "ours, no cached bytecode": (
                ours_command,
                {**base, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": empty},
                "/readyz",
                "ours-no-pyc",
            ),
            "mlflow models serve": (mlflow_command, base, "/ping", "mlflow"),
        }
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in servers}
        for round_ in range(rounds):
            for name, (command, env, ready, slug) in servers.items():
                log_file = prepared.root / f"start-{slug}.log"
                results[name].append(start_once(command, env, ready, log_file))
                log.info(
                    "%d customers, round %d, %s: %.1f s",
                    customers,
                    round_ + 1,
                    name,
                    results[name][-1][0],
                )
    reference = statistics.median(s for s, _ in results["mlflow models serve"])
    return [
        {
            "customers": customers,
            "server": name,
            "ready s (median)": statistics.median(s for s, _ in runs),
            "runs": " ".join(f"{s:.1f}" for s, _ in runs),
            "vs mlflow": statistics.median(s for s, _ in runs) / reference,
            "peak MiB": statistics.median(p for _, p in runs),
        }
        for name, runs in results.items()
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default=",".join(str(n) for n in SIZES),
        help="Generated customers per size, comma-separated.",
    )
    parser.add_argument("--rounds", type=int, default=3, help="Starts of each server per size.")
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    rows = []
    for customers in (int(n) for n in args.sizes.split(",")):
        rows += measure_size(customers, args.rounds, args.data_root)
    print()
    print(f"Cold start to ready — {cpu_count()} CPUs, {args.rounds} starts each, one worker")
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
