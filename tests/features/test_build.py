"""Each feature family on tiny hand-made timelines with obvious expected values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import build_features, build_features_partitioned
from features.contract.errors import ConfigError
from tests.conftest import make_tables

CUSTOMERS = [
    {
        "customer_id": 1,
        "signup_at": "2024-06-30",
        "birth_date": "1990-06-30",
        "plan": "basic",
        "loyalty_tier": "gold",
        "channel": "web",
        "country": "DE",
    },
    {"customer_id": 2, "signup_at": "2025-01-01", "cancelled_at": "2025-06-01"},
    {"customer_id": 3, "signup_at": "2025-06-29", "cancelled_at": "2025-07-15", "plan": "premium"},
    {"customer_id": 4, "signup_at": "2025-06-30"},  # signs up at the cutoff: not yet known
]
ORDERS = [  # customer 1 orders every 30 days; the last one 10 days before the cutoff
    {"customer_id": 1, "ordered_at": "2025-04-21", "amount": 100.0, "discount": 0.0},
    {"customer_id": 1, "ordered_at": "2025-05-21", "amount": 50.0, "discount": 50.0},
    {"customer_id": 1, "ordered_at": "2025-06-20", "amount": 30.0, "discount": 0.0},
    {"customer_id": 1, "ordered_at": "2025-06-25", "amount": -30.0, "is_refund": True},
    {"customer_id": 1, "ordered_at": "2025-01-01", "amount": 20.0, "discount": 0.0},
    {"customer_id": 2, "ordered_at": "2025-02-01", "amount": 40.0},
    {"customer_id": 1, "ordered_at": "2025-06-30", "amount": 999.0},  # at the cutoff: invisible
]


def row(frame: pd.DataFrame, customer_id: int) -> pd.Series:
    return frame.set_index("customer_id").loc[customer_id]


@pytest.fixture
def base():
    return {"customers": CUSTOMERS, "transactions": ORDERS}


def features_of(as_of, **frames):
    return build_features(make_tables(**frames), as_of=as_of)


class TestKnownCustomers:
    def test_one_row_per_customer_signed_up_before_as_of(self, base, as_of):
        f = features_of(as_of, **base)
        assert f["customer_id"].tolist() == [1, 2, 3]


class TestTenureAndRecency:
    def test_days_since_signup_first_and_last_order(self, base, as_of):
        c1 = row(features_of(as_of, **base), 1)
        assert c1["tenure_days"] == 365
        assert c1["age_years"] == pytest.approx(35, abs=0.01)
        assert c1["days_since_last_order"] == 10  # refunds are not orders
        assert c1["days_since_first_order"] == 180

    def test_never_ordered_is_nan(self, base, as_of):
        assert np.isnan(row(features_of(as_of, **base), 3)["days_since_last_order"])


class TestFrequency:
    def test_counts_per_window_and_gaps(self, base, as_of):
        c1 = row(features_of(as_of, **base), 1)
        assert (c1["orders_30d"], c1["orders_90d"], c1["orders_365d"], c1["orders_total"]) == (
            1,
            3,
            4,
            4,
        )
        assert c1["active_periods_360d"] == 4
        # gaps 110, 30, 30 days
        assert c1["gap_mean_days"] == pytest.approx(170 / 3)
        assert c1["gap_std_days"] == pytest.approx(np.std([110, 30, 30], ddof=1))
        assert c1["overdue_ratio"] == pytest.approx(10 / (170 / 3))
        assert c1["expected_days_to_next_order"] == pytest.approx(170 / 3 - 10)

    def test_single_order_has_no_gap(self, base, as_of):
        c2 = row(features_of(as_of, **base), 2)
        assert (
            c2["orders_total"] == 1
            and np.isnan(c2["gap_mean_days"])
            and np.isnan(c2["overdue_ratio"])
        )


class TestSpend:
    def test_net_spend_aov_trend_and_shares(self, base, as_of):
        c1 = row(features_of(as_of, **base), 1)
        assert c1["spend_30d"] == 0.0  # 30 bought, 30 refunded
        assert c1["spend_90d"] == 150.0
        assert c1["spend_total"] == 170.0
        assert c1["aov_total"] == pytest.approx(200 / 4)
        assert c1["aov_365d"] == pytest.approx(200 / 4)
        assert c1["spend_trend_90d"] == pytest.approx((150 - 20) / 170)
        assert c1["refund_share_365d"] == pytest.approx(30 / 200)
        assert c1["discount_share_365d"] == pytest.approx(50 / 250)


class TestSupport:
    TICKETS = [
        # resolved in 24 h, rated 5
        {"customer_id": 1, "opened_at": "2025-06-01", "resolved_at": "2025-06-02", "csat": 5},
        # resolved in 96 h: an SLA breach, escalated, rated 1
        {
            "customer_id": 1,
            "opened_at": "2025-05-01",
            "resolved_at": "2025-05-05",
            "csat": 1,
            "escalated": True,
        },
        # open at the cutoff (resolved later: the rating is the future), 5 days old: breach
        {"customer_id": 1, "opened_at": "2025-06-25", "resolved_at": "2025-07-02", "csat": 1},
        # never resolved, opened a day ago: open, no breach yet
        {"customer_id": 1, "opened_at": "2025-06-29"},
        # opened after the cutoff: invisible
        {"customer_id": 1, "opened_at": "2025-07-01"},
    ]

    def test_ticket_features_only_see_the_past(self, base, as_of):
        c1 = row(features_of(as_of, **base, support_tickets=self.TICKETS), 1)
        assert (c1["tickets_30d"], c1["tickets_90d"]) == (3, 4)
        assert c1["open_tickets"] == 2
        assert c1["resolution_hours_median_365d"] == pytest.approx(60)
        assert c1["sla_breaches_365d"] == 2
        assert c1["escalations_365d"] == 1
        assert c1["ticket_csat_mean_365d"] == pytest.approx(3)
        assert c1["days_since_last_ticket"] == 1


class TestSurveys:
    SURVEYS = [
        {"customer_id": 1, "answered_at": "2024-12-01", "nps": 9, "ces": 2},
        {"customer_id": 1, "answered_at": "2025-03-01", "csat": 4},
        {"customer_id": 1, "answered_at": "2025-05-01", "nps": 3, "ces": 6},
        {"customer_id": 1, "answered_at": "2025-07-01", "nps": 10},  # future
        {"customer_id": 2, "answered_at": "2025-05-01", "nps": 8},
    ]

    def test_nps_class_change_and_effort(self, base, as_of):
        f = features_of(as_of, **base, surveys=self.SURVEYS)
        c1, c2 = row(f, 1), row(f, 2)
        assert (c1["nps_last"], c1["nps_class_last"], c1["nps_change"]) == (3, "detractor", -6)
        assert c1["nps_mean"] == 6 and c1["ces_last"] == 6 and c1["csat_last"] == 4
        assert c1["surveys_365d"] == 3
        assert (c2["nps_class_last"], np.isnan(c2["nps_change"])) == ("passive", True)
        assert pd.isna(row(f, 3)["nps_class_last"])


class TestAttributesAndOffers:
    def test_attributes_contract_and_cancellation_as_of(self, base, as_of):
        offers = [
            {
                "customer_id": 2,
                "offered_at": "2025-05-01",
                "offer_id": "discount_coupon",
                "accepted": True,
            },
            {
                "customer_id": 2,
                "offered_at": "2024-01-01",
                "offer_id": "loyalty_points",
                "accepted": True,
            },
        ]
        f = features_of(as_of, **base, offers=offers)
        c1, c2, c3 = row(f, 1), row(f, 2), row(f, 3)
        assert (c1["plan"], c1["loyalty_tier"], c1["channel"], c1["country"]) == (
            "basic",
            "gold",
            "web",
            "DE",
        )
        assert (c1["contract_type"], c2["contract_type"], c3["contract_type"]) == (
            "subscription",
            "non_contractual",
            "subscription",
        )
        assert (c2["is_cancelled"], c3["is_cancelled"]) == (1.0, 0.0)  # c3 cancels after as_of
        assert (c2["offers_365d"], c2["offers_accepted_365d"], c2["days_since_last_offer"]) == (
            1,
            1,
            60,
        )


class TestOptions:
    def test_partitioned_equals_whole(self, base, as_of):
        tables = make_tables(
            **base, surveys=TestSurveys.SURVEYS, support_tickets=TestSupport.TICKETS
        )
        whole = build_features(tables, as_of=as_of)
        for n in (1, 2, 3, 7):
            pd.testing.assert_frame_equal(
                build_features_partitioned(tables, as_of=as_of, partitions=n), whole
            )

    @pytest.mark.parametrize("windows", [[], [30, -1, 365], [30, 30, 90, 365], [30, 180]])
    def test_bad_windows_are_refused(self, base, as_of, windows):
        with pytest.raises(ConfigError, match="windows"):
            build_features(make_tables(**base), as_of=as_of, windows=windows)
