"""Reasons in words: the features that push a customer's churn risk up, as marketing reads them.

From the churn model's LightGBM contributions (log-odds, one per feature), the
features with the largest positive contributions are turned into short phrases with
the customer's own values ("no order for 74 days, 2.3× the usual gap", "detractor NPS
3"). Related features share one phrase, so a reason is never said twice.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

Row = Mapping[str, object]
CANDIDATES = 10


class Columns:
    """Some rows of a feature frame, read column by column (the input of a phrase maker).

    Columns are converted once per frame (``cache``) and then indexed by ``rows``; a
    column the frame lacks reads as missing.
    """

    def __init__(self, frame: pd.DataFrame, rows: np.ndarray, cache: dict | None = None):
        self.frame, self.rows = frame, rows
        self.cache = {} if cache is None else cache

    def values(self, name: str) -> list:
        """The rows' values as Python objects (missing: None or NA)."""
        key = ("values", name)
        if key not in self.cache:
            self.cache[key] = (
                self.frame[name].to_numpy(dtype=object)
                if name in self.frame.columns
                else np.full(len(self.frame), None, dtype=object)
            )
        return self.cache[key][self.rows].tolist()

    def numbers(self, name: str) -> list[float]:
        """The rows' values as floats (missing or not a number: NaN)."""
        key = ("numbers", name)
        if key not in self.cache:
            column = self.frame[name] if name in self.frame.columns else None
            self.cache[key] = (
                np.full(len(self.frame), np.nan)
                if column is None
                else pd.to_numeric(column, errors="coerce").to_numpy(
                    dtype="float64", na_value=np.nan
                )
            )
        return self.cache[key][self.rows].tolist()


Maker = Callable[[Columns], list[str]]


def _each(words: Callable[..., str], *names: str) -> Maker:
    """A maker applying ``words`` to each row's numeric values of ``names``."""
    return lambda cols: list(map(words, *(cols.numbers(n) for n in names)))


def _plural(n: float, word: str) -> str:
    return f"{n:.0f} {word}{'' if round(n) == 1 else 's'}"


def _recency_words(days: float, ratio: float) -> str:
    if math.isnan(days):
        return "has never ordered"
    text = f"no order for {_plural(days, 'day')}"
    if not math.isnan(ratio) and ratio >= 1.05:
        text += f", {ratio:.1f}× the usual gap"
    return text


def _nps_words(score: float) -> str:
    if math.isnan(score):
        return "no NPS answer yet"
    kind = "detractor" if score <= 6 else "passive" if score <= 8 else "promoter"
    return f"{kind} NPS {score:.0f}"


def _nps_change_words(change: float) -> str:
    return (
        f"NPS {'fell' if change < 0 else 'rose'} by {abs(change):.0f} points"
        if change
        else "NPS unchanged"
    )


def _trend_words(trend: float) -> str:
    if math.isnan(trend):
        return "no spend in the last 180 days"
    # trend = (a - b) / (a + b)  =>  a / b = (1 + trend) / (1 - trend)
    if trend <= -0.999:
        return "no spend in the last 90 days after spending before"
    change = (1 + trend) / (1 - trend) - 1 if trend < 1 else math.inf
    return f"spend {'down' if change < 0 else 'up'} {abs(change):.0%} on the previous 90 days"


_recency = _each(_recency_words, "days_since_last_order", "overdue_ratio")
_nps = _each(_nps_words, "nps_last")
_nps_change = _each(_nps_change_words, "nps_change")
_trend = _each(_trend_words, "spend_trend_90d")


def _window(pattern: str) -> Callable[[str], Maker]:
    def make(name: str) -> Maker:
        days = re.search(r"_(\d+)d$", name).group(1)
        return _each(lambda v: pattern.format(v=v, d=days), name)

    return make


def _simple(pattern: str, name: str) -> Maker:
    unknown = f"{name.replace('_', ' ')} unknown"
    return _each(lambda v: unknown if math.isnan(v) else pattern.format(v=v), name)


