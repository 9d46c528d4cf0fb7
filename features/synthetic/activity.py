"""What customers do in a month: orders and refunds, plan fees, tickets, surveys, offers.

Each function draws one kind of event for the customers present in a month and appends
it to an :class:`Events` buffer; :func:`offers` also updates the state an accepted offer
changes.
"""

from __future__ import annotations

import numpy as np

from features.synthetic.churn import Month, State
from features.synthetic.customers import Traits
from features.synthetic.draws import expit, logit, pick, uniform_times
from features.synthetic.params import (
    CATEGORIES,
    DAY,
    HOUR,
    MONTH_DAYS,
    NO_TIME,
    OFFER_IDS,
    SEGMENTS,
    TICKET_CATEGORIES,
    TICKET_CHANNELS,
    M,
)
from features.synthetic.timeline import Campaigns, Grid


class Events:
    """Columns of one event table, appended month by month, concatenated at the end.

    ``customer_id`` holds positions in the block until the block is assembled
    (:mod:`features.synthetic.simulate`) and they become ids; ``t`` is the event time in
    epoch seconds.
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


def orders(
    rng: np.random.Generator, traits: Traits, state: State, month: Month, out: Events
) -> None:
    """Orders (Poisson at ``lambda * exp(z)`` times seasonality) and their refunds."""
    idx, lo, span = month.idx, month.lo, month.span
    rate = traits.lam[idx] * np.exp(month.z) * M.order_season[month.calendar_month - 1]
    who = np.repeat(np.arange(idx.size), rng.poisson(rate * month.days))
    t = uniform_times(rng, lo[who], span[who])
    # most non-subscribers sign up with their first order
    welcome = np.flatnonzero(traits.first_order[idx] & (traits.signup[idx] >= month.start))
    t_welcome = uniform_times(rng, lo[welcome], np.full(welcome.size, HOUR))
    ok = t_welcome < month.hi[welcome]
    who = np.concatenate([who, welcome[ok]])
    t = np.concatenate([t, t_welcome[ok]])

    cust = idx[who]
    n = who.size
    segment = traits.segment[cust]
    category_p = np.asarray(M.category_p)
    category_value = np.asarray(M.category_value)
    category = pick(rng.random(n), category_p[segment])
    mean_multiplier = (category_p @ category_value)[segment]
    gross = (
        traits.order_value[cust]
        * category_value[category]
        / mean_multiplier
        * rng.standard_gamma(M.spend_shape, n)
        / M.spend_shape
    )
    gross = np.maximum(np.round(gross, 2), 1.0)
    quantity = 1 + rng.poisson(0.5 * np.asarray(M.category_items)[category])
    promo = rng.random(n) < np.asarray(M.promo_p)[segment]
    rate_off = np.where(promo, 0.05 + 0.25 * rng.random(n), 0.0)
    rate_off = np.where(state.coupon_month[cust] == month.k, M.coupon_rate, rate_off)
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
    refunded = rng.random(n) < np.asarray(M.refund_p)[category]
    delay = uniform_times(rng, np.full(n, DAY), np.full(n, 13 * DAY))
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


def fees(traits: Traits, state: State, month: Month, out: Events) -> None:
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
    amount = np.where(traits.annual[cust], price * M.annual_price_months, price)
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


def tickets(
    rng: np.random.Generator, traits: Traits, month: Month, grid: Grid, out: Events
) -> np.ndarray:
    """Support tickets of the month; return each customer's bad-experience increment."""
    idx = month.idx
    rate = (
        M.tickets_per_month
        * np.asarray(M.ticket_segment)[traits.segment[idx]]
        * np.where(traits.is_sub[idx], M.ticket_subscription, 1.0)
        * np.exp(M.ticket_engagement * month.z)
        * month.days
        / MONTH_DAYS
    )
    who = np.repeat(np.arange(idx.size), rng.poisson(rate))
    n = who.size
    cust = idx[who]
    opened = uniform_times(rng, month.lo[who], month.span[who])
    category = np.where(
        traits.is_sub[cust],
        pick(rng.random(n), np.asarray(M.ticket_category_p_subscription)),
        pick(rng.random(n), np.asarray(M.ticket_category_p)),
    )
    channel = pick(rng.random(n), np.asarray(M.ticket_channel_p))
    hard = np.isin(category, [TICKET_CATEGORIES.index(c) for c in ("product", "technical")])
    phone = channel == TICKET_CHANNELS.index("phone")
    escalated = rng.random(n) < expit(logit(M.escalation_p) + 0.7 * hard + 0.5 * phone)
    hours = np.asarray(M.resolution_median_hours)[channel] * np.exp(
        M.resolution_sigma * rng.standard_normal(n)
    )
    hours = np.where(escalated, hours * M.escalation_slowdown, hours)
    resolved = opened + np.maximum((hours * HOUR).astype(np.int64), 60)
    still_open = resolved >= grid.end
    satisfaction = (
        4.4 - 0.55 * np.log(hours / 12.0) - 1.0 * escalated + 0.7 * rng.standard_normal(n)
    )
    rated = (rng.random(n) < M.ticket_rated_p) & ~still_open
    out.add(
        customer_id=cust,
        t=opened,
        resolved=np.where(still_open, NO_TIME, resolved),
        category=category,
        channel=channel,
        escalated=escalated,
        csat=np.where(rated, np.clip(np.round(satisfaction), 1, 5).astype(np.int64), -1),
    )
    bad = (hours > M.slow_hours) | escalated | (satisfaction < 2.5)
    harm = M.ticket_harm + M.bad_ticket_harm * bad
    return np.bincount(who, weights=harm, minlength=idx.size)


