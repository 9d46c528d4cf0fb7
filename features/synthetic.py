"""Seeded synthetic data in the data contract, with the latent truth that produced it.

:func:`generate` simulates a customer base month by month from a small generative model
and writes the five contract tables (``customers``, ``transactions``, ``support_tickets``,
``surveys``, ``offers``) plus ``ground_truth.parquet``. It is the demo's and the tests'
data: churn and spend carry real, learnable signal, and the truth behind them is known.

The model, per customer (all rates per calendar month unless stated):

* **Acquisition.** An initial base that signed up in the 36 months before ``start``
  (survivors, denser towards ``start``) and new signups every month after it, growing
  1.5 %/month with a seasonal pattern (January and November/December peaks).
  Customer ids ``1..N`` follow signup time.
* **Latent traits.** A segment; a purchase rate ``lambda`` (orders per day, Gamma
  heterogeneity as in BG/NBD); a mean order value (log-normal); a base monthly hazard
  (logit-normal around the segment's level, lower for frequent buyers and higher
  tiers, higher for the ``partner`` channel); a usual satisfaction level (slightly
  lower for the riskier); ~40 % are subscription customers, of whom ~30 % (more on
  dearer plans) are billed annually (10 monthly fees at signup and at each 12-month
  renewal) and the rest monthly. The billing term is not a contract column: it shows
  in the fee rows, and ``ground_truth.parquet`` holds it (``annual_billing``). The
  initial base is resampled as survivors of its cohort (less risky, more engaged,
  more satisfied). The loyalty tier is set at signup from the expected value.
* **Engagement** ``z`` follows an AR(1) process. The order rate is ``lambda * exp(z)``
  times seasonality (November/December peak), so customers slow down before leaving.
  **Satisfaction** is the usual level plus a slow AR(1) deviation, a little
  engagement, minus recent bad support.
* **Churn.** The monthly hazard is ``sigmoid(logit(base) + drift(z) + support(bad) +
  detractor(satisfaction) + plan_fit + discount_withdrawal + new_customer(tenure) +
  loyalty(tenure) + january - offer_uplift)`` where, deliberately non-linear as real
  churn is:

  - ``drift``: mild for ups and downs around the customer's own rhythm, a jump
    (+2 logit) once engagement falls well below it (slowdowns matter relative to
    the customer's usual purchase gap, not in absolute days);
  - ``support``: a step once the bad-support score passes one bad ticket in recent
    months (two for gold and platinum customers, who shrug off one), largest for the
    ``service_sensitive`` segment;
  - ``detractor``: a step for very unhappy customers (NPS about 0–4); the satisfied
    barely differ;
  - ``plan_fit``: subscribers paying for more plan than they use (premium with hardly
    any orders) are at risk; heavy users and non-subscribers are not;
  - ``discount_withdrawal``: price-sensitive customers (bargain hunters, some bronze
    and silver) are at risk for two months after an accepted discount or free month
    runs out;
  - ``new_customer``: a high hazard in the first months, decaying within a quarter
    (L-shaped tenure), then a slow loyalty gain over two years.

  Monthly subscribers and non-contractual customers leave at any time in the month.
  Annual subscribers can only leave at a renewal (the billing day 12, 24, ... months
  after signup; ``cancelled_at`` is that day) with the chance of ``renewal_months``
  (9) months of their hazard then, and never in between: the hazard is periodic in
  tenure. The hazard stays a smooth function of the latent state, so a classifier
  can be calibrated, but not a linear one of the observable history.
* **Support.** Tickets arrive Poisson (more when engagement is low and for the
  ``service_sensitive`` segment); resolution time is log-normal; every ticket adds a
  little to a ``bad_support`` score and a slow (> 72 h), escalated or badly rated one
  adds about one; the score decays by 20 %/month.
* **Surveys.** ~14 % of active customers answer each month; NPS, CSAT and CES are
  noisy reads of the latent satisfaction (CES also of bad support experience).
* **Offers.** Campaign months target a random share of active customers (more of the
  disengaged and the badly served); an accepted offer lowers the hazard for three
  months by a per-customer uplift that differs by offer (discounts work on the price
  sensitive and low tiers, VIP upgrades on high value, free months on subscribers,
  call-backs after bad support).
* **Refunds.** ~3 % of orders are refunded 1–14 days later as a separate row.

Parameters are calibrated so that the mean monthly churn rate among active customers
is about 6.5 % (5–8 %). Customers are simulated in fixed blocks of
``BLOCK_CUSTOMERS`` with independent random streams spawned from the seed, so the
data depend only on the arguments that shape them, never on ``chunk_customers``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from features.atomic import AtomicTarget

log = logging.getLogger(__name__)

FileFormat = Literal["csv", "parquet"]
FILE_FORMATS: tuple[str, ...] = ("csv", "parquet")

TRANSACTIONS_PER_CUSTOMER = 22.0
"""Transaction rows per customer for the default 4-year window (about; ±5 %).

