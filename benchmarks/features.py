"""Benchmark of the feature build against an equivalent DuckDB SQL aggregation.

``python -m benchmarks.features`` (``make bench-features``) generates synthetic data once
per size (cached under ``data/bench/<n>tx/`` as Parquet), then, per size, runs in fresh
processes ``--repeats`` times each:

* ours: :func:`features.families.build.build_features` on the tables from
  :func:`features.contract.load.load_tables`;
* DuckDB: the same feature families as one SQL query over the same in-memory pandas
  frames (registered with DuckDB, no copy to disk), same rule (events strictly before
  ``as_of``), same windows.

Loading is untimed: ``load_tables`` runs once per size (in a child) and its validated
tables are pickled next to the data, so each timed child starts by unpickling them
(``--no-table-cache`` runs ``load_tables`` in every child instead; at 10 M that takes
minutes per run). It reports median wall and CPU seconds, peak RSS during the build, the
ratio ours/DuckDB, and checks that both give the same numbers (every shared column, to
1e-6), printing any mismatch loudly and exiting with status 1.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from collections.abc import Sequence

import numpy as np
import pandas as pd

from benchmarks.common import cpu_count, format_table, measure_repeated
from benchmarks.data import cache_tables, default_as_of, ensure_data, load
from benchmarks.features_sql import SLA_HOURS, WINDOWS, duckdb_build

LARGE_TRANSACTIONS = 10_000_000
LARGE_EVENTS = 50_000_000
TOLERANCE = 1e-6
RATIO_TARGET = 1.5
PEAK_TARGET_MIB = 4 * 1024

# Columns the brief singles out; every other shared column is compared too.
KEY_COLUMNS = (
    "orders_365d",
    "spend_90d",
    "days_since_last_order",
    "gap_mean_days",
    "open_tickets",
    "nps_last",
)


# ----------------------------------------------------------------------------- ours


def ours(tables, *, as_of: pd.Timestamp) -> pd.DataFrame:
    """The project's feature build (the timed call)."""
    from features.families.build import build_features

    return build_features(tables, as_of=as_of, windows=WINDOWS, sla_hours=SLA_HOURS)


# ----------------------------------------------------------------------------- agreement


def compare(
    ours_frame: pd.DataFrame, duck_frame: pd.DataFrame, *, tolerance: float = TOLERANCE
) -> list[str]:
    """Differences between the two feature tables; empty when they agree.

    Rows must be the same customers in the same order. Every column present in both is
    compared: numbers to ``tolerance`` (absolute, NaN equal to NaN), text exactly (NA
    equal to NA). A column of ours that DuckDB lacks is reported too.
    """
    problems = []
    if len(ours_frame) != len(duck_frame):
        return [f"row count: ours {len(ours_frame):,}, DuckDB {len(duck_frame):,}"]
    ids_ours = ours_frame["customer_id"].to_numpy()
    ids_duck = duck_frame["customer_id"].to_numpy()
    if not np.array_equal(ids_ours, ids_duck):
        return [f"customer_id: {int((ids_ours != ids_duck).sum()):,} rows differ"]
    for name in ours_frame.columns:
        if name not in duck_frame.columns:
            problems.append(f"{name}: missing from the DuckDB result")
            continue
        a, b = ours_frame[name], duck_frame[name]
        if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
            x, y = a.to_numpy("float64", na_value=np.nan), b.to_numpy("float64", na_value=np.nan)
            one_nan = np.isnan(x) != np.isnan(y)
            both = ~np.isnan(x) & ~np.isnan(y)
            diff = np.abs(x[both] - y[both])
            far = np.zeros(len(x), bool)
            far[both] = diff > tolerance
            bad = one_nan | far
            detail = f"{int(one_nan.sum()):,} NaN on one side only, max |diff| " + (
                f"{diff.max():.3g}" if diff.size else "n/a"
            )
        else:
            x, y = a.astype("string"), b.astype("string")
            bad = ((x != y).fillna(True) & ~(x.isna() & y.isna())).to_numpy()
            detail = "text"
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            problems.append(
                f"{name}: {int(bad.sum()):,} of {len(bad):,} rows differ ({detail}); "
                f"e.g. customer {ids_ours[i]}: ours {a.iloc[i]!r}, DuckDB {b.iloc[i]!r}"
            )
    return problems


# ----------------------------------------------------------------------------- the run


