"""KPI formulas and monthly KPIs against values computed by hand from tiny tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from features.contract.load import load_tables
from features.synthetic import generate
from serving.report.kpi import (
    DEFINITIONS,
    churn_rate,
    csat_score,
    customer_base,
    customer_effort_score,
    default_period,
    month_edges,
    monthly_kpis,
    net_promoter_score,
    retention_rate,
)
from tests.conftest import make_tables

# Two months, January and February 2024. Worked out by hand in the comments.
CUSTOMERS = [
    {"customer_id": 1, "signup_at": "2023-06-01", "plan": "basic"},  # subscriber throughout
    {"customer_id": 2, "signup_at": "2023-06-01", "plan": "basic", "cancelled_at": "2024-01-15"},
    {"customer_id": 3, "signup_at": "2023-01-01"},  # orders Dec 20 and Feb 10: stays
    {"customer_id": 4, "signup_at": "2023-01-01"},  # last order Oct 15: lapses during January
    {"customer_id": 5, "signup_at": "2024-01-10"},  # new in January
    {"customer_id": 6, "signup_at": "2024-02-05", "plan": "basic"},  # new in February
]
TRANSACTIONS = [
    {"customer_id": 1, "ordered_at": "2023-12-05", "amount": 20.0},
    {"customer_id": 1, "ordered_at": "2024-01-05", "amount": 20.0},
    {"customer_id": 1, "ordered_at": "2024-02-05", "amount": 20.0},
    {"customer_id": 3, "ordered_at": "2023-12-20", "amount": 50.0},
    {"customer_id": 3, "ordered_at": "2024-02-10", "amount": 70.0},
    {"customer_id": 4, "ordered_at": "2023-10-15", "amount": 30.0},
    {"customer_id": 5, "ordered_at": "2024-01-10T12:00:00", "amount": 100.0},
    {"customer_id": 5, "ordered_at": "2024-01-20", "amount": -10.0, "is_refund": True},
    {"customer_id": 6, "ordered_at": "2024-02-05T12:00:00", "amount": 20.0},
]
SURVEYS = [
    {"customer_id": 1, "answered_at": "2024-01-02", "nps": 10, "csat": 5, "ces": 2},
    {"customer_id": 2, "answered_at": "2024-01-03", "nps": 9, "csat": 4},
    {"customer_id": 3, "answered_at": "2024-01-04", "nps": 7, "csat": 2, "ces": 4},
    {"customer_id": 4, "answered_at": "2024-01-05", "nps": 3},
    {"customer_id": 5, "answered_at": "2024-01-25", "nps": 0},
    {"customer_id": 1, "answered_at": "2024-02-02", "nps": 10},
]
TICKETS = [
    {"customer_id": 1, "opened_at": "2024-01-03T10:00:00", "resolved_at": "2024-01-03T14:00:00"},
    {"customer_id": 3, "opened_at": "2024-01-20", "resolved_at": "2024-01-22"},
    {"customer_id": 5, "opened_at": "2024-01-30"},  # unresolved
]


@pytest.fixture(scope="module")
def tables():
    return make_tables(
        customers=CUSTOMERS, transactions=TRANSACTIONS, surveys=SURVEYS, support_tickets=TICKETS
    )


@pytest.fixture(scope="module")
def kpis(tables):
    return monthly_kpis(tables, start="2024-01-01", end="2024-03-01")


def month(kpis: pd.DataFrame, text: str) -> pd.Series:
    return kpis.loc[pd.Timestamp(text, tz="UTC")]


class TestFormulas:
    def test_seeds_worked_crr_example(self):
        assert retention_rate(200, 180, 20) == pytest.approx(80.0)

    def test_churn_rate(self):
        assert churn_rate(200, 40) == pytest.approx(20.0)
        assert math.isnan(churn_rate(0, 0))

    def test_retention_of_an_empty_start_is_nan(self):
        assert math.isnan(retention_rate(0, 5, 5))

    @pytest.mark.parametrize(
        ("args", "match"),
        [
            ((-1, 10, 0), "customers_start"),
            ((10, 5, 6), "new_customers.*at most customers_end"),
            ((10, float("nan"), 0), "customers_end"),
        ],
    )
    def test_invalid_counts_are_refused(self, args, match):
        with pytest.raises(ValueError, match=match):
            retention_rate(*args)

    def test_nps_and_its_three_shares(self):
        nps = net_promoter_score([10, 9, 8, 7, 6, 0, np.nan, 10])
        # 7 answers: promoters 10, 9, 10 (3); passives 8, 7 (2); detractors 6, 0 (2)
        assert nps.responses == 7
        assert nps.promoters_pct == pytest.approx(300 / 7)
        assert nps.passives_pct == pytest.approx(200 / 7)
        assert nps.detractors_pct == pytest.approx(200 / 7)
        assert nps.nps == pytest.approx(100 / 7)

    def test_nps_without_answers_is_nan(self):
        nps = net_promoter_score([np.nan])
        assert nps.responses == 0 and math.isnan(nps.nps)

    def test_csat_is_the_share_of_4_and_5(self):
        assert csat_score([5, 4, 3, 2, 1, np.nan]) == pytest.approx(40.0)
        assert csat_score([5, 3], satisfied_from=5) == pytest.approx(50.0)

    def test_ces_is_the_mean_effort(self):
        assert customer_effort_score([1, 2, 6, np.nan]) == pytest.approx(3.0)
        assert math.isnan(customer_effort_score([]))

    def test_every_reported_kpi_has_a_definition(self, kpis):
        assert set(DEFINITIONS) <= set(kpis.columns)


class TestCustomerBase:
    def test_subscribers_until_cancelled_buyers_within_the_active_window(self, tables):
        # Jan 1: 1, 2 subscribed; 3 ordered 12 days ago, 4 78 days ago (< 90)
        assert customer_base(tables, "2024-01-01").tolist() == [1, 2, 3, 4]
        # Feb 1: 2 cancelled, 4's order is 109 days old, 5 ordered on Jan 10
        assert customer_base(tables, "2024-02-01").tolist() == [1, 3, 5]

    def test_active_window_is_a_parameter(self, tables):
        assert customer_base(tables, "2024-01-01", active_days=30).tolist() == [1, 2, 3]

    def test_signup_at_the_instant_is_not_yet_a_customer(self, tables):
        assert 6 not in customer_base(tables, "2024-02-05").tolist()


class TestMonthlyRetention:
    def test_january(self, kpis):
        jan = month(kpis, "2024-01-01")
        # S = {1, 2, 3, 4}, E = {1, 3, 5}, N = {5}: CRR = (3 - 1) / 4 = 50 %
        assert jan[
            ["customers_start", "customers_end", "new_customers", "retained", "lost", "signups"]
        ].tolist() == [4, 3, 1, 2, 2, 1]
        assert jan["crr_pct"] == pytest.approx(50.0)
        assert jan["churn_rate_pct"] == pytest.approx(50.0)

    def test_february(self, kpis):
        feb = month(kpis, "2024-02-01")
        # S = {1, 3, 5}, E = {1, 3, 5, 6}, N = {6}: CRR = (4 - 1) / 3 = 100 %
        assert feb[["customers_start", "customers_end", "new_customers", "lost"]].tolist() == [
            3,
            4,
            1,
            0,
        ]
        assert feb["crr_pct"] == pytest.approx(100.0)
        assert feb["churn_rate_pct"] == pytest.approx(0.0)

    def test_one_row_per_whole_month(self, kpis):
        assert list(kpis.index.strftime("%Y-%m")) == ["2024-01", "2024-02"]


class TestMonthlyPurchases:
    def test_january_orders_aov_spend_repeat_ltv(self, kpis):
        jan = month(kpis, "2024-01-01")
        # orders: 1 (20) and 5 (100); refund of 10 → net revenue 110 over 2 buyers
        assert jan[["orders", "buyers"]].tolist() == [2, 2]
        assert jan["revenue"] == pytest.approx(110.0)
        assert jan["aov"] == pytest.approx(60.0)
        assert jan["spend_per_customer"] == pytest.approx(55.0)
        assert jan["repeat_purchase_rate_pct"] == pytest.approx(50.0)  # 1 had ordered in December
        # 110 / ((4 + 3) / 2) per customer-month × 100 / 50 % churn = 2 months
        assert jan["avg_ltv"] == pytest.approx(110 / 3.5 * 2)

    def test_february(self, kpis):
        feb = month(kpis, "2024-02-01")
        assert feb[["orders", "buyers"]].tolist() == [3, 3]
        assert feb["aov"] == pytest.approx(110 / 3)
        assert feb["repeat_purchase_rate_pct"] == pytest.approx(200 / 3)  # 1 and 3, not 6
        assert math.isnan(feb["avg_ltv"])  # no churn: lifetime undefined


class TestMonthlyVoiceAndSupport:
    def test_january_surveys(self, kpis):
        jan = month(kpis, "2024-01-01")
        # NPS answers 10, 9, 7, 3, 0: 40 % promoters − 40 % detractors
        assert jan[["promoters_pct", "passives_pct", "detractors_pct"]].tolist() == pytest.approx(
            [40.0, 20.0, 40.0]
        )
        assert jan["nps"] == pytest.approx(0.0)
        assert jan["nps_responses"] == 5
        assert jan["csat_pct"] == pytest.approx(200 / 3)  # 5, 4 of 5, 4, 2
        assert jan["csat_mean"] == pytest.approx(11 / 3)
        assert jan["ces_mean"] == pytest.approx(3.0)

    def test_february_surveys_without_csat(self, kpis):
        feb = month(kpis, "2024-02-01")
        assert feb["nps"] == pytest.approx(100.0)
        assert math.isnan(feb["csat_pct"]) and feb["csat_responses"] == 0

    def test_january_support(self, kpis):
        jan = month(kpis, "2024-01-01")
        assert jan["tickets"] == 3
        assert jan["tickets_per_100_customers"] == pytest.approx(75.0)
        assert jan["resolution_hours_median"] == pytest.approx(26.0)  # 4 h and 48 h
        assert jan["unresolved_tickets"] == 1

    def test_missing_optional_tables_give_nan(self, tables):
        bare = make_tables(customers=CUSTOMERS, transactions=TRANSACTIONS)
        kpis = monthly_kpis(bare, start="2024-01-01", end="2024-03-01")
        assert kpis["nps"].isna().all() and (kpis["tickets"] == 0).all()


class TestUpsellAndEngagement:
    """The seeds' upsell rate and the engagement index, worked out by hand."""

    @pytest.fixture(scope="class")
    @classmethod
    def kpis(cls):
        categories = {"2024-01-05": "food", "2024-01-10T12:00:00": "food", "2024-02-05": "food"}
        categories |= {"2024-02-10": "home"}
        orders = [{**t, "category": categories.get(t["ordered_at"])} for t in TRANSACTIONS]
        orders.append(
            {"customer_id": 5, "ordered_at": "2024-01-12", "amount": 5.0, "category": "tech"}
        )
        events = [
            *(
                {"customer_id": 1, "occurred_at": f"2024-01-{d}", "event_type": "login"}
                for d in range(20, 30)
            ),
            {"customer_id": 3, "occurred_at": "2024-02-20", "event_type": "referral"},
        ]
        tables = make_tables(customers=CUSTOMERS, transactions=orders, events=events)
        return monthly_kpis(tables, start="2024-01-01", end="2024-03-01")

    def test_upsell_rate(self, kpis):
        jan, feb = month(kpis, "2024-01-01"), month(kpis, "2024-02-01")
        # January: 5 bought food and tech (multi), 1 only food (single); the refund is no order
        assert jan[["multi_category_buyers", "single_category_buyers"]].tolist() == [1, 1]
        assert jan["upsell_rate_pct"] == pytest.approx(100.0)
        # February: 1 (food) and 3 (home) single; 6's order has no category
        assert feb[["multi_category_buyers", "single_category_buyers"]].tolist() == [0, 2]
        assert feb["upsell_rate_pct"] == pytest.approx(0.0)

    def test_engagement_index(self, kpis):
        jan, feb = month(kpis, "2024-01-01"), month(kpis, "2024-02-01")
        third = 100 * 10 / 30  # 10 points in 30 days: 100 × 10 / (10 + 20)
        # at Feb 1 the customers are 1 (10 logins in January), 3 and 5 (no events)
        assert jan["engagement_index_mean"] == pytest.approx(third / 3)
        assert jan["engagement_index_subscription"] == pytest.approx(third)
        assert jan["engagement_index_non_contractual"] == pytest.approx(0.0)
        # at Mar 1: 1, 3 (a referral, 10 points, on Feb 20), 5 and 6
        assert feb["engagement_index_mean"] == pytest.approx(third / 4)
        assert feb["engagement_index_subscription"] == pytest.approx(0.0)
        assert feb["engagement_index_non_contractual"] == pytest.approx(third / 2)

    def test_without_events_the_index_is_nan(self, tables, kpis):
        bare = monthly_kpis(tables, start="2024-01-01", end="2024-03-01")
        assert bare["engagement_index_mean"].isna().all()
        assert bare["upsell_rate_pct"].isna().all()  # no categories in these orders


