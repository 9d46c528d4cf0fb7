"""Labels on hand-made timelines: contractual and non-contractual churn, boundary days, LTV."""

from __future__ import annotations

import pandas as pd
import pytest

from features.contract.errors import IncompleteHorizonError
from features.families.build import build_features
from features.families.population import active_customers, active_in_features
from tests.conftest import make_tables
from training.labels import make_labels

CUTOFF = "2025-01-01"
CUSTOMERS = [
    # subscription customer cancelling on the last day inside the 90-day horizon
    {
        "customer_id": 1,
        "signup_at": "2024-01-01",
        "plan": "basic",
        "cancelled_at": "2025-03-31T23:00:00Z",
    },
    # subscription customer cancelling exactly at cutoff + 90 days: outside [t, t+H)
    {"customer_id": 2, "signup_at": "2024-01-01", "plan": "basic", "cancelled_at": "2025-04-01"},
    # non-contractual customer ordering exactly at the cutoff: that order is the future: not churned
    {"customer_id": 3, "signup_at": "2024-01-01"},
    # non-contractual customer whose next order is exactly at cutoff + 90 days: churned
    {"customer_id": 4, "signup_at": "2024-01-01"},
    # already cancelled before the cutoff: not active, no label
    {"customer_id": 5, "signup_at": "2024-01-01", "plan": "basic", "cancelled_at": "2024-12-31"},
    # never ordered before the cutoff: not active
    {"customer_id": 6, "signup_at": "2024-01-01"},
    # signed up after the cutoff
    {"customer_id": 7, "signup_at": "2025-02-01"},
]
TRANSACTIONS = [
    *({"customer_id": c, "ordered_at": "2024-06-01", "amount": 10.0} for c in (1, 2, 3, 4, 5)),
    {"customer_id": 3, "ordered_at": "2025-01-01", "amount": 50.0},
    {"customer_id": 3, "ordered_at": "2025-06-01", "amount": 30.0},
    {"customer_id": 3, "ordered_at": "2025-06-02", "amount": -30.0, "is_refund": True},
    {"customer_id": 4, "ordered_at": "2025-04-01", "amount": 70.0},
    {"customer_id": 1, "ordered_at": "2025-02-01", "amount": 15.0},
    {"customer_id": 6, "ordered_at": "2025-02-01", "amount": 5.0},
    {"customer_id": 4, "ordered_at": "2026-01-01", "amount": 99.0},  # after cutoff + 365 days
    {"customer_id": 3, "ordered_at": "2026-06-01", "amount": 1.0},  # the data end
]


@pytest.fixture
def tables():
    return make_tables(customers=CUSTOMERS, transactions=TRANSACTIONS)


class TestMakeLabels:
    def test_only_active_customers_get_labels(self, tables):
        labels = make_labels(tables, cutoff=CUTOFF, active_days=None)
        assert labels["customer_id"].tolist() == [1, 2, 3, 4]

    def test_active_window_drops_customers_silent_for_longer(self, tables):
        # every order before the cutoff is 214 days old
        assert make_labels(tables, cutoff=CUTOFF, active_days=214)["customer_id"].tolist() == [
            1,
            2,
            3,
            4,
        ]
        assert make_labels(tables, cutoff=CUTOFF, active_days=213).empty

    def test_churn_on_boundary_days(self, tables):
        labels = make_labels(tables, cutoff=CUTOFF, active_days=None).set_index("customer_id")
        assert labels["churned"].to_dict() == {1: 1, 2: 0, 3: 0, 4: 1}
        assert labels["contract_type"].to_dict() == {
            1: "subscription",
            2: "subscription",
            3: "non_contractual",
            4: "non_contractual",
        }

    def test_ltv_is_net_spend_in_the_ltv_horizon(self, tables):
        labels = make_labels(tables, cutoff=CUTOFF, active_days=None).set_index("customer_id")
        assert labels["ltv"].to_dict() == {1: 15.0, 2: 0.0, 3: 50.0, 4: 70.0}

    def test_horizon_is_configurable(self, tables):
        labels = make_labels(
            tables, cutoff=CUTOFF, horizon_days=91, ltv_horizon_days=None, active_days=None
        )
        assert labels.set_index("customer_id")["churned"].to_dict() == {1: 1, 2: 1, 3: 0, 4: 0}
        assert "ltv" not in labels.columns

    def test_incomplete_horizon_is_refused(self, tables):
        with pytest.raises(
            IncompleteHorizonError,
            match="Cutoff 2025-07-01 needs 365 days .* data ends at 2026-06-01",
        ):
            make_labels(tables, cutoff="2025-07-01")
        make_labels(tables, cutoff="2025-07-01", ltv_horizon_days=None)  # 90 days fit

    def test_min_orders(self, tables):
        labels = make_labels(tables, cutoff=CUTOFF, min_orders=2, active_days=None)
        assert labels.empty

    def test_labels_accept_timestamps(self, tables):
        a = make_labels(tables, cutoff=pd.Timestamp(CUTOFF, tz="UTC"))
        pd.testing.assert_frame_equal(a, make_labels(tables, cutoff=CUTOFF))


class TestActiveInFeatures:
    """The active rule read from built features picks exactly the customers of the tables'."""

    @staticmethod
    def _both(tables, cutoff, **rule):
        cutoff = pd.Timestamp(cutoff, tz="UTC")
        features = build_features(tables, as_of=cutoff)
        from_features = features.loc[active_in_features(features, **rule), "customer_id"]
        return from_features.tolist(), active_customers(tables, cutoff, **rule)[
            "customer_id"
        ].tolist()

    @pytest.mark.parametrize(
        "rule",
        [{}, {"active_days": None}, {"active_days": 214}, {"active_days": 213}, {"min_orders": 2}],
    )
    def test_hand_made_boundaries(self, tables, rule):
        from_features, from_tables = self._both(tables, CUTOFF, **rule)
        assert from_features == from_tables

    def test_refund_only_and_boundary_orders(self):
        tables = make_tables(
            customers=[{"customer_id": c, "signup_at": "2024-01-01"} for c in (1, 2, 3, 4)],
            transactions=[
                # exactly 90 days before: inside the window
                {"customer_id": 1, "ordered_at": "2024-10-03", "amount": 10.0},
                # 90 days and a second before: outside
                {"customer_id": 2, "ordered_at": "2024-10-02T23:59:59Z", "amount": 10.0},
                # a refund is no order
                {"customer_id": 3, "ordered_at": "2024-12-01", "amount": -5.0, "is_refund": True},
                # exactly at the cutoff: the future
                {"customer_id": 4, "ordered_at": "2025-01-01", "amount": 10.0},
            ],
        )
        from_features, from_tables = self._both(tables, CUTOFF)
        assert from_features == from_tables == [1]

    @pytest.mark.parametrize("cutoff", ["2023-06-30", "2024-09-30", "2025-12-31"])
    def test_generated_data(self, generated, cutoff):
        from_features, from_tables = self._both(generated, cutoff)
        assert from_features == from_tables and len(from_tables) > 100
