"""Reasons in words from contributions: strongest first, positive only, each said once."""

from __future__ import annotations

import math

import pandas as pd

from serving.reasons import phrase, top_reasons


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
