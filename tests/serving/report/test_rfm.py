"""RFM scores and segments on hand-made customers."""

from __future__ import annotations

import pandas as pd
import pytest

from serving.report.rfm import (
    LOST,
    RFM_COLUMNS,
    SEGMENT_GRID,
    SEGMENTS,
    quintile_score,
    rfm_table,
    segment_name,
    segment_summary,
)
from tests.conftest import make_tables

AS_OF = "2025-01-01"


def orders(customer_id: int, *days_before: int, amount: float = 10.0) -> list[dict]:
    """Orders of ``amount`` placed the given numbers of days before AS_OF."""
    at = pd.Timestamp(AS_OF)
    return [
        {
            "customer_id": customer_id,
            "ordered_at": (at - pd.Timedelta(days=d)).isoformat(),
            "amount": amount,
        }
        for d in days_before
    ]


# Five scored customers, one per quintile of recency and of frequency, and one lost.
TRANSACTIONS = [
    *orders(1, 2, 30, 60, 90, 120, amount=50.0),  # most recent, most frequent: champion
    *orders(2, 10, 40, 70, 100, amount=20.0),
    *orders(3, 20, 50, 80, amount=10.0),
    *orders(4, 200, 250, amount=5.0),
    *orders(5, 300, amount=1.0),  # oldest, one order
    *orders(6, 500, amount=99.0),  # over a year ago: lost
    {"customer_id": 1, "ordered_at": "2024-12-31", "amount": -25.0, "is_refund": True},
    *orders(2, 0, amount=1000.0),  # at the cutoff itself: invisible
]
CUSTOMERS = [{"customer_id": i, "signup_at": "2023-01-01"} for i in range(1, 8)]  # 7 never ordered


@pytest.fixture(scope="module")
def rfm():
    return rfm_table(make_tables(customers=CUSTOMERS, transactions=TRANSACTIONS), as_of=AS_OF)


def by_id(rfm: pd.DataFrame) -> pd.DataFrame:
    return rfm.set_index("customer_id")


class TestQuintileScore:
    def test_five_values_get_one_score_each(self):
        scores = quintile_score(pd.Series([10.0, 40.0, 30.0, 20.0, 50.0]))
        assert scores.tolist() == [1, 4, 3, 2, 5]

    def test_lower_is_better_for_recency(self):
        assert quintile_score(pd.Series([1.0, 100.0]), higher_is_better=False).tolist() == [5, 3]

    def test_ties_share_a_score(self):
        scores = quintile_score(pd.Series([1.0, 1.0, 1.0, 1.0, 9.0]))
        assert scores.tolist() == [3, 3, 3, 3, 5]


class TestGrid:
    @pytest.mark.parametrize(
        ("r", "f", "name"),
        [
            (5, 5, "champions"),
            (5, 4, "champions"),
            (4, 5, "loyal"),
            (3, 4, "loyal"),
            (5, 1, "new customers"),
            (4, 1, "promising"),
            (4, 3, "potential loyalists"),
            (3, 3, "need attention"),
            (3, 1, "about to sleep"),
            (2, 5, "can't lose them"),
            (1, 3, "at risk"),
            (2, 2, "hibernating"),
            (1, 1, "hibernating"),
        ],
    )
    def test_named_cells(self, r, f, name):
        assert segment_name(r, f) == name

    def test_every_cell_is_named_with_a_known_segment(self):
        assert len(SEGMENT_GRID) == 25
        assert set(SEGMENT_GRID.values()) | {LOST} == set(SEGMENTS)

    def test_scores_outside_1_to_5_are_refused(self):
        with pytest.raises(ValueError, match="expected whole numbers 1–5"):
            segment_name(0, 3)


class TestRFMTable:
    def test_columns_and_customers_with_an_order(self, rfm):
        assert list(rfm.columns) == list(RFM_COLUMNS)
        assert rfm["customer_id"].tolist() == [1, 2, 3, 4, 5, 6]  # 7 never ordered

    def test_values(self, rfm):
        r = by_id(rfm)
        assert r.loc[1, "recency_days"] == pytest.approx(2.0)  # the refund a day later is no order
        assert r.loc[2, "recency_days"] == pytest.approx(10.0)  # the order at AS_OF is unseen
        assert r.loc[1, "frequency"] == 5 and r.loc[4, "frequency"] == 2
        assert r.loc[1, "monetary"] == pytest.approx(250.0 - 25.0)
        assert r.loc[6, "frequency"] == 0 and r.loc[6, "monetary"] == 0

    def test_scores_and_segments(self, rfm):
        r = by_id(rfm)
        assert r.loc[[1, 2, 3, 4, 5], "r_score"].tolist() == [5, 4, 3, 2, 1]
        assert r.loc[[1, 2, 3, 4, 5], "f_score"].tolist() == [5, 4, 3, 2, 1]
        assert r.loc[[1, 2, 3, 4, 5], "m_score"].tolist() == [5, 4, 3, 2, 1]
        assert r["segment"].tolist() == [
            "champions",
            "loyal",
            "need attention",
            "hibernating",
            "hibernating",
            LOST,
        ]
        assert r.loc[6, ["r_score", "f_score", "m_score"]].tolist() == [0, 0, 0]

    def test_windows_are_parameters(self):
        tables = make_tables(customers=CUSTOMERS, transactions=TRANSACTIONS)
        r = by_id(rfm_table(tables, as_of=AS_OF, window_days=45, lost_after_days=600))
        assert r.loc[1, "frequency"] == 2  # orders 2 and 30 days ago
        assert r.loc[6, "segment"] != LOST

    def test_invalid_window_is_refused(self):
        tables = make_tables(customers=CUSTOMERS, transactions=TRANSACTIONS)
        with pytest.raises(ValueError, match="window_days"):
            rfm_table(tables, as_of=AS_OF, window_days=0)


class TestSegmentSummary:
    def test_sizes_shares_and_value(self, rfm):
        s = segment_summary(rfm)
        assert list(s.index) == ["champions", "loyal", "need attention", "hibernating", LOST]
        assert s.loc["hibernating", "customers"] == 2
        assert s.loc["hibernating", "share_pct"] == pytest.approx(200 / 6)
        total = 225.0 + 80.0 + 30.0 + 10.0 + 1.0
        assert s.loc["champions", "revenue_share_pct"] == pytest.approx(225.0 / total * 100)
        assert s["customers"].sum() == len(rfm)

    def test_predicted_ltv_per_segment(self, rfm):
        ltv = pd.Series({1: 1000.0, 2: 500.0, 4: 10.0, 5: 30.0}, name="predicted_ltv")
        s = segment_summary(rfm, predicted_ltv=ltv)
        assert s.loc["hibernating", "predicted_ltv_mean"] == pytest.approx(20.0)
        assert s.loc["champions", "predicted_ltv_total"] == pytest.approx(1000.0)
        assert pd.isna(s.loc["need attention", "predicted_ltv_mean"])
