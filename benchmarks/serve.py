"""Benchmark of the scoring API against ``mlflow models serve`` on the same churn model.

``python -m benchmarks.serve`` (``make bench-serve``) trains and promotes the champion
models once on generated data (cached under ``data/bench/serve-<n>c/`` with its MLflow
store and feature snapshot), then starts both servers on loopback ports, one worker
each, in the same run:

* ours: ``bentoml serve serving.api.service:ChurnService`` — ``/score`` by customer ids
  (the marketing path: churn probability, LTV, reasons and the offer, from the online
  view), and ``/score_features`` with the features in the request (computed per call);
* MLflow: ``mlflow models serve -m models:/churn-classifier@champion --env-manager
  local`` — ``/invocations`` with the same customers' churn-model features
  (``dataframe_split``), which returns the churn probability only.

Each scenario (1 and 100 customers per request) sends a fixed number of requests from
a few concurrent keep-alive clients (``/score_features``, which computes per call, a
tenth of them), after a warm-up, in ``--rounds`` rounds that
alternate the servers so background load falls on both alike. It reports requests/s
(median over rounds), p50/p99 latency (all rounds pooled), the ratio ours/MLflow and the
targets (by id: ≥ 3× MLflow's requests/s, p99 ≤ 25 ms for one customer). Both servers
must agree on the churn probabilities (checked on 100 customers); any failed request or
disagreement exits with status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from benchmarks.common import cpu_count, format_table

DATA_ROOT = Path("data/bench")
SEED = 3
AS_OF = "2025-12-31"  # the generator's default end: the scoring day
MARKER = "prepared.json"
API_KEY = "bench-key"
RPS_RATIO_TARGET = 3.0
P99_TARGET_MS = 25.0
START_SECONDS = 300
FEATURES_SHARE = 0.1  # /score_features computes per call: a tenth of the requests

log = logging.getLogger("benchmarks.serve")


# ----------------------------------------------------------------------------- setup


@dataclass(frozen=True)
class Prepared:
    """A generated data set with champion models and a snapshot, in its own MLflow store."""

    root: Path
    tracking_uri: str
    snapshot: Path

    @property
    def data(self) -> Path:
        return self.root / "data"


def prepare(customers: int, *, root: Path = DATA_ROOT) -> Prepared:
    """Generate, train, promote and snapshot once per size; reuse the result afterwards."""
    out = (root / f"serve-{customers}c").resolve()
    marker = out / MARKER
    uri = f"sqlite:///{out / 'mlflow.db'}"
    if marker.is_file():
        record = json.loads(marker.read_text())
        if (
            record.get("seed") == SEED
            and record.get("digests")  # models registered with their artifact digests
            and Path(record["snapshot"]).is_file()
        ):
            return Prepared(out, uri, Path(record["snapshot"]))
    from features.contract.load import load_tables
    from features.io.snapshot import make_snapshot
    from features.synthetic import generate
    from training.champion import train_and_promote
    from training.train import TrainConfig

    log.info("Preparing %d customers, models and a snapshot in %s (once).", customers, out)
    os.environ["MLFLOW_TRACKING_URI"] = uri  # the store of this benchmark, whatever the shell says
    generate(out / "data", customers=customers, seed=SEED, file_format="parquet")
    tables = load_tables(out / "data")
    # a small data set may not pass the gate: champions are forced
    train_and_promote(tables, config=TrainConfig(train_cutoffs=2), tracking_uri=uri)
    snapshot, _ = make_snapshot(tables, as_of=AS_OF)
    marker.write_text(
        json.dumps(
            {"seed": SEED, "customers": customers, "snapshot": str(snapshot), "digests": True}
        )
    )
    return Prepared(out, uri, snapshot)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running(command: Sequence[str], *, env: dict, ready_url: str, log_file: Path) -> Iterator[int]:
    """Run a server in its own process group until the block ends; wait until it is ready.

    Yields the server's process id.
    """
    with log_file.open("w") as out:
        proc = subprocess.Popen(
            list(command), env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{command[2]} exited ({proc.returncode}); see {log_file}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(ready_url, timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[2]} not ready in {START_SECONDS} s; see {log_file}")
            time.sleep(0.5)
        yield proc.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def ours_command(port: int) -> list[str]:
    """``bentoml serve`` of the scoring API on a loopback port."""
    command = [sys.executable, "-m", "bentoml", "serve", "serving.api.service:ChurnService"]
    return [*command, "--host", "127.0.0.1", "--port", str(port)]


def mlflow_command(port: int) -> list[str]:
    """``mlflow models serve`` of the churn champion on a loopback port (the reference)."""
    command = [sys.executable, "-m", "mlflow", "models", "serve"]
    model = ["-m", "models:/churn-classifier@champion", "--env-manager", "local"]
    return [*command, *model, "-h", "127.0.0.1", "-p", str(port)]


def server_env(prepared: Prepared) -> dict:
    bin_dir = str(Path(sys.executable).parent)  # uvicorn for mlflow, bentoml for ours
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLFLOW_TRACKING_URI": prepared.tracking_uri,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "BENTOML_DO_NOT_TRACK": "true",
        "CHURN_DATA__DIR": str(prepared.data),
        "CHURN_SERVING__API_KEY": API_KEY,
        "CHURN_SERVING__REQUIRE_API_KEY": "true",
        "CHURN_SERVING__OFFERS_FILE": str(Path("offers.toml").resolve()),
    }


# ----------------------------------------------------------------------------- load


@dataclass(frozen=True, eq=False)
class Scenario:
    """One kind of request to one server; bodies are sent in turn."""

    server: str
    endpoint: str
    customers: int
    url: str
    bodies: tuple[bytes, ...]
    headers: dict


@dataclass(frozen=True)
class Run:
    """One round of one scenario."""

    seconds: float
    latencies: tuple[float, ...]
    errors: int

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds


def load(scenario: Scenario, *, requests: int, concurrency: int, warmup: int = 20) -> Run:
    """Send ``requests`` requests from ``concurrency`` keep-alive clients; time each one."""
    per_client = max(1, requests // concurrency)
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    clients = [
        httpx.Client(headers={"Content-Type": "application/json", **scenario.headers}, timeout=60)
        for _ in range(concurrency)
    ]
    for i, client in enumerate(clients):
        for j in range(max(1, warmup // concurrency)):
            client.post(scenario.url, content=scenario.bodies[(i + j) % len(scenario.bodies)])
    barrier = threading.Barrier(concurrency + 1)

    def work(i: int) -> None:
        client, mine, n_bodies = clients[i], latencies[i], len(scenario.bodies)
        barrier.wait()
        for j in range(per_client):
            body = scenario.bodies[(i * per_client + j) % n_bodies]
            start = time.perf_counter()
            response = client.post(scenario.url, content=body)
            mine.append(time.perf_counter() - start)
            if response.status_code != 200:
                errors[i] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    for client in clients:
        client.close()
    return Run(seconds, tuple(x for part in latencies for x in part), sum(errors))


def percentile_ms(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q) * 1000.0)


# ----------------------------------------------------------------------------- payloads


def _json_value(value: object) -> object:
    if hasattr(value, "item"):
        value = value.item()
    if value is None or value is pd.NA or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return value


def payloads(
    snapshot: pd.DataFrame,
    churn_columns: list[str],
    feature_names: list[str],
    n: int,
    *,
    variants: int,
    seed: int = 0,
) -> dict[str, tuple[bytes, ...]]:
    """Request bodies for ``n`` customers per request, ``variants`` different customer sets.

    The same customers go to every endpoint: ids to ``/score``, their features to
    ``/score_features`` and their churn-model columns to MLflow's ``/invocations``.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, list[bytes]] = {"score": [], "score_features": [], "invocations": []}
    for _ in range(variants):
        rows = snapshot.iloc[rng.choice(len(snapshot), size=n, replace=False)]
        ids = [_json_value(c) for c in rows["customer_id"]]
        out["score"].append(json.dumps({"customer_ids": ids}).encode())
        features = [
            {"customer_id": cid, "features": {c: _json_value(r[c]) for c in feature_names}}
            for cid, r in zip(ids, rows.to_dict("records"), strict=True)
        ]
        out["score_features"].append(json.dumps({"rows": features}).encode())
        data = [[_json_value(v) for v in r] for r in rows[churn_columns].itertuples(index=False)]
        split = {"dataframe_split": {"columns": churn_columns, "data": data}}
        out["invocations"].append(json.dumps(split).encode())
    return {k: tuple(v) for k, v in out.items()}


