"""The retention offer policy: catalog checks, bands, expected value, decide and explain."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.contract.errors import ConfigError
from features.synthetic import OFFER_IDS
from serving.policy.bands import Population, risk_band, value_segment
from serving.policy.catalog import (
    DECISION_COLUMNS,
    Offer,
    OfferCatalog,
    RiskBands,
    ValueSegments,
    load_catalog,
)
from serving.policy.decide import decide, expected_value
from serving.policy.explain import explain

REPO_CATALOG = Path(__file__).resolve().parents[3] / "offers.toml"


VALID = """
loyalty_tiers = ["bronze", "silver", "gold"]

[segments]
names = ["low", "medium", "high"]
thresholds = [100.0, 1000.0]

[risk]
thresholds = [0.3, 0.6]

[[offers]]
id = "coupon"
name = "10 % off"
cost = 10.0
uplift = 0.1

[[offers]]
id = "free_month"
name = "A month free"
cost = 20
uplift = 0.2
contract_types = ["subscription"]
"""


def write_catalog(folder: Path, text: str) -> Path:
    path = folder / "offers.toml"
    path.write_text(text, encoding="utf-8")
    return path


def catalog_error(folder: Path, text: str) -> str:
    path = write_catalog(folder, text)
    with pytest.raises(ConfigError) as err:
        load_catalog(path)
    message = str(err.value)
    assert str(path) in message
    return message


def offer(id: str, *, cost: float = 0.0, uplift: float = 0.1, **rules) -> Offer:
    return Offer(id=id, name=id.replace("_", " "), cost=cost, uplift=uplift, **rules)


ABSOLUTE = {
    "risk": RiskBands(thresholds=(0.3, 0.6), offer_from="low"),
    "segments": ValueSegments(thresholds=(100.0, 500.0, 1500.0)),
}
"""Absolute bands and segments, every band offered: the rules under test, one at a time."""


def catalog(*offers: Offer, **fields) -> OfferCatalog:
    return OfferCatalog(offers=offers, **{**ABSOLUTE, **fields})


def customers(*rows: dict) -> pd.DataFrame:
    base = {"customer_id": 0, "churn_probability": 0.5, "predicted_ltv": 1000.0}
    return pd.DataFrame([{**base, "customer_id": i + 1, **row} for i, row in enumerate(rows)])


def chosen(frame: pd.DataFrame, cat: OfferCatalog) -> list:
    return decide(frame, cat)["offer_id"].tolist()


class TestLoadCatalog:
    def test_repository_catalog_has_the_six_seed_levers_and_a_win_back(self):
        cat = load_catalog(REPO_CATALOG)
        # the generator's levers, then win-back, the birthday treat and a check-in
        assert cat.ids == (*OFFER_IDS, "win_back", "birthday_treat", "personal_check_in")
        assert cat.offer("win_back").statuses == ("lapsed",)
        assert cat.offer("birthday_treat").max_days_to_birthday == 30
        assert all(0.05 <= o.uplift <= 0.25 for o in cat.offers)
        assert cat.offer("free_month").contract_types == ("subscription",)
        assert cat.offer("priority_callback").min_open_tickets == 1
        assert cat.segments.names == ("low", "medium", "high", "top")
        assert (cat.segments.basis, cat.segments.quantiles) == ("quantile", (0.5, 0.8, 0.95))
        risk = (cat.risk.basis, cat.risk.lift, cat.risk.offer_from)
        assert risk == ("lift", (1.0, 2.0), "medium")
        # in the customer's own scale: no offer has a fixed currency cost
        assert all(o.cost == 0 and o.relative_cost and o.min_ltv == 0 for o in cat.offers)

    def test_valid_catalog_with_defaults(self, tmp_path):
        cat = load_catalog(write_catalog(tmp_path, VALID))
        coupon = cat.offer("coupon")
        assert (coupon.segments, coupon.tiers, coupon.contract_types) == (None, None, None)
        assert (coupon.min_ltv, coupon.min_open_tickets) == (0.0, None)
        assert cat.offer("free_month").cost == 20.0
        assert cat.loyalty_tiers == ("bronze", "silver", "gold")

    def test_sections_default_when_left_out(self, tmp_path):
        cat = load_catalog(
            write_catalog(tmp_path, 'offers = [{id = "a", name = "A", cost = 1, uplift = 0.1}]')
        )
        assert cat.segments == ValueSegments() and cat.risk == RiskBands()

    def test_missing_file(self, tmp_path):
        with pytest.raises(
            ConfigError, match=r"offer catalog file.*nope\.toml.*existing TOML file"
        ):
            load_catalog(tmp_path / "nope.toml")

    def test_folder_is_not_a_catalog(self, tmp_path):
        with pytest.raises(ConfigError, match="existing TOML file"):
            load_catalog(tmp_path)

    def test_unparseable_toml(self, tmp_path):
        assert "valid TOML" in catalog_error(tmp_path, VALID + "\n[[offers]\nid = ")

    def test_unknown_key_names_offer_and_key(self, tmp_path):
        message = catalog_error(
            tmp_path, VALID.replace("cost = 10.0", 'cost = 10.0\ncolour = "red"')
        )
        assert "key 'colour' of offer 'coupon'" in message
        assert "'red'" in message and "known keys" in message and "min_open_tickets" in message

    def test_unknown_top_level_and_section_keys(self, tmp_path):
        assert "key 'budget' in" in catalog_error(tmp_path, "budget = 5\n" + VALID)
        message = catalog_error(tmp_path, VALID.replace("[risk]\n", "[risk]\nlevels = 3\n"))
        assert "key 'levels' in [risk]" in message

    def test_negative_cost(self, tmp_path):
        message = catalog_error(tmp_path, VALID.replace("cost = 20", "cost = -5"))
        assert re.search(
            r"field 'cost' of offer 'free_month' .*: -5; expected a number ≥ 0", message
        )

    @pytest.mark.parametrize("uplift", ["1.5", "-0.1"])
    def test_uplift_outside_zero_one(self, tmp_path, uplift):
        message = catalog_error(tmp_path, VALID.replace("uplift = 0.1", f"uplift = {uplift}"))
        assert "field 'uplift' of offer 'coupon'" in message and uplift in message

    def test_text_where_a_number_is_expected(self, tmp_path):
        message = catalog_error(tmp_path, VALID.replace("cost = 10.0", 'cost = "10"'))
        assert "field 'cost' of offer 'coupon'" in message and "a number" in message

    def test_missing_required_field(self, tmp_path):
        message = catalog_error(tmp_path, VALID.replace("uplift = 0.2\n", ""))
        assert "field 'uplift' of offer 'free_month'" in message and "required" in message

    def test_duplicate_ids(self, tmp_path):
        message = catalog_error(tmp_path, VALID.replace('id = "free_month"', 'id = "coupon"'))
        assert "field 'id' of offer 'coupon'" in message and "unique offer id" in message

    def test_bad_offer_id(self, tmp_path):
        message = catalog_error(tmp_path, VALID.replace('id = "coupon"', 'id = "10% off"'))
        assert "field 'id' of offer '10% off'" in message and "lowercase letters" in message

    def test_unknown_contract_type(self, tmp_path):
        message = catalog_error(tmp_path, VALID.replace('["subscription"]', '["monthly"]'))
        assert "field 'contract_types' of offer 'free_month'" in message
        assert "['monthly']" in message and "subscription, non_contractual" in message

    def test_unknown_segment_in_offer(self, tmp_path):
        message = catalog_error(
            tmp_path, VALID.replace("uplift = 0.1", 'uplift = 0.1\nsegments = ["vip"]')
        )
        assert "field 'segments' of offer 'coupon'" in message and "low, medium, high" in message

    def test_unknown_tier_in_offer(self, tmp_path):
        message = catalog_error(
            tmp_path, VALID.replace("uplift = 0.1", 'uplift = 0.1\ntiers = ["gld"]')
        )
        assert "field 'tiers' of offer 'coupon'" in message and "['gld']" in message

    def test_empty_rule_list(self, tmp_path):
        message = catalog_error(tmp_path, VALID.replace("uplift = 0.1", "uplift = 0.1\ntiers = []"))
        assert "field 'tiers' of offer 'coupon'" in message and "at least 1" in message

    @pytest.mark.parametrize("thresholds", ["[1000.0, 100.0]", "[100.0, 100.0]"])
    def test_segment_thresholds_not_increasing(self, tmp_path, thresholds):
        message = catalog_error(tmp_path, VALID.replace("[100.0, 1000.0]", thresholds))
        assert "field 'thresholds' in [segments]" in message and "strictly increasing" in message

    def test_segment_names_and_thresholds_disagree(self, tmp_path):
        message = catalog_error(tmp_path, VALID.replace("[100.0, 1000.0]", "[100.0]"))
        assert "field 'thresholds' in [segments]" in message and "one threshold fewer" in message

    @pytest.mark.parametrize("thresholds", ["[0.6, 0.3]", "[0.3, 1.5]"])
    def test_risk_thresholds_not_increasing_probabilities(self, tmp_path, thresholds):
        message = catalog_error(tmp_path, VALID.replace("[0.3, 0.6]", thresholds))
        assert "field 'thresholds' in [risk]" in message and "increasing probabilities" in message

    def test_counts_further_problems(self, tmp_path):
        message = catalog_error(
            tmp_path, VALID.replace("cost = 20", "cost = -5").replace("0.1", "7")
        )
        assert "1 more problem in the file" in message


class TestRiskBand:
    def test_values_on_a_threshold_go_to_the_higher_band(self):
        p = [0.0, 0.2999, 0.3, 0.5999, 0.6, 1.0]
        bands = risk_band(p, (0.3, 0.6)).tolist()
        assert bands == ["low", "low", "medium", "medium", "high", "high"]

    def test_default_is_lift_over_the_populations_base_rate(self):
        # base rate 0.125: medium from it, high from 0.25, whatever the absolute level
        reference = Population.of(np.full(1000, 0.125), [])
        bands = risk_band([0.05, 0.125, 0.24, 0.25, 0.9], population=reference).tolist()
        assert bands == ["low", "medium", "medium", "high", "high"]
        # without a population the probabilities scored are it: mean 0.02 here
        assert risk_band([0.01, 0.01, 0.02, 0.04]).tolist() == ["low", "low", "medium", "high"]

    def test_quantile_basis(self):
        bands = RiskBands(basis="quantile", quantiles=(0.5, 0.9))
        reference = Population.of(np.linspace(0, 1, 1001), [])
        assert bands.cut_points(reference) == pytest.approx((0.5, 0.9))
        assert risk_band([0.49, 0.5, 0.95], bands, reference).tolist() == ["low", "medium", "high"]

    def test_lift_cut_points_are_capped_at_one(self):
        reference = Population.of(np.full(10, 0.7), [])
        assert RiskBands().cut_points(reference) == pytest.approx((0.7, 1.0))
        assert "1 × base rate 0.7" in RiskBands().describe(reference)

    def test_custom_thresholds_and_nan(self):
        bands = risk_band(pd.Series([0.1, 0.2, np.nan]), (0.1, 0.5))
        assert bands.tolist() == ["medium", "medium", None]

    def test_thresholds_from_catalog_model(self):
        assert risk_band([0.45], RiskBands(thresholds=(0.2, 0.4))).tolist() == ["high"]

    def test_bad_thresholds(self):
        with pytest.raises(ConfigError, match="risk thresholds.*increasing probabilities"):
            risk_band([0.5], (0.6, 0.3))


class TestValueSegment:
    def test_default_is_by_quantile_of_the_population(self):
        reference = Population.of([], np.arange(1, 101, dtype=float))  # 1 … 100
        assert value_segment([10.0, 60.0, 90.0, 99.0], population=reference).tolist() == [
            "low", "medium", "high", "top",
        ]  # fmt: skip
        # the same customers in a currency worth 1,000 times less: the same segments
        scaled = Population.of([], np.arange(1, 101) * 1000.0)
        assert value_segment([1e4, 6e4, 9e4, 9.9e4], population=scaled).tolist() == [
            "low", "medium", "high", "top",
        ]  # fmt: skip

    def test_values_on_a_threshold_go_to_the_higher_segment(self):
        ltv = [-50.0, 0.0, 99.99, 100.0, 499.99, 500.0, 1499.99, 1500.0, 1e6]
        assert value_segment(ltv, ABSOLUTE["segments"]).tolist() == [
            "low", "low", "low", "medium", "medium", "high", "high", "top", "top",
        ]  # fmt: skip

    def test_custom_segments_and_nan(self):
        segments = ValueSegments(names=("small", "big"), thresholds=(50.0,))
        assert value_segment([49.0, 50.0, np.nan], segments).tolist() == ["small", "big", None]


class TestExpectedValue:
    def test_hand_computed(self):
        assert expected_value(0.5, 0.2, 1000.0, 30.0) == pytest.approx(70.0)

    def test_negative_when_the_offer_costs_more_than_it_saves(self):
        assert expected_value(0.1, 0.1, 100.0, 5.0) == pytest.approx(-4.0)

    def test_customers_by_offers_matrix(self):
        p, ltv = np.array([0.5, 1.0]), np.array([1000.0, 200.0])
        uplift, cost = np.array([0.2, 0.1, 0.0]), np.array([30.0, 0.0, 1.0])
        ev = expected_value(p[:, None], uplift[None, :], ltv[:, None], cost[None, :])
        np.testing.assert_allclose(ev, [[70.0, 50.0, -1.0], [10.0, 20.0, -1.0]])


class TestDecide:
    def test_hand_computed_choice_and_columns(self):
        cat = catalog(offer("call", cost=30.0, uplift=0.2))
        out = decide(customers({"churn_probability": 0.5, "predicted_ltv": 1000.0}), cat)
        assert tuple(out.columns) == DECISION_COLUMNS
        row = out.iloc[0]
        assert (row.customer_id, row.risk_band, row.value_segment) == (1, "medium", "high")
        assert (row.offer_id, row.offer_name, row.offer_cost) == ("call", "call", 30.0)
        assert row.expected_value == pytest.approx(70.0)

    def test_highest_expected_value_wins(self):
        cat = catalog(
            offer("cheap", cost=1.0, uplift=0.01),  # 0.5 × 0.01 × 1000 − 1 = 4
            offer("best", cost=30.0, uplift=0.2),  # 70
            offer("dear", cost=90.0, uplift=0.25),  # 35
        )
        out = decide(customers({}), cat)
        assert out["offer_id"].tolist() == ["best"]
        assert out["expected_value"].tolist() == pytest.approx([70.0])

    def test_none_when_nothing_pays(self):
        cat = catalog(offer("dear", cost=100.0, uplift=0.1), offer("even", cost=50.0, uplift=0.1))
        out = decide(customers({}, {"churn_probability": 0.0}), cat)
        assert out["offer_id"].tolist() == [None, None]  # 0.5 × 0.1 × 1000 − 50 = 0: not positive
        assert out["offer_name"].tolist() == [None, None]
        assert out["offer_cost"].tolist() == [0.0, 0.0]
        assert out["expected_value"].tolist() == [0.0, 0.0]

    def test_by_value_segment(self):
        cat = catalog(offer("vip", uplift=0.2, segments=("top",)))
        frame = customers({"predicted_ltv": 1499.99}, {"predicted_ltv": 1500.0})
        assert chosen(frame, cat) == [None, "vip"]

    def test_by_loyalty_tier_unknown_is_ineligible(self):
        cat = catalog(offer("points", tiers=("gold", "platinum")))
        frame = customers(
            {"loyalty_tier": "silver"}, {"loyalty_tier": "gold"}, {"loyalty_tier": None}
        )
        assert chosen(frame, cat) == [None, "points", None]
        assert chosen(frame.drop(columns="loyalty_tier"), cat) == [None, None, None]

    def test_by_contract_type(self):
        cat = catalog(offer("free_month", contract_types=("subscription",)))
        frame = customers(
            {"contract_type": "subscription"},
            {"contract_type": "non_contractual"},
            {"contract_type": pd.NA},
        )
        assert chosen(frame, cat) == ["free_month", None, None]
        assert chosen(frame.drop(columns="contract_type"), cat) == [None, None, None]

    def test_by_min_ltv(self):
        cat = catalog(offer("bonus", min_ltv=300.0))
        frame = customers({"predicted_ltv": 299.0}, {"predicted_ltv": 300.0})
        assert chosen(frame, cat) == [None, "bonus"]

    def test_by_open_tickets(self):
        cat = catalog(offer("callback", min_open_tickets=1))
        frame = customers({"open_tickets": 0}, {"open_tickets": 2}, {"open_tickets": np.nan})
        assert chosen(frame, cat) == [None, "callback", None]
        assert chosen(frame.drop(columns="open_tickets"), cat) == [None, None, None]

    def test_by_days_to_birthday(self):
        cat = catalog(offer("birthday", max_days_to_birthday=30))
        frame = customers(
            {"days_to_birthday": 0},
            {"days_to_birthday": 30},
            {"days_to_birthday": 31},
            {"days_to_birthday": np.nan},
        )
        assert chosen(frame, cat) == ["birthday", "birthday", None, None]
        assert chosen(frame.drop(columns="days_to_birthday"), cat) == [None] * 4
        [option] = explain(frame.iloc[2].to_dict(), cat)
        assert option.reasons == ["needs a birthday within 30 days, customer's is in 31 days"]

    def test_negative_ltv_gets_nothing(self):
        assert chosen(customers({"predicted_ltv": -10.0}), catalog(offer("free"))) == [None]

    def test_ties_go_to_the_cheaper_offer(self):
        cat = catalog(
            offer("dear", cost=150.0, uplift=0.5),  # 0.5 × 0.5 × 1000 − 150 = 100
            offer("cheap", cost=25.0, uplift=0.25),  # 0.5 × 0.25 × 1000 − 25 = 100
        )
        assert chosen(customers({}), cat) == ["cheap"]

    def test_full_ties_go_to_catalog_order(self):
        cat = catalog(offer("first", cost=5.0), offer("second", cost=5.0))
        assert chosen(customers({}), cat) == ["first"]

    def test_keeps_index_and_is_deterministic(self):
        frame = customers({}, {"churn_probability": 0.9}, {"predicted_ltv": 10.0})
        frame.index = [30, 10, 20]
        cat = load_catalog(REPO_CATALOG)
        out = decide(frame, cat)
        assert out.index.tolist() == [30, 10, 20]
        pd.testing.assert_frame_equal(out, decide(frame, cat))
        shuffled = decide(frame.loc[[20, 30, 10]], cat)
        pd.testing.assert_frame_equal(shuffled.loc[[30, 10, 20]], out)

    def test_empty_frame_and_empty_catalog(self):
        out = decide(customers({}).iloc[:0], catalog(offer("a")))
        assert len(out) == 0 and tuple(out.columns) == DECISION_COLUMNS
        assert chosen(customers({}, {}), catalog()) == [None, None]

    def test_missing_required_columns_are_named(self):
        frame = customers({}).drop(columns=["predicted_ltv"])
        with pytest.raises(
            ConfigError, match=r"customers \(missing columns\): \['predicted_ltv'\]"
        ):
            decide(frame, catalog(offer("a")))

    @pytest.mark.parametrize("p", [1.5, -0.1, np.nan])
    def test_probability_outside_zero_one(self, p):
        frame = customers({}, {"churn_probability": p})
        with pytest.raises(ConfigError, match=r"churn_probability.*\[0, 1\].*customer_id 2"):
            decide(frame, catalog(offer("a")))

    def test_ltv_not_finite(self):
        with pytest.raises(ConfigError, match="predicted_ltv.*finite"):
            decide(customers({"predicted_ltv": np.inf}), catalog(offer("a")))


class TestExplain:
    CUSTOMER = {
        "customer_id": 7,
        "churn_probability": 0.5,
        "predicted_ltv": 400.0,  # medium
        "loyalty_tier": "silver",
        "contract_type": "non_contractual",
        "open_tickets": 0,
    }
    CATALOG = catalog(
        offer("free_month", cost=20.0, uplift=0.2, contract_types=("subscription",)),
        offer("vip", cost=10.0, uplift=0.2, segments=("high", "top"), tiers=("gold",)),
        offer("callback", cost=5.0, uplift=0.1, min_open_tickets=2),
        offer("bonus", cost=1.0, uplift=0.05, min_ltv=500.0),
        offer("coupon", cost=5.0, uplift=0.1),  # 0.5 × 0.1 × 400 − 5 = 15
        offer("points", cost=2.0, uplift=0.05),  # 8
        offer("dear", cost=100.0, uplift=0.1),  # −80
    )

    def test_reasons_in_words(self):
        reasons = {o.offer_id: o.reasons for o in explain(self.CUSTOMER, self.CATALOG)}
        assert reasons["free_month"] == [
            "needs contract type subscription, customer is non_contractual"
        ]
        assert reasons["vip"] == [
            "needs value segment high or top, customer is medium",
            "needs loyalty tier gold, customer is silver",
        ]
        assert reasons["callback"] == ["needs at least 2 open support tickets, customer has 0"]
        assert reasons["bonus"] == ["needs predicted LTV of at least 500, customer's is 400"]
        assert reasons["coupon"] == reasons["points"] == reasons["dear"] == []

    def test_unknown_values_are_said_to_be_unknown(self):
        customer = {"churn_probability": 0.5, "predicted_ltv": 400.0}
        reasons = {o.offer_id: o.reasons for o in explain(customer, self.CATALOG)}
        assert reasons["free_month"] == [
            "needs contract type subscription, customer's contract type is unknown"
        ]
        assert "needs loyalty tier gold, customer's tier is unknown" in reasons["vip"]
        assert reasons["callback"] == [
            "needs at least 2 open support tickets, customer's open tickets are unknown"
        ]

    def test_best_first_and_only_the_best_recommended(self):
        options = explain(self.CUSTOMER, self.CATALOG)
        assert [o.offer_id for o in options] == [
            "coupon", "points", "dear", "vip", "free_month", "callback", "bonus",
        ]  # fmt: skip
        assert [o.recommended for o in options] == [True] + [False] * 6
        assert [o.eligible for o in options] == [True] * 3 + [False] * 4
        assert options[0].expected_value == pytest.approx(15.0)
        assert options[3].expected_value == pytest.approx(30.0)  # better, but not eligible

    def test_nothing_recommended_when_nothing_pays(self):
        options = explain({**self.CUSTOMER, "churn_probability": 0.01}, self.CATALOG)
        assert not any(o.recommended for o in options)

    def test_bad_input_is_refused_like_decide(self):
        with pytest.raises(ConfigError, match="predicted_ltv"):
            explain({"churn_probability": 0.5}, self.CATALOG)


AGREEMENT_CATALOG = catalog(
    offer("coupon", cost=10.0, uplift=0.1, tiers=("bronze", "silver")),
    offer("coupon_twin", cost=10.0, uplift=0.1),  # ties with coupon: catalog order decides
    offer("points", cost=5.0, uplift=0.075, tiers=("silver", "gold")),  # ties coupon at p·L=300
    offer("free_month", cost=20.0, uplift=0.2, contract_types=("subscription",)),
    offer(
        "vip", cost=40.0, uplift=0.25, segments=("high", "top"), tiers=("bronze", "silver", "gold")
    ),
    offer("callback", cost=15.0, uplift=0.15, min_open_tickets=1),
    offer("referral", cost=0.0, uplift=0.01, min_ltv=300.0),
    loyalty_tiers=("bronze", "silver", "gold", "platinum"),
)

customer_rows = st.fixed_dictionaries(
    {
        "churn_probability": st.one_of(st.sampled_from([0.0, 0.25, 0.5, 1.0]), st.floats(0.0, 1.0)),
        "predicted_ltv": st.one_of(
            st.sampled_from([0.0, 100.0, 400.0, 500.0, 1500.0, 2000.0]),
            st.floats(-500.0, 1e5),
        ),
        "loyalty_tier": st.sampled_from(["bronze", "silver", "gold", "platinum", "diamond", None]),
        "contract_type": st.sampled_from(["subscription", "non_contractual", None]),
        "open_tickets": st.sampled_from([0, 1, 3, None]),
    }
)


class TestExplainAgreesWithDecide:
    @settings(max_examples=60, deadline=None)
    @given(
        rows=st.lists(customer_rows, min_size=1, max_size=12),
        dropped=st.sets(st.sampled_from(["loyalty_tier", "contract_type", "open_tickets"])),
    )
    def test_same_choice_and_value(self, rows, dropped):
        frame = pd.DataFrame([{"customer_id": i, **row} for i, row in enumerate(rows)])
        frame = frame.drop(columns=sorted(dropped))
        decisions = decide(frame, AGREEMENT_CATALOG)
        for record, decision in zip(frame.to_dict("records"), decisions.itertuples(), strict=True):
            options = explain(record, AGREEMENT_CATALOG)
            recommended = [o for o in options if o.recommended]
            if decision.offer_id is None:
                assert recommended == []
                assert decision.expected_value == 0.0
            else:
                assert recommended == [options[0]]
                assert options[0].offer_id == decision.offer_id
                assert options[0].expected_value == decision.expected_value
                assert options[0].cost == decision.offer_cost
            positive = [o for o in options if o.eligible and o.expected_value > 0]
            assert bool(positive) == (decision.offer_id is not None)
            assert all(math.isfinite(o.expected_value) for o in options)


class TestStatusRule:
    def test_win_back_goes_to_lapsed_customers_only(self, tmp_path):
        text = VALID + '\n[[offers]]\nid = "win_back"\nname = "Come back"\ncost = 1.0\n'
        text += 'uplift = 0.5\nstatuses = ["lapsed"]\n'
        cat = load_catalog(write_catalog(tmp_path, text))
        frame = pd.DataFrame(
            {
                "customer_id": [1, 2, 3],
                "churn_probability": [0.9, 0.9, 0.9],
                "predicted_ltv": [1000.0, 1000.0, 1000.0],
                "status": ["lapsed", "active", None],
            }
        )
        eligible = {o.offer_id: o.eligible for o in explain(frame.iloc[0].to_dict(), cat)}
        assert eligible["win_back"]
        assert not {o.offer_id: o.eligible for o in explain(frame.iloc[1].to_dict(), cat)}[
            "win_back"
        ]
        decided = decide(frame, cat)
        assert decided["offer_id"].tolist()[0] == "win_back"
        assert "win_back" not in decided["offer_id"].tolist()[1:]

    def test_unknown_status_in_a_rule_is_refused(self, tmp_path):
        text = VALID + '\n[[offers]]\nid = "x"\nname = "X"\ncost = 1.0\nuplift = 0.1\n'
        text += 'statuses = ["dormant"]\n'
        with pytest.raises(ConfigError, match="statuses"):
            load_catalog(write_catalog(tmp_path, text))


class TestRelativeOffers:
    """Costs in the customer's own scale, the risk gate, and why no offer, in one line."""

    def test_cost_as_a_share_of_order_value_and_ltv_within_floor_and_cap(self):
        coupon = offer("coupon", cost_pct_of_order=10.0, cost_min=2.0, cost_max=30.0)
        vip = offer("vip", cost=1.0, cost_pct_of_ltv=2.0)
        order_value, ltv = np.array([5.0, 100.0, 1000.0, np.nan]), np.full(4, 500.0)
        assert coupon.costs(order_value, ltv)[:3].tolist() == [2.0, 10.0, 30.0]
        assert np.isnan(coupon.costs(order_value, ltv)[3])
        assert vip.costs(order_value, ltv).tolist() == [11.0] * 4

    def test_the_same_customers_in_another_currency_get_the_same_offers(self):
        cat = load_catalog(REPO_CATALOG)
        rng = np.random.default_rng(3)
        n = 400
        frame = pd.DataFrame(
            {
                "customer_id": np.arange(n),
                "churn_probability": rng.beta(1, 6, n),
                "predicted_ltv": rng.gamma(2.0, 300.0, n),
                "order_value": rng.gamma(4.0, 20.0, n),
                "status": "active",
            }
        )
        yen = frame.assign(
            predicted_ltv=frame["predicted_ltv"] * 160, order_value=frame["order_value"] * 160
        )
        out, out_yen = decide(frame, cat), decide(yen, cat)
        assert out["offer_id"].notna().sum() > 0
        assert out["offer_id"].tolist() == out_yen["offer_id"].tolist()
        np.testing.assert_allclose(out_yen["expected_value"], out["expected_value"] * 160)

    def test_customers_below_offer_from_get_no_offer_and_are_told_why(self):
        cat = catalog(offer("free", uplift=0.5), risk=RiskBands(thresholds=(0.3, 0.6)))
        out = decide(customers({"churn_probability": 0.29}, {"churn_probability": 0.3}), cat)
        assert out["offer_id"].tolist() == [None, "free"]
        assert out["no_offer_reason"].tolist() == [
            "low risk: churn probability 0.290 is below the medium band (from 0.300)",
            None,
        ]
        [option] = explain({"churn_probability": 0.29, "predicted_ltv": 1000.0}, cat)
        assert option.reasons == [
            "needs medium risk or higher (churn probability from 0.300), customer's is 0.290 (low)"
        ]

    def test_no_offer_reason_says_which_kind(self):
        cat = catalog(
            offer("dear", cost=100.0, uplift=0.1),
            offer("gold_only", uplift=0.5, tiers=("gold",)),
            offer("pct", uplift=0.5, cost_pct_of_order=10.0, statuses=("lapsed",)),
        )
        frame = customers({}, {"status": "lapsed", "predicted_ltv": 10.0, "order_value": 500.0})
        out = decide(frame, cat)
        assert out["offer_id"].tolist() == [None, None]
        reasons = out["no_offer_reason"].tolist()
        assert reasons[0] == (
            "none pays: best is dear at -50.00 (p 0.500 × uplift 0.100 × LTV 1,000.00 "
            "< cost 100.00)"
        )
        assert reasons[1].startswith("none pays: best is pct at -47.50")
        out = decide(customers({"predicted_ltv": 1000.0}), catalog(offer("g", tiers=("gold",))))
        assert out["no_offer_reason"].tolist() == ["not eligible: no offer's rules fit (tiers)"]

    def test_unknown_order_value_makes_a_relative_offer_ineligible(self):
        cat = catalog(offer("pct", uplift=0.5, cost_pct_of_order=10.0))
        out = decide(customers({"order_value": np.nan}, {"order_value": 50.0}), cat)
        assert out["offer_id"].tolist() == [None, "pct"]
        assert out["offer_cost"].tolist() == [0.0, 5.0]
        assert "order_value" in out["no_offer_reason"][0]

    def test_cap_below_floor_is_refused(self, tmp_path):
        text = VALID.replace("cost = 10.0", "cost = 10.0\ncost_min = 5.0\ncost_max = 1.0")
        message = catalog_error(tmp_path, text)
        assert "cost_max" in message and "coupon" in message and "at least cost_min" in message
