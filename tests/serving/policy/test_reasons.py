"""Reasons in words from contributions: strongest first, positive only, each said once."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from serving.policy.reasons import phrase, top_reasons


class TestPhrase:
    def test_recency_with_overdue_ratio(self):
        _, words = phrase(
            "days_since_last_order", {"days_since_last_order": 74.0, "overdue_ratio": 2.31}
        )
        assert words == "no order for 74 days, 2.3× the usual gap"

    def test_nps_class_and_score(self):
        assert phrase("nps_last", {"nps_last": 3.0})[1] == "detractor NPS 3"
        assert phrase("nps_class_last", {"nps_last": 8.0})[1] == "passive NPS 8"

    def test_windowed_features(self):
        assert phrase("orders_90d", {"orders_90d": 1.0})[1] == "1 order(s) in the last 90 days"
        assert (
            phrase("tickets_30d", {"tickets_30d": 2.0})[1]
            == "2 support ticket(s) in the last 30 days"
        )

    def test_spend_trend(self):
        # last 90 days 25, previous 100: trend = -75/125 = -0.6 → down 75 %
        assert (
            phrase("spend_trend_90d", {"spend_trend_90d": -0.6})[1]
            == "spend down 75% on the previous 90 days"
        )

    def test_unknown_feature_falls_back_to_its_name(self):
        assert phrase("loyalty_score", {"loyalty_score": 7})[1] == "loyalty score 7"

    def test_missing_values(self):
        assert (
            phrase("days_since_last_order", {"days_since_last_order": math.nan})[1]
            == "has never ordered"
        )
        assert phrase("plan", {"plan": None})[1] == "plan unknown"


class TestTopReasons:
    def test_strongest_positive_first_and_grouped(self):
        contributions = pd.DataFrame(
            {
                "days_since_last_order": [0.9, -0.2],
                "overdue_ratio": [0.8, -0.1],
                "nps_last": [0.5, 0.3],
                "open_tickets": [0.1, -0.5],
                "spend_90d": [-0.4, 0.0],
            }
        )
        features = pd.DataFrame(
            {
                "days_since_last_order": [74.0, 3.0],
                "overdue_ratio": [2.3, 0.1],
                "nps_last": [3.0, 10.0],
                "open_tickets": [1.0, 0.0],
                "spend_90d": [0.0, 50.0],
            }
        )
        reasons = top_reasons(contributions, features, k=3)
        assert reasons[0] == [
            "no order for 74 days, 2.3× the usual gap",
            "detractor NPS 3",
            "1 open support ticket(s)",
        ]
        assert reasons[1] == ["promoter NPS 10"]


def _one_by_one(contributions: pd.DataFrame, features: pd.DataFrame, k: int) -> list[list[str]]:
    """The rule written plainly, row by row: the reference for the vectorised version."""
    out = []
    for i in range(len(contributions)):
        row = features.iloc[i].to_dict()
        ranked = contributions.iloc[i].sort_values(ascending=False, kind="stable")
        seen, said = set(), []
        for name, value in ranked.head(10).items():
            if value <= 0 or len(said) == k:
                break
            group, words = phrase(name, row)
            if group not in seen:
                seen.add(group)
                said.append(words)
        out.append(said)
    return out


NAMES = [
    "days_since_last_order",
    "overdue_ratio",
    "expected_days_to_next_order",
    "nps_last",
    "nps_class_last",
    "orders_90d",
    "orders_30d",
    "spend_trend_90d",
    "plan",
    "open_tickets",
    "csat_last",
    "csat_mean_365d",
]


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 12),
    st.integers(0, 4),
    st.integers(0, 2**32 - 1),
)
def test_vectorised_selection_matches_the_plain_rule(rows, k, seed):
    rng = np.random.default_rng(seed)
    # distinct per row (the order is then unambiguous), some not positive
    contributions = pd.DataFrame(
        [rng.permutation(np.linspace(-0.5, 0.9, len(NAMES))) for _ in range(rows)],
        columns=NAMES,
        dtype="float64",
    )
    features = pd.DataFrame(
        rng.integers(0, 40, size=(rows, len(NAMES))).astype(float), columns=NAMES
    )
    features["plan"] = pd.array(rng.choice(["basic", "pro", None], size=rows), dtype="string")
    assert top_reasons(contributions, features, k=k) == _one_by_one(contributions, features, k)


def test_equal_contributions_name_the_earlier_column_first():
    contributions = pd.DataFrame({"open_tickets": [0.4], "nps_last": [0.4], "plan": [0.4]})
    features = pd.DataFrame({"open_tickets": [2.0], "nps_last": [3.0], "plan": ["pro"]})
    assert top_reasons(contributions, features, k=2) == [
        ["2 open support ticket(s)", "detractor NPS 3"]
    ]
