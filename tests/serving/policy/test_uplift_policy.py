"""The offer policy with learned uplift: its value, its source, and every policy's budget."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from serving.batch.reader import campaign_scores
from serving.evaluation.policies import POLICIES, POLICY_COLUMNS, compare_policies, total
from serving.policy.bands import RiskBands
from serving.policy.catalog import Offer, OfferCatalog
from serving.policy.decide import CATALOG_SOURCE, LearnedUplift, decide
from serving.policy.explain import explain

CATALOG = OfferCatalog(
    offers=(
        Offer(id="coupon", name="Coupon", cost=10.0, uplift=0.1),
        Offer(id="call", name="Call", cost=20.0, uplift=0.3),
    ),
    risk=RiskBands(offer_from="low"),  # who is persuadable is the uplift's to say here
)


def customers(n: int = 3, *, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": np.arange(1, n + 1),
            "churn_probability": rng.uniform(0.05, 0.9, n),
            "predicted_ltv": rng.uniform(50, 2000, n),
        }
    )


class TestDecideWithLearnedUplift:
    def test_value_is_tau_times_ltv_minus_cost_and_the_row_says_model(self):
        frame = customers()
        tau = np.array([[0.20, 0.0], [0.01, 0.0], [-0.05, 0.0]])
        out = decide(frame, CATALOG, uplift=LearnedUplift(tau, ("coupon", "call"), "model:7"))
        ltv = frame["predicted_ltv"].to_numpy()
        assert out.loc[0, "offer_id"] == "coupon"
        assert out.loc[0, "expected_value"] == pytest.approx(0.20 * ltv[0] - 10.0)
        assert out.loc[0, "uplift"] == pytest.approx(0.20 / frame.loc[0, "churn_probability"])
        assert set(out["uplift_source"]) == {"model:7"}
        assert out.loc[2, "offer_id"] is None  # harmful by the model: no offer

    def test_offers_without_history_keep_the_catalog_share_and_say_so(self):
        frame = customers()
        tau = np.zeros((3, 1))  # the model knows only the coupon, and it does nothing
        out = decide(frame, CATALOG, uplift=LearnedUplift(tau, ("coupon",), "model:7"))
        offered = out["offer_id"].notna()
        assert (out.loc[offered, "offer_id"] == "call").all()
        assert (out.loc[offered, "uplift_source"] == CATALOG_SOURCE).all()
        assert (out.loc[offered, "uplift"] == 0.3).all()

    def test_without_a_model_everything_is_the_catalog(self):
        out = decide(customers(), CATALOG)
        assert set(out["uplift_source"]) == {CATALOG_SOURCE}
        offered = out["offer_id"].notna()
        share = out.loc[offered, "offer_id"].map({"coupon": 0.1, "call": 0.3})
        assert (out.loc[offered, "uplift"] == share).all()

    def test_explain_agrees_and_names_each_options_source(self):
        frame = customers(1)
        tau = np.array([[0.3, 0.0]])
        learned = LearnedUplift(tau[:, :1], ("coupon",), "model:2")
        options = explain(frame.iloc[0].to_dict(), CATALOG, uplift=learned)
        by_id = {o.offer_id: o for o in options}
        assert by_id["coupon"].uplift_source == "model:2"
        assert by_id["call"].uplift_source == CATALOG_SOURCE
        chosen = decide(frame, CATALOG, uplift=learned)
        assert options[0].recommended == (chosen.loc[0, "offer_id"] is not None)

    def test_the_campaign_uses_the_scores_own_uplift(self):
        frame = customers()
        p = frame["churn_probability"].to_numpy()
        tau = np.column_stack([0.5 * p, np.zeros(3)])  # the coupon keeps half the churners
        decided = decide(frame, CATALOG, uplift=LearnedUplift(tau, ("coupon", "call"), "model:1"))
        scores = pd.concat([frame, decided.drop(columns="customer_id")], axis=1)
        ready = campaign_scores(scores, CATALOG)
        offered = ready["offer_id"].notna()
        assert np.allclose(
            ready.loc[offered, "uplift"] * ready.loc[offered, "churn_probability"],
            tau[offered.to_numpy(), 0],
        )


class TestComparePolicies:
    @pytest.mark.parametrize("budget", [0.0, 15.0, 95.0, 400.0, 1e9])
    @pytest.mark.parametrize("with_truth", [True, False])
    def test_every_policy_respects_the_budget(self, budget, with_truth):
        frame = customers(60, seed=4)
        rng = np.random.default_rng(5)
        tau = rng.uniform(-0.05, 0.3, (60, 2))
        truth = rng.uniform(0, 0.3, (60, 2)) if with_truth else None
        out = compare_policies(
            frame,
            CATALOG,
            LearnedUplift(tau, ("coupon", "call"), "model:1"),
            budget=budget,
            saved=truth,
            seed=1,
        )
        assert tuple(out.columns) == POLICY_COLUMNS and tuple(out["policy"]) == POLICIES
        assert (out["cost"] <= budget + 1e-9).all()
        assert (out["evaluation"] == ("truth" if with_truth else "estimate")).all()
        if budget == 0.0:
            assert (out["targeted"] == 0).all()

    def test_top_uplift_finds_the_planted_savers(self):
        frame = customers(200, seed=2)
        truth = np.zeros((200, 2))
        truth[:20, 0] = 0.5  # only the first 20 are saved, and only by the coupon
        out = compare_policies(
            frame,
            CATALOG,
            LearnedUplift(truth.copy(), ("coupon", "call"), "model:1"),
            budget=200.0,
            saved=truth,
        ).set_index("policy")
        assert out.loc["top_uplift", "customers_saved"] == pytest.approx(10.0)
        assert out.loc["top_uplift", "saved_per_1000"] > out.loc["top_churn", "saved_per_1000"]

    def test_total_sums_campaigns(self):
        frame = customers(30, seed=1)
        learned = LearnedUplift(np.full((30, 2), 0.1), ("coupon", "call"), "model:1")
        one = compare_policies(frame, CATALOG, learned, budget=50.0)
        both = total([one, one]).set_index("policy")
        assert (both["cost"] == 2 * one.set_index("policy")["cost"]).all()

    def test_relative_costs_are_each_customers_own(self):
        # the coupon costs 10 % of the customer's order value: spend is per customer
        catalog = OfferCatalog(
            offers=(Offer(id="coupon", name="Coupon", cost_pct_of_order=10.0, uplift=0.1),),
            risk=RiskBands(offer_from="low"),
        )
        frame = customers(40, seed=6).assign(order_value=np.linspace(10.0, 400.0, 40))
        truth = np.full((40, 1), 0.2)
        out = compare_policies(
            frame,
            catalog,
            LearnedUplift(np.full((40, 1), 0.2), ("coupon",), "model:1"),
            budget=1e9,
            saved=truth,
        ).set_index("policy")
        everyone = out.loc["random"]
        assert everyone["targeted"] > 0
        offered = decide(frame, catalog)["offer_id"].notna().to_numpy()
        expected = 0.1 * frame["order_value"].to_numpy()[offered].sum()
        assert everyone["cost"] == pytest.approx(expected)
        assert everyone["saved_per_1000"] == pytest.approx(1000 * 0.2 * offered.sum() / expected)
