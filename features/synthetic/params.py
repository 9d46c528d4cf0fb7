"""The generative model's numbers: parameters, vocabularies, time units and sizes.

Rates are per calendar month unless named; :mod:`features.synthetic` describes the
model they parametrise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TRANSACTIONS_PER_CUSTOMER = 22.0
"""Transaction rows per customer for the default 4-year window (about; ±5 %).

Use it to size a data set: ``customers = round(target_rows / TRANSACTIONS_PER_CUSTOMER)``
(about 45 000 customers for 1 M transactions, 450 000 for 10 M). Shorter windows give
fewer rows per customer.
"""

EVENTS_PER_TRANSACTION = 2.8
"""Engagement event rows per transaction row at ``event_rate=1`` (about; default window).

Scale it with ``generate(..., event_rate=r)``: about ``2.8 r`` events per transaction.
"""

BLOCK_CUSTOMERS = 5_000
"""Customers per simulation block: the unit that owns one independent random stream."""

PRE_START_MONTHS = 36
"""How far before ``start`` the initial base may have signed up, in months."""

SEGMENTS = ("regular", "bargain_hunter", "high_value", "occasional", "service_sensitive")
CHANNELS = ("web", "app", "store", "partner")
COUNTRIES = ("DE", "FR", "GB", "US", "ES", "NL")
PLANS = ("basic", "standard", "premium")
TIERS = ("bronze", "silver", "gold", "platinum")
CATEGORIES = ("grocery", "fashion", "electronics", "home", "beauty", "subscription_fee")
TICKET_CATEGORIES = ("billing", "delivery", "product", "account", "technical")
TICKET_CHANNELS = ("email", "chat", "phone")
EVENT_CHANNELS = ("app", "web", "email")
OFFER_IDS = (
    "discount_coupon",
    "loyalty_points",
    "free_month",
    "vip_upgrade",
    "priority_callback",
    "referral_bonus",
)

DAY = 86_400
HOUR = 3_600
MONTH_DAYS = 365.2425 / 12
MONTH = MONTH_DAYS * DAY
NEVER = np.iinfo(np.int64).max  # death time of a customer still alive
NO_TIME = np.iinfo(np.int64).min  # a missing timestamp (times may precede 1970)

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
    accept_offset: float = 0.4  # acceptance logit = logit(accept_p) + uplift - offset
    # targeting: p = base + disengaged * expit(-2.5 (z + 0.3)) + bad_support * min(bad, 1)
    #            + risk * monthly hazard (marketing aims at the customers it sees at risk)
    target_base: float = 0.02
    target_disengaged: float = 0.10
    target_bad_support: float = 0.06
    target_risk: float = 0.5
    # engagement events (own random stream; rows follow schema.EVENT_FAMILIES)
    event_rates: _Vec = (2.0, 0.8, 0.0, 0.0, 0.05, 0.02, 0.2)  # per month at z = 0
    event_subscriber_login: float = 2.5  # subscribers log in this many times as often
    event_sd: float = 0.7  # per-customer log-normal spread of the rates
    event_engagement: float = 1.0  # rate multiplier exp(event_engagement * z)
    event_noise_sd: float = 0.3  # per customer-month log-normal noise
    event_season: _Vec = (1.1, 1.0, 1.0, 0.95, 0.9, 0.85, 0.8, 0.85, 1.0, 1.0, 1.15, 1.25)
    emails_per_month: float = 4.0
    email_open_p: float = 0.25  # at z = 0; e-mails opened
    email_click_p: float = 0.2  # of opened e-mails
    event_fade_days: float = 28.0  # activity fades over about this many days before churn
    event_fade_depth: float = 0.9  # share of activity gone at the moment of churn


M = _Model()
