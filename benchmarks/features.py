"""Benchmark of the feature build against an equivalent DuckDB SQL aggregation.

``python -m benchmarks.features`` (``make bench-features``) generates synthetic data once
per size (cached under ``data/bench/<n>tx/`` as Parquet), then, per size, runs in fresh
processes ``--repeats`` times each:

* ours: :func:`features.build.build_features` on the tables from
  :func:`features.load.load_tables`;
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
import hashlib
import json
import logging
import pickle
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from benchmarks.common import cpu_count, format_table, measure_repeated
from benchmarks.families_sql import engagement_sql, occasion_sql, purchase_day_sql, upsell_sql

DATA_ROOT = Path("data/bench")
SEED = 1
LARGE_TRANSACTIONS = 10_000_000
LARGE_EVENTS = 50_000_000
WINDOWS = (30, 90, 180, 365)
SLA_HOURS = 48.0
AS_OF_MONTHS_BEFORE_END = 6
TOLERANCE = 1e-6
RATIO_TARGET = 1.5
PEAK_TARGET_MIB = 4 * 1024
MARKER = "generated.json"
TABLE_CACHE = "tables.pkl"

# Columns the brief singles out; every other shared column is compared too.
KEY_COLUMNS = (
    "orders_365d",
    "spend_90d",
    "days_since_last_order",
    "gap_mean_days",
    "open_tickets",
    "nps_last",
)


# ----------------------------------------------------------------------------- data


def ensure_data(
    transactions: int, *, events: int | None = None, root: Path = DATA_ROOT
) -> tuple[Path, dict]:
    """Synthetic data of about ``transactions`` transaction rows, generated once.

    ``events``: about this many engagement event rows (default: the generator's usual
    ~2.8 per transaction). Returns the folder and its generation record (customers,
    rows per table, window). A folder without the record (an interrupted run) is
    generated again.
    """
    from features import synthetic

    rate = 1.0 if events is None else events / (transactions * synthetic.EVENTS_PER_TRANSACTION)
    out = root / (f"{transactions}tx" + ("" if events is None else f"_{events}ev"))
    marker = out / MARKER
    if marker.is_file():
        record = json.loads(marker.read_text())
        if (
            record.get("target_transactions") == transactions
            and record.get("seed") == SEED
            and record.get("event_rate", None) == rate
        ):
            return out, record
    customers = max(1, round(transactions / synthetic.TRANSACTIONS_PER_CUSTOMER))
    print(
        f"generating ~{transactions:,} transactions ({customers:,} customers, event rate "
        f"{rate:.2f}) into {out} ...",
        flush=True,
    )
    summary = synthetic.generate(
        out, customers=customers, seed=SEED, file_format="parquet", event_rate=rate
    )
    record = {
        "event_rate": rate,
        "target_transactions": transactions,
        "customers": customers,
        "seed": SEED,
        "rows": summary.rows,
        "start": summary.start.isoformat(),
        "end": summary.end.isoformat(),
    }
    marker.write_text(json.dumps(record, indent=2))
    return out, record


def default_as_of(record: dict) -> pd.Timestamp:
    """A midnight about six months before the end of the generated window, UTC."""
    end = pd.Timestamp(record["end"])
    return (end - pd.DateOffset(months=AS_OF_MONTHS_BEFORE_END)).normalize()


def load(data_dir: Path, cache: Path | None = None):
    """Untimed setup of each child: the validated tables, as every caller gets them.

    With ``cache``, the tables are unpickled from it (written by :func:`cache_tables`
    from :func:`features.load.load_tables`: the same frames, without re-validating).
    """
    if cache is not None:
        with open(cache, "rb") as fh:
            return pickle.load(fh)
    from features.load import load_tables

    return load_tables(data_dir)


def _cache_key(data_dir: Path) -> str:
    """Changes when the data or the loading code changes."""
    import features.load
    import features.schema

    digest = hashlib.sha256((data_dir / MARKER).read_bytes())
    for module in (features.load, features.schema):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()


def _write_cache(data_dir: Path, path: Path) -> float:
    from features.atomic import atomic_write
    from features.load import load_tables

    start = time.perf_counter()
    tables = load_tables(data_dir)
    seconds = time.perf_counter() - start
    with atomic_write(path, mkdir=True) as tmp, open(tmp, "wb") as fh:
        pickle.dump(tables, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return seconds


def cache_tables(data_dir: Path) -> Path:
    """Load and validate the tables once (in a child process) and pickle them.

    Loading 10 M transactions takes minutes, so the timed runs start from this cache
    instead of re-validating in every fresh process. Reused while the data and
    ``features/load.py``/``schema.py`` are unchanged.
    """
    path, key_file = data_dir / TABLE_CACHE, data_dir / f"{TABLE_CACHE}.key"
    key = _cache_key(data_dir)
    if path.is_file() and key_file.is_file() and key_file.read_text() == key:
        return path
    print(f"  loading {data_dir} with load_tables (untimed, once) ...", flush=True)
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        seconds = pool.submit(_write_cache, data_dir, path).result()
    print(f"  load_tables took {seconds:.1f} s; validated tables cached in {path}", flush=True)
    key_file.write_text(key)
    return path


# ----------------------------------------------------------------------------- the two builds


def ours(tables, *, as_of: pd.Timestamp) -> pd.DataFrame:
    """The project's feature build (the timed call)."""
    from features.build import build_features

    return build_features(tables, as_of=as_of, windows=WINDOWS, sla_hours=SLA_HOURS)