def _category(label: str, name: str) -> Maker:
    def words(cols: Columns) -> list[str]:
        return [f"{label} {'unknown' if v is None or pd.isna(v) else v}" for v in cols.values(name)]

    return words


FIXED: dict[str, tuple[str, Maker]] = {
    # feature: (phrase group, phrase maker)
    "days_since_last_order": ("recency", _recency),
    "overdue_ratio": ("recency", _recency),
    "expected_days_to_next_order": ("recency", _recency),
    "days_since_first_order": (
        "tenure",
        _simple("first order {v:.0f} days ago", "days_since_first_order"),
    ),
    "tenure_days": (
        "tenure",
        _each(lambda v: f"customer for {v / 30.4:.0f} months", "tenure_days"),
    ),
    "gap_mean_days": ("rhythm", _simple("usually orders every {v:.0f} days", "gap_mean_days")),
    "gap_std_days": ("rhythm", _simple("irregular ordering (±{v:.0f} days)", "gap_std_days")),
    "orders_total": ("orders", _simple("{v:.0f} orders in total", "orders_total")),
    "active_periods_360d": (
        "orders",
        _simple("ordered in {v:.0f} of the last 12 months", "active_periods_360d"),
    ),
    "spend_total": ("spend", _simple("lifetime spend {v:,.0f}", "spend_total")),
    "spend_trend_90d": ("trend", _trend),
    "aov_total": ("aov", _simple("average order {v:,.0f}", "aov_total")),
    "aov_365d": ("aov", _simple("average order {v:,.0f} this year", "aov_365d")),
    "refund_share_365d": (
        "refunds",
        _simple("{v:.0%} of this year's spend refunded", "refund_share_365d"),
    ),
    "discount_share_365d": (
        "discounts",
        _simple("{v:.0%} of this year's spend on discount", "discount_share_365d"),
    ),
    "open_tickets": ("support", _simple("{v:.0f} open support ticket(s)", "open_tickets")),
    "sla_breaches_365d": (
        "sla",
        _simple("{v:.0f} support ticket(s) past the SLA this year", "sla_breaches_365d"),
    ),
    "escalations_365d": (
        "escalations",
        _simple("{v:.0f} escalated ticket(s) this year", "escalations_365d"),
    ),
    "resolution_hours_median_365d": (
        "resolution",
        _simple("support takes {v:.0f} h to resolve (median)", "resolution_hours_median_365d"),
    ),
    "ticket_csat_mean_365d": (
        "ticket_csat",
        _simple("support rated {v:.1f}/5", "ticket_csat_mean_365d"),
    ),
    "days_since_last_ticket": (
        "support_recent",
        _simple("support ticket {v:.0f} days ago", "days_since_last_ticket"),
    ),
    "nps_last": ("nps", _nps),
    "nps_class_last": ("nps", _nps),
    "nps_mean": ("nps_mean", _simple("average NPS {v:.1f}", "nps_mean")),
    "nps_change": ("nps_change", _nps_change),
    "csat_last": ("csat", _simple("last CSAT {v:.0f}/5", "csat_last")),
    "csat_mean_365d": ("csat", _simple("CSAT {v:.1f}/5 this year", "csat_mean_365d")),
    "ces_last": ("ces", _simple("customer effort {v:.0f}/7 (high is hard)", "ces_last")),
    "ces_mean_365d": ("ces", _simple("customer effort {v:.1f}/7 this year", "ces_mean_365d")),
    "surveys_365d": ("surveys", _simple("{v:.0f} survey answer(s) this year", "surveys_365d")),
    "days_since_last_survey": (
        "surveys",
        _simple("last survey {v:.0f} days ago", "days_since_last_survey"),
    ),
    "offers_365d": ("offers", _simple("{v:.0f} retention offer(s) this year", "offers_365d")),
    "offers_accepted_365d": (
        "offers",
        _simple("accepted {v:.0f} offer(s) this year", "offers_accepted_365d"),
    ),
    "days_since_last_offer": (
        "offers",
        _simple("last offer {v:.0f} days ago", "days_since_last_offer"),
    ),
    "age_years": ("age", _simple("aged {v:.0f}", "age_years")),
    "plan": ("plan", _category("plan", "plan")),
    "loyalty_tier": ("tier", _category("tier", "loyalty_tier")),
    "channel": ("channel", _category("channel", "channel")),
    "country": ("country", _category("country", "country")),
    "contract_type": ("contract", _category("contract", "contract_type")),
}
WINDOWED = {
    "orders": ("orders_window", _window("{v:.0f} order(s) in the last {d} days")),
    "spend": ("spend_window", _window("spent {v:,.0f} in the last {d} days")),
    "tickets": ("tickets_window", _window("{v:.0f} support ticket(s) in the last {d} days")),
}