def bench_size(
    transactions: int,
    *,
    events: int | None = None,
    repeats: int,
    threads: int | None,
    as_of: pd.Timestamp | None,
    table_cache: bool = True,
) -> dict[str, object]:
    """Generate (once) and benchmark one size; return its row of the report table."""
    data_dir, record = ensure_data(transactions, events=events)
    as_of = as_of if as_of is not None else default_as_of(record)
    rows_in = record["rows"]["transactions"]
    events_in = record["rows"].get("events", 0)
    print(
        f"\n== {rows_in:,} transactions, {events_in:,} events, {record['customers']:,} customers, "
        f"as_of {as_of.date()}, {repeats} run(s) each in a fresh process ==",
        flush=True,
    )
    cache = cache_tables(data_dir) if table_cache else None
    setup = functools.partial(load, data_dir, cache)

    def progress(label: str, i: int, run) -> None:
        print(
            f"  {label:<6} run {i}: {run.seconds:6.2f} s wall, {run.cpu_seconds:6.2f} s CPU, "
            f"peak RSS {run.peak_rss_mib:,.0f} MiB (at start: {run.base_rss_mib:,.0f} MiB)",
            flush=True,
        )

    timings = measure_repeated(
        {
            "ours": functools.partial(ours, as_of=as_of),
            "duckdb": functools.partial(duckdb_build, as_of=as_of, threads=threads),
        },
        setup=setup,
        repeats=repeats,
        on_run=progress,
    )
    mine, duck = timings["ours"], timings["duckdb"]
    if not (mine.peak_exact and duck.peak_exact):
        print(
            "  note: peak RSS could not be reset after loading; it includes loading's peak",
            flush=True,
        )

    problems = compare(mine.result, duck.result)
    if problems:
        bar = "!" * 78
        print(
            f"{bar}\nMISMATCH: ours and DuckDB disagree ({len(problems)} column(s)):",
            file=sys.stderr,
        )
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        print(bar, file=sys.stderr, flush=True)
    else:
        shared = [c for c in mine.result.columns if c in duck.result.columns]
        print(
            f"  agreement: all {len(shared)} columns equal (numbers to {TOLERANCE:g}), "
            f"incl. {', '.join(KEY_COLUMNS)}",
            flush=True,
        )
    ratio = mine.median / duck.median
    return {
        "transactions": rows_in,
        "events": events_in,
        "rows out": len(mine.result),
        "ours s": mine.median,
        "duckdb s": duck.median,
        "ours/duckdb": ratio,
        f"≤{RATIO_TARGET:g}x": "yes" if ratio <= RATIO_TARGET else "NO",
        "ours CPU s": mine.median_cpu,
        "duckdb CPU s": duck.median_cpu,
        "ours peak MiB": mine.peak_rss_mib,
        f"≤{PEAK_TARGET_MIB // 1024} GiB": "yes" if mine.peak_rss_mib <= PEAK_TARGET_MIB else "NO",
        "duckdb peak MiB": duck.peak_rss_mib,
        "base MiB": min(mine.base_rss_mib, duck.base_rss_mib),
        "agree": "yes" if not problems else "NO",
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.features",
        description="Time the feature build against an equivalent DuckDB SQL aggregation.",
    )
    parser.add_argument(
        "--transactions",
        type=int,
        default=1_000_000,
        help="target size in transaction rows (default: 1000000)",
    )
    parser.add_argument(
        "--events",
        type=int,
        default=None,
        help="target engagement events (default: the generator's ~2.8 per transaction)",
    )
    parser.add_argument(
        "--large",
        action="store_true",
        help=f"also run {LARGE_TRANSACTIONS:,} transactions with {LARGE_EVENTS:,} events",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="timed runs per build, each in a fresh process; the median is reported (default: 3)",
    )
    parser.add_argument(
        "--duckdb-threads",
        type=int,
        default=None,
        help="DuckDB worker threads (default: DuckDB's own, one per CPU)",
    )
    parser.add_argument(
        "--no-table-cache",
        action="store_true",
        help="run load_tables in every child instead of unpickling the "
        "validated tables cached after the first load",
    )
    parser.add_argument(
        "--as-of", default=None, help="feature cutoff (default: six months before the data end)"
    )
    args = parser.parse_args(argv)
    if args.transactions < 1:
        parser.error(f"--transactions must be >= 1, got {args.transactions}")
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    if args.events is not None and args.events < 1:
        parser.error(f"--events must be >= 1, got {args.events}")
    if args.duckdb_threads is not None and args.duckdb_threads < 1:
        parser.error(f"--duckdb-threads must be >= 1, got {args.duckdb_threads}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit status 1 when ours and DuckDB disagree."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    as_of = None
    if args.as_of:
        from features.families.events import as_utc

        as_of = as_utc(args.as_of)
    sizes = [(args.transactions, args.events)]
    sizes += [(LARGE_TRANSACTIONS, LARGE_EVENTS)] if args.large else []
    rows = [
        bench_size(
            n,
            events=e,
            repeats=args.repeats,
            threads=args.duckdb_threads,
            as_of=as_of,
            table_cache=not args.no_table_cache,
        )
        for n, e in dict.fromkeys(sizes)
    ]
    print(
        f"\nfeature build: median of {args.repeats} fresh-process run(s) per engine "
        f"(wall and CPU seconds); peak = max RSS during the build, tables included; "
        f"base = RSS with the tables loaded, before the build.\n"
        f"{cpu_count()} CPU(s), DuckDB threads: {args.duckdb_threads or 'default'}; "
        f"targets: ours/duckdb ≤ {RATIO_TARGET:g}x, ours peak ≤ {PEAK_TARGET_MIB:,} MiB "
        f"at 10 M."
    )
    print(format_table(rows))
    return 0 if all(r["agree"] == "yes" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