Use it to size a data set: ``customers = round(target_rows / TRANSACTIONS_PER_CUSTOMER)``
(about 45 000 customers for 1 M transactions, 450 000 for 10 M). Shorter windows give
fewer rows per customer.
"""

BLOCK_CUSTOMERS = 5_000
"""Customers per simulation block: the unit that owns one independent random stream."""

PRE_START_MONTHS = 36
"""How far before ``start`` the initial base may have signed up, in months."""

TABLES: tuple[str, ...] = ("customers", "transactions", "support_tickets", "surveys", "offers")
GROUND_TRUTH = "ground_truth"

SEGMENTS = ("regular", "bargain_hunter", "high_value", "occasional", "service_sensitive")
CHANNELS = ("web", "app", "store", "partner")
COUNTRIES = ("DE", "FR", "GB", "US", "ES", "NL")
PLANS = ("basic", "standard", "premium")
TIERS = ("bronze", "silver", "gold", "platinum")
CONTRACT_TYPES = ("subscription", "non_contractual")
CATEGORIES = ("grocery", "fashion", "electronics", "home", "beauty", "subscription_fee")
TICKET_CATEGORIES = ("billing", "delivery", "product", "account", "technical")
TICKET_CHANNELS = ("email", "chat", "phone")
OFFER_IDS = (
    "discount_coupon",
    "loyalty_points",
    "free_month",
    "vip_upgrade",
    "priority_callback",
    "referral_bonus",
)

_TS = pa.timestamp("us", tz="UTC")
_I64, _F64, _STR, _BOOL = pa.int64(), pa.float64(), pa.string(), pa.bool_()

SCHEMAS: dict[str, pa.Schema] = {
    "customers": pa.schema(
        [
            ("customer_id", _I64),
            ("signup_at", _TS),
            ("cancelled_at", _TS),
            ("birth_date", pa.date32()),
            ("country", _STR),
            ("channel", _STR),
            ("plan", _STR),
            ("loyalty_tier", _STR),
            ("contract_type", _STR),
        ]
    ),
    "transactions": pa.schema(
        [
            ("order_id", _I64),
            ("customer_id", _I64),
            ("ordered_at", _TS),
            ("amount", _F64),
            ("quantity", _I64),
            ("category", _STR),
            ("discount", _F64),
            ("is_refund", _BOOL),
        ]
    ),
    "support_tickets": pa.schema(
        [
            ("ticket_id", _I64),
            ("customer_id", _I64),
            ("opened_at", _TS),
            ("resolved_at", _TS),
            ("category", _STR),
            ("channel", _STR),
            ("escalated", _BOOL),
            ("csat", _I64),
        ]
    ),
    "surveys": pa.schema(
        [
            ("customer_id", _I64),
            ("answered_at", _TS),
            ("nps", _I64),
            ("csat", _I64),
            ("ces", _I64),
        ]
    ),
    "offers": pa.schema(
        [
            ("customer_id", _I64),
            ("offered_at", _TS),
            ("offer_id", _STR),
            ("accepted", _BOOL),
            ("cost", _F64),
        ]
    ),
    GROUND_TRUTH: pa.schema(
        [
            ("customer_id", _I64),
            ("segment", _STR),
            ("purchase_rate_per_day", _F64),
            ("mean_order_value", _F64),
            ("base_monthly_hazard", _F64),
            ("churned_at", _TS),
            ("is_subscription", _BOOL),
            ("annual_billing", _BOOL),
            *[(f"uplift_{offer}", _F64) for offer in OFFER_IDS],
            ("shift_strength", _F64),
        ]
    ),
}
"""Arrow schema of every file written, columns in file order (timestamps UTC, µs)."""

_DAY = 86_400
_HOUR = 3_600
_MONTH_DAYS = 365.2425 / 12
_MONTH = _MONTH_DAYS * _DAY


_Vec = tuple[float, ...]


@dataclass(frozen=True)
class _Model:
    """Every number of the generative model in one place (rates per month unless named)."""

    # acquisition
    growth_per_month: float = 0.015
    signup_season: _Vec = (1.2, 1.0, 1.0, 0.95, 0.95, 0.9, 0.85, 0.9, 1.0, 1.0, 1.2, 1.15)
    pre_start_decay_months: float = 14.0
    # population (rows follow SEGMENTS / CHANNELS / COUNTRIES)
    segment_p: _Vec = (0.32, 0.22, 0.10, 0.26, 0.10)
    segment_p_shifted: _Vec = (0.22, 0.32, 0.05, 0.33, 0.08)
    channel_p: _Vec = (0.45, 0.30, 0.15, 0.10)
    channel_p_shifted: _Vec = (0.30, 0.25, 0.10, 0.35)
    country_p: _Vec = (0.30, 0.18, 0.17, 0.15, 0.10, 0.10)
    country_value: _Vec = (1.0, 0.95, 1.05, 1.15, 0.85, 1.0)
    subscription_p: _Vec = (0.40, 0.50, 0.30, 0.35)  # by channel
    plan_p: _Vec = (0.50, 0.33, 0.17)
    plan_p_high_value: _Vec = (0.20, 0.40, 0.40)
    plan_price: _Vec = (9.99, 19.99, 34.99)
    annual_p: _Vec = (0.25, 0.35, 0.45)  # share of subscribers billed annually, by plan
    annual_price_months: float = 10.0  # an annual term costs this many monthly fees
    age_mean: float = 41.0
    age_sd: float = 13.0
    age_shift: float = -9.0
    # purchasing
    orders_per_month: _Vec = (1.85, 2.7, 1.4, 0.64, 1.5)  # by segment
    lambda_shape: float = 1.5
    subscriber_order_factor: float = 0.35
    never_order_p: float = 0.03
    first_order_p: float = 0.7  # non-subscribers ordering at signup
    order_value_median: _Vec = (45.0, 28.0, 120.0, 40.0, 55.0)
    order_value_sigma: float = 0.45
    order_value_shift: float = -0.25
    spend_shape: float = 2.5
    order_season: _Vec = (0.85, 0.9, 1.0, 1.0, 1.0, 0.95, 0.95, 0.95, 1.0, 1.05, 1.3, 1.5)
    category_p: tuple[_Vec, ...] = (
        (0.40, 0.20, 0.10, 0.15, 0.15),
        (0.45, 0.25, 0.05, 0.10, 0.15),
        (0.20, 0.25, 0.25, 0.20, 0.10),
        (0.25, 0.25, 0.20, 0.20, 0.10),
        (0.35, 0.20, 0.15, 0.15, 0.15),
    )
    category_value: _Vec = (0.6, 1.1, 2.6, 1.5, 0.8)
    category_items: _Vec = (2.5, 0.8, 0.2, 0.6, 1.2)
    refund_p: _Vec = (0.01, 0.06, 0.04, 0.03, 0.02)
    promo_p: _Vec = (0.12, 0.35, 0.08, 0.12, 0.12)  # by segment
    coupon_rate: float = 0.15
    # churn hazard (logit scale)
    base_hazard: _Vec = (0.049, 0.073, 0.038, 0.085, 0.068)  # by segment
    hazard_sd: float = 0.5
    hazard_frequency: float = -0.3  # per log-unit of purchase rate vs the segment's mean
    hazard_channel: _Vec = (0.0, -0.15, -0.05, 0.35)
    hazard_subscription: float = -0.45
    hazard_level: float = -0.31  # offset keeping the mean monthly churn near 6.5 %
    hazard_tier: float = -0.10  # per tier step
    hazard_shift: float = 0.5
    engagement_effect: float = 0.4  # linear part, per unit of z
    drift_effect: float = 2.0  # extra once engagement falls well below the own norm
    drift_threshold: float = -0.8
    drift_steepness: float = 4.0
    new_customer_effect: float = 1.3
    new_customer_months: float = 2.0
    loyalty_effect: float = -0.3  # reached after loyalty_months of tenure
    loyalty_months: float = 24.0
    january_effect: float = 0.2
    bad_support_effect: _Vec = (1.3, 1.2, 1.3, 1.2, 2.0)  # by segment, past the threshold
    bad_threshold: float = 0.6  # about one bad ticket in the last months
    bad_threshold_high_tier: float = 1.5  # gold and platinum shrug off one, not two
    bad_steepness: float = 5.0
    detractor_effect: float = 2.2  # satisfaction below the threshold (NPS about 0-4)
    detractor_threshold: float = -1.35
    detractor_steepness: float = 5.0
    plan_fit_effect: float = 1.4  # subscribers paying for a plan they hardly use
    plan_fit_offset: float = 0.5  # in plan steps (basic 0, standard 1, premium 2)
    plan_fit_usage: float = 4.0  # plan steps per order a month
    plan_fit_steepness: float = 3.0
    price_sensitive_p: float = 0.3  # of bronze and silver customers (all bargain hunters)
    withdrawal_effect: float = 1.0  # price-sensitive customers when a discount runs out
    withdrawal_months: int = 2
    renewal_months: float = 9.0  # an annual renewal weighs this many months of hazard
    # engagement z
    z_rho: float = 0.88
    z_sigma: float = 0.35
    z0_sd: float = 0.45
    # latent satisfaction s = mean + d + sat_engagement * z - sat_bad * bad
    sat_mean_sd: float = 0.7
    sat_mean_hazard: float = -0.2  # correlation of the mean with the base hazard noise
    sat_rho: float = 0.95
    sat_sd: float = 0.6  # stationary sd of d
    sat_engagement: float = 0.15
    sat_bad: float = 0.5
    # support
    tickets_per_month: float = 0.06
    ticket_segment: _Vec = (1.0, 0.9, 1.1, 0.7, 2.5)
    ticket_subscription: float = 1.4
    ticket_engagement: float = -0.6
    ticket_category_p: _Vec = (0.15, 0.35, 0.25, 0.12, 0.13)
    ticket_category_p_subscription: _Vec = (0.35, 0.20, 0.15, 0.15, 0.15)
    ticket_channel_p: _Vec = (0.45, 0.35, 0.20)
    resolution_median_hours: _Vec = (26.0, 5.0, 10.0)  # by ticket channel
    resolution_sigma: float = 1.0
    escalation_p: float = 0.07
    escalation_slowdown: float = 3.0
    ticket_rated_p: float = 0.4
    slow_hours: float = 72.0
    ticket_harm: float = 0.15  # bad-support score of any ticket
    bad_ticket_harm: float = 0.85  # extra for a slow, escalated or badly rated one
    bad_decay: float = 0.8
    # surveys
    survey_p: float = 0.14
    nps_missing_p: float = 0.05
    csat_missing_p: float = 0.40
    ces_missing_p: float = 0.55
    # offers
    campaign_p: float = 0.65
    offer_months: int = 3
    offer_cost: _Vec = (8.0, 4.0, float("nan"), 15.0, 12.0, 10.0)  # nan: plan price
    accept_p: _Vec = (0.35, 0.45, 0.50, 0.40, 0.55, 0.15)


_M = _Model()


@dataclass(frozen=True)
class GenerationSummary:
    """What :func:`generate` wrote.

    Attributes
    ----------
    out_dir : Path
        The folder holding the files.
    rows : dict of str to int
        Rows written per table, ground truth included (``{"customers": 2000, ...}``).
    monthly_churn_rate : float
        Mean over calendar months of the ground-truth churn rate: customers whose latent
        death falls in the month divided by customers active at the month's start
        (signed up before it and not yet churned), a fraction in [0, 1].
    files : tuple of Path
        Every file written, in table order.
    start, end : pandas.Timestamp
        The observation window (UTC); every event lies in ``[start, end)`` except the
        signups of the initial base.
    """

    out_dir: Path
    rows: dict[str, int]
    monthly_churn_rate: float
    files: tuple[Path, ...]
    start: pd.Timestamp
    end: pd.Timestamp

    @property
    def transactions_per_customer(self) -> float:
        """Transaction rows per customer in this data set."""
        return self.rows["transactions"] / max(self.rows["customers"], 1)


def generate(
    out_dir: str | Path,
    *,
    customers: int,
    seed: int = 0,
    start: str = "2022-01-01",
    end: str = "2025-12-31",
    file_format: FileFormat = "csv",
    population_shift: float = 0.0,
    chunk_customers: int = 100_000,
) -> GenerationSummary:
    """Simulate a customer base and write the contract tables and the ground truth.

    Parameters
    ----------
    out_dir : str or Path
        Folder to write into (created if missing). Existing files of the same names are
        replaced atomically at the end; an interrupted run leaves no partial file.
    customers : int
        Number of customers, >= 1. The transaction count is about
        ``TRANSACTIONS_PER_CUSTOMER`` (22) rows per customer for the default 4-year
        window: 45 000 customers give ~1 M transactions, 450 000 give ~10 M.
    seed : int, default=0
        Non-negative seed; the same arguments give the same data (and the same CSV
        bytes).
    start, end : str, default="2022-01-01", "2025-12-31"
        Observation window, ISO dates or datetimes (UTC when naive). Events happen in
        ``[start, end)``: a date-only ``end`` closes the window at midnight starting
        that day. Only the signups of the initial base lie before ``start``.
    file_format : {"csv", "parquet"}, default="csv"
        Format of the five contract tables. CSV timestamps are ISO-8601 UTC
        (``2024-03-05T13:22:10Z``), dates ``1990-04-02``; Parquet timestamps are
        UTC-aware, microseconds. ``ground_truth.parquet`` is always Parquet.
    population_shift : float, default=0.0
        Strength of a drift in who signs up, 0 (none) to 1 (strong). It ramps in
        linearly over the first half of the window (full strength for signups from
        its midpoint on) and makes new customers younger, more often from the
        ``partner`` channel and price-sensitive segments, riskier (+0.5 logit base
        hazard at 1) and lower spending (-22 % order value at 1). 0 gives exactly the
        default data. Customers who signed up before ``start`` keep their traits;
        their simulated histories may still differ from the unshifted run's, because
        customers of a block share one random stream.
    chunk_customers : int, default=100_000
        Customers held in memory between writes, >= 1; rounded up to a multiple of
        ``BLOCK_CUSTOMERS`` (5 000). It changes memory use, never the data.

    Returns
    -------
    GenerationSummary
        Folder, rows per table, mean monthly churn rate (fraction), files written.

    Raises
    ------
    ValueError
        When an argument is out of range; the message names the argument, the value
        and what is allowed.

    Notes
    -----
    Memory grows with ``chunk_customers``, not with ``customers``: about 8 KB per
    customer held at the default window (~1 GB peak at the default 100 000). Speed is
    about 0.75 M transactions per second on one core (10 M in ~15 s, CSV or Parquet).
    """
    start_ts, end_ts = _validate(
        customers, seed, start, end, file_format, population_shift, chunk_customers
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    grid = _Grid.build(start_ts, end_ts)
    root = np.random.SeedSequence(seed)
    calendar_seq, blocks_seq = root.spawn(2)
    campaigns = _Campaigns.draw(np.random.default_rng(calendar_seq), grid)
    n_blocks = math.ceil(customers / BLOCK_CUSTOMERS)
    block_seqs = blocks_seq.spawn(n_blocks)
    blocks_per_chunk = max(1, math.ceil(chunk_customers / BLOCK_CUSTOMERS))
    log.info(
        "generating %d customers (%s to %s, seed %d, shift %.2f) into %s as %s",
        customers,
        start_ts.isoformat(),
        end_ts.isoformat(),
        seed,
        population_shift,
        out,
        file_format,
    )

    names = (*TABLES, GROUND_TRUTH)
    sinks = {
        name: _Sink(
            out / f"{name}.{'parquet' if name == GROUND_TRUTH else file_format}",
            SCHEMAS[name],
            "parquet" if name == GROUND_TRUTH else file_format,
        )
        for name in names
    }
    rows = dict.fromkeys(names, 0)
    churned = np.zeros(grid.n_months, dtype=np.int64)
    at_risk = np.zeros(grid.n_months, dtype=np.int64)
    try:
        for first in range(0, n_blocks, blocks_per_chunk):
            parts: dict[str, list[dict[str, np.ndarray]]] = {name: [] for name in names}
            for b in range(first, min(first + blocks_per_chunk, n_blocks)):
                lo_id = b * BLOCK_CUSTOMERS + 1
                ids = np.arange(lo_id, min(lo_id + BLOCK_CUSTOMERS, customers + 1), dtype=np.int64)
                block = _simulate_block(
                    ids, customers, grid, campaigns, population_shift, block_seqs[b]
                )
                truth = block[GROUND_TRUTH]
                c, r = _churn_counts(block["customers"]["signup_at"], truth["churned_at"], grid)
                churned += c
                at_risk += r
                for name in names:
                    parts[name].append(block[name])
            for name in names:
                columns = {k: np.concatenate([p[k] for p in parts[name]]) for k in parts[name][0]}
                sinks[name].write(_to_arrow(name, columns, rows[name] + 1))
                rows[name] += len(columns["customer_id"])
            log.info(
                "customers %d/%d done; %d transactions so far",
                rows["customers"],
                customers,
                rows["transactions"],
            )
        for sink in sinks.values():
            sink.close()
        for sink in sinks.values():
            sink.commit()
        _remove_stale(out, file_format)
    finally:
        for sink in sinks.values():
            sink.abort()
    months = at_risk > 0
    rate = float(np.mean(churned[months] / at_risk[months])) if months.any() else 0.0
    log.info("wrote %s; mean monthly churn %.2f %%", rows, 100 * rate)
    return GenerationSummary(
        out_dir=out,
        rows=rows,
        monthly_churn_rate=rate,
        files=tuple(s.path for s in sinks.values()),
        start=start_ts,
        end=end_ts,
    )


# ----------------------------------------------------------------------------- arguments


def _validate(
    customers: object,
    seed: object,
    start: object,
    end: object,
    file_format: object,
    population_shift: object,
    chunk_customers: object,
) -> tuple[pd.Timestamp, pd.Timestamp]:
    for name, value in (("customers", customers), ("chunk_customers", chunk_customers)):
        if not _is_int(value) or value < 1:  # type: ignore[operator]
            raise ValueError(f"Invalid {name}: {value!r}; expected an integer >= 1.")
    if not _is_int(seed) or seed < 0:  # type: ignore[operator]
        raise ValueError(f"Invalid seed: {seed!r}; expected an integer >= 0.")
    if file_format not in FILE_FORMATS:
        raise ValueError(f"Invalid file_format: {file_format!r}; expected one of {FILE_FORMATS}.")
    if (
        isinstance(population_shift, bool)
        or not isinstance(population_shift, int | float)
        or not 0.0 <= population_shift <= 1.0
    ):
        raise ValueError(
            f"Invalid population_shift: {population_shift!r}; expected a number from 0 to 1."
        )
    stamps = []
    for name, value in (("start", start), ("end", end)):
        try:
            stamp = pd.Timestamp(value)  # type: ignore[arg-type]
        except (TypeError, ValueError) as e:
            raise ValueError(
                f"Invalid {name}: {value!r}; expected an ISO date or datetime like '2022-01-01'."
            ) from e
        if stamp is pd.NaT:
            raise ValueError(f"Invalid {name}: {value!r}; expected an ISO date or datetime.")
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        stamps.append(stamp.floor("s"))
    if not stamps[0] < stamps[1]:
        raise ValueError(f"Invalid start/end: {start!r} to {end!r}; expected start before end.")
    return stamps[0], stamps[1]


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


# ----------------------------------------------------------------------------- calendar


@dataclass(frozen=True)
class _Grid:
    """Month boundaries in epoch seconds, from ``PRE_START_MONTHS`` before start to end.

    Month ``k`` spans ``[bounds[k], bounds[k + 1])``; simulated months are
    ``first..n_all-1`` (``first`` is the month starting at ``start``).
    """

    bounds: np.ndarray  # int64 seconds, length n_all + 1, last == end
    nominal: np.ndarray  # full calendar length of each month in seconds (last may be cut)
    calendar_month: np.ndarray  # 1..12 per month
    first: int
    start: int
    end: int
    signup_cdf: np.ndarray  # cumulative acquisition weight per day
    day_edges: np.ndarray  # seconds, len(signup_cdf) + 1

    @property
    def n_months(self) -> int:
        return len(self.bounds) - 1 - self.first

    @classmethod
    def build(cls, start: pd.Timestamp, end: pd.Timestamp) -> _Grid:
        edges = [start - pd.DateOffset(months=k) for k in range(PRE_START_MONTHS, 0, -1)]
        k = 0
        while (edge := start + pd.DateOffset(months=k)) < end:
            edges.append(edge)
            k += 1
        full_next = [e + pd.DateOffset(months=1) for e in edges]
        bounds = np.array([_secs(e) for e in [*edges, end]], dtype=np.int64)
        nominal = np.array([_secs(n) - _secs(e) for e, n in zip(edges, full_next, strict=True)])
        months = np.array([e.month for e in edges])
        start_s, end_s = _secs(start), _secs(end)
        # Acquisition intensity per day: survivors decaying back in time before start,
        # growing and seasonal after it (both equal at start).
        day_edges = np.arange(bounds[0], end_s, _DAY, dtype=np.int64)
        day_edges = np.append(day_edges, end_s)
        mid = (day_edges[:-1] + day_edges[1:]) / 2
        rel_months = (mid - start_s) / _MONTH
        day_month = pd.DatetimeIndex(pd.to_datetime(day_edges[:-1], unit="s")).month.to_numpy() - 1
        weight = np.where(
            rel_months < 0,
            np.exp(rel_months / _M.pre_start_decay_months),
            np.exp(_M.growth_per_month * rel_months) * np.asarray(_M.signup_season)[day_month],
        ) * (np.diff(day_edges) / _DAY)
        return cls(
            bounds=bounds,
            nominal=nominal,
            calendar_month=months,
            first=PRE_START_MONTHS,
            start=start_s,
            end=end_s,
            signup_cdf=np.cumsum(weight) / weight.sum(),
            day_edges=day_edges,
        )

    def signup_times(self, quantiles: np.ndarray) -> np.ndarray:
        """Signup epoch seconds at acquisition quantiles in (0, 1), monotone in them."""
        cdf = self.signup_cdf
        day = np.minimum(np.searchsorted(cdf, quantiles, side="right"), len(cdf) - 1)
        below = np.where(day > 0, cdf[np.maximum(day - 1, 0)], 0.0)
        frac = np.clip((quantiles - below) / (cdf[day] - below), 0.0, 1.0)
        width = self.day_edges[day + 1] - self.day_edges[day]
        return self.day_edges[day] + np.minimum((frac * width).astype(np.int64), width - 1)


@dataclass(frozen=True)
class _Campaigns:
    """Retention campaigns, one calendar for all customers: month, day and theme."""

    active: np.ndarray  # bool per grid month
    offset: np.ndarray  # seconds after the month start
    theme: np.ndarray  # index into OFFER_IDS

    @classmethod
    def draw(cls, rng: np.random.Generator, grid: _Grid) -> _Campaigns:
        n = len(grid.bounds) - 1
        active = rng.random(n) < _M.campaign_p
        offset = (rng.random(n) * np.minimum(25 * _DAY, grid.nominal)).astype(np.int64)
        theme = rng.integers(0, len(OFFER_IDS), n)
        return cls(active=active, offset=offset, theme=theme)


def _secs(stamp: pd.Timestamp) -> int:
    return int(stamp.value // 1_000_000_000)


def _remove_stale(out: Path, file_format: str) -> None:
    """Delete tables of the other format left by an earlier run in ``out``.

    Readers pick ``<table>.parquet`` before ``<table>.csv``; a stale copy in the other
    format would silently shadow (or be shadowed by) the data just written.
    """
    other = "parquet" if file_format == "csv" else "csv"
    for name in TABLES:
        stale = out / f"{name}.{other}"
        if stale.is_file():
            log.warning("removing %s left by an earlier run (now writing %s)", stale, file_format)
            stale.unlink()


# ----------------------------------------------------------------------------- simulation


def _expit(x: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -x))


def _logit(p: np.ndarray | float) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return np.log(p / (1.0 - p))


def _pick(u: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Categorical draws from uniforms ``u`` and probabilities ``(k,)`` or ``(len(u), k)``."""
    cum = np.cumsum(probs, axis=-1)
    cum = cum / cum[..., -1:]
    if cum.ndim == 1:
        return np.minimum(np.searchsorted(cum, u, side="right"), len(cum) - 1)
    return np.minimum((u[:, None] >= cum).sum(axis=1), cum.shape[1] - 1)