def check_agreement(ours: str, mlflow_url: str, bodies: dict[str, tuple[bytes, ...]]) -> float:
    """Largest |difference| of the churn probabilities both servers give the same customers."""
    headers = {"Content-Type": "application/json", "X-API-Key": API_KEY}
    a = httpx.post(f"{ours}/score", content=bodies["score"][0], headers=headers, timeout=60)
    b = httpx.post(
        f"{mlflow_url}/invocations", content=bodies["invocations"][0], headers=headers, timeout=60
    )
    a.raise_for_status()
    b.raise_for_status()
    p_ours = [r["churn_probability"] for r in a.json()["results"]]
    p_mlflow = [r["churn_probability"] for r in b.json()["predictions"]]
    return float(np.max(np.abs(np.asarray(p_ours) - np.asarray(p_mlflow))))


# ----------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=5000, help="Generated customers.")
    parser.add_argument(
        "--requests", type=int, default=1000, help="Requests per round of a one-customer scenario."
    )
    parser.add_argument(
        "--batch-requests",
        type=int,
        default=200,
        help="Requests per round of a 100-customer scenario.",
    )
    parser.add_argument("--concurrency", type=int, default=4, help="Concurrent clients.")
    parser.add_argument("--rounds", type=int, default=3, help="Rounds, alternating servers.")
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not one line per request

    prepared = prepare(args.customers, root=args.data_root)
    from features.io.snapshot import read_snapshot
    from serving.models import load_scoring_models

    os.environ["MLFLOW_TRACKING_URI"] = prepared.tracking_uri
    models = load_scoring_models(tracking_uri=prepared.tracking_uri)
    snapshot, meta = read_snapshot(prepared.snapshot)
    churn_columns = list(models.churn.model.spec_.names)
    bodies = {
        n: payloads(
            snapshot, churn_columns, models.feature_names, n, variants=200 if n == 1 else 20, seed=n
        )
        for n in (1, 100)
    }

    env = server_env(prepared)
    ours_port, mlflow_port = free_port(), free_port()
    ours, mlflow_url = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{mlflow_port}"
    log.info(
        "Starting both servers (%d CPUs, %d customers, snapshot as of %s) ...",
        cpu_count(),
        len(snapshot),
        meta.as_of,
    )
    with (
        running(
            ours_command(ours_port),
            env=env,
            ready_url=f"{ours}/readyz",
            log_file=prepared.root / "ours.log",
        ),
        running(
            mlflow_command(mlflow_port),
            env=env,
            ready_url=f"{mlflow_url}/ping",
            log_file=prepared.root / "mlflow.log",
        ),
    ):
        gap = check_agreement(ours, mlflow_url, bodies[100])
        log.info("Both servers agree on the churn probability to %.1e.", gap)
        rows, runs = measure(args, bodies, ours, mlflow_url)
    print()
    print(
        f"Scoring API vs mlflow models serve — {cpu_count()} CPUs, {args.concurrency} "
        f"concurrent clients, {args.rounds} rounds, one worker each"
    )
    print(format_table(rows))
    print()
    report_targets(runs)
    failed = sum(r.errors for scenario_runs in runs.values() for r in scenario_runs)
    if failed:
        print(f"FAILED: {failed} requests did not return 200.")
    if gap >= 1e-9:
        print(f"FAILED: the servers disagree on churn probabilities by up to {gap:.3g}.")
    return 1 if failed or gap >= 1e-9 else 0


