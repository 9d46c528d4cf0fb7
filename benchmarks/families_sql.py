"""DuckDB SQL of the purchase-day, upsell, occasion and engagement families.

For ``benchmarks.features``, beside its base query of the older families.

Each builder returns ``(ctes, select, joins)``: common table expressions (each ending in
a comma), the select-list entries and the ``LEFT JOIN`` lines that
:func:`benchmarks.features_sql.feature_sql` splices into its query. Same rule as ours:
events strictly before ``as_of``; ages in days; a window of ``w`` days keeps ages ≤ ``w``.
"""

from __future__ import annotations

from collections.abc import Sequence

from features.contract.schema import EVENT_FAMILIES
from features.families.engagement import (
    ACTIVE_DAY_WINDOWS,
    ENGAGEMENT_HALF_SCORE,
    FAMILY_WEIGHTS,
    INDEX_HISTORY_WINDOWS,
    INDEX_WINDOW_DAYS,
)
from features.families.occasions import OCCASION_DAYS
from features.families.upsell import TRADE_UP_DAYS, TRADE_UP_FACTOR

Parts = tuple[str, str, str]


def purchase_day_sql(cut: str) -> Parts:
    """``rfm_*``: orders collapsed into UTC purchase days.

    As ``features.families.purchase_days`` defines them.
    """
    ctes = f"""
pdays AS (
    SELECT customer_id, CAST(floor(epoch_us(ordered_at) / 86400e6) AS DOUBLE) AS day,
        sum(amount) AS value
    FROM transactions WHERE ordered_at < {cut} AND NOT coalesce(is_refund, false)
    GROUP BY customer_id, 2
),
pday_stats AS (
    SELECT customer_id, count(*) AS days, min(day) AS first_day, max(day) AS last_day,
        sum(value) AS total, arg_min(value, day) AS first_value
    FROM pdays GROUP BY customer_id
),"""
    as_of_day = f"(epoch_us({cut}) / 86400e6)"
    select = ",\n    ".join(
        [
            "coalesce(pd.days - 1, 0)::DOUBLE AS rfm_frequency",
            "coalesce(pd.last_day - pd.first_day, 0)::DOUBLE AS rfm_recency_days",
            f"coalesce({as_of_day} - pd.first_day, 0)::DOUBLE AS rfm_T_days",
            "CASE WHEN pd.days > 1 THEN (pd.total - pd.first_value) / (pd.days - 1) "
            "ELSE 0.0 END AS rfm_monetary",
        ]
    )
    return ctes, select, "LEFT JOIN pday_stats pd USING (customer_id)"


def upsell_sql(cut: str, age: str, windows: Sequence[int]) -> Parts:
    """Distinct categories per window, share above the own median, trade-up flag."""
    per_window = ",\n        ".join(
        f"count(DISTINCT category) FILTER (WHERE age <= {w}) AS categories_{w}d" for w in windows
    )
    ctes = f"""
up AS (
    SELECT customer_id, {age.format(col="ordered_at")} AS age, amount, category
    FROM transactions WHERE ordered_at < {cut} AND NOT coalesce(is_refund, false)
),
up_median AS (
    SELECT customer_id, median(amount) AS median_all,
        median(amount) FILTER (WHERE age > {TRADE_UP_DAYS}) AS median_earlier,
        avg(amount) FILTER (WHERE age <= {TRADE_UP_DAYS}) AS mean_recent
    FROM up GROUP BY customer_id
),
up_stats AS (
    SELECT customer_id,
        {per_window},
        count(*) FILTER (WHERE age <= 365 AND amount > median_all) AS above_year,
        count(*) FILTER (WHERE age <= 365) AS orders_year
    FROM up JOIN up_median USING (customer_id) GROUP BY customer_id
),"""
    select = ",\n    ".join(
        [
            *(f"coalesce(u.categories_{w}d, 0)::DOUBLE AS categories_{w}d" for w in windows),
            "u.above_year::DOUBLE / nullif(u.orders_year, 0) AS share_above_median_365d",
            "CASE WHEN um.mean_recent IS NULL OR um.median_earlier IS NULL THEN NULL "
            f"WHEN um.mean_recent > {TRADE_UP_FACTOR} * um.median_earlier THEN 1.0 "
            "ELSE 0.0 END AS trade_up_90d",
        ]
    )
    joins = "LEFT JOIN up_stats u USING (customer_id)\nLEFT JOIN up_median um USING (customer_id)"
    return ctes, select, joins