class TestPeriod:
    def test_month_edges_keep_whole_months(self):
        edges = month_edges("2024-01-15", "2024-04-10")
        assert list(edges.strftime("%Y-%m-%d")) == ["2024-02-01", "2024-03-01", "2024-04-01"]

    def test_default_period_waits_for_the_active_window(self, tables):
        start, end = default_period(tables)
        # first order 2023-10-15 + 90 days = 2024-01-13 → February; last event 2024-02-10
        assert (f"{start:%Y-%m-%d}", f"{end:%Y-%m-%d}") == ("2024-02-01", "2024-02-01")

    def test_a_period_without_a_whole_month_is_refused(self, tables):
        with pytest.raises(ValueError, match="at least one whole month"):
            monthly_kpis(tables, start="2024-01-05", end="2024-01-25")


@pytest.fixture(scope="module")
def generated_kpis(tmp_path_factory):
    out = tmp_path_factory.mktemp("kpi")
    generate(out, customers=800, seed=3, file_format="parquet")
    return monthly_kpis(load_tables(out))


class TestGeneratedData:
    """Identities that must hold on realistic data, and churn near the seeds' 5–8 %."""

    def test_retention_and_churn_add_up(self, generated_kpis):
        k = generated_kpis
        np.testing.assert_allclose(k["crr_pct"] + k["churn_rate_pct"], 100.0)
        assert (k["customers_end"] - k["new_customers"] == k["retained"]).all()
        assert (k["retained"] + k["lost"] == k["customers_start"]).all()

    def test_monthly_churn_is_plausible(self, generated_kpis):
        assert 3.0 < generated_kpis["churn_rate_pct"].mean() < 12.0
        assert generated_kpis["nps"].between(-100, 100).all()
