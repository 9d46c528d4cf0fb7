"""The uplift run: campaign cutoffs in time order, no leakage, the overlap gate."""

from __future__ import annotations

import pandas as pd
import pytest

from features.contract.errors import ConfigError
from features.families.build import build_features
from tests.conftest import mlflow_state_restored
from training.evaluation.uplift_metrics import Overlap
from training.registry.promotion import decide
from training.uplift_data import NO_OFFER, TREATMENT, campaign_cutoffs, plan_uplift, uplift_rows
from training.uplift_train import UpliftConfig, thin_overlap, train_uplift

H = 90


class TestPlan:
    def test_campaign_cutoffs_are_first_offer_days(self, generated):
        cutoffs = campaign_cutoffs(generated)
        offers = generated.offers["offered_at"]
        assert cutoffs == sorted(cutoffs) and all(t == t.floor("D") for t in cutoffs)
        months = offers.dt.tz_convert(None).dt.to_period("M").nunique()
        assert len(cutoffs) == months

    def test_training_outcomes_end_before_the_held_out_campaigns(self, generated):
        plan = plan_uplift(generated, horizon_days=H, max_cutoffs=6, holdout=3)
        h = pd.Timedelta(days=H)
        assert max(plan.train) + h <= min(plan.validation)
        assert max(plan.validation) + h <= generated.data_end().floor("D") + pd.Timedelta(days=1)
        assert len(plan.train) == 6 and len(plan.validation) == 3

    def test_no_offer_history_names_the_offers_table_and_the_catalog(self, generated):
        empty = generated.replace(offers=generated.offers.iloc[:0])
        with pytest.raises(ConfigError, match="offers history") as e:
            plan_uplift(empty, horizon_days=H)
        assert "catalog" in str(e.value)


class TestRows:
    def test_features_use_only_events_before_the_cutoff(self, generated):
        """The rows' features equal those built from the tables cut at the cutoff."""
        cutoff = campaign_cutoffs(generated)[-8]
        rows = uplift_rows(generated, [cutoff], horizon_days=H, btyd=False)
        before = {
            "transactions": "ordered_at",
            "support_tickets": "opened_at",
            "surveys": "answered_at",
            "offers": "offered_at",
        }
        cut = {name: getattr(generated, name) for name in before}
        cut = {name: frame[frame[before[name]] < cutoff] for name, frame in cut.items()}
        customers = generated.customers.copy()
        customers["cancelled_at"] = customers["cancelled_at"].where(
            customers["cancelled_at"] < cutoff
        )
        past = build_features(generated.replace(customers=customers, **cut), as_of=cutoff)
        past = past.set_index("customer_id").loc[rows["customer_id"]].reset_index()
        columns = [c for c in past.columns if c in rows.columns]
        assert len(columns) > 40
        pd.testing.assert_frame_equal(
            rows[columns].reset_index(drop=True), past[columns], check_dtype=False
        )

    def test_treatment_is_the_offer_in_the_window(self, generated):
        cutoff = campaign_cutoffs(generated)[-8]
        rows = uplift_rows(generated, [cutoff], horizon_days=H, window_days=14, btyd=False)
        offers = generated.offers
        window = offers[
            (offers["offered_at"] >= cutoff)
            & (offers["offered_at"] < cutoff + pd.Timedelta(days=14))
        ]
        treated = rows.loc[rows[TREATMENT] != NO_OFFER, "customer_id"]
        assert set(treated) == set(window["customer_id"]) & set(rows["customer_id"])


class TestOverlapGate:
    def test_thin_overlap_names_the_offer_and_the_figure(self):
        config = UpliftConfig(min_treated_rows=30, min_overlap_share=0.9)
        found = {
            "coupon": Overlap(500, 9000, 0.99, 0.97),
            "call": Overlap(12, 9000, 1.0, 1.0),
            "vip": Overlap(400, 9000, 0.62, 0.40),
        }
        reason = thin_overlap(found, config)
        assert "call: 12 treated rows (needs 30)" in reason
        assert "vip: 62% of rows" in reason and "coupon" not in reason
        assert thin_overlap({"coupon": found["coupon"]}, config) == ""

    def test_the_gate_refuses_with_the_reason_whatever_the_figures(self):
        d = decide(
            "offer-uplift",
            challenger={"auuc": 0.9},
            champion={"auuc": 0.1},
            metric="auuc",
            beats_baselines=True,
            refusal="propensity overlap too thin: vip: 62% of rows ...",
        )
        assert not d.promoted and d.reason.startswith("propensity overlap too thin")

    def test_the_gate_refuses_a_gain_whose_lower_bound_is_not_positive(self):
        from training.registry.promotion import _refusal

        tags = {"overlap_ok": "true", "gain": "0.00420", "gain_lower_95": "-0.00110"}
        assert _refusal(tags).startswith("held-out gain over the catalog rule not positive")
        assert _refusal({**tags, "gain_lower_95": "0.00050"}) is None

    @pytest.mark.slow
    def test_a_real_run_with_thin_overlap_is_not_promoted(self, generated, tmp_path):
        from training.registry.promotion import promote
        from training.registry.registry import UPLIFT_MODEL, load_model

        uri = f"sqlite:///{tmp_path}/mlflow.db"
        config = UpliftConfig(max_cutoffs=4, holdout=1, min_treated_rows=10**6)
        with mlflow_state_restored():
            result = train_uplift(generated, config=config, tracking_uri=uri)
            assert result.overlap_reason and not result.overlap_ok
            assert set(result.metrics.columns) >= {"auuc", "auuc_churn_risk", "uplift_at_k"}
            loaded = load_model(UPLIFT_MODEL, result.version, tracking_uri=uri)
            assert loaded.tags["overlap_ok"] == "false"
            gain, lower = float(loaded.tags["gain"]), float(loaded.tags["gain_lower_95"])
            assert lower <= gain and loaded.tags["beats_baselines"] == str(lower > 0).lower()
            assert loaded.model.predict(result.validation.head(5)).shape == (
                5,
                len(loaded.model.offers_),
            )
            (decision,) = promote({UPLIFT_MODEL: result.validation}, tracking_uri=uri)
        assert not decision.promoted
        assert decision.reason.startswith("propensity overlap too thin")
        assert "treated rows (needs 1000000)" in decision.reason
