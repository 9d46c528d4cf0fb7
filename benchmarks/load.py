"""Load test of the scoring API with a champion swap in the middle (``make bench-load``).

``python -m benchmarks.load`` starts ``bentoml serve serving.api.service:ChurnService`` on a
loopback port, one worker, on the champion models and snapshot of ``make bench-serve``'s
prepared data (generated and trained once, cached under ``data/bench/``), and sends a
fixed number of ``/score`` requests (``--ids`` customers each) from a fixed number of
concurrent keep-alive clients. When a third of them are answered (``--swap-at``) it
promotes new versions of both models (new registry versions of the champions'
artifacts, their digests copied, the ``champion`` aliases moved: what the promotion
gate does), and the service reloads under load. The reload (loading both models and
scoring every customer of the snapshot) shares the worker's interpreter with the
requests, so under full load it takes several times its idle duration; the rest of the
run must outlast it.

It reports requests/s, p50/p99 latency and errors before the swap, from the swap until
the new versions answer, and after; how long the reload took; and the worker's memory.
An error is a non-200 answer, an answer that mixes model versions, an unknown-id item
or an answer with the old versions after the new ones were seen. The figures go to
``benchmarks/RESULTS.md`` (its ``bench-load`` section) with the machine they were
measured on. Exit status 1 when any request failed or the swap was not seen.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np

from benchmarks.common import cpu_count, format_table
from benchmarks.serve import (
    API_KEY,
    DATA_ROOT,
    Prepared,
    free_port,
    percentile_ms,
    prepare,
    running,
    server_env,
)

RESULTS = Path(__file__).with_name("RESULTS.md")
SECTION = "bench-load"
log = logging.getLogger("benchmarks.load")


@dataclass(frozen=True)
class Answer:
    """One request: when it started (s from the run's start), how long it took, what came."""

    started: float
    seconds: float
    status: int
    versions: tuple[str, str] | None
    failed_items: int


def machine() -> dict[str, str]:
    """Cores, CPU model, memory, Python and OS of this machine."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        memory = f"{kib / 1024**2:.0f} GiB"
    return {
        "cores": str(cpu_count()),
        "cpu": model,
        "memory": memory,
        "python": platform.python_version(),
        "os": platform.platform(),
    }


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def worker_rss_mib(server_pid: int) -> float | None:
    """Resident memory of the service worker (a child of ``bentoml serve``), MiB."""
    try:
        import psutil

        for child in psutil.Process(server_pid).children(recursive=True):
            if "_bentoml_impl.worker" in " ".join(child.cmdline()):
                return child.memory_info().rss / 1024**2
    except Exception:  # psutil missing or the process gone: the figure is optional
        return None
    return None


def swap_champions(prepared: Prepared) -> tuple[tuple[str, str], tuple[str, str]]:
    """Register each champion's artifact again and move ``champion`` onto it.

    Returns ``(old, new)`` versions as ``(churn, ltv)``.
    """
    from mlflow import MlflowClient

    from training.registry.registry import CHAMPION, CHURN_MODEL, LTV_MODEL

    client = MlflowClient(tracking_uri=prepared.tracking_uri, registry_uri=prepared.tracking_uri)
    old, new = [], []
    for name in (CHURN_MODEL, LTV_MODEL):
        champion = client.get_model_version_by_alias(name, CHAMPION)
        version = client.create_model_version(  # same artifact: its digest tag holds
            name, source=champion.source, run_id=champion.run_id, tags=champion.tags
        ).version
        old.append(str(champion.version))
        new.append(str(version))
    for name, version in zip((CHURN_MODEL, LTV_MODEL), new, strict=True):
        client.set_registered_model_alias(name, CHAMPION, version)
    return (old[0], old[1]), (new[0], new[1])


def restore_champions(prepared: Prepared, versions: tuple[str, str]) -> None:
    """Point ``champion`` back at ``versions`` (the prepared store stays as it was)."""
    from mlflow import MlflowClient

    from training.registry.registry import CHAMPION, CHURN_MODEL, LTV_MODEL

    client = MlflowClient(tracking_uri=prepared.tracking_uri, registry_uri=prepared.tracking_uri)
    for name, version in zip((CHURN_MODEL, LTV_MODEL), versions, strict=True):
        client.set_registered_model_alias(name, CHAMPION, version)


def run_load(
    url: str,
    bodies: Sequence[bytes],
    *,
    requests: int,
    concurrency: int,
    swap_at: float,
    on_swap,
) -> tuple[list[Answer], float]:
    """Send ``requests`` requests from ``concurrency`` clients; call ``on_swap()`` on the way.

    ``on_swap`` runs once ``swap_at`` × ``requests`` requests are answered. Returns every
    answer and the time ``on_swap`` was called (s from the start).
    """
    answers: list[list[Answer]] = [[] for _ in range(concurrency)]
    done = [0]
    lock = threading.Lock()
    swap_now = threading.Event()
    per_client = requests // concurrency
    headers = {"Content-Type": "application/json", "X-API-Key": API_KEY}
    clients = [httpx.Client(headers=headers, timeout=60) for _ in range(concurrency)]
    for i, client in enumerate(clients):  # warm-up, not counted
        for j in range(5):
            client.post(url, content=bodies[(i + j) % len(bodies)])
    barrier = threading.Barrier(concurrency + 1)

    def work(i: int) -> None:
        client, mine = clients[i], answers[i]
        barrier.wait()
        for j in range(per_client):
            body = bodies[(i * per_client + j) % len(bodies)]
            start = time.perf_counter()
            try:
                response = client.post(url, content=body)
                status = response.status_code
            except httpx.HTTPError:
                status, response = 0, None
            seconds = time.perf_counter() - start
            versions, failed = None, 0
            if status == 200:
                payload = response.json()
                models = payload["models"]
                versions = (models["churn_version"], models["ltv_version"])
                failed = payload["failed"]
                mixed = {
                    (r["churn_model_version"], r["ltv_model_version"]) for r in payload["results"]
                }
                if mixed - {versions}:
                    failed += 1
            mine.append(Answer(start - t0, seconds, status, versions, failed))
            with lock:
                done[0] += 1
                if done[0] == int(requests * swap_at):
                    swap_now.set()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    barrier.wait()
    swap_now.wait()
    swapped_at = time.perf_counter() - t0
    on_swap()
    for t in threads:
        t.join()
    for client in clients:
        client.close()
    return sorted((a for part in answers for a in part), key=lambda a: a.started), swapped_at


def summarise(answers: list[Answer], swapped_at: float, old, new) -> tuple[list[dict], dict]:
    """Table rows per phase (before, reloading, after) and the swap's facts."""
    first_new = next((a.started + a.seconds for a in answers if a.versions == new), None)
    stale_after = [
        a for a in answers if first_new is not None and a.started > first_new and a.versions == old
    ]
    phases = {
        "before the swap": [a for a in answers if a.started < swapped_at],
        "swap → new versions": [
            a
            for a in answers
            if a.started >= swapped_at and (first_new is None or a.started < first_new)
        ],
        "after": [a for a in answers if first_new is not None and a.started >= first_new],
        "all": answers,
    }
    rows = []
    for name, part in phases.items():
        if not part:
            continue
        span = max(a.started + a.seconds for a in part) - min(a.started for a in part)
        latencies = [a.seconds for a in part]
        errors = sum(a.status != 200 or a.failed_items > 0 for a in part)
        if name in ("after", "all"):
            errors += sum(a in stale_after for a in part)
        rows.append(
            {
                "phase": name,
                "requests": len(part),
                "req/s": len(part) / span if span > 0 else float("nan"),
                "p50 ms": percentile_ms(latencies, 50),
                "p99 ms": percentile_ms(latencies, 99),
                "max ms": max(latencies) * 1000.0,
                "errors": errors,
            }
        )
    facts = {
        "old": old,
        "new": new,
        "reload_seconds": None if first_new is None else first_new - swapped_at,
        "seen_old": any(a.versions == old for a in answers),
        "seen_new": first_new is not None,
        "stale_after_new": len(stale_after),
        "versions": sorted({a.versions for a in answers if a.versions}),
    }
    return rows, facts


def write_results(markdown: str, *, path: Path = RESULTS) -> None:
    """Replace this benchmark's section of ``RESULTS.md`` (others' sections are kept)."""
    begin, end = f"<!-- {SECTION}: begin -->", f"<!-- {SECTION}: end -->"
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmark results\n"
    block = f"{begin}\n{markdown.strip()}\n{end}"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=5000, help="Generated customers.")
    parser.add_argument("--requests", type=int, default=12000, help="Requests in all.")
    parser.add_argument("--concurrency", type=int, default=8, help="Concurrent clients.")
    parser.add_argument("--ids", type=int, default=1, help="Customer ids per request.")
    parser.add_argument(
        "--swap-at", type=float, default=1 / 3, help="Share of the requests before the swap."
    )
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT)
    parser.add_argument("--results", type=Path, default=RESULTS, help="Markdown file to update.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    prepared = prepare(args.customers, root=args.data_root)
    os.environ["MLFLOW_TRACKING_URI"] = prepared.tracking_uri  # models:/ sources resolve here
    from features.io.snapshot import read_snapshot

    snapshot, meta = read_snapshot(prepared.snapshot)
    rng = np.random.default_rng(14)
    ids = [v.item() if hasattr(v, "item") else v for v in snapshot["customer_id"]]
    bodies = [
        json.dumps(
            {"customer_ids": [ids[k] for k in rng.choice(len(ids), args.ids, replace=False)]}
        ).encode()
        for _ in range(200)
    ]
    env = {**server_env(prepared), "CHURN_SERVING__RELOAD_SECONDS": "1"}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "bentoml", "serve", "serving.api.service:ChurnService"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    log.info("Starting the service (%d CPUs, %d customers) ...", cpu_count(), len(snapshot))
    swap: dict[str, tuple[str, str]] = {}
    with running(
        command, env=env, ready_url=f"{url}/readyz", log_file=prepared.root / "load.log"
    ) as server_pid:
        rss_before = worker_rss_mib(server_pid)

        def on_swap() -> None:
            swap["old"], swap["new"] = swap_champions(prepared)
            log.info("Promoted %s -> %s under load.", swap["old"], swap["new"])

        try:
            answers, swapped_at = run_load(
                f"{url}/score",
                bodies,
                requests=args.requests,
                concurrency=args.concurrency,
                swap_at=args.swap_at,
                on_swap=on_swap,
            )
            rss_after = worker_rss_mib(server_pid)
        finally:
            if "old" in swap:
                restore_champions(prepared, swap["old"])
    rows, facts = summarise(answers, swapped_at, swap["old"], swap["new"])
    errors = rows[-1]["errors"]
    ok = errors == 0 and facts["seen_old"] and facts["seen_new"]
    info = machine()
    title = (
        f"Scoring API under load with a champion swap — {args.requests} × /score "
        f"({args.ids} id{'s' if args.ids != 1 else ''} each), {args.concurrency} concurrent "
        f"clients, one worker, {len(snapshot)} customers"
    )
    reload_s = facts["reload_seconds"]
    lines = [
        f"churn {facts['old'][0]}→{facts['new'][0]}, LTV {facts['old'][1]}→{facts['new'][1]}: "
        + (f"new versions served {reload_s:.2f} s after the promotion" if reload_s else "NOT seen"),
        f"answers with the old versions after the first new one: {facts['stale_after_new']}",
    ]
    if rss_before is not None and rss_after is not None:
        lines.append(f"worker memory: {rss_before:.0f} MiB before, {rss_after:.0f} MiB after")
    table = format_table(rows)
    print()
    print(title)
    print(table)
    print("\n".join(lines))
    print("OK" if ok else f"FAILED: {errors} errors" if errors else "FAILED: swap not seen")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine_line = ", ".join(f"{k} {v}" for k, v in info.items())
    write_results(
        f"## `make bench-load`\n\n{title}.\n\nMeasured {stamp}, commit {git_commit()}; "
        f"{machine_line}.\n\n```\n{table}\n```\n\n"
        + "\n".join(f"- {line}" for line in lines)
        + f"\n- result: {'OK' if ok else 'FAILED'}\n",
        path=args.results,
    )
    log.info("Wrote %s.", args.results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
