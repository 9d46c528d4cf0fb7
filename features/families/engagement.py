"""Engagement features from the ``events`` table: interactions between purchases.

Every number comes from events strictly before ``as_of`` (an :class:`EventView`), per
customer, so the family is partition-invariant like the others. The engagement index is
defined once here (docs/features.md, "Engagement index"):

* each event scores its family's weight (:data:`FAMILY_WEIGHTS`: a referral 10, a
  review 5, an e-mail click 2, a session or login 1, an e-mail open or other 0.5);
* the score of a 30-day window is the sum of the weights of its events;
* the index of a window is ``100 * score / (score + ENGAGEMENT_HALF_SCORE)``: 0 with no
  event, 50 at :data:`ENGAGEMENT_HALF_SCORE` points a month, approaching 100. It is
  normalised on this fixed scale, not by the base's quantiles, so one customer's index
  does not depend on who else is scored (and any partition gives the same value).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.contract.schema import EVENT_FAMILIES
from features.families.events import EventView, ratio

FAMILY_WEIGHTS: dict[str, float] = {
    "session": 1.0,
    "login": 1.0,
    "email_open": 0.5,
    "email_click": 2.0,
    "review": 5.0,
    "referral": 10.0,
    "other": 0.5,
}
"""Points per event of each family in the engagement score."""

ENGAGEMENT_HALF_SCORE = 20.0
"""Points in 30 days at which the engagement index is 50."""

INDEX_WINDOW_DAYS = 30
"""Days per window of the engagement index (its monthly series steps by this)."""

INDEX_HISTORY_WINDOWS = 12
"""Windows of the index series searched for a halving (12 × 30 days)."""

ACTIVE_DAY_WINDOWS = (30, 90)


def engagement_index(score: np.ndarray) -> np.ndarray:
    """Engagement index 0–100 from a 30-day weighted score (points), float64, same shape."""
    score = np.asarray(score, dtype="float64")
    return 100.0 * score / (score + ENGAGEMENT_HALF_SCORE)


def family_codes(events: EventView) -> np.ndarray:
    """Family code of each visible event (position in :data:`EVENT_FAMILIES`), int8."""
    return events.rows["event_type"].cat.codes.to_numpy()


def index_series(events: EventView, *, windows: int = INDEX_HISTORY_WINDOWS) -> np.ndarray:
    """Engagement index per customer and 30-day window back from ``as_of``.

    Returns
    -------
    ndarray of float64, shape (n_customers, windows)
        Column ``k`` is the index of the window ``[as_of - 30(k+1), as_of - 30k)`` days:
        column 0 is the latest 30 days.
    """
    weights = np.array([FAMILY_WEIGHTS[f] for f in EVENT_FAMILIES])[family_codes(events)]
    window = np.ceil(events.age / INDEX_WINDOW_DAYS).astype("int64") - 1
    keep = window < windows
    cell = events.pos[keep] * windows + window[keep]
    score = np.bincount(cell, weights=weights[keep], minlength=events.n * windows)
    return engagement_index(score.reshape(events.n, windows))


def days_since_halving(series: np.ndarray) -> np.ndarray:
    """Days since the engagement index last fell to half (or less) of the window before.

    ``series`` is :func:`index_series`'s (n, k) array. A halving into window ``j`` (the
    index of window ``j`` at most half that of window ``j + 1``, which was positive) is
    dated at that window's end, ``30 j`` days before ``as_of``: 0 means the latest 30
    days are at most half the 30 before. NaN when no halving in the series. float64 (n,).
    """
    halved = (series[:, :-1] <= 0.5 * series[:, 1:]) & (series[:, 1:] > 0)
    first = np.argmax(halved, axis=1).astype("float64")
    first[~halved.any(axis=1)] = np.nan
    return first * INDEX_WINDOW_DAYS


def family_counts(events: EventView, codes: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Events per customer and family among ``mask``, float64, shape (n, n_families).

    One pass over the events (no mask per family: at tens of millions of events a
    boolean array per family and window would cost more than the counting).
    """
    k = len(EVENT_FAMILIES)
    cell = events.pos[mask] * k + codes[mask]
    return np.bincount(cell, minlength=events.n * k).reshape(events.n, k).astype("float64")


def active_days(events: EventView, days: float) -> np.ndarray:
    """Distinct UTC days with at least one event in the last ``days``, per customer."""
    mask = events.within(days)
    pos = events.pos[mask]
    day = np.floor(events.age[mask])  # as_of is a UTC midnight: day k = k days before it
    new = np.r_[True, (pos[1:] != pos[:-1]) | (day[1:] != day[:-1])] if pos.size else mask[:0]
    return np.bincount(pos[new], minlength=events.n).astype("float64")


def engagement_features(events: EventView, *, windows: Sequence[int]) -> dict[str, np.ndarray]:
    """Engagement features as of the view's cutoff, each float64 of shape (n_customers,).

    - ``events_<family>_<w>d``: events of each family in the last ``w`` days, per window;
    - ``days_since_session``, ``days_since_login``, ``days_since_event``: days since the
      latest one (NaN if none);
    - ``active_days_30d``, ``active_days_90d``: distinct days with any event;
    - ``engagement_trend``: (events in the last 30 days − the 30 before) / their sum,
      −1 to 1 (NaN with none in either);
    - ``email_ctr_90d``: e-mail clicks / opens in the last 90 days (NaN with no open);
    - ``engagement_index``: the index (0–100) of the last 30 days;
      ``engagement_index_prev``: of the 30 days before;
    - ``days_since_engagement_halved``: see :func:`days_since_halving`.
    """
    codes = family_codes(events)
    out: dict[str, np.ndarray] = {}
    per_window = {w: family_counts(events, codes, events.within(w)) for w in windows}
    for j, family in enumerate(EVENT_FAMILIES):
        for w in windows:
            out[f"events_{family}_{w}d"] = per_window[w][:, j]
    out["days_since_session"] = events.min_age(codes == EVENT_FAMILIES.index("session"))
    out["days_since_login"] = events.min_age(codes == EVENT_FAMILIES.index("login"))
    out["days_since_event"] = events.min_age()
    for w in ACTIVE_DAY_WINDOWS:
        out[f"active_days_{w}d"] = active_days(events, w)
    recent = events.count(events.within(30))
    before = events.count(events.within(60)) - recent
    out["engagement_trend"] = ratio(recent - before, recent + before)
    in_90 = events.within(90)
    out["email_ctr_90d"] = ratio(
        events.count(in_90 & (codes == EVENT_FAMILIES.index("email_click"))),
        events.count(in_90 & (codes == EVENT_FAMILIES.index("email_open"))),
    )
    series = index_series(events)
    out["engagement_index"] = series[:, 0]
    out["engagement_index_prev"] = series[:, 1]
    out["days_since_engagement_halved"] = days_since_halving(series)
    return out


def engagement_feature_names(windows: Sequence[int]) -> list[str]:
    """The columns :func:`engagement_features` makes with ``windows``, in order."""
    none = EventView(
        pos=np.empty(0, np.int64),
        age=np.empty(0),
        rows=pd.DataFrame({"event_type": pd.Categorical([], categories=EVENT_FAMILIES)}),
        n=0,
    )
    return list(engagement_features(none, windows=windows))