def _next_anniversary(column: str, today: str) -> str:
    """Days from ``today`` (a DATE) to the next anniversary of ``column`` (on or after)."""
    day = f"CAST({column} AS DATE)"

    def on(year: str) -> str:
        leap = f"(({year}) % 4 = 0 AND (({year}) % 100 <> 0 OR ({year}) % 400 = 0))"
        dom = (
            f"CASE WHEN month({day}) = 2 AND day({day}) = 29 AND NOT {leap} THEN 28 "
            f"ELSE day({day}) END"
        )
        return f"make_date({year}, month({day}), {dom})"

    this, following = on(f"year({today})"), on(f"year({today}) + 1")
    return (
        f"CAST(CASE WHEN {this} >= {today} THEN date_diff('day', {today}, {this}) "
        f"ELSE date_diff('day', {today}, {following}) END AS DOUBLE)"
    )


def occasion_sql(cut: str) -> Parts:
    """Days to the next birthday and signup anniversary, and the within-30-days flags."""
    today = f"CAST({cut} AS DATE)"
    select = []
    for name, column in (("birthday", "k.birth_date"), ("signup_anniversary", "k.signup_at")):
        days = _next_anniversary(column, today)
        select += [
            f"{days} AS days_to_{name}",
            f"CASE WHEN {column} IS NULL THEN NULL WHEN {days} < {OCCASION_DAYS} THEN 1.0 "
            f"ELSE 0.0 END AS {name}_within_30d",
        ]
    return "", ",\n    ".join(select), ""


def engagement_sql(cut: str, age: str, windows: Sequence[int]) -> Parts:
    """Events per family per window, recencies, active days, trend, CTR, index, halving."""
    weight = " ".join(f"WHEN '{f}' THEN {w}" for f, w in FAMILY_WEIGHTS.items())
    counts = [
        f"count(*) FILTER (WHERE family = '{f}' AND age <= {w}) AS events_{f}_{w}d"
        for f in EVENT_FAMILIES
        for w in windows
    ]
    k = range(INDEX_HISTORY_WINDOWS)
    scores = [f"coalesce(sum(weight) FILTER (WHERE win = {j}), 0) AS s{j}" for j in k]
    stats = ",\n        ".join(
        [
            *counts,
            "min(age) FILTER (WHERE family = 'session') AS days_since_session",
            "min(age) FILTER (WHERE family = 'login') AS days_since_login",
            "min(age) AS days_since_event",
            *(
                f"count(DISTINCT floor(age)) FILTER (WHERE age <= {w}) AS active_days_{w}d"
                for w in ACTIVE_DAY_WINDOWS
            ),
            "count(*) FILTER (WHERE age <= 30) AS n_recent",
            "count(*) FILTER (WHERE age > 30 AND age <= 60) AS n_before",
            "count(*) FILTER (WHERE age <= 90 AND family = 'email_click') AS clicks_90d",
            "count(*) FILTER (WHERE age <= 90 AND family = 'email_open') AS opens_90d",
            *scores,
        ]
    )
    ctes = f"""
ev AS (
    SELECT customer_id, {age.format(col="occurred_at")} AS age,
        CAST(event_type AS VARCHAR) AS family,
        CASE CAST(event_type AS VARCHAR) {weight} END AS weight,
        CAST(ceil({age.format(col="occurred_at")} / {INDEX_WINDOW_DAYS}) AS BIGINT) - 1 AS win
    FROM events WHERE occurred_at < {cut}
),
ev_stats AS (
    SELECT customer_id,
        {stats}
    FROM ev GROUP BY customer_id
),"""
    index = [
        f"100 * coalesce(e.s{j}, 0) / (coalesce(e.s{j}, 0) + {ENGAGEMENT_HALF_SCORE})" for j in k
    ]
    halving = " ".join(
        f"WHEN {index[j]} <= 0.5 * {index[j + 1]} AND {index[j + 1]} > 0 "
        f"THEN {INDEX_WINDOW_DAYS * j}.0"
        for j in range(INDEX_HISTORY_WINDOWS - 1)
    )
    select = ",\n    ".join(
        [
            *(
                f"coalesce(e.events_{f}_{w}d, 0)::DOUBLE AS events_{f}_{w}d"
                for f in EVENT_FAMILIES
                for w in windows
            ),
            "e.days_since_session",
            "e.days_since_login",
            "e.days_since_event",
            *(
                f"coalesce(e.active_days_{w}d, 0)::DOUBLE AS active_days_{w}d"
                for w in ACTIVE_DAY_WINDOWS
            ),
            "(e.n_recent - e.n_before)::DOUBLE / nullif(e.n_recent + e.n_before, 0) "
            "AS engagement_trend",
            "e.clicks_90d::DOUBLE / nullif(e.opens_90d, 0) AS email_ctr_90d",
            f"{index[0]} AS engagement_index",
            f"{index[1]} AS engagement_index_prev",
            f"CASE {halving} ELSE NULL END AS days_since_engagement_halved",
        ]
    )
    return ctes, select, "LEFT JOIN ev_stats e USING (customer_id)"
