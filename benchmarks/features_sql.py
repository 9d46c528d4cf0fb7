"""The DuckDB equivalent of :func:`features.families.build.build_features`: one SQL query.

The reference ``benchmarks.features`` times ours against and compares ours with, over
the same in-memory pandas frames (registered with DuckDB, no copy to disk). The newer
families' parts come from :mod:`benchmarks.families_sql`.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pandas as pd

from benchmarks.families_sql import engagement_sql, occasion_sql, purchase_day_sql, upsell_sql

WINDOWS = (30, 90, 180, 365)
SLA_HOURS = 48.0


def feature_sql(
    as_of: pd.Timestamp,
    *,
    windows: Sequence[int] = WINDOWS,
    sla_hours: float = SLA_HOURS,
    events: bool = True,
) -> str:
    """One DuckDB query computing the features of :func:`features.families.build.build_features`.

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