def _uniform_times(rng: np.random.Generator, lo: np.ndarray, span: np.ndarray) -> np.ndarray:
    """Epoch seconds drawn uniformly in ``[lo, lo + span)``."""
    return lo + (rng.random(lo.size) * span).astype(np.int64)


class _Events:
    """Columns of one event table, appended month by month, concatenated at the end.

    ``customer_id`` holds positions in the block until :func:`_assemble` maps them to
    ids; ``t`` is the event time in epoch seconds.
    """

    def __init__(self, **dtypes: type):
        self.dtypes = {"customer_id": np.int64, "t": np.int64, **dtypes}
        self.parts: dict[str, list[np.ndarray]] = {name: [] for name in self.dtypes}

    def add(self, **columns: np.ndarray) -> None:
        for name, values in columns.items():
            self.parts[name].append(values)

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            name: np.concatenate(parts) if parts else np.empty(0, dtype=self.dtypes[name])
            for name, parts in self.parts.items()
        }


@dataclass(frozen=True)
class _Traits:
    """Static per-customer draws of one block, arrays of length n.

    Categorical codes index the module's label tuples; ``plan`` is -1 for
    non-subscribers.
    """

    ids: np.ndarray
    signup: np.ndarray  # epoch seconds
    signup_month: np.ndarray  # grid month index of the signup
    strength: np.ndarray  # population shift applied, 0..1
    segment: np.ndarray
    channel: np.ndarray
    country: np.ndarray
    is_sub: np.ndarray
    annual: np.ndarray  # subscribers billed (and renewing) once a year
    plan: np.ndarray
    fee: np.ndarray  # monthly plan price, 0 for non-subscribers
    birth_day: np.ndarray  # days since epoch
    age: np.ndarray  # years at signup
    lam: np.ndarray  # orders per day at z = 0, seasonality 1
    first_order: np.ndarray  # orders at signup
    order_value: np.ndarray  # mean order value, currency units
    tier: np.ndarray
    base_logit: np.ndarray  # logit of the base monthly hazard
    bad_effect: np.ndarray  # hazard logit once bad support experience passes the threshold
    bad_threshold: np.ndarray
    price_sensitive: np.ndarray  # reacts to the end of a discount
    uplift: np.ndarray  # (n, len(OFFER_IDS)) hazard-logit reduction once accepted
    z0: np.ndarray  # engagement at signup (at start for the initial base)
    sat_mean: np.ndarray  # the customer's usual satisfaction
    d0: np.ndarray  # satisfaction deviation at signup (at start for the initial base)


