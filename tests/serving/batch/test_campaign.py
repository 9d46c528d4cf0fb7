"""Budgeted campaign selection and the atomic target-list writer."""

from __future__ import annotations

import itertools
import math
import re
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.contract.errors import ConfigError, OutputError
from serving.batch.campaign import (
    CANDIDATE_COLUMNS,
    TARGET_COLUMNS,
    Campaign,
    select_campaign,
    write_targets_csv,
)


def scores(*items: tuple) -> pd.DataFrame:
    """Rows ``(customer_id, offer_id, offer_cost, expected_value)``; p 0.5, uplift 0.1, LTV 100."""
    return pd.DataFrame(
        [
            {
                "customer_id": cid,
                "offer_id": oid,
                "offer_cost": cost,
                "expected_value": ev,
                "churn_probability": 0.5,
                "predicted_ltv": 100.0,
                "uplift": 0.1,
            }
            for cid, oid, cost, ev in items
        ],
        columns=CANDIDATE_COLUMNS,
    )


def targeted(campaign: Campaign) -> list:
    return campaign.targets["customer_id"].tolist()


def naive_top_value(cost: list[float], value: list[float], budget: float) -> float:
    """The obvious list: highest expected value first, take what still fits."""
    total, left = 0.0, budget
    for i in sorted(range(len(cost)), key=lambda i: -value[i]):
        if value[i] > 0 and cost[i] <= left:
            total, left = total + value[i], left - cost[i]
    return total


def best_possible(cost: list[float], value: list[float], budget: float) -> float:
    items = [i for i in range(len(cost)) if value[i] > 0]
    return max(
        sum(value[i] for i in subset)
        for r in range(len(items) + 1)
        for subset in itertools.combinations(items, r)
        if sum(cost[i] for i in subset) <= budget
    )


def frame_of(cost: list[float], value: list[float]) -> pd.DataFrame:
    return scores(*[(i, "offer", c, v) for i, (c, v) in enumerate(zip(cost, value, strict=True))])


