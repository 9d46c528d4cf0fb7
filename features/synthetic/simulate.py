"""One block of customers simulated over the window, assembled into table columns."""

from __future__ import annotations

import math

import numpy as np

from features.contract.schema import CUSTOMER_ID
from features.contract.schema import TABLES as CONTRACT_TABLES
from features.synthetic.activity import Events, fees, offers, orders, surveys, tickets
from features.synthetic.churn import State, hazard_and_deaths
from features.synthetic.customers import Traits, draw_traits
from features.synthetic.draws import expit
from features.synthetic.engagement import (
    draw_levels,
    engagement_events,
    fade_before_death,
    new_buffer,
)
from features.synthetic.params import NO_TIME, OFFER_IDS, M
from features.synthetic.tables import GROUND_TRUTH
from features.synthetic.timeline import Campaigns, Grid


def simulate_block(
    ids: np.ndarray,
    n_total: int,
    grid: Grid,
    campaigns: Campaigns,
    shift: float,
    seed_seq: np.random.SeedSequence,
    *,
    event_rate: float = 1.0,
    churn_level: float = 0.0,
) -> dict[str, dict[str, np.ndarray]]:
    """Simulate customers ``ids`` (consecutive) over the window; return table columns.

    Each month: hazard and deaths, then orders, refunds and fees, tickets, surveys,
    engagement events and offers in the customers' alive time, then the state moves on;
    at the end, engagement fades in the weeks before each churn. Times are epoch
    seconds (``NO_TIME`` when missing), categorical columns and scores integer codes
    (-1 when missing).
    """
    rng = np.random.default_rng(seed_seq)
    # engagement events draw from their own stream: the other tables stay as they were
    engage_rng = np.random.default_rng(seed_seq.spawn(1)[0])
    traits = draw_traits(rng, ids, n_total, grid, shift, churn_level)
    levels = draw_levels(engage_rng, traits, scale=event_rate)
    state = State.initial(traits)
    events = {
        "transactions": Events(
            amount=np.float64,
            quantity=np.int64,
            category=np.int64,
            discount=np.float64,
            is_refund=bool,
        ),
        "support_tickets": Events(
            resolved=np.int64,
            category=np.int64,
            channel=np.int64,
            escalated=bool,
            csat=np.int64,
        ),
        "surveys": Events(nps=np.int64, csat=np.int64, ces=np.int64),
        "offers": Events(offer=np.int64, accepted=bool, cost=np.float64),
        "events": new_buffer(),
    }
    for k in range(max(grid.first, int(traits.signup_month.min())), len(grid.bounds) - 1):
        month = hazard_and_deaths(rng, traits, state, grid, k)
        if month is None:
            continue
        orders(rng, traits, state, month, events["transactions"])
        fees(traits, state, month, events["transactions"])
        harm = tickets(rng, traits, month, grid, events["support_tickets"])
        surveys(rng, month, events["surveys"])
        engagement_events(
            engage_rng, traits, levels, month, events["events"], email_rate=event_rate
        )
        state.offer_left[month.idx] = np.maximum(state.offer_left[month.idx] - 1, 0)
        if campaigns.active[k]:
            offers(rng, traits, state, month, campaigns, events["offers"])
        # the state moves on to the next month
        state.bad[month.idx] = M.bad_decay * month.bad + harm
        state.z[month.idx] = M.z_rho * month.z + M.z_sigma * rng.standard_normal(month.idx.size)
        state.d[month.idx] = M.sat_rho * state.d[month.idx] + M.sat_sd * math.sqrt(
            1 - M.sat_rho**2
        ) * rng.standard_normal(month.idx.size)
        dead = month.idx[month.dies]
        state.alive[dead] = False
        state.death[dead] = month.hi[month.dies]
    fade_before_death(engage_rng, events["events"], state.death)
    return _assemble(traits, state.death, grid, events)


def _assemble(
    traits: Traits, death: np.ndarray, grid: Grid, events: dict[str, Events]
) -> dict[str, dict[str, np.ndarray]]:
    """Keep events inside the window and the customers' lives, sort them, name columns."""
    ids = traits.ids
    churned = death < grid.end
    is_sub = traits.is_sub
    out: dict[str, dict[str, np.ndarray]] = {
        "customers": {
            CUSTOMER_ID: ids,
            "signup_at": traits.signup,
            "cancelled_at": np.where(is_sub & churned, death, NO_TIME),
            "birth_date": traits.birth_day,
            "country": traits.country,
            "channel": traits.channel,
            "plan": traits.plan,
            "loyalty_tier": traits.tier,
            "contract_type": np.where(is_sub, 0, 1),
        },
        GROUND_TRUTH: {
            CUSTOMER_ID: ids,
            "segment": traits.segment,
            "purchase_rate_per_day": traits.lam,
            "mean_order_value": traits.order_value,
            "base_monthly_hazard": expit(traits.base_logit),
            "churned_at": np.where(churned, death, NO_TIME),
            "is_subscription": is_sub,
            "annual_billing": traits.annual,
            **{f"uplift_{o}": traits.uplift[:, j] for j, o in enumerate(OFFER_IDS)},
            "shift_strength": traits.strength,
        },
    }
    for name, buffer in events.items():
        cols = buffer.arrays()
        pos, t = cols["customer_id"], cols["t"]
        limit = np.minimum(death[pos], grid.end)  # refunds may fall after death or end
        keep = (t < limit) & (t >= traits.signup[pos]) & (t >= grid.start)
        order = np.lexsort((t[keep], pos[keep]))
        cols = {key: values[keep][order] for key, values in cols.items()}
        cols[CUSTOMER_ID] = ids[cols.pop("customer_id")]  # block positions to ids
        cols[CONTRACT_TABLES[name].time_column] = cols.pop("t")
        out[name] = cols
    return out
