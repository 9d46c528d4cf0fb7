"""`make bench-scale`: time and peak memory of `features`, `train` and `score` at three sizes.

Generated worlds (with engagement events) of ``--sizes`` customers (default 100 k,
300 k, 1 M) go through the real CLI, each step a fresh process: ``churn features``,
``churn train`` and ``churn score`` on the local engine and on Spark ``local[2]``
(``--engines``). Each step reports wall time, the peak resident memory of its whole
process tree (Spark's JVM and Python workers included; sampled every 0.2 s) and the
cost per customer, so the growth from size to size is visible; the train rows also
give the churn validation ROC-AUC, and Spark's difference to the local run.

``--contention`` (on by default, ``--no-contention`` to skip) runs the same small
``churn train`` (5,000 customers) idle and beside one busy process, the thread budget
on and off (``CHURN_COMPUTE__THREADS`` = the host's cores: every fit on every core, as
before the budget), and prints the ratio busy / idle of each (median of ``--repeats``).

Worlds are generated once into ``--work`` (default ``.bench-scale/``) and reused.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import format_table, tree_peak_mib

AS_OF = "2025-12-31"
CHURN = str(Path(sys.executable).with_name("churn"))
GROUP_CUSTOMERS = 50_000
"""Customers per partition (``--partitions``) on both engines."""


def run(args: list[str], *, env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """Run a command; return (seconds, peak MiB of its process tree, output)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    with tree_peak_mib(proc.pid) as peak:
        output, _ = proc.communicate()
        seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{output[-3000:]}")
    return seconds, peak[0], output


def world(work: Path, customers: int) -> Path:
    """The generated world of ``customers`` customers (Parquet, with events), made once."""
    data = work / f"world-{customers}"
    if not (data / "customers.parquet").exists():
        print(f"generating {customers:,} customers into {data} ...", flush=True)
        seconds, mib, _ = run(
            [CHURN, "generate", "--customers", str(customers), "--seed", "7"]
            + ["--format", "parquet", "--out", str(data)],
            env=os.environ.copy(),
            cwd=work,
        )
        print(f"  generated in {seconds:.0f} s (peak {mib:.0f} MiB)", flush=True)
    return data


def churn_auc(tracking: str) -> float:
    """Churn validation ROC-AUC of the newest training run in ``tracking``."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(
        experiments, "tags.kind = 'training'", order_by=["attributes.start_time DESC"]
    )
    return float(runs[0].data.metrics["churn_roc_auc"])


def steps(data: Path, engine: str, work: Path) -> list[dict[str, object]]:
    """features, train and score of ``data`` on ``engine``; one row per step."""
    home = work / f"{data.name}-{engine}"
    home.mkdir(parents=True, exist_ok=True)
    tracking = f"sqlite:///{home}/mlflow.db"
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking,
        "SPARK_MASTER": "local[2]",
        "PYSPARK_SUBMIT_ARGS": "--driver-memory 4g pyspark-shell",
    }
    customers = int(data.name.split("-")[1])
    partitions = str(max(4, customers // GROUP_CUSTOMERS))
    engine_args = ["--engine", engine, "--partitions", partitions]
    commands = {
        "features": [CHURN, "features", "--data", str(data), "--as-of", AS_OF]
        + ["--out", str(home / "features.parquet")]
        + engine_args,
        "train": [CHURN, "train", "--data", str(data)] + engine_args,
        "score": [CHURN, "score", "--data", str(data), "--as-of", AS_OF]
        + ["--churn-version", "1", "--ltv-version", "1", "--reasons", "0"]
        + ["--out", str(home / ("scores" if engine == "spark" else "scores.parquet"))]
        + engine_args,
    }
    rows = []
    for step, args in commands.items():
        print(f"  {data.name} {engine} {step} ...", flush=True)
        seconds, mib, _ = run(args, env=env, cwd=home)
        row = {
            "customers": customers,
            "engine": engine,
            "step": step,
            "seconds": seconds,
            "peak_mib": mib,
            "ms_per_1k_customers": 1e6 * seconds / customers,
            "auc": churn_auc(tracking) if step == "train" else float("nan"),
        }
        print(f"    {seconds:.0f} s, {mib:.0f} MiB", flush=True)
        rows.append(row)
    return rows


def contention(work: Path, repeats: int) -> list[dict[str, object]]:
    """The small `churn train` idle and beside a busy process, budget on and off."""
    data = world(work, 5000)
    rows = []
    for label, threads in (("thread budget", None), ("every core", os.cpu_count() or 2)):
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work}/contention.db"}
        if threads:
            env["CHURN_COMPUTE__THREADS"] = str(threads)
        times = {}
        for state in ("idle", "busy"):
            busy = None
            if state == "busy":
                busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            try:
                times[state] = [
                    run([CHURN, "train", "--data", str(data)], env=env, cwd=work)[0]
                    for _ in range(repeats)
                ]
            finally:
                if busy:
                    busy.kill()
                    busy.wait()
        idle, loaded = statistics.median(times["idle"]), statistics.median(times["busy"])
        rows.append(
            {
                "threads": label,
                "idle_s": idle,
                "busy_s": loaded,
                "ratio_busy_idle": loaded / idle,
            }
        )
        print(f"  {label}: idle {idle:.1f} s, busy {loaded:.1f} s", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,300000,1000000")
    parser.add_argument("--engines", default="local,spark")
    parser.add_argument("--work", type=Path, default=Path(".bench-scale"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--contention", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    if args.contention:
        print("contention: churn train on 5,000 customers, idle vs beside one busy process")
        print(format_table(contention(work, args.repeats)))
    rows = []
    for size in [int(s) for s in args.sizes.split(",") if s]:
        data = world(work, size)
        for engine in [e for e in args.engines.split(",") if e]:
            rows += steps(data, engine, work)
            print(format_table(rows), flush=True)
    if rows:
        print("\nbench-scale: time and peak memory per step (process tree)")
        print(format_table(rows))
        local = {(r["customers"], r["step"]): r for r in rows if r["engine"] == "local"}
        for r in rows:
            if (
                r["engine"] == "spark"
                and r["step"] == "train"
                and (r["customers"], "train") in local
            ):
                gap = r["auc"] - local[(r["customers"], "train")]["auc"]
                print(f"{r['customers']:,} customers: Spark churn AUC − local = {gap:+.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