class TestSelectCampaign:
    def test_everyone_worth_it_when_the_budget_allows(self):
        frame = scores(
            (1, "a", 10.0, 5.0), (2, "a", 10.0, -1.0), (3, None, 0.0, 0.0), (4, "b", 1.0, 2.0)
        )
        campaign = select_campaign(frame, budget=1000.0)
        assert sorted(targeted(campaign)) == [1, 4]
        assert tuple(campaign.targets.columns) == TARGET_COLUMNS

    def test_value_per_cost_beats_the_top_value_list(self):
        # budget 10: top value takes A (60) and nothing else fits; B + C give 109.
        frame = scores((1, "a", 6.0, 60.0), (2, "b", 5.0, 55.0), (3, "c", 5.0, 54.0))
        campaign = select_campaign(frame, budget=10.0)
        assert targeted(campaign) == [2, 3]
        assert campaign.expected_net_value == pytest.approx(109.0)
        assert naive_top_value([6, 5, 5], [60, 55, 54], 10) == 60
        assert campaign.strategy == "ratio_greedy"

    def test_single_best_item_fixes_greedy(self):
        # Greedy by ratio takes the small item (ratio 2) and then the big one no longer fits.
        frame = scores((1, "small", 1.0, 2.0), (2, "big", 10.0, 15.0))
        campaign = select_campaign(frame, budget=10.0)
        assert targeted(campaign) == [2]
        assert campaign.strategy in ("value_greedy", "best_single")

    def test_zero_budget_only_zero_cost_offers(self):
        frame = scores(
            (1, "a", 0.0, 3.0), (2, "b", 5.0, 50.0), (3, "c", 0.0, 1.0), (4, "d", 0.0, -1.0)
        )
        campaign = select_campaign(frame, budget=0)
        assert targeted(campaign) == [1, 3]
        assert campaign.total_cost == 0.0

    def test_zero_cost_offers_come_first(self):
        frame = scores((1, "a", 10.0, 500.0), (2, "free", 0.0, 1.0))
        assert targeted(select_campaign(frame, budget=10.0)) == [2, 1]

    def test_ranks_follow_pick_order(self):
        frame = scores((1, "a", 10.0, 20.0), (2, "b", 1.0, 5.0), (3, "c", 2.0, 6.0))
        campaign = select_campaign(frame, budget=100.0)
        assert targeted(campaign) == [2, 3, 1]  # ratios 5, 3, 2
        assert campaign.targets["rank"].tolist() == [1, 2, 3]

    def test_summary_sums(self):
        frame = pd.DataFrame(
            {
                "customer_id": [1, 2, 3],
                "offer_id": ["a", "b", "c"],
                "offer_cost": [30.0, 10.0, 50.0],
                "expected_value": [70.0, 10.0, 10.0],  # p × uplift × LTV − cost
                "churn_probability": [0.5, 0.4, 0.6],
                "predicted_ltv": [1000.0, 500.0, 500.0],
                "uplift": [0.2, 0.1, 0.2],
            }
        )
        campaign = select_campaign(frame, budget=45.0)
        assert targeted(campaign) == [1, 2]  # customer 3 (cost 50) does not fit
        assert campaign.summary() == {
            "budget": 45.0,
            "strategy": "ratio_greedy",
            "customers_targeted": 2,
            "total_cost": 40.0,
            "expected_net_value": 80.0,
            "expected_customers_saved": pytest.approx(0.5 * 0.2 + 0.4 * 0.1),
            "expected_revenue_saved": pytest.approx(100.0 + 20.0),
        }

    def test_no_candidates(self):
        campaign = select_campaign(scores((1, None, 0.0, 0.0), (2, "a", 1.0, -3.0)), budget=10.0)
        assert campaign.customers_targeted == 0 and len(campaign.targets) == 0
        assert campaign.total_cost == campaign.expected_net_value == 0.0
        assert tuple(campaign.targets.columns) == TARGET_COLUMNS

    def test_unlimited_budget(self):
        frame = scores((1, "a", 1e9, 1.0), (2, "b", 5.0, 2.0))
        assert sorted(targeted(select_campaign(frame, budget=math.inf))) == [1, 2]

    def test_deterministic_on_ties(self):
        frame = scores(*[(i, "a", 2.0, 4.0) for i in range(6)])
        first = select_campaign(frame, budget=7.0)
        assert targeted(first) == [0, 1, 2]
        pd.testing.assert_frame_equal(first.targets, select_campaign(frame, budget=7.0).targets)

    @pytest.mark.parametrize("budget", [-1.0, math.nan, "100"])
    def test_bad_budget(self, budget):
        with pytest.raises(ConfigError, match=r"Invalid budget.*≥ 0"):
            select_campaign(scores((1, "a", 1.0, 2.0)), budget=budget)

    def test_missing_columns_are_named(self):
        frame = scores((1, "a", 1.0, 2.0)).drop(columns=["uplift", "offer_cost"])
        with pytest.raises(
            ConfigError, match=r"scores \(missing columns\): \['offer_cost', 'uplift'\]"
        ):
            select_campaign(frame, budget=10.0)

    def test_customer_twice(self):
        with pytest.raises(ConfigError, match=r"customer_id: \[1\]; expected one row per customer"):
            select_campaign(scores((1, "a", 1.0, 2.0), (1, "b", 2.0, 3.0)), budget=10.0)

    def test_negative_cost(self):
        with pytest.raises(ConfigError, match=r"offer_cost: \[-1\.0\].*customer_id 2"):
            select_campaign(scores((1, "a", 1.0, 2.0), (2, "b", -1.0, 3.0)), budget=10.0)

    @settings(max_examples=150, deadline=None)
    @given(
        items=st.lists(
            st.tuples(
                st.one_of(st.just(0.0), st.floats(0.0, 1e4)),
                st.floats(-50.0, 1e4),
            ),
            max_size=40,
        ),
        budget=st.one_of(st.just(0.0), st.floats(0.0, 5e4)),
    )
    def test_never_over_budget(self, items, budget):
        frame = frame_of([c for c, _ in items], [v for _, v in items])
        campaign = select_campaign(frame, budget=budget)
        assert campaign.total_cost <= budget
        assert math.fsum(campaign.targets["offer_cost"]) <= budget
        assert (campaign.targets["expected_value"] > 0).all()
        assert campaign.targets["customer_id"].is_unique

    @settings(max_examples=150, deadline=None)
    @given(
        items=st.lists(st.tuples(st.integers(0, 50), st.integers(-10, 100)), max_size=10),
        budget=st.integers(0, 120),
    )
    def test_beats_top_value_list_and_half_the_best(self, items, budget):
        cost, value = [float(c) for c, _ in items], [float(v) for _, v in items]
        campaign = select_campaign(frame_of(cost, value), budget=budget)
        assert campaign.expected_net_value >= naive_top_value(cost, value, budget)
        assert campaign.expected_net_value >= best_possible(cost, value, budget) / 2


