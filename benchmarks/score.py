"""Benchmark of batch scoring: end-to-end rows/s against a bare ``Booster.predict``.

``python -m benchmarks.score`` (``make bench-score``) generates synthetic data once per
size (22 transactions per customer, cached under ``data/bench/<n>tx/`` as Parquet by
:mod:`benchmarks.data`, the cache ``benchmarks.features`` reads too), trains the churn and
LTV models once on a small generated set into a temporary MLflow store and promotes
them, then, per size, in fresh processes, ``--repeats`` rounds (default 3) interleaved,
medians reported:

* **end-to-end, raw**: ``load_tables`` → features built per partition for the active
  customers → ``score`` → atomic Parquet write (:func:`serving.batch.local.score_base`), what
  ``churn score`` does without a snapshot;
* **end-to-end, snapshot**: what ``churn score`` does when the day's feature snapshot
  exists (``churn features`` built it): find it (fingerprints of the table files), read
  it in chunks, tell the active customers from its features, score, write
  (:func:`serving.batch.snapshot.score_snapshot`); no table is loaded;
* **end-to-end, no reasons**: raw tables with ``reasons=0`` (``churn score --reasons 0``);
* **score() in memory**: :func:`serving.policy.scoring.score` on the active customers'
  feature rows, with 3 reasons and without (``reasons=0``);
* **bare predict**: ``lightgbm.Booster.predict`` on the same rows' model matrix, already
  in memory, of every booster the job runs (the churn classifier and the LTV model's
  boosters): the reference of the ratio. The churn booster alone is timed too;
* **Spark** (largest size): :func:`serving.batch.spark.score_spark` in ``local[*]`` mode,
  session start-up reported apart.

Rows are the customers scored (active at ``as_of``, the data's end). Printed: seconds
and peak RSS per measurement, rows/s, the ratio bare predict time / end-to-end time
(= end-to-end rows/s ÷ bare rows/s; target ≥ 0.6) against both models' boosters (the
job must run them all) and, for the record, against the churn booster alone, µs per
customer across sizes (flat = linear growth) and the time per stage of the largest
size, so it is plain where the time goes.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import cpu_count, format_table, measure_isolated, median_seconds
from benchmarks.score_calls import (
    MODEL_CUSTOMERS,
    PARTITIONS,
    active_rows,
    bare_predict,
    bare_predict_both,
    both_matrices,
    data_for,
    end_to_end,
    ensure_snapshot,
    load_models,
    matrix,
    score_day,
    score_in_memory,
    spark_run,
    train_models,
)

log = logging.getLogger(__name__)

SIZES = (100_000, 300_000, 1_000_000)
RATIO_TARGET = 0.6


# ----------------------------------------------------------------------------- the run


def _timed(label: str, task, *, setup) -> tuple[float, dict, float]:
    """One fresh-process run: (seconds, the task's dict, peak RSS MiB); printed."""
    run = measure_isolated(task, setup=setup, keep_result=True)
    print(
        f"  {label:<28} {run.seconds:8.2f} s  peak RSS {run.peak_rss_mib:8,.0f} MiB  "
        f"{ {k: round(v, 2) if isinstance(v, float) else v for k, v in run.result.items()} }",
        flush=True,
    )
    return run.seconds, run.result, run.peak_rss_mib


def _median_run(runs: list[tuple[float, dict, float]]) -> tuple[float, dict, float]:
    """(median seconds, the stages of the run at the median, largest peak MiB)."""
    ordered = sorted(runs, key=lambda run: run[0])
    return (
        median_seconds([r[0] for r in runs]),
        ordered[(len(runs) - 1) // 2][1],
        max(r[2] for r in runs),
    )


def bench_size(
    customers: int,
    *,
    models_path: Path,
    work: Path,
    repeats: int,
    spark: bool,
    spark_partitions: int,
    driver_memory: str,
) -> dict:
    """All measurements of one size, ``repeats`` rounds interleaved; the report's row."""
    data_dir, record = data_for(customers)
    as_of = score_day(record)
    snapshot = ensure_snapshot(data_dir, as_of)
    print(
        f"\n== {record['customers']:,} customers, {record['rows']['transactions']:,} "
        f"transactions, as_of {as_of:%Y-%m-%d} ==",
        flush=True,
    )
    setup = functools.partial(load_models, models_path)
    common = {"data_dir": data_dir, "as_of": as_of}
    rows_setup = functools.partial(active_rows, models_path, **common, snapshot=snapshot)
    runs = {  # key: (label, task, setup)
        "raw": (
            "end-to-end, raw tables",
            functools.partial(end_to_end, **common, out=work / "raw.parquet", snapshot=False),
            setup,
        ),
        "snapshot": (
            "end-to-end, snapshot",
            functools.partial(end_to_end, **common, out=work / "snap.parquet", snapshot=True),
            setup,
        ),
        "raw0": (
            "end-to-end, raw, no reasons",
            functools.partial(
                end_to_end, **common, out=work / "raw0.parquet", snapshot=False, reasons=0
            ),
            setup,
        ),
        "score3": ("score(), 3 reasons", functools.partial(score_in_memory, reasons=3), rows_setup),
        "score0": (
            "score(), no reasons",
            functools.partial(score_in_memory, reasons=0),
            rows_setup,
        ),
        "bare": (
            "bare Booster.predict",
            bare_predict,
            functools.partial(matrix, models_path, **common, snapshot=snapshot),
        ),
        "both": (
            "bare predict, both models",
            bare_predict_both,
            functools.partial(both_matrices, models_path, **common, snapshot=snapshot),
        ),
    }
    measured: dict[str, list] = {key: [] for key in runs}
    for round_ in range(1, repeats + 1):  # interleaved: background load falls on all alike
        print(f" round {round_} of {repeats}", flush=True)
        for key, (label, task, task_setup) in runs.items():
            measured[key].append(_timed(label, task, setup=task_setup))
    median = {key: _median_run(m) for key, m in measured.items()}
    return {
        "customers": record["customers"],
        "repeats": repeats,
        "scored": median["raw"][1]["rows"],
        **{key: median[key][0] for key in runs},
        "peak": median["raw"][2],
        "stages": median["raw"][1],
        "snapshot_stages": median["snapshot"][1],
        "trees": median["bare"][1]["trees"],
        "trees_both": median["both"][1]["trees"],
        **(_spark(common, setup, work, spark_partitions, driver_memory) if spark else {}),
    }


def _spark(common: dict, setup, work: Path, partitions: int, driver_memory: str) -> dict:
    _, result, _ = _timed(
        "Spark local[*]",
        functools.partial(
            spark_run,
            **common,
            out=work / "spark",
            partitions=partitions,
            driver_memory=driver_memory,
        ),
        setup=setup,
    )
    return {"spark_job": result["job"], "spark_session": result["session"]}


def report(rows: list[dict]) -> None:
    """Print the tables and the verdict."""
    largest = rows[-1]
    print(
        f"\nbatch scoring, median of {largest['repeats']} fresh-process runs per measurement "
        f"(Spark: one run); {cpu_count()} CPU(s); "
        f"{PARTITIONS} partitions; churn booster {largest['trees']} trees, both models "
        f"{largest['trees_both']} trees. Rows = customers scored (active at as_of); seconds."
    )
    print(
        format_table(
            [
                {
                    "customers": r["customers"],
                    "scored": r["scored"],
                    "end-to-end raw": r["raw"],
                    "end-to-end snapshot": r["snapshot"],
                    "raw, no reasons": r["raw0"],
                    "score()": r["score3"],
                    "score() no reasons": r["score0"],
                    "bare both models": r["both"],
                    "bare churn only": r["bare"],
                    "peak MiB": r["peak"],
                }
                for r in rows
            ]
        )
    )
    print()
    print(
        format_table(
            [
                {
                    "customers": r["customers"],
                    "raw rows/s": round(r["scored"] / r["raw"]),
                    "snapshot rows/s": round(r["scored"] / r["snapshot"]),
                    "bare both rows/s": round(r["scored"] / r["both"]),
                    "ratio raw": f"{r['both'] / r['raw']:.2f}",
                    "ratio snapshot": f"{r['both'] / r['snapshot']:.2f}",
                    "ratio score()": f"{r['both'] / r['score3']:.2f}",
                    "raw vs churn only": f"{r['bare'] / r['raw']:.3f}",
                    "µs/customer raw": r["raw"] / r["customers"] * 1e6,
                }
                for r in rows
            ],
            floatfmt=".0f",
        )
    )
    stages = largest["stages"]
    snap = largest["snapshot_stages"]
    print(
        f"\nwhere the time goes at {largest['customers']:,} customers: raw tables: "
        + ", ".join(
            f"{k} {stages[k]:.1f} s" for k in ("read", "partition", "features", "score", "write")
        )
        + f"; snapshot: find {snap['find']:.1f} s, read {snap['features']:.1f} s, score "
        f"{snap['score']:.1f} s, write {snap['write']:.1f} s; score() is "
        f"{largest['score3'] - largest['score0']:.1f} s"
        f" reasons and {largest['both']:.1f} s bare predict of both models"
    )
    for label, key in (("snapshot", "snapshot"), ("raw tables", "raw")):
        ratio = largest["both"] / largest[key]
        print(
            f"end-to-end ({label}) / bare predict of both models: {ratio:.2f}x "
            f"(target ≥ {RATIO_TARGET:g}x: {'met' if ratio >= RATIO_TARGET else 'NOT met'})"
        )
    print(
        f"end-to-end (raw tables) / bare predict of the churn booster alone: "
        f"{largest['bare'] / largest['raw']:.3f}x"
    )
    if "spark_job" in largest:
        print(
            f"Spark local[*]: {largest['spark_job']:.1f} s job + "
            f"{largest['spark_session']:.1f} s session start, vs local engine "
            f"{largest['raw']:.1f} s (same data, same run)"
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.score",
        description="Time batch scoring end to end against a bare Booster.predict.",
    )
    parser.add_argument(
        "--sizes",
        default=",".join(map(str, SIZES)),
        help="customers per data set, comma-separated (default: %(default)s)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="runs of each measurement, interleaved; medians reported (default: %(default)s)",
    )
    parser.add_argument("--no-spark", action="store_true", help="skip the Spark engine (run once)")
    parser.add_argument(
        "--spark-partitions",
        type=int,
        default=16,
        help="customer groups of the Spark run (default: %(default)s)",
    )
    parser.add_argument(
        "--spark-driver-memory",
        default="8g",
        help="driver (= executor in local mode) memory (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    try:
        args.sizes = sorted({int(s) for s in args.sizes.split(",")})
    except ValueError:
        parser.error(f"--sizes must be whole numbers separated by commas, got {args.sizes!r}")
    if not args.sizes or min(args.sizes) < 1:
        parser.error("--sizes must be positive")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report; exit status 0."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory(prefix="bench-score-") as tmp:
        work = Path(tmp)
        print(
            f"training the models on {MODEL_CUSTOMERS:,} generated customers "
            "(temporary MLflow store) ...",
            flush=True,
        )
        models_path, train_s = train_models(work)
        print(f"  trained and promoted in {train_s:.0f} s", flush=True)
        rows = [
            bench_size(
                n,
                models_path=models_path,
                work=work,
                repeats=args.repeats,
                spark=not args.no_spark and n == args.sizes[-1],
                spark_partitions=args.spark_partitions,
                driver_memory=args.spark_driver_memory,
            )
            for n in args.sizes
        ]
    report(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