def _draw_traits(
    rng: np.random.Generator, ids: np.ndarray, n_total: int, grid: _Grid, shift: float
) -> _Traits:
    """Draw who the customers are. Draws never depend on ``shift``, only their use."""
    n = ids.size
    uni = rng.random((n, 10))
    nrm = rng.standard_normal((n, 6))
    gam = rng.standard_gamma(_M.lambda_shape, n) / _M.lambda_shape  # mean 1
    uplift_noise = np.exp(0.2 * rng.standard_normal((n, len(OFFER_IDS))))
    hazard_draws = rng.standard_normal((n, _SURVIVOR_DRAWS))
    z_draws = rng.standard_normal((n, _SURVIVOR_DRAWS)) * (_M.z_sigma / math.sqrt(1 - _M.z_rho**2))
    d_draws = rng.standard_normal((n, _SURVIVOR_DRAWS)) * _M.sat_sd
    u_survivor = rng.random(n)

    # stratified quantiles: ids follow signup time whatever the block
    signup = grid.signup_times((ids - 1 + uni[:, 0]) / n_total)
    half = max((grid.end - grid.start) / 2, 1.0)
    strength = shift * np.clip((signup - grid.start) / half, 0.0, 1.0)
    s = strength[:, None]
    segment = _pick(
        uni[:, 1], (1 - s) * np.asarray(_M.segment_p) + s * np.asarray(_M.segment_p_shifted)
    )
    channel = _pick(
        uni[:, 2], (1 - s) * np.asarray(_M.channel_p) + s * np.asarray(_M.channel_p_shifted)
    )
    country = _pick(uni[:, 3], np.asarray(_M.country_p))
    is_sub = uni[:, 4] < np.asarray(_M.subscription_p)[channel]
    plan = np.where(
        segment == SEGMENTS.index("high_value"),
        _pick(uni[:, 5], np.asarray(_M.plan_p_high_value)),
        _pick(uni[:, 5], np.asarray(_M.plan_p)),
    )
    plan = np.where(is_sub, plan, -1)
    fee = np.where(is_sub, np.asarray(_M.plan_price)[np.maximum(plan, 0)], 0.0)
    annual = is_sub & (uni[:, 8] < np.asarray(_M.annual_p)[np.maximum(plan, 0)])
    monthly_fee = np.where(annual, fee * _M.annual_price_months / 12, fee)
    age = np.clip(_M.age_mean + _M.age_shift * strength + _M.age_sd * nrm[:, 0], 18, 85)
    birth_day = signup // _DAY - np.round(age * 365.2425).astype(np.int64)

    lam = np.asarray(_M.orders_per_month)[segment] / _MONTH_DAYS * gam
    lam = np.where(is_sub, lam * _M.subscriber_order_factor, lam)
    never_orders = ~is_sub & (uni[:, 6] < _M.never_order_p)
    lam = np.where(never_orders, 0.0, lam)
    first_order = ~is_sub & ~never_orders & (uni[:, 7] < _M.first_order_p)
    order_value = (
        np.asarray(_M.order_value_median)[segment]
        * np.asarray(_M.country_value)[country]
        * np.exp(_M.order_value_sigma * nrm[:, 1] + _M.order_value_shift * strength)
    )
    # loyalty tier: from the value expected at signup, never from later behaviour
    monthly_value = lam * _MONTH_DAYS * order_value + monthly_fee
    tier = np.searchsorted(_TIER_EDGES, np.log1p(monthly_value) + 0.25 * nrm[:, 2])

    base_logit = (
        _logit(np.asarray(_M.base_hazard))[segment]
        + _M.hazard_level
        + np.asarray(_M.hazard_channel)[channel]
        + _M.hazard_subscription * is_sub
        + _M.hazard_tier * tier
        + _M.hazard_shift * strength
        + _M.hazard_frequency * np.log(np.maximum(gam, 0.05))
    )
    noise, z_start, d_start, sat_mean = _survivor_draws(
        base_logit,
        _Candidates(hazard_draws, z_draws, d_draws, nrm[:, 4]),
        u_survivor,
        (grid.start - signup) / _MONTH,
        lam,
        np.where(is_sub, plan, -1),
        annual,
    )
    bargain = segment == SEGMENTS.index("bargain_hunter")
    signup_month = np.searchsorted(grid.bounds, signup, side="right") - 1
    return _Traits(
        ids=ids,
        signup=signup,
        signup_month=signup_month,
        strength=strength,
        segment=segment,
        channel=channel,
        country=country,
        is_sub=is_sub,
        annual=annual,
        plan=plan,
        fee=fee,
        birth_day=birth_day,
        age=age,
        lam=lam,
        first_order=first_order,
        order_value=order_value,
        tier=tier,
        base_logit=base_logit + _M.hazard_sd * noise,
        bad_effect=np.asarray(_M.bad_support_effect)[segment],
        bad_threshold=np.where(tier >= 2, _M.bad_threshold_high_tier, _M.bad_threshold),
        price_sensitive=bargain | ((tier <= 1) & (uni[:, 9] < _M.price_sensitive_p)),
        uplift=_uplifts(segment, tier, is_sub, plan, age) * uplift_noise,
        z0=np.where(signup < grid.start, z_start, _M.z0_sd * nrm[:, 3]),
        sat_mean=sat_mean,
        d0=np.where(signup < grid.start, d_start, _M.sat_sd * nrm[:, 5]),
    )


