"""Who the customers are: latent traits at signup, the initial base as survivors, uplifts."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from features.synthetic.draws import expit, logit, pick
from features.synthetic.hazard import detractor, drift, plan_fit
from features.synthetic.params import (
    DAY,
    MONTH,
    MONTH_DAYS,
    OFFER_IDS,
    PRE_START_MONTHS,
    SEGMENTS,
    M,
)
from features.synthetic.timeline import Grid


@dataclass(frozen=True)
class Traits:
    """Static per-customer draws of one block, arrays of length n.

    Categorical codes index the vocabularies of :mod:`features.synthetic.params`;
    ``plan`` is -1 for non-subscribers.
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


def draw_traits(
    rng: np.random.Generator,
    ids: np.ndarray,
    n_total: int,
    grid: Grid,
    shift: float,
    churn_level: float = 0.0,
) -> Traits:
    """Draw who the customers are. Draws never depend on ``shift``, only their use."""
    n = ids.size
    uni = rng.random((n, 10))
    nrm = rng.standard_normal((n, 6))
    gam = rng.standard_gamma(M.lambda_shape, n) / M.lambda_shape  # mean 1
    uplift_noise = np.exp(0.2 * rng.standard_normal((n, len(OFFER_IDS))))
    hazard_draws = rng.standard_normal((n, _SURVIVOR_DRAWS))
    z_draws = rng.standard_normal((n, _SURVIVOR_DRAWS)) * (M.z_sigma / math.sqrt(1 - M.z_rho**2))
    d_draws = rng.standard_normal((n, _SURVIVOR_DRAWS)) * M.sat_sd
    u_survivor = rng.random(n)

    # stratified quantiles: ids follow signup time whatever the block
    signup = grid.signup_times((ids - 1 + uni[:, 0]) / n_total)
    half = max((grid.end - grid.start) / 2, 1.0)
    strength = shift * np.clip((signup - grid.start) / half, 0.0, 1.0)
    s = strength[:, None]
    segment = pick(
        uni[:, 1], (1 - s) * np.asarray(M.segment_p) + s * np.asarray(M.segment_p_shifted)
    )
    channel = pick(
        uni[:, 2], (1 - s) * np.asarray(M.channel_p) + s * np.asarray(M.channel_p_shifted)
    )
    country = pick(uni[:, 3], np.asarray(M.country_p))
    is_sub = uni[:, 4] < np.asarray(M.subscription_p)[channel]
    plan = np.where(
        segment == SEGMENTS.index("high_value"),
        pick(uni[:, 5], np.asarray(M.plan_p_high_value)),
        pick(uni[:, 5], np.asarray(M.plan_p)),
    )
    plan = np.where(is_sub, plan, -1)
    fee = np.where(is_sub, np.asarray(M.plan_price)[np.maximum(plan, 0)], 0.0)
    annual = is_sub & (uni[:, 8] < np.asarray(M.annual_p)[np.maximum(plan, 0)])
    monthly_fee = np.where(annual, fee * M.annual_price_months / 12, fee)
    age = np.clip(M.age_mean + M.age_shift * strength + M.age_sd * nrm[:, 0], 18, 85)
    birth_day = signup // DAY - np.round(age * 365.2425).astype(np.int64)

    lam = np.asarray(M.orders_per_month)[segment] / MONTH_DAYS * gam
    lam = np.where(is_sub, lam * M.subscriber_order_factor, lam)
    never_orders = ~is_sub & (uni[:, 6] < M.never_order_p)
    lam = np.where(never_orders, 0.0, lam)
    first_order = ~is_sub & ~never_orders & (uni[:, 7] < M.first_order_p)
    order_value = (
        np.asarray(M.order_value_median)[segment]
        * np.asarray(M.country_value)[country]
        * np.exp(M.order_value_sigma * nrm[:, 1] + M.order_value_shift * strength)
    )
    # loyalty tier: from the value expected at signup, never from later behaviour
    monthly_value = lam * MONTH_DAYS * order_value + monthly_fee
    tier = np.searchsorted(_TIER_EDGES, np.log1p(monthly_value) + 0.25 * nrm[:, 2])

    base_logit = (
        logit(np.asarray(M.base_hazard))[segment]
        + M.hazard_level
        + churn_level
        + np.asarray(M.hazard_channel)[channel]
        + M.hazard_subscription * is_sub
        + M.hazard_tier * tier
        + M.hazard_shift * strength
        + M.hazard_frequency * np.log(np.maximum(gam, 0.05))
    )
    noise, z_start, d_start, sat_mean = _survivor_draws(
        base_logit,
        _Candidates(hazard_draws, z_draws, d_draws, nrm[:, 4]),
        u_survivor,
        (grid.start - signup) / MONTH,
        lam,
        np.where(is_sub, plan, -1),
        annual,
    )
    bargain = segment == SEGMENTS.index("bargain_hunter")
    signup_month = np.searchsorted(grid.bounds, signup, side="right") - 1
    return Traits(
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
        base_logit=base_logit + M.hazard_sd * noise,
        bad_effect=np.asarray(M.bad_support_effect)[segment],
        bad_threshold=np.where(tier >= 2, M.bad_threshold_high_tier, M.bad_threshold),
        price_sensitive=bargain | ((tier <= 1) & (uni[:, 9] < M.price_sensitive_p)),
        uplift=_uplifts(segment, tier, is_sub, plan, age) * uplift_noise,
        z0=np.where(signup < grid.start, z_start, M.z0_sd * nrm[:, 3]),
        sat_mean=sat_mean,
        d0=np.where(signup < grid.start, d_start, M.sat_sd * nrm[:, 5]),
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
    base_logit: np.ndarray,
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
    corr = M.sat_mean_hazard
    noise = candidates.noise
    sat_mean = M.sat_mean_sd * (
        corr * noise + math.sqrt(1 - corr**2) * candidates.sat_noise[:, None]
    )
    rows = np.arange(len(u))
    chosen = np.zeros(len(u), dtype=np.int64)
    old = np.flatnonzero(months_before_start >= 1.0)
    if old.size:
        chosen[old] = pick(
            u[old],
            _survival_weights(
                base_logit[old],
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
        noise[rows, chosen],
        candidates.z[rows, chosen],
        candidates.d[rows, chosen],
        sat_mean[rows, chosen],
    )


def _survival_weights(
    base_logit: np.ndarray,
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
    tenure = M.new_customer_effect * np.exp(-life / M.new_customer_months)
    tenure = tenure + M.loyalty_effect * np.minimum(life / M.loyalty_months, 1.0)
    # typical months: engagement and satisfaction deviation averaged over three points
    sd_z = M.z_sigma / math.sqrt(1 - M.z_rho**2)
    sd_s = math.sqrt(M.sat_sd**2 + (M.sat_engagement * sd_z) ** 2)
    nodes, w = np.array([-math.sqrt(3.0), 0.0, math.sqrt(3.0)]), np.array([1, 4, 1]) / 6
    typical = float(w @ drift(sd_z * nodes)) + sum(
        wi * detractor(sat_mean + sd_s * x)
        + wi * plan_fit(plan[:, None], lam[:, None] * np.exp(sd_z * x) * MONTH_DAYS)
        for x, wi in zip(nodes, w, strict=True)
    )
    recent = (
        drift(z)
        + detractor(sat_mean + d + M.sat_engagement * z)
        + plan_fit(plan[:, None], lam[:, None] * np.exp(z) * MONTH_DAYS)
    )
    base = base_logit[:, None] + M.hazard_sd * noise  # (n, k)
    m = months[:, None]
    is_recent = life[None, :] >= m - 6  # (n, L)
    lived = life[None, :] < m
    renews = (life > 0) & (life % 12 == 0)
    weight_month = np.where(annual[:, None], M.renewal_months * renews[None, :], 1.0) * lived
    log_surv = np.zeros(base.shape)
    for recent_part, months_mask in ((recent, is_recent), (typical, ~is_recent)):
        h = expit(base[:, :, None] + recent_part[:, :, None] + tenure[None, None, :])
        log_surv += np.einsum("nkl,nl->nk", np.log1p(-h), weight_month * months_mask)
    return np.exp(log_surv - log_surv.max(axis=1, keepdims=True))


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