def measure(args, bodies, ours: str, mlflow_url: str):
    """Run every scenario ``args.rounds`` times, alternating servers; return table rows."""
    key = {"X-API-Key": API_KEY}
    scenarios = []
    for n in (1, 100):
        scenarios += [
            Scenario("ours", "/score (by id)", n, f"{ours}/score", bodies[n]["score"], key),
            Scenario(
                "ours",
                "/score_features",
                n,
                f"{ours}/score_features",
                bodies[n]["score_features"],
                key,
            ),
            Scenario(
                "mlflow",
                "/invocations",
                n,
                f"{mlflow_url}/invocations",
                bodies[n]["invocations"],
                {},
            ),
        ]
    runs: dict[Scenario, list[Run]] = {s: [] for s in scenarios}
    for i in range(args.rounds):
        order = scenarios if i % 2 == 0 else list(reversed(scenarios))
        for s in order:
            requests = args.requests if s.customers == 1 else args.batch_requests
            if s.endpoint == "/score_features":
                requests = max(args.concurrency, int(requests * FEATURES_SHARE))
            runs[s].append(load(s, requests=requests, concurrency=args.concurrency))
            log.info(
                "round %d %-6s %-16s %3d customers: %.0f req/s",
                i + 1,
                s.server,
                s.endpoint,
                s.customers,
                runs[s][-1].rps,
            )
    rows = []
    for s, rs in runs.items():
        pooled = [x for r in rs for x in r.latencies]
        rows.append(
            {
                "customers/request": s.customers,
                "server": s.server,
                "endpoint": s.endpoint,
                "requests": len(pooled),
                "req/s": statistics.median(r.rps for r in rs),
                "p50 ms": percentile_ms(pooled, 50),
                "p99 ms": percentile_ms(pooled, 99),
                "errors": sum(r.errors for r in rs),
            }
        )
    return rows, runs


def report_targets(runs: dict) -> bool:
    """Print the ratios and the targets; True when every target is met."""

    def find(server: str, endpoint: str, n: int) -> list[Run]:
        return next(
            rs
            for s, rs in runs.items()
            if (s.server, s.endpoint, s.customers) == (server, endpoint, n)
        )

    ok = True
    for n in (1, 100):
        theirs = statistics.median(r.rps for r in find("mlflow", "/invocations", n))
        for endpoint in ("/score (by id)", "/score_features"):
            rs = find("ours", endpoint, n)
            ratio = statistics.median(r.rps for r in rs) / theirs
            line = f"{n:>3} customers/request, {endpoint:16}: {ratio:5.1f}× MLflow's requests/s"
            if endpoint.startswith("/score ("):
                met = ratio >= RPS_RATIO_TARGET
                ok &= met
                line += f"  (target ≥ {RPS_RATIO_TARGET:g}×: {'met' if met else 'MISSED'})"
            print(line)
    p99 = percentile_ms([x for r in find("ours", "/score (by id)", 1) for x in r.latencies], 99)
    met = p99 <= P99_TARGET_MS
    print(
        f"p99 latency, one customer by id: {p99:.1f} ms  (target ≤ {P99_TARGET_MS:g} ms: "
        f"{'met' if met else 'MISSED'})"
    )
    return ok and met


if __name__ == "__main__":
    sys.exit(main())
