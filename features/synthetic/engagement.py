"""Engagement events: sessions, logins, e-mail opens and clicks, reviews, referrals.

Drawn from their own random stream (spawned from the block's), so adding them leaves
every other table byte-identical for a seed. Per customer and month, each family is
Poisson with rate ``base * exp(event_engagement * z) * season * noise``: the same latent
engagement ``z`` that drives orders and the churn hazard, a per-customer level
(log-normal, subscribers log in more), a calendar season and month-to-month log-normal
noise. E-mails arrive at ``emails_per_month``; each is opened with a chance rising with
``z`` and an opened one clicked with ``email_click_p``. Reviews carry a star rating
(``value``, 1–5) read from the latent satisfaction.

Before churning, activity fades: :func:`fade_before_death` keeps an event at ``t`` with
chance ``1 - event_fade_depth * exp(-(death - t) / event_fade_days)``, so logins thin out
in the weeks before a cancellation (and before a non-contractual customer's last day).
"""

from __future__ import annotations

import numpy as np

from features.contract.schema import EVENT_FAMILIES
from features.synthetic.activity import Events
from features.synthetic.churn import Month
from features.synthetic.customers import Traits
from features.synthetic.draws import expit, logit, uniform_times
from features.synthetic.params import CHANNELS, DAY, EVENT_CHANNELS, HOUR, MONTH_DAYS, M

_LOGIN, _OPEN, _CLICK, _REVIEW = (
    EVENT_FAMILIES.index(f) for f in ("login", "email_open", "email_click", "review")
)
_APP, _WEB, _EMAIL = (EVENT_CHANNELS.index(c) for c in ("app", "web", "email"))
_APP_CUSTOMER = CHANNELS.index("app")


def new_buffer() -> Events:
    """An empty :class:`Events` buffer for the ``events`` table."""
    return Events(event_type=np.int64, value=np.float64, channel=np.int64)


def draw_levels(rng: np.random.Generator, traits: Traits, *, scale: float = 1.0) -> np.ndarray:
    """Per-customer monthly rate of each family at ``z = 0``, shape (n, n_families).

    ``scale`` multiplies every rate (the e-mails sent too, see :func:`engagement_events`).
    """
    n = traits.ids.size
    rates = (
        scale
        * np.asarray(M.event_rates)
        * np.exp(M.event_sd * rng.standard_normal((n, 1)) - M.event_sd**2 / 2)
    )
    rates[:, _LOGIN] *= np.where(traits.is_sub, M.event_subscriber_login, 1.0)
    return rates


def engagement_events(
    rng: np.random.Generator,
    traits: Traits,
    levels: np.ndarray,
    month: Month,
    out: Events,
    *,
    email_rate: float = 1.0,
) -> None:
    """Append the month's engagement events of the customers present in it.

    ``email_rate`` multiplies the e-mails sent (the ``event_rate`` of :func:`generate`).
    """
    idx, n = month.idx, month.idx.size
    scale = (
        np.exp(M.event_engagement * month.z + M.event_noise_sd * rng.standard_normal(n))
        * M.event_season[month.calendar_month - 1]
        * month.days
        / MONTH_DAYS
    )
    counts = rng.poisson(levels[idx] * scale[:, None])
    emails = rng.poisson(email_rate * M.emails_per_month * month.days / MONTH_DAYS)
    open_p = expit(logit(M.email_open_p) + M.event_engagement * month.z)
    counts[:, _OPEN] = rng.binomial(emails, open_p)
    who = np.repeat(np.repeat(np.arange(n), counts.shape[1]), counts.ravel())
    kind = np.repeat(np.tile(np.arange(counts.shape[1]), n), counts.ravel())
    t = uniform_times(rng, month.lo[who], month.span[who])
    opened = kind == _OPEN
    clicked = opened & (rng.random(kind.size) < M.email_click_p)
    c = int(clicked.sum())
    click_t = t[clicked] + uniform_times(rng, np.zeros(c, np.int64), np.full(c, HOUR))
    who = np.concatenate([who, who[clicked]])
    kind = np.concatenate([kind, np.full(click_t.size, _CLICK)])
    t = np.concatenate([t, click_t])
    m = kind.size
    app_user = traits.channel[idx[who]] == _APP_CUSTOMER
    channel = np.where(rng.random(m) < np.where(app_user, 0.8, 0.3), _APP, _WEB)
    channel = np.where((kind == _OPEN) | (kind == _CLICK), _EMAIL, channel)
    noise = rng.standard_normal(m)
    stars = np.clip(np.round(3.8 + 0.8 * month.satisfaction[who] + 0.7 * noise), 1, 5)
    out.add(
        customer_id=idx[who],
        t=t,
        event_type=kind,
        value=np.where(kind == _REVIEW, stars, np.nan),
        channel=channel,
    )


def fade_before_death(rng: np.random.Generator, out: Events, death: np.ndarray) -> None:
    """Thin the events of the weeks before each customer's churn, in place (see module)."""
    cols = out.arrays()
    before = (death[cols["customer_id"]] - cols["t"]) / DAY
    fade = M.event_fade_depth * np.exp(-np.maximum(before, 0.0) / M.event_fade_days)
    keep = rng.random(before.size) >= fade
    for name, values in cols.items():
        out.parts[name] = [values[keep]]
