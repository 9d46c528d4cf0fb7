"""Engagement events: contract, family mapping, hand-computed features, no-events parity;
upsell and occasion features on tiny hand-made tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import build_features
from features.contract.errors import ConfigError, DataContractError
from features.contract.load import load_tables, validate_tables
from features.contract.schema import EVENT_FAMILIES
from features.families.build import DEFAULT_WINDOWS
from features.families.engagement import (
    ENGAGEMENT_HALF_SCORE,
    engagement_feature_names,
    engagement_index,
)
from tests.conftest import AS_OF, make_tables

DAY = pd.Timedelta(days=1)

CUSTOMERS = [
    {"customer_id": 1, "signup_at": "2024-01-01", "birth_date": "1990-07-10"},
    {"customer_id": 2, "signup_at": "2024-07-15", "birth_date": "1984-02-29"},
    {"customer_id": 3, "signup_at": "2024-01-01"},
]
ORDERS = [
    {"customer_id": 1, "ordered_at": AS_OF - 300 * DAY, "amount": 10.0, "category": "food"},
    {"customer_id": 1, "ordered_at": AS_OF - 200 * DAY, "amount": 20.0, "category": "food"},
    {"customer_id": 1, "ordered_at": AS_OF - 20 * DAY, "amount": 40.0, "category": "tech"},
    {"customer_id": 2, "ordered_at": AS_OF - 10 * DAY, "amount": 5.0, "category": "food"},
]


def ago(days: float) -> pd.Timestamp:
    return AS_OF - pd.Timedelta(days=days)


EVENTS = [
    # customer 1: 10 logins 40-60 days ago (index 100*10/30), 1 session 5 days ago
    *({"customer_id": 1, "occurred_at": ago(40 + d), "event_type": "login"} for d in range(10)),
    {"customer_id": 1, "occurred_at": ago(5), "event_type": "Session"},
    # customer 2: two opens and one click in the last 90 days, a referral 100 days ago
    {"customer_id": 2, "occurred_at": ago(3), "event_type": "newsletter_open"},
    {"customer_id": 2, "occurred_at": ago(3.5), "event_type": "email_open"},
    {"customer_id": 2, "occurred_at": ago(3.4), "event_type": "email_click"},
    {"customer_id": 2, "occurred_at": ago(100), "event_type": "referral"},
    {"customer_id": 2, "occurred_at": ago(2), "event_type": "push_open"},
]


@pytest.fixture(scope="module")
def tables():
    return validate_tables(
        {
            "customers": pd.DataFrame(CUSTOMERS),
            "transactions": pd.DataFrame(ORDERS),
            "events": pd.DataFrame(EVENTS),
        },
        event_types={"newsletter_open": "email_open"},
    )


@pytest.fixture(scope="module")
def feats(tables) -> pd.DataFrame:
    return build_features(tables, as_of=AS_OF).set_index("customer_id")


class TestContract:
    def test_event_types_map_onto_families_unknown_is_other_and_reported(self, tables):
        assert list(tables.events.event_type.cat.categories) == list(EVENT_FAMILIES)
        counts = tables.events.event_type.value_counts()
        assert counts["email_open"] == 2 and counts["session"] == 1 and counts["other"] == 1
        [note] = [w for w in tables.warnings if w.column == "event_type"]
        assert note.file == "events" and note.rows == 1 and note.examples == ("push_open",)
        assert "counted as 'other'" in note.issue

    def test_mapping_onto_an_unknown_family_is_refused(self):
        with pytest.raises(ConfigError, match="event type mapping for 'app_open'.*session"):
            validate_tables(
                {"customers": pd.DataFrame(CUSTOMERS), "transactions": pd.DataFrame(ORDERS)},
                event_types={"app_open": "visit"},
            )

    def test_bad_rows_name_file_column_and_rows(self, tmp_path):
        pd.DataFrame(CUSTOMERS).to_csv(tmp_path / "customers.csv", index=False)
        pd.DataFrame(ORDERS).to_csv(tmp_path / "transactions.csv", index=False)
        pd.DataFrame(
            {
                "customer_id": [1, 1, 2],
                "occurred_at": ["2025-01-01", "yesterday", "2025-01-02"],
                "event_type": ["login", "login", None],
            }
        ).to_csv(tmp_path / "events.csv", index=False)
        with pytest.raises(DataContractError) as err:
            load_tables(tmp_path)
        text = str(err.value)
        assert "events.csv, column 'occurred_at': is not a valid timestamp (1 row" in text
        assert "events.csv, column 'event_type': is empty (required) (1 row; e.g. line 4)" in text

    def test_absent_events_table_is_absent(self):
        plain = make_tables(customers=CUSTOMERS, transactions=ORDERS)
        assert not plain.has("events") and plain.events.empty


class TestEngagementFeatures:
    def test_hand_computed(self, feats):
        one, two = feats.loc[1], feats.loc[2]
        assert one["events_login_90d"] == 10 and one["events_login_30d"] == 0
        assert one["events_session_30d"] == 1 and one["days_since_session"] == 5
        assert one["days_since_login"] == 40 and one["active_days_90d"] == 11
        assert one["engagement_index"] == pytest.approx(100 * 1 / (1 + ENGAGEMENT_HALF_SCORE))
        assert one["engagement_index_prev"] == pytest.approx(100 * 10 / 30)
        # 1 event in the last 30 days against 10 in the 30 before
        assert one["engagement_trend"] == pytest.approx((1 - 10) / 11)
        assert one["days_since_engagement_halved"] == 0
        assert two["email_ctr_90d"] == pytest.approx(1 / 2)
        assert two["events_other_30d"] == 1 and two["events_referral_365d"] == 1
        assert two["active_days_30d"] == 2  # days 2 and 3 before as_of
        # the referral's window (90-120 days ago) was followed by an empty one (60-90)
        assert two["days_since_engagement_halved"] == 60

    def test_index_is_bounded_and_monotone(self):
        scores = np.array([0.0, 1.0, ENGAGEMENT_HALF_SCORE, 1e6])
        index = engagement_index(scores)
        assert index[0] == 0 and index[2] == 50 and index[-1] < 100
        assert (np.diff(index) > 0).all()

    def test_customer_without_events_has_zero_counts_and_no_recency(self, feats):
        three = feats.loc[3]
        assert three["events_login_365d"] == 0 and three["engagement_index"] == 0
        assert np.isnan(three["days_since_login"]) and np.isnan(three["email_ctr_90d"])

    def test_without_events_the_features_are_those_of_before(self, tables, feats):
        plain = build_features(
            make_tables(customers=CUSTOMERS, transactions=ORDERS), as_of=AS_OF
        ).set_index("customer_id")
        engagement = [c for c in feats.columns if c not in plain.columns]
        assert engagement == engagement_feature_names(DEFAULT_WINDOWS)
        pd.testing.assert_frame_equal(plain, feats[plain.columns])


class TestUpsellAndOccasions:
    def test_hand_computed(self, feats):
        one, two = feats.loc[1], feats.loc[2]
        assert one["categories_30d"] == 1 and one["categories_365d"] == 2
        # median of 10, 20, 40 is 20: one of the three orders of the year is above it
        assert one["share_above_median_365d"] == pytest.approx(1 / 3)
        # 40 in the last 90 days against an earlier median of 15: a trade-up
        assert one["trade_up_90d"] == 1
        assert np.isnan(two["trade_up_90d"])  # no earlier order
        assert one["days_to_birthday"] == 10 and one["birthday_within_30d"] == 1
        assert two["days_to_birthday"] == 243  # 28 Feb 2026 from 30 Jun 2025
        assert np.isnan(feats.loc[3, "birthday_within_30d"])
        assert two["days_to_signup_anniversary"] == 15
        assert two["signup_anniversary_within_30d"] == 1