class TestWriteTargetsCsv:
    CAMPAIGN = select_campaign(scores((1, "a", 1.0, 2.0), (2, "b", 2.0, 3.0)), budget=10.0)

    def test_round_trip_and_no_leftovers(self, tmp_path):
        path = write_targets_csv(self.CAMPAIGN, tmp_path / "campaign.csv")
        assert path == tmp_path / "campaign.csv"
        pd.testing.assert_frame_equal(pd.read_csv(path), self.CAMPAIGN.targets, check_dtype=False)
        assert [p.name for p in tmp_path.iterdir()] == ["campaign.csv"]

    def test_replaces_an_existing_file_and_makes_folders_when_asked(self, tmp_path):
        path = tmp_path / "out" / "campaign.csv"
        path.parent.mkdir()
        path.write_text("old")
        write_targets_csv(self.CAMPAIGN, path)
        assert path.read_text().startswith(",".join(TARGET_COLUMNS))
        with pytest.raises(OutputError, match="does not exist"):
            write_targets_csv(self.CAMPAIGN, tmp_path / "new" / "deeper" / "c.csv")
        assert not (tmp_path / "new").exists()
        write_targets_csv(self.CAMPAIGN, tmp_path / "new" / "deeper" / "c.csv", mkdir=True)
        assert (tmp_path / "new" / "deeper" / "c.csv").is_file()

    def test_file_mode_follows_the_umask(self, tmp_path):
        path = write_targets_csv(self.CAMPAIGN, tmp_path / "campaign.csv")
        plain = tmp_path / "plain.csv"
        plain.write_text("x")
        assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)

    def test_unwritable_folder_names_the_path(self, tmp_path):
        blocker = tmp_path / "not_a_folder"
        blocker.write_text("")
        path = blocker / "campaign.csv"
        with pytest.raises(OutputError, match=rf"{re.escape(str(path))}.*not a folder"):
            write_targets_csv(self.CAMPAIGN, path)

    def test_path_is_a_folder(self, tmp_path):
        (tmp_path / "campaign.csv").mkdir()
        with pytest.raises(OutputError, match="is a folder"):
            write_targets_csv(self.CAMPAIGN, tmp_path / "campaign.csv")
        assert [p.name for p in tmp_path.iterdir()] == ["campaign.csv"]

    def test_failure_mid_write_leaves_the_old_file(self, tmp_path, monkeypatch):
        path = tmp_path / "campaign.csv"
        path.write_text("old")

        def broken(frame, fh, **kwargs):
            fh.write("customer_id,offer")
            raise RuntimeError("disk on fire")

        monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
        with pytest.raises(RuntimeError, match="disk on fire"):
            write_targets_csv(self.CAMPAIGN, path)
        assert path.read_text() == "old"
        assert [p.name for p in tmp_path.iterdir()] == ["campaign.csv"]


def test_targets_match_the_scores_rows():
    frame = scores((5, "a", 1.0, 2.0), (6, "b", 3.0, 9.0))
    targets = select_campaign(frame, budget=10.0).targets
    merged = targets.merge(frame, on=["customer_id", "offer_id"], suffixes=("", "_in"))
    np.testing.assert_array_equal(merged["offer_cost"], merged["offer_cost_in"])
    np.testing.assert_array_equal(merged["expected_value"], merged["expected_value_in"])


def test_path_type_accepted(tmp_path):
    campaign = select_campaign(scores((1, "a", 1.0, 2.0)), budget=1.0)
    assert write_targets_csv(campaign, str(tmp_path / "c.csv")) == Path(tmp_path / "c.csv")