def feature_sql(
    as_of: pd.Timestamp,
    *,
    windows: Sequence[int] = WINDOWS,
    sla_hours: float = SLA_HOURS,
    events: bool = True,
) -> str:
    """One DuckDB query computing the same features as :func:`features.build.build_features`.

    Reads the registered frames ``customers``, ``transactions``, ``support_tickets``,
    ``surveys``, ``offers`` and (with ``events``) ``events``; the purchase-day, upsell,
    occasion and engagement families come from :mod:`benchmarks.families_sql`. Same rule: an event
    is visible when its timestamp is strictly before ``as_of``; a window of ``w`` days
    keeps events with age ≤ ``w`` days; ages are days before ``as_of`` (float). One row
    per customer signed up before ``as_of``, sorted by ``customer_id``.
    """
    cut = f"TIMESTAMPTZ '{as_of.isoformat()}'"
    age = f"(epoch_us({cut}) - epoch_us({{col}})) / 86400e6"
    orders_w = ",\n        ".join(
        f"count(*) FILTER (WHERE age <= {w}) AS orders_{w}d" for w in windows
    )
    spend_w = ",\n        ".join(
        f"coalesce(sum(amount) FILTER (WHERE age <= {w}), 0) AS spend_{w}d" for w in windows
    )
    tickets_w = ",\n        ".join(
        f"count(*) FILTER (WHERE age <= {w}) AS tickets_{w}d" for w in windows
    )
    orders_cols = ", ".join(f"coalesce(o.orders_{w}d, 0)::DOUBLE AS orders_{w}d" for w in windows)
    spend_cols = ", ".join(f"coalesce(s.spend_{w}d, 0) AS spend_{w}d" for w in windows)
    tickets_cols = ", ".join(
        f"coalesce(t.tickets_{w}d, 0)::DOUBLE AS tickets_{w}d" for w in windows
    )
    parts = [purchase_day_sql(cut), upsell_sql(cut, age, windows), occasion_sql(cut)]
    if events:
        parts.append(engagement_sql(cut, age, windows))
    extra_ctes = "".join(p[0] for p in parts)
    extra_select = "".join(f",\n    {p[1]}" for p in parts)
    extra_joins = "\n".join(p[2] for p in parts if p[2])
    return f"""
WITH{extra_ctes}
known AS (
    SELECT * FROM customers WHERE signup_at < {cut}
),
txn AS (
    SELECT customer_id, {age.format(col="ordered_at")} AS age, amount, discount,
           coalesce(is_refund, false) AS is_refund
    FROM transactions WHERE ordered_at < {cut}
),
orders AS (
    SELECT customer_id, age FROM txn WHERE NOT is_refund
),
order_stats AS (
    SELECT customer_id,
        count(*) AS orders_total,
        {orders_w},
        count(DISTINCT ceil(age / 30)) FILTER (WHERE age <= 360) AS active_periods_360d,
        min(age) AS days_since_last_order,
        max(age) AS days_since_first_order
    FROM orders GROUP BY customer_id
),
gaps AS (
    SELECT customer_id,
        lag(age) OVER (PARTITION BY customer_id ORDER BY age DESC) - age AS gap
    FROM orders
),
gap_stats AS (
    SELECT customer_id, avg(gap) AS gap_mean_days, stddev_samp(gap) AS gap_std_days
    FROM gaps GROUP BY customer_id
),
spend_stats AS (
    SELECT customer_id,
        coalesce(sum(amount), 0) AS spend_total,
        {spend_w},
        coalesce(sum(amount) FILTER (WHERE NOT is_refund), 0) AS gross,
        count(*) FILTER (WHERE NOT is_refund) AS n_orders,
        coalesce(sum(amount) FILTER (WHERE NOT is_refund AND age <= 365), 0) AS gross_year,
        count(*) FILTER (WHERE NOT is_refund AND age <= 365) AS n_orders_year,
        coalesce(sum(amount) FILTER (WHERE age > 90 AND age <= 180), 0) AS prev90,
        coalesce(sum(amount) FILTER (WHERE is_refund AND age <= 365), 0) AS refunded_year,
        coalesce(sum(discount) FILTER (WHERE NOT is_refund AND age <= 365), 0) AS discount_year
    FROM txn GROUP BY customer_id
),
tix AS (
    SELECT customer_id, {age.format(col="opened_at")} AS age,
        coalesce(resolved_at < {cut}, false) AS resolved,
        CASE WHEN resolved_at < {cut}
             THEN (epoch_us(resolved_at) - epoch_us(opened_at)) / 3600e6
             ELSE (epoch_us({cut}) - epoch_us(opened_at)) / 3600e6 END AS hours,
        escalated, csat
    FROM support_tickets WHERE opened_at < {cut}
),
ticket_stats AS (
    SELECT customer_id,
        {tickets_w},
        count(*) FILTER (WHERE NOT resolved) AS open_tickets,
        median(hours) FILTER (WHERE resolved AND age <= 365) AS resolution_hours_median_365d,
        count(*) FILTER (WHERE age <= 365 AND hours > {sla_hours}) AS sla_breaches_365d,
        count(*) FILTER (WHERE age <= 365 AND escalated) AS escalations_365d,
        avg(csat) FILTER (WHERE resolved AND age <= 365) AS ticket_csat_mean_365d,
        min(age) AS days_since_last_ticket
    FROM tix GROUP BY customer_id
),
sv AS (
    SELECT customer_id, {age.format(col="answered_at")} AS age, nps, csat, ces
    FROM surveys WHERE answered_at < {cut}
),
survey_stats AS (
    SELECT customer_id,
        count(*) FILTER (WHERE age <= 365) AS surveys_365d,
        arg_min(nps, age, 2) FILTER (WHERE nps IS NOT NULL) AS nps_latest2,
        avg(nps) AS nps_mean,
        arg_min(csat, age) FILTER (WHERE csat IS NOT NULL) AS csat_last,
        avg(csat) FILTER (WHERE age <= 365) AS csat_mean_365d,
        arg_min(ces, age) FILTER (WHERE ces IS NOT NULL) AS ces_last,
        avg(ces) FILTER (WHERE age <= 365) AS ces_mean_365d,
        min(age) AS days_since_last_survey
    FROM sv GROUP BY customer_id
),
offer_stats AS (
    SELECT customer_id,
        count(*) FILTER (WHERE age <= 365) AS offers_365d,
        count(*) FILTER (WHERE age <= 365 AND accepted) AS offers_accepted_365d,
        min(age) AS days_since_last_offer
    FROM (SELECT customer_id, {age.format(col="offered_at")} AS age, accepted
          FROM offers WHERE offered_at < {cut})
    GROUP BY customer_id
)
SELECT
    k.customer_id,
    {age.format(col="k.signup_at")} AS tenure_days,
    {age.format(col="k.birth_date")} / 365.25 AS age_years,
    o.days_since_last_order, o.days_since_first_order,
    t.days_since_last_ticket, v.days_since_last_survey, f.days_since_last_offer,
    coalesce(o.orders_total, 0)::DOUBLE AS orders_total,
    {orders_cols},
    coalesce(o.active_periods_360d, 0)::DOUBLE AS active_periods_360d,
    g.gap_mean_days, g.gap_std_days,
    o.days_since_last_order / nullif(g.gap_mean_days, 0) AS overdue_ratio,
    CASE WHEN g.gap_mean_days < o.days_since_last_order THEN 0
         ELSE g.gap_mean_days - o.days_since_last_order END AS expected_days_to_next_order,
    coalesce(s.spend_total, 0) AS spend_total,
    {spend_cols},
    s.gross / nullif(s.n_orders, 0) AS aov_total,
    s.gross_year / nullif(s.n_orders_year, 0) AS aov_365d,
    (s.spend_90d - s.prev90) / nullif(abs(s.spend_90d) + abs(s.prev90), 0) AS spend_trend_90d,
    -s.refunded_year / nullif(s.gross_year, 0) + 0.0 AS refund_share_365d,
    s.discount_year / nullif(s.gross_year + s.discount_year, 0) AS discount_share_365d,
    {tickets_cols},
    coalesce(t.open_tickets, 0)::DOUBLE AS open_tickets,
    t.resolution_hours_median_365d,
    coalesce(t.sla_breaches_365d, 0)::DOUBLE AS sla_breaches_365d,
    coalesce(t.escalations_365d, 0)::DOUBLE AS escalations_365d,
    t.ticket_csat_mean_365d,
    coalesce(v.surveys_365d, 0)::DOUBLE AS surveys_365d,
    v.nps_latest2[1] AS nps_last,
    CASE WHEN v.nps_latest2[1] <= 6 THEN 'detractor'
         WHEN v.nps_latest2[1] <= 8 THEN 'passive'
         WHEN v.nps_latest2[1] <= 10 THEN 'promoter' END AS nps_class_last,
    v.nps_mean,
    v.nps_latest2[1] - v.nps_latest2[2] AS nps_change,
    v.csat_last, v.csat_mean_365d, v.ces_last, v.ces_mean_365d,
    coalesce(f.offers_365d, 0)::DOUBLE AS offers_365d,
    coalesce(f.offers_accepted_365d, 0)::DOUBLE AS offers_accepted_365d,
    k.plan, k.loyalty_tier, k.channel, k.country,
    coalesce(k.contract_type,
             CASE WHEN k.plan IS NOT NULL THEN 'subscription' ELSE 'non_contractual' END)
        AS contract_type,
    coalesce(k.cancelled_at < {cut}, false)::DOUBLE AS is_cancelled{extra_select}
FROM known k
LEFT JOIN order_stats o USING (customer_id)
LEFT JOIN gap_stats g USING (customer_id)
LEFT JOIN spend_stats s USING (customer_id)
LEFT JOIN ticket_stats t USING (customer_id)
LEFT JOIN survey_stats v USING (customer_id)
LEFT JOIN offer_stats f USING (customer_id)
{extra_joins}
ORDER BY k.customer_id
"""


def duckdb_build(tables, *, as_of: pd.Timestamp, threads: int | None = None) -> pd.DataFrame:
    """The DuckDB build (the timed call): register the frames, run the query, fetch pandas."""
    config = {"threads": threads} if threads else {}
    con = duckdb.connect(config=config)
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        for name, frame in tables.frames().items():
            con.register(name, frame)
        return con.execute(feature_sql(as_of, events=tables.has("events"))).df()
    finally:
        con.close()


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
        from features.events import as_utc

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