def _maker(feature: str) -> tuple[str, Maker]:
    """``(phrase group, phrase maker)`` of ``feature``."""
    if feature in FIXED:
        return FIXED[feature]
    prefix = feature.split("_", 1)[0]
    if prefix in WINDOWED and re.search(r"_\d+d$", feature):
        group, make = WINDOWED[prefix]
        return group, make(feature)
    label = feature.replace("_", " ")
    return feature, lambda cols: [f"{label} {v}" for v in cols.values(feature)]


def phrase(feature: str, row: Row) -> tuple[str, str]:
    """``(group, words)`` describing ``feature`` for the customer ``row`` (feature → value)."""
    group, make = _maker(feature)
    return group, make(Columns(pd.DataFrame([row]), np.zeros(1, dtype=int)))[0]


def top_reasons(
    contributions: pd.DataFrame, features: pd.DataFrame, *, k: int = 3
) -> list[list[str]]:
    """The ``k`` strongest reasons for churn risk per customer, in words.

    Parameters
    ----------
    contributions : DataFrame, shape (n, n_features)
        Log-odds contributions of the churn model (positive = towards churn).
    features : DataFrame, shape (n, ...)
        The same customers' feature values, same row order.
    k : int, default 3

    Returns
    -------
    list of list of str
        Per customer, up to ``k`` phrases, strongest first; only features that raise
        the risk are named, and features of one phrase group (say, recency and overdue
        ratio) are named once.
    """
    values = contributions.to_numpy(dtype="float64")
    n, n_features = values.shape
    n_cand = min(CANDIDATES, n_features)
    if n == 0 or n_cand == 0 or k <= 0:
        return [[] for _ in range(n)]
    # Candidates: the n_cand largest contributions per row, strongest first (ties: the
    # earlier column first).
    top = np.argpartition(-values, n_cand - 1, axis=1)[:, :n_cand]
    order = np.lexsort((top, -np.take_along_axis(values, top, axis=1)), axis=1)
    cand = np.take_along_axis(top, order, axis=1)
    makers = [_maker(name) for name in contributions.columns]
    _, group_ids = np.unique([group for group, _ in makers], return_inverse=True)
    groups = group_ids[cand]
    # A candidate is said when it raises the risk, its group was not said before
    # (every earlier candidate of a positive one is positive too), and k are not said yet.
    said = np.take_along_axis(values, cand, axis=1) > 0
    for p in range(1, n_cand):
        said[:, p] &= ~(groups[:, :p] == groups[:, p : p + 1]).any(axis=1)
    said &= np.cumsum(said, axis=1) <= k
    rows, slots = np.nonzero(said)  # row-major: each row's reasons in rank order
    chosen = cand[rows, slots]
    words = np.empty(len(rows), dtype=object)
    frame, cache = features.reset_index(drop=True), {}
    for j in np.unique(chosen):
        at = np.flatnonzero(chosen == j)
        words[at] = makers[j][1](Columns(frame, rows[at], cache))
    bounds = np.concatenate([[0], np.cumsum(said.sum(axis=1))]).tolist()
    flat = words.tolist()
    return [flat[bounds[i] : bounds[i + 1]] for i in range(n)]
