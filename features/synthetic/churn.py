"""Month by month: each customer's evolving state, the churn hazard, and who leaves when."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.synthetic.customers import Traits
from features.synthetic.draws import expit, uniform_times
from features.synthetic.hazard import detractor, drift, plan_fit, support
from features.synthetic.params import DAY, MONTH, MONTH_DAYS, NEVER, M
from features.synthetic.timeline import Grid


@dataclass
class State:
    """Per-customer state that evolves month by month (arrays of length n)."""

    z: np.ndarray  # engagement
    d: np.ndarray  # satisfaction deviation from the customer's mean
    bad: np.ndarray  # decaying bad-support-experience score
    alive: np.ndarray
    death: np.ndarray  # epoch seconds, NEVER while alive
    offer_left: np.ndarray  # months an accepted offer still lowers the hazard
    offer_gain: np.ndarray
    offer_callback: np.ndarray
    coupon_month: np.ndarray  # grid month whose orders get the coupon discount
    free_month: np.ndarray  # grid month whose plan fee is waived
    withdrawal_month: np.ndarray  # first grid month after an accepted discount ran out

    @classmethod
    def initial(cls, traits: Traits) -> State:
        n = traits.ids.size
        return cls(
            z=traits.z0.copy(),
            d=traits.d0.copy(),
            bad=np.zeros(n),
            alive=np.ones(n, dtype=bool),
            death=np.full(n, NEVER, dtype=np.int64),
            offer_left=np.zeros(n, dtype=np.int64),
            offer_gain=np.zeros(n),
            offer_callback=np.zeros(n, dtype=bool),
            coupon_month=np.full(n, -1, dtype=np.int64),
            free_month=np.full(n, -1, dtype=np.int64),
            withdrawal_month=np.full(n, -100, dtype=np.int64),
        )


@dataclass(frozen=True)
class Month:
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
        return self.span / DAY


def hazard_and_deaths(
    rng: np.random.Generator, traits: Traits, state: State, grid: Grid, k: int
) -> Month | None:
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
    tenure = (lo - traits.signup[idx]) / MONTH
    z, bad = state.z[idx], state.bad[idx]
    satisfaction = traits.sat_mean[idx] + state.d[idx] + M.sat_engagement * z - M.sat_bad * bad
    gain = np.where(
        state.offer_left[idx] > 0,
        state.offer_gain[idx] * np.where(state.offer_callback[idx], np.minimum(bad, 1.0), 1.0),
        0.0,
    )
    since_discount = k - state.withdrawal_month[idx]
    withdrawal = (since_discount >= 0) & (since_discount < M.withdrawal_months)
    usage = traits.lam[idx] * np.exp(z) * MONTH_DAYS  # orders a month
    logit_hazard = (
        traits.base_logit[idx]
        + drift(z)
        + support(bad, traits.bad_threshold[idx], traits.bad_effect[idx])
        + detractor(satisfaction)
        + plan_fit(traits.plan[idx], usage)
        + M.withdrawal_effect * (withdrawal & traits.price_sensitive[idx])
        + M.new_customer_effect * np.exp(-tenure / M.new_customer_months)
        + M.loyalty_effect * np.minimum(tenure / M.loyalty_months, 1.0)
        + M.january_effect * (calendar_month == 1)
        - gain
    )
    hazard = expit(logit_hazard)
    # a partial month (signup month, window end) has a proportionally smaller hazard
    exposure = (b - lo) / length
    bill = a + np.minimum(traits.signup[idx] - grid.bounds[traits.signup_month[idx]], length - 1)
    months_in = k - traits.signup_month[idx]
    annual = traits.annual[idx]
    renewal = annual & (months_in > 0) & (months_in % 12 == 0) & (bill < b)
    p_leave = np.where(
        annual,
        np.where(renewal, 1.0 - (1.0 - hazard) ** M.renewal_months, 0.0),
        1.0 - (1.0 - hazard) ** exposure,
    )
    dies = rng.random(idx.size) < p_leave
    t_death = np.where(annual, bill, uniform_times(rng, lo, b - lo))
    return Month(
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
