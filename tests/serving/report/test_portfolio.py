"""Risk × value matrix, offers and value at stake on a hand-made scored base."""

from __future__ import annotations

import pandas as pd
import pytest

from features.contract.errors import ConfigError
from serving.report.portfolio import offer_summary, risk_value_matrix, stake_summary, value_at_stake

SCORES = pd.DataFrame(
    {
        "customer_id": [1, 2, 3, 4],
        "churn_probability": [0.8, 0.5, 0.1, 0.7],
        "risk_band": ["high", "medium", "low", "high"],
        "predicted_ltv": [1000.0, 200.0, 50.0, 2000.0],
        "value_segment": ["high", "medium", "low", "top"],
        "offer_id": ["vip_upgrade", "discount_coupon", None, "vip_upgrade"],
        "offer_name": ["VIP", "Coupon", None, "VIP"],
        "offer_cost": [40.0, 10.0, None, 40.0],
        "expected_value": [80.0, 2.0, None, 170.0],
    }
)


class TestMatrix:
    def test_counts_and_value_at_stake_per_cell(self):
        m = risk_value_matrix(SCORES)
        assert list(m["customers"].index) == ["high", "medium", "low"]
        assert list(m["customers"].columns) == ["top", "high", "medium", "low"]
        assert m["customers"].loc["high", "top"] == 1 and m["customers"].loc["high", "low"] == 0
        assert m["value_at_stake"].loc["high", "high"] == pytest.approx(800.0)
        assert m["value_at_stake"].loc["high", "top"] == pytest.approx(1400.0)
        assert m["expected_churners"].to_numpy().sum() == pytest.approx(2.1)

    def test_unknown_segments_are_appended(self):
        m = risk_value_matrix(
            SCORES.assign(value_segment=["vip", "medium", "low", "top"]),
            segments=["low", "medium", "top"],
        )
        assert list(m["customers"].columns) == ["vip", "top", "medium", "low"]

    def test_missing_column_is_named(self):
        with pytest.raises(ConfigError, match="risk_band"):
            risk_value_matrix(SCORES.drop(columns="risk_band"))


class TestOffersAndStake:
    def test_offer_summary(self):
        s = offer_summary(SCORES)
        assert list(s.index) == ["VIP", "Coupon", "no offer"]
        assert s.loc["VIP", ["customers", "cost", "expected_value"]].tolist() == [2, 80.0, 250.0]
        assert s.loc["no offer", "value_at_stake"] == pytest.approx(5.0)

    def test_stake_summary(self):
        s = stake_summary(SCORES)
        assert s["customers"] == 4 and s["offers"] == 3
        assert s["expected_churners"] == pytest.approx(2.1)
        assert s["value_at_stake"] == pytest.approx(value_at_stake(SCORES).sum())
        assert s["value_at_stake"] == pytest.approx(800 + 100 + 5 + 1400)
        assert s["offer_cost"] == pytest.approx(90.0)
        assert s["offer_expected_value"] == pytest.approx(252.0)
