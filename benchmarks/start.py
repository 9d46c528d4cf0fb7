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
memory of each server's processes (``VmHWM`` of each, summed, read when ready), so the
cost growth with the number of customers shows at three sizes.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import psutil

from benchmarks.common import KIB_PER_MIB, cpu_count, format_table
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


def peak_mib(pid: int) -> float:
    """Sum of the peak resident set (``VmHWM``) of ``pid`` and its descendants, MiB.

    BentoML starts its worker in a session of its own, but still as a child: the
    process tree, not the process group, holds the server.
    """
    total_kib = 0
    root = psutil.Process(pid)
    for process in [root, *root.children(recursive=True)]:
        try:
            for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kib += int(line.split()[1])
        except OSError:  # ended meanwhile
            continue
    return total_kib / KIB_PER_MIB


def start_once(
    command: list[str], env: dict, ready_path: str, log_file: Path
) -> tuple[float, float]:
    """Seconds from launch to ready, and the peak MiB of the server's processes then."""
    port = int(command[-1])
    started = time.monotonic()
    with running(
        command, env=env, ready_url=f"http://127.0.0.1:{port}{ready_path}", log_file=log_file
    ) as pid:
        seconds = time.monotonic() - started
        peak = peak_mib(pid)
    return seconds, peak


def measure_size(customers: int, rounds: int, root: Path) -> list[dict[str, object]]:
    """The three servers, ``rounds`` times each, alternating; one row per server."""
    prepared = prepare(customers, root=root)
    base = server_env(prepared)
    with tempfile.TemporaryDirectory(prefix="no-pyc-") as empty:
        servers = {
            "ours": (ours_command, base, "/readyz"),
            "ours, no cached bytecode": (
                ours_command,
                {**base, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": empty},
                "/readyz",
            ),
            "mlflow models serve": (mlflow_command, base, "/ping"),
        }
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in servers}
        for round_ in range(rounds):
            for name, (command, env, ready) in servers.items():
                log_file = prepared.root / f"start-{name.split(',')[0].split()[0]}.log"
                results[name].append(start_once(command(free_port()), env, ready, log_file))
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