_SURVIVOR_DRAWS = 8

_TIER_EDGES = np.array([3.62, 4.43, 5.26])
"""Cut points of ``log1p(expected monthly spend)`` + noise into loyalty tiers, set so
about 50 / 30 / 15 / 5 % of default signups are bronze / silver / gold / platinum."""


@dataclass(frozen=True)
class _Candidates:
    """Candidate latent draws of the initial base, (n, _SURVIVOR_DRAWS) each."""

    noise: np.ndarray  # standard normal hazard noise
    z: np.ndarray  # stationary engagement
    d: np.ndarray  # stationary satisfaction deviation
    sat_noise: np.ndarray  # (n,) standard normal, the satisfaction mean's own part


def _survivor_draws(
    logit: np.ndarray,
    candidates: _Candidates,
    u: np.ndarray,
    months_before_start: np.ndarray,
    lam: np.ndarray,
    plan: np.ndarray,
    annual: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hazard noise, engagement and satisfaction at ``start``, and the satisfaction mean.

    Customers who signed up before ``start`` are the survivors of their cohort, so they
    are less risky, more engaged and more satisfied than fresh draws. Of the candidate
    draws, new customers keep the first; initial-base customers pick one with
    probability proportional to the chance of surviving their full months before
    ``start`` (sampling-importance-resampling) under the churn model: tenure effects
    month by month, the candidate's engagement and satisfaction over the last six
    months and typical values before, renewals only for annual subscribers. The
    satisfaction mean leans on the hazard noise (unhappy customers are riskier at base).
    """
    corr = _M.sat_mean_hazard
    noise = candidates.noise
    sat_mean = _M.sat_mean_sd * (
        corr * noise + math.sqrt(1 - corr**2) * candidates.sat_noise[:, None]
    )
    rows = np.arange(len(u))
    pick = np.zeros(len(u), dtype=np.int64)
    old = np.flatnonzero(months_before_start >= 1.0)
    if old.size:
        pick[old] = _pick(
            u[old],
            _survival_weights(
                logit[old],
                noise[old],
                candidates.z[old],
                candidates.d[old],
                sat_mean[old],
                np.floor(months_before_start[old]).astype(np.int64),
                lam[old],
                plan[old],
                annual[old],
            ),
        )
    return (
        noise[rows, pick],
        candidates.z[rows, pick],
        candidates.d[rows, pick],
        sat_mean[rows, pick],
    )


def _survival_weights(
    logit: np.ndarray,
    noise: np.ndarray,
    z: np.ndarray,
    d: np.ndarray,
    sat_mean: np.ndarray,
    months: np.ndarray,
    lam: np.ndarray,
    plan: np.ndarray,
    annual: np.ndarray,
) -> np.ndarray:
    """Relative chance of each candidate surviving ``months`` full months, (n, k)."""
    life = np.arange(PRE_START_MONTHS)  # month of life, 0 = signup month
    tenure = _M.new_customer_effect * np.exp(-life / _M.new_customer_months)
    tenure = tenure + _M.loyalty_effect * np.minimum(life / _M.loyalty_months, 1.0)
    # typical months: engagement and satisfaction deviation averaged over three points
    sd_z = _M.z_sigma / math.sqrt(1 - _M.z_rho**2)
    sd_s = math.sqrt(_M.sat_sd**2 + (_M.sat_engagement * sd_z) ** 2)
    nodes, w = np.array([-math.sqrt(3.0), 0.0, math.sqrt(3.0)]), np.array([1, 4, 1]) / 6
    typical = float(w @ _drift(sd_z * nodes)) + sum(
        wi * _detractor(sat_mean + sd_s * x)
        + wi * _plan_fit(plan[:, None], lam[:, None] * np.exp(sd_z * x) * _MONTH_DAYS)
        for x, wi in zip(nodes, w, strict=True)
    )
    recent = (
        _drift(z)
        + _detractor(sat_mean + d + _M.sat_engagement * z)
        + _plan_fit(plan[:, None], lam[:, None] * np.exp(z) * _MONTH_DAYS)
    )
    base = logit[:, None] + _M.hazard_sd * noise  # (n, k)
    m = months[:, None]
    is_recent = life[None, :] >= m - 6  # (n, L)
    lived = life[None, :] < m
    renews = (life > 0) & (life % 12 == 0)
    weight_month = np.where(annual[:, None], _M.renewal_months * renews[None, :], 1.0) * lived
    log_surv = np.zeros(base.shape)
    for recent_part, months_mask in ((recent, is_recent), (typical, ~is_recent)):
        h = _expit(base[:, :, None] + recent_part[:, :, None] + tenure[None, None, :])
        log_surv += np.einsum("nkl,nl->nk", np.log1p(-h), weight_month * months_mask)
    return np.exp(log_surv - log_surv.max(axis=1, keepdims=True))


def _drift(z: np.ndarray) -> np.ndarray:
    """Hazard logit from engagement: mild above the norm, steep once well below it."""
    return -_M.engagement_effect * z + _M.drift_effect * _expit(
        -_M.drift_steepness * (z - _M.drift_threshold)
    )


def _plan_fit(plan: np.ndarray, usage: np.ndarray) -> np.ndarray:
    """Hazard logit of subscribers paying for more plan than they use (``plan`` -1: none).

    ``usage`` is orders a month; premium with hardly any orders is the worst fit.
    """
    return np.where(
        plan >= 0,
        _M.plan_fit_effect
        * _expit(_M.plan_fit_steepness * (plan - _M.plan_fit_offset - _M.plan_fit_usage * usage)),
        0.0,
    )


def _support(bad: np.ndarray, threshold: np.ndarray, effect: np.ndarray) -> np.ndarray:
    """Hazard logit from the bad-support score (about the recent bad tickets): a step.

    Nothing below ``threshold`` (one bad ticket for most, two for gold and platinum),
    ``effect`` above it.
    """
    return effect * _expit(_M.bad_steepness * (bad - threshold))


def _detractor(satisfaction: np.ndarray) -> np.ndarray:
    """Hazard logit from satisfaction: a step for the very unhappy (NPS about 0-4)."""
    return _M.detractor_effect * _expit(
        -_M.detractor_steepness * (satisfaction - _M.detractor_threshold)
    )


def _uplifts(
    segment: np.ndarray, tier: np.ndarray, is_sub: np.ndarray, plan: np.ndarray, age: np.ndarray
) -> np.ndarray:
    """Hazard reduction (logit units) of each offer once accepted, before noise, (n, 6).

    Discounts work on bargain hunters and low tiers, loyalty points on the middle tiers,
    free months only for subscribers, VIP upgrades on high value, referral bonuses on
    the young; a priority call-back's effect is scaled by the customer's bad-support
    score at the time (capped at 1), so it only helps after bad service.
    """
    out = np.zeros((segment.size, len(OFFER_IDS)))
    bargain = segment == SEGMENTS.index("bargain_hunter")
    out[:, 0] = np.where(bargain, 0.9, np.where(tier <= 1, 0.3, 0.05))
    out[:, 1] = np.where((tier == 1) | (tier == 2), 0.35, 0.15)
    out[:, 2] = np.where(is_sub, np.where(plan == 2, 0.5, 0.7), 0.0)
    out[:, 3] = np.where((segment == SEGMENTS.index("high_value")) | (tier >= 2), 0.8, 0.1)
    out[:, 4] = np.where(segment == SEGMENTS.index("service_sensitive"), 1.0, 0.5)
    out[:, 5] = np.where(age < 35, 0.3, 0.05)
    return out


@dataclass
class _State:
    """Per-customer state that evolves month by month (arrays of length n)."""

    z: np.ndarray  # engagement
    d: np.ndarray  # satisfaction deviation from the customer's mean
    bad: np.ndarray  # decaying bad-support-experience score
    alive: np.ndarray
    death: np.ndarray  # epoch seconds, _NEVER while alive
    offer_left: np.ndarray  # months an accepted offer still lowers the hazard
    offer_gain: np.ndarray
    offer_callback: np.ndarray
    coupon_month: np.ndarray  # grid month whose orders get the coupon discount
    free_month: np.ndarray  # grid month whose plan fee is waived
    withdrawal_month: np.ndarray  # first grid month after an accepted discount ran out

    @classmethod
    def initial(cls, traits: _Traits) -> _State:
        n = traits.ids.size
        return cls(
            z=traits.z0.copy(),
            d=traits.d0.copy(),
            bad=np.zeros(n),
            alive=np.ones(n, dtype=bool),
            death=np.full(n, _NEVER, dtype=np.int64),
            offer_left=np.zeros(n, dtype=np.int64),
            offer_gain=np.zeros(n),
            offer_callback=np.zeros(n, dtype=bool),
            coupon_month=np.full(n, -1, dtype=np.int64),
            free_month=np.full(n, -1, dtype=np.int64),
            withdrawal_month=np.full(n, -100, dtype=np.int64),
        )


_NEVER = np.iinfo(np.int64).max  # death time of a customer still alive
_NO_TIME = np.iinfo(np.int64).min  # a missing timestamp (times may precede 1970)


@dataclass(frozen=True)
class _Month:
    """One month for the customers present in it (arrays over ``idx``)."""

    k: int  # grid month index
    calendar_month: int  # 1..12
    start: int  # epoch seconds
    end: int  # epoch seconds (the window end for the last month)
    idx: np.ndarray  # block positions of customers alive at some point of the month
    lo: np.ndarray  # start of each customer's exposure (signup or month start)
    hi: np.ndarray  # end of exposure (death or month end)
    dies: np.ndarray  # bool: churns this month, at ``hi``
    z: np.ndarray
    bad: np.ndarray
    satisfaction: np.ndarray
    logit_hazard: np.ndarray
    bill: np.ndarray  # the plan's billing (and annual renewal) time in this month

    @property
    def span(self) -> np.ndarray:
        return self.hi - self.lo

    @property
    def days(self) -> np.ndarray:
        return self.span / _DAY


def _simulate_block(
    ids: np.ndarray,
    n_total: int,
    grid: _Grid,
    campaigns: _Campaigns,
    shift: float,
    seed_seq: np.random.SeedSequence,
) -> dict[str, dict[str, np.ndarray]]:
    """Simulate customers ``ids`` (consecutive) over the window; return table columns.

    Each month: hazard and deaths, then orders, refunds and fees, tickets, surveys and
    offers in the customers' alive time, then the state moves on. Times are epoch
    seconds (``_NO_TIME`` when missing), categorical columns and scores integer codes
    (-1 when missing).
    """
    rng = np.random.default_rng(seed_seq)
    traits = _draw_traits(rng, ids, n_total, grid, shift)
    state = _State.initial(traits)
    events = {
        "transactions": _Events(
            amount=np.float64,
            quantity=np.int64,
            category=np.int64,
            discount=np.float64,
            is_refund=bool,
        ),
        "support_tickets": _Events(
            resolved=np.int64,
            category=np.int64,
            channel=np.int64,
            escalated=bool,
            csat=np.int64,
        ),
        "surveys": _Events(nps=np.int64, csat=np.int64, ces=np.int64),
        "offers": _Events(offer=np.int64, accepted=bool, cost=np.float64),
    }
    for k in range(max(grid.first, int(traits.signup_month.min())), len(grid.bounds) - 1):
        month = _hazard_and_deaths(rng, traits, state, grid, k)
        if month is None:
            continue
        _orders(rng, traits, state, month, events["transactions"])
        _fees(traits, state, month, events["transactions"])
        harm = _tickets(rng, traits, month, grid, events["support_tickets"])
        _surveys(rng, month, events["surveys"])
        state.offer_left[month.idx] = np.maximum(state.offer_left[month.idx] - 1, 0)
        if campaigns.active[k]:
            _offers(rng, traits, state, month, campaigns, events["offers"])
        # the state moves on to the next month
        state.bad[month.idx] = _M.bad_decay * month.bad + harm
        state.z[month.idx] = _M.z_rho * month.z + _M.z_sigma * rng.standard_normal(month.idx.size)
        state.d[month.idx] = _M.sat_rho * state.d[month.idx] + _M.sat_sd * math.sqrt(
            1 - _M.sat_rho**2
        ) * rng.standard_normal(month.idx.size)
        dead = month.idx[month.dies]
        state.alive[dead] = False
        state.death[dead] = month.hi[month.dies]
    return _assemble(traits, state.death, grid, events)


def _hazard_and_deaths(
    rng: np.random.Generator, traits: _Traits, state: _State, grid: _Grid, k: int
) -> _Month | None:
    """Monthly hazard of the customers present in month ``k``, and who churns when.

    Annual subscribers can only leave at a renewal (their billing day in the months
    12, 24, ... after signup), with the chance of ``renewal_months`` months of their
    current hazard; everyone else may leave at any time in the month.
    """
    a, b, length = grid.bounds[k], grid.bounds[k + 1], grid.nominal[k]
    idx = np.flatnonzero(state.alive & (traits.signup < b))
    if idx.size == 0:
        return None
    calendar_month = int(grid.calendar_month[k])
    lo = np.maximum(traits.signup[idx], a)
    tenure = (lo - traits.signup[idx]) / _MONTH
    z, bad = state.z[idx], state.bad[idx]
    satisfaction = traits.sat_mean[idx] + state.d[idx] + _M.sat_engagement * z - _M.sat_bad * bad
    gain = np.where(
        state.offer_left[idx] > 0,
        state.offer_gain[idx] * np.where(state.offer_callback[idx], np.minimum(bad, 1.0), 1.0),
        0.0,
    )
    since_discount = k - state.withdrawal_month[idx]
    withdrawal = (since_discount >= 0) & (since_discount < _M.withdrawal_months)
    usage = traits.lam[idx] * np.exp(z) * _MONTH_DAYS  # orders a month
    logit_hazard = (
        traits.base_logit[idx]
        + _drift(z)
        + _support(bad, traits.bad_threshold[idx], traits.bad_effect[idx])
        + _detractor(satisfaction)
        + _plan_fit(traits.plan[idx], usage)
        + _M.withdrawal_effect * (withdrawal & traits.price_sensitive[idx])
        + _M.new_customer_effect * np.exp(-tenure / _M.new_customer_months)
        + _M.loyalty_effect * np.minimum(tenure / _M.loyalty_months, 1.0)
        + _M.january_effect * (calendar_month == 1)
        - gain
    )
    hazard = _expit(logit_hazard)
    # a partial month (signup month, window end) has a proportionally smaller hazard
    exposure = (b - lo) / length
    bill = a + np.minimum(traits.signup[idx] - grid.bounds[traits.signup_month[idx]], length - 1)
    months_in = k - traits.signup_month[idx]
    annual = traits.annual[idx]
    renewal = annual & (months_in > 0) & (months_in % 12 == 0) & (bill < b)
    p_leave = np.where(
        annual,
        np.where(renewal, 1.0 - (1.0 - hazard) ** _M.renewal_months, 0.0),
        1.0 - (1.0 - hazard) ** exposure,
    )
    dies = rng.random(idx.size) < p_leave
    t_death = np.where(annual, bill, _uniform_times(rng, lo, b - lo))
    return _Month(
        k=k,
        calendar_month=calendar_month,
        start=int(a),
        end=int(b),
        idx=idx,
        lo=lo,
        hi=np.where(dies, t_death, b),
        dies=dies,
        z=z,
        bad=bad,
        satisfaction=satisfaction,
        logit_hazard=logit_hazard,
        bill=bill,
    )


def _orders(
    rng: np.random.Generator, traits: _Traits, state: _State, month: _Month, out: _Events
) -> None:
    """Orders (Poisson at ``lambda * exp(z)`` times seasonality) and their refunds."""
    idx, lo, span = month.idx, month.lo, month.span
    rate = traits.lam[idx] * np.exp(month.z) * _M.order_season[month.calendar_month - 1]
    who = np.repeat(np.arange(idx.size), rng.poisson(rate * month.days))
    t = _uniform_times(rng, lo[who], span[who])
    # most non-subscribers sign up with their first order
    welcome = np.flatnonzero(traits.first_order[idx] & (traits.signup[idx] >= month.start))
    t_welcome = _uniform_times(rng, lo[welcome], np.full(welcome.size, _HOUR))
    ok = t_welcome < month.hi[welcome]
    who = np.concatenate([who, welcome[ok]])
    t = np.concatenate([t, t_welcome[ok]])

    cust = idx[who]
    n = who.size
    segment = traits.segment[cust]
    category_p = np.asarray(_M.category_p)
    category_value = np.asarray(_M.category_value)
    category = _pick(rng.random(n), category_p[segment])
    mean_multiplier = (category_p @ category_value)[segment]
    gross = (
        traits.order_value[cust]
        * category_value[category]
        / mean_multiplier
        * rng.standard_gamma(_M.spend_shape, n)
        / _M.spend_shape
    )
    gross = np.maximum(np.round(gross, 2), 1.0)
    quantity = 1 + rng.poisson(0.5 * np.asarray(_M.category_items)[category])
    promo = rng.random(n) < np.asarray(_M.promo_p)[segment]
    rate_off = np.where(promo, 0.05 + 0.25 * rng.random(n), 0.0)
    rate_off = np.where(state.coupon_month[cust] == month.k, _M.coupon_rate, rate_off)
    discount = np.round(gross * rate_off, 2)
    amount = np.round(gross - discount, 2)
    out.add(
        customer_id=cust,
        t=t,
        amount=amount,
        quantity=quantity,
        category=category,
        discount=discount,
        is_refund=np.zeros(n, dtype=bool),
    )
    refunded = rng.random(n) < np.asarray(_M.refund_p)[category]
    delay = _uniform_times(rng, np.full(n, _DAY), np.full(n, 13 * _DAY))
    r = int(refunded.sum())
    out.add(
        customer_id=cust[refunded],
        t=(t + delay)[refunded],
        amount=-amount[refunded],
        quantity=quantity[refunded],
        category=category[refunded],
        discount=np.zeros(r),
        is_refund=np.ones(r, dtype=bool),
    )


def _fees(traits: _Traits, state: _State, month: _Month, out: _Events) -> None:
    """Plan fees billed on the signup day of the month while active.

    Monthly subscribers pay the plan price every month; annual subscribers pay
    ``annual_price_months`` times it at signup and at every renewal. A free month waives
    one monthly price of a bill falling in it.
    """
    idx, bill = month.idx, month.bill
    months_in = month.k - traits.signup_month[idx]
    due = ~traits.annual[idx] | (months_in % 12 == 0)
    billed = traits.is_sub[idx] & due & (bill >= month.lo) & (bill < month.hi)
    cust = idx[billed]
    free = state.free_month[cust] == month.k
    price = traits.fee[cust]
    amount = np.where(traits.annual[cust], price * _M.annual_price_months, price)
    n = cust.size
    out.add(
        customer_id=cust,
        t=bill[billed],
        amount=np.round(np.where(free, amount - price, amount), 2),
        quantity=np.ones(n, dtype=np.int64),
        category=np.full(n, CATEGORIES.index("subscription_fee")),
        discount=np.where(free, price, 0.0),
        is_refund=np.zeros(n, dtype=bool),
    )


def _tickets(
    rng: np.random.Generator, traits: _Traits, month: _Month, grid: _Grid, out: _Events
) -> np.ndarray:
    """Support tickets of the month; return each customer's bad-experience increment."""
    idx = month.idx
    rate = (
        _M.tickets_per_month
        * np.asarray(_M.ticket_segment)[traits.segment[idx]]
        * np.where(traits.is_sub[idx], _M.ticket_subscription, 1.0)
        * np.exp(_M.ticket_engagement * month.z)
        * month.days
        / _MONTH_DAYS
    )
    who = np.repeat(np.arange(idx.size), rng.poisson(rate))
    n = who.size
    cust = idx[who]
    opened = _uniform_times(rng, month.lo[who], month.span[who])
    category = np.where(
        traits.is_sub[cust],
        _pick(rng.random(n), np.asarray(_M.ticket_category_p_subscription)),
        _pick(rng.random(n), np.asarray(_M.ticket_category_p)),
    )
    channel = _pick(rng.random(n), np.asarray(_M.ticket_channel_p))
    hard = np.isin(category, [TICKET_CATEGORIES.index(c) for c in ("product", "technical")])
    phone = channel == TICKET_CHANNELS.index("phone")
    escalated = rng.random(n) < _expit(_logit(_M.escalation_p) + 0.7 * hard + 0.5 * phone)
    hours = np.asarray(_M.resolution_median_hours)[channel] * np.exp(
        _M.resolution_sigma * rng.standard_normal(n)
    )
    hours = np.where(escalated, hours * _M.escalation_slowdown, hours)
    resolved = opened + np.maximum((hours * _HOUR).astype(np.int64), 60)
    still_open = resolved >= grid.end
    satisfaction = (
        4.4 - 0.55 * np.log(hours / 12.0) - 1.0 * escalated + 0.7 * rng.standard_normal(n)
    )
    rated = (rng.random(n) < _M.ticket_rated_p) & ~still_open
    out.add(
        customer_id=cust,
        t=opened,
        resolved=np.where(still_open, _NO_TIME, resolved),
        category=category,
        channel=channel,
        escalated=escalated,
        csat=np.where(rated, np.clip(np.round(satisfaction), 1, 5).astype(np.int64), -1),
    )
    bad = (hours > _M.slow_hours) | escalated | (satisfaction < 2.5)
    harm = _M.ticket_harm + _M.bad_ticket_harm * bad
    return np.bincount(who, weights=harm, minlength=idx.size)


def _surveys(rng: np.random.Generator, month: _Month, out: _Events) -> None:
    """Survey answers: NPS, CSAT and CES as noisy reads of the latent satisfaction."""
    share = np.minimum(month.days / _MONTH_DAYS, 1.0)
    who = np.flatnonzero(rng.random(month.idx.size) < _M.survey_p * share)
    n = who.size
    t = _uniform_times(rng, month.lo[who], month.span[who])
    bad = month.bad[who]
    satisfaction = month.satisfaction[who]
    nps = np.clip(np.round(7.4 + 2.0 * (satisfaction + 0.3 * rng.standard_normal(n))), 0, 10)
    csat = np.clip(np.round(4.0 + 0.7 * (satisfaction + 0.6 * rng.standard_normal(n))), 1, 5)
    ces = np.clip(
        np.round(2.8 - 0.8 * satisfaction + 0.3 * bad + 0.8 * rng.standard_normal(n)), 1, 7
    )
    missing = rng.random((n, 3)) < np.array([_M.nps_missing_p, _M.csat_missing_p, _M.ces_missing_p])
    missing[:, 0] &= ~(missing[:, 1] & missing[:, 2])  # every answer has a score
    out.add(
        customer_id=month.idx[who],
        t=t,
        nps=np.where(missing[:, 0], -1, nps.astype(np.int64)),
        csat=np.where(missing[:, 1], -1, csat.astype(np.int64)),
        ces=np.where(missing[:, 2], -1, ces.astype(np.int64)),
    )


def _offers(
    rng: np.random.Generator,
    traits: _Traits,
    state: _State,
    month: _Month,
    campaigns: _Campaigns,
    out: _Events,
) -> None:
    """A campaign: target customers, choose their offer, record acceptance and cost.

    Targeting is partly random and partly aimed at disengaged and badly served
    customers; an accepted offer lowers the hazard over the next ``offer_months``.
    """
    idx, k = month.idx, month.k
    when = _uniform_times(
        rng, np.full(idx.size, month.start + campaigns.offset[k]), np.full(idx.size, 8 * _HOUR)
    )
    reachable = (when >= month.lo) & (when < month.hi)
    p_target = 0.02 + 0.10 * _expit(-2.5 * (month.z + 0.3)) + 0.06 * np.minimum(month.bad, 1.0)
    who = np.flatnonzero(reachable & (rng.random(idx.size) < p_target))
    cust = idx[who]
    offer = _choose_offers(
        rng.random(who.size),
        int(campaigns.theme[k]),
        traits.tier[cust],
        traits.is_sub[cust],
        traits.segment[cust],
        month.bad[who],
    )
    gain = traits.uplift[cust, offer]
    accept_logit = _logit(np.asarray(_M.accept_p))[offer] + gain - 0.4
    accepted = rng.random(who.size) < _expit(accept_logit)
    cost = np.asarray(_M.offer_cost)[offer]
    cost = np.where(np.isnan(cost), traits.fee[cust], cost)
    out.add(
        customer_id=cust,
        t=when[who],
        offer=offer,
        accepted=accepted,
        cost=np.where(accepted, cost, 0.0),
    )
    took, taken = cust[accepted], offer[accepted]
    state.offer_left[took] = _M.offer_months
    state.offer_gain[took] = gain[accepted]
    state.offer_callback[took] = taken == OFFER_IDS.index("priority_callback")
    state.coupon_month[took[taken == OFFER_IDS.index("discount_coupon")]] = k + 1
    state.free_month[took[taken == OFFER_IDS.index("free_month")]] = k + 1
    price_offer = np.isin(taken, [OFFER_IDS.index(o) for o in ("discount_coupon", "free_month")])
    state.withdrawal_month[took[price_offer]] = k + 1 + _M.offer_months


def _choose_offers(
    u: np.ndarray,
    theme: int,
    tier: np.ndarray,
    is_sub: np.ndarray,
    segment: np.ndarray,
    bad: np.ndarray,
) -> np.ndarray:
    """Which offer each targeted customer gets: the campaign theme plus simple rules."""
    w = np.zeros((u.size, len(OFFER_IDS)))
    w[:, 0] = 1.0 + 1.0 * (tier <= 1) + 1.0 * (segment == SEGMENTS.index("bargain_hunter"))
    w[:, 1] = 1.0
    w[:, 2] = np.where(is_sub, 1.5, 0.0)
    w[:, 3] = 0.2 + 2.0 * (tier >= 2)
    w[:, 4] = 0.1 + 3.0 * np.minimum(bad, 1.0)
    w[:, 5] = 0.6
    w[:, theme] *= 3.0
    return _pick(u, w)


def _assemble(
    traits: _Traits, death: np.ndarray, grid: _Grid, events: dict[str, _Events]
) -> dict[str, dict[str, np.ndarray]]:
    """Keep events inside the window and the customers' lives, sort them, name columns."""
    ids = traits.ids
    churned = death < grid.end
    is_sub = traits.is_sub
    out: dict[str, dict[str, np.ndarray]] = {
        "customers": {
            "customer_id": ids,
            "signup_at": traits.signup,
            "cancelled_at": np.where(is_sub & churned, death, _NO_TIME),
            "birth_date": traits.birth_day,
            "country": traits.country,
            "channel": traits.channel,
            "plan": traits.plan,
            "loyalty_tier": traits.tier,
            "contract_type": np.where(is_sub, 0, 1),
        },
        GROUND_TRUTH: {
            "customer_id": ids,
            "segment": traits.segment,
            "purchase_rate_per_day": traits.lam,
            "mean_order_value": traits.order_value,
            "base_monthly_hazard": _expit(traits.base_logit),
            "churned_at": np.where(churned, death, _NO_TIME),
            "is_subscription": is_sub,
            "annual_billing": traits.annual,
            **{f"uplift_{o}": traits.uplift[:, j] for j, o in enumerate(OFFER_IDS)},
            "shift_strength": traits.strength,
        },
    }
    time_columns = {
        "transactions": "ordered_at",
        "support_tickets": "opened_at",
        "surveys": "answered_at",
        "offers": "offered_at",
    }
    for name, time_column in time_columns.items():
        cols = events[name].arrays()
        pos, t = cols["customer_id"], cols["t"]
        limit = np.minimum(death[pos], grid.end)  # refunds may fall after death or end
        keep = (t < limit) & (t >= traits.signup[pos]) & (t >= grid.start)
        order = np.lexsort((t[keep], pos[keep]))
        cols = {key: values[keep][order] for key, values in cols.items()}
        cols["customer_id"] = ids[cols["customer_id"]]
        cols[time_column] = cols.pop("t")
        out[name] = cols
    return out


def _churn_counts(
    signup: np.ndarray, churned_at: np.ndarray, grid: _Grid
) -> tuple[np.ndarray, np.ndarray]:
    """Per month from ``start``: customers churning in it, customers active at its start."""
    death = np.where(churned_at == _NO_TIME, _NEVER, churned_at)
    starts = grid.bounds[grid.first : -1, None]
    ends = grid.bounds[grid.first + 1 :, None]
    active = (signup[None, :] < starts) & (death[None, :] >= starts)
    churned = active & (death[None, :] < ends)
    return churned.sum(axis=1), active.sum(axis=1)


# ----------------------------------------------------------------------------- output

_LABELS: dict[str, dict[str, tuple[str, ...]]] = {
    "customers": {
        "country": COUNTRIES,
        "channel": CHANNELS,
        "plan": PLANS,
        "loyalty_tier": TIERS,
        "contract_type": CONTRACT_TYPES,
    },
    "transactions": {"category": CATEGORIES},
    "support_tickets": {"category": TICKET_CATEGORIES, "channel": TICKET_CHANNELS},
    "surveys": {},
    "offers": {"offer_id": OFFER_IDS},
    GROUND_TRUTH: {"segment": SEGMENTS},
}
_RENAMES = {"offer": "offer_id", "resolved": "resolved_at"}


def _to_arrow(name: str, cols: dict[str, np.ndarray], first_row_id: int) -> pa.Table:
    """Typed Arrow table from simulated columns (seconds, codes; missing values marked).

    Event rows of ``transactions`` and ``support_tickets`` get running ids from
    ``first_row_id`` in file order.
    """
    cols = {_RENAMES.get(key, key): values for key, values in cols.items()}
    n = len(cols["customer_id"])
    row_ids = np.arange(first_row_id, first_row_id + n, dtype=np.int64)
    if name == "transactions":
        cols["order_id"] = row_ids
    elif name == "support_tickets":
        cols["ticket_id"] = row_ids
    arrays = []
    for fld in SCHEMAS[name]:
        values = cols[fld.name]
        if pa.types.is_timestamp(fld.type):
            missing = values == _NO_TIME
            micros = np.where(missing, 0, values) * 1_000_000
            arrays.append(pa.array(micros, type=pa.int64(), mask=missing).cast(fld.type))
        elif pa.types.is_date32(fld.type):
            arrays.append(pa.array(values.astype(np.int32), type=pa.int32()).cast(fld.type))
        elif fld.name in _LABELS[name]:
            codes = pa.array(values.astype(np.int32), type=pa.int32(), mask=values < 0)
            labels = pa.array(_LABELS[name][fld.name], type=_STR)
            arrays.append(pa.DictionaryArray.from_arrays(codes, labels).dictionary_decode())
        elif fld.type == _I64 and fld.name in ("nps", "csat", "ces"):
            arrays.append(pa.array(values, type=_I64, mask=values < 0))
        else:
            arrays.append(pa.array(values, type=fld.type))
    return pa.Table.from_arrays(arrays, schema=SCHEMAS[name])


class _Sink:
    """One output file, written in appended pieces under a temporary name, then renamed.

    The temporary file is :class:`features.atomic.AtomicTarget`'s (mode by the umask,
    leftovers of a killed earlier run removed, fsync before the rename).
    """

    def __init__(self, path: Path, schema: pa.Schema, file_format: str):
        self.path = path
        self.target = AtomicTarget(path)
        self.schema = schema
        self.file_format = file_format
        self._writer: pq.ParquetWriter | pacsv.CSVWriter | None = None

    def write(self, table: pa.Table) -> None:
        if self.file_format == "csv":
            table = _csv_view(table)
        if self._writer is None:
            tmp = self.target.open()
            if self.file_format == "parquet":
                self._writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
            else:
                options = pacsv.WriteOptions(quoting_style="none", quoting_header="none")
                self._writer = pacsv.CSVWriter(tmp, table.schema, write_options=options)
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is None:  # nothing written: still leave a typed, empty file
            self.write(self.schema.empty_table())
        assert self._writer is not None
        self._writer.close()
        self._writer = None

    def commit(self) -> None:
        self.target.commit()

    def abort(self) -> None:
        """Close and delete the temporary file, if any (no-op after :meth:`commit`)."""
        if self._writer is not None:
            try:
                self._writer.close()
            finally:
                self._writer = None
        self.target.discard()


def _csv_view(table: pa.Table) -> pa.Table:
    """Timestamps as ``2024-03-05T13:22:10Z``, dates as ``1990-04-02``, the rest as is."""
    columns = []
    for fld, col in zip(table.schema, table.columns, strict=True):
        if pa.types.is_timestamp(fld.type):
            naive = col.cast(pa.timestamp("s", tz="UTC")).cast(pa.timestamp("s"))
            text = pc.replace_substring(naive.cast(_STR), " ", "T")
            col = pc.binary_join_element_wise(text, "Z", "")
        elif pa.types.is_date32(fld.type):
            col = col.cast(_STR)
        columns.append(col)
    return pa.Table.from_arrays(columns, names=table.schema.names)