def surveys(rng: np.random.Generator, month: Month, out: Events) -> None:
    """Survey answers: NPS, CSAT and CES as noisy reads of the latent satisfaction."""
    share = np.minimum(month.days / MONTH_DAYS, 1.0)
    who = np.flatnonzero(rng.random(month.idx.size) < M.survey_p * share)
    n = who.size
    t = uniform_times(rng, month.lo[who], month.span[who])
    bad = month.bad[who]
    satisfaction = month.satisfaction[who]
    nps = np.clip(np.round(7.4 + 2.0 * (satisfaction + 0.3 * rng.standard_normal(n))), 0, 10)
    csat = np.clip(np.round(4.0 + 0.7 * (satisfaction + 0.6 * rng.standard_normal(n))), 1, 5)
    ces = np.clip(
        np.round(2.8 - 0.8 * satisfaction + 0.3 * bad + 0.8 * rng.standard_normal(n)), 1, 7
    )
    missing = rng.random((n, 3)) < np.array([M.nps_missing_p, M.csat_missing_p, M.ces_missing_p])
    missing[:, 0] &= ~(missing[:, 1] & missing[:, 2])  # every answer has a score
    out.add(
        customer_id=month.idx[who],
        t=t,
        nps=np.where(missing[:, 0], -1, nps.astype(np.int64)),
        csat=np.where(missing[:, 1], -1, csat.astype(np.int64)),
        ces=np.where(missing[:, 2], -1, ces.astype(np.int64)),
    )


def offers(
    rng: np.random.Generator,
    traits: Traits,
    state: State,
    month: Month,
    campaigns: Campaigns,
    out: Events,
) -> None:
    """A campaign: target customers, choose their offer, record acceptance and cost.

    Targeting is partly random and partly aimed at the customers at risk: the
    disengaged, the badly served and those of high current hazard (confounded, as
    real campaigns are: offered customers churn more than the others before any
    effect); an accepted offer lowers the hazard over the next ``offer_months``.
    """
    idx, k = month.idx, month.k
    when = uniform_times(
        rng, np.full(idx.size, month.start + campaigns.offset[k]), np.full(idx.size, 8 * HOUR)
    )
    reachable = (when >= month.lo) & (when < month.hi)
    p_target = (
        M.target_base
        + M.target_disengaged * expit(-2.5 * (month.z + 0.3))
        + M.target_bad_support * np.minimum(month.bad, 1.0)
        + M.target_risk * expit(month.logit_hazard)
    )
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
    accepted = rng.random(who.size) < accept_probability(offer, gain)
    cost = np.asarray(M.offer_cost)[offer]
    cost = np.where(np.isnan(cost), traits.fee[cust], cost)
    out.add(
        customer_id=cust,
        t=when[who],
        offer=offer,
        accepted=accepted,
        cost=np.where(accepted, cost, 0.0),
    )
    took, taken = cust[accepted], offer[accepted]
    state.offer_left[took] = M.offer_months
    state.offer_gain[took] = gain[accepted]
    state.offer_callback[took] = taken == OFFER_IDS.index("priority_callback")
    state.coupon_month[took[taken == OFFER_IDS.index("discount_coupon")]] = k + 1
    state.free_month[took[taken == OFFER_IDS.index("free_month")]] = k + 1
    price_offer = np.isin(taken, [OFFER_IDS.index(o) for o in ("discount_coupon", "free_month")])
    state.withdrawal_month[took[price_offer]] = k + 1 + M.offer_months


def accept_probability(offer: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """Chance that a customer accepts offer ``offer`` (index into ``OFFER_IDS``), 0–1.

    ``expit(logit(accept_p[offer]) + gain − accept_offset)``: customers the offer would
    help more (``gain``, the planted hazard-logit reduction) take it more often.
    """
    return expit(logit(np.asarray(M.accept_p))[offer] + gain - M.accept_offset)


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
    return pick(u, w)
