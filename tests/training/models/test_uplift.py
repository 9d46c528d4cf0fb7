"""The uplift learner on tiny planted data: real LightGBM, effects of known sign and size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.contract.errors import ConfigError
from training.models.uplift import UpliftModel, campaign_offsets

CUTOFF = pd.Timestamp("2025-03-01", tz="UTC")


def planted(n: int = 4000, *, seed: int = 0, good: float = -1.5, bad: float = 1.0):
    """Rows with one numeric risk driver, a tier, and two offers of planted logit effects.

    ``good`` lowers the churn logit (for gold customers only, as a modifier would), ``bad``
    raises it for everybody; offers go more often to the risky (confounded by ``x``).
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    tier = rng.choice(["bronze", "gold"], n)
    offered = rng.random(n) < 0.15 + 0.25 * (x > 0.5)
    t = np.where(offered, rng.choice(["good", "bad"], n), "none")
    logit = -1.0 + 1.2 * x
    logit += np.where((t == "good") & (tier == "gold"), good, 0.0) + np.where(t == "bad", bad, 0.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(
        {"customer_id": np.arange(n), "cutoff": CUTOFF, "x": x, "loyalty_tier": tier}
    )
    return frame, t, y


class TestUpliftModel:
    def test_recovers_the_sign_of_planted_effects(self):
        frame, t, y = planted()
        model = UpliftModel(modifiers=("loyalty_tier",)).fit(frame, t, y)
        assert model.offers_ == ("bad", "good")
        tau = model.predict(frame)
        assert tau.shape == (len(frame), 2)
        gold = (frame["loyalty_tier"] == "gold").to_numpy()
        assert tau[:, 0].mean() < -0.05  # "bad" raises churn: negative reduction
        assert tau[gold, 1].mean() > 0.05  # "good" keeps gold customers
        assert tau[gold, 1].mean() > tau[~gold, 1].mean() + 0.05  # ... more than bronze

    def test_no_effect_is_estimated_near_zero(self):
        frame, t, y = planted(good=0.0, bad=0.0, seed=3)
        tau = UpliftModel().fit(frame, t, y).predict(frame)
        assert np.abs(tau.mean(axis=0)).max() < 0.04

    def test_propensity_rows_sum_to_one_and_see_the_targeting(self):
        frame, t, y = planted()
        model = UpliftModel().fit(frame, t, y)
        e = model.propensity(frame)
        assert e.shape == (len(frame), 3) and np.allclose(e.sum(axis=1), 1.0)
        risky = (frame["x"] > 0.5).to_numpy()
        assert e[risky, 0].mean() < e[~risky, 0].mean()  # the risky are offered more

    def test_predict_frame_names_the_offers(self):
        frame, t, y = planted(n=1500)
        out = UpliftModel().fit(frame, t, y).predict_frame(frame.head(3))
        assert list(out.columns) == ["uplift_bad", "uplift_good"] and len(out) == 3

    def test_needs_both_groups(self):
        frame, t, y = planted(n=500)
        with pytest.raises(ConfigError, match="both untreated rows and rows with an offer"):
            UpliftModel().fit(frame, np.full(len(frame), "none"), y)
        with pytest.raises(ConfigError, match="churned of the treated rows"):
            UpliftModel().fit(frame, t, np.where(t == "none", y, 0))


class TestCampaignOffsets:
    def test_recentres_each_campaign_on_its_untreated_rows(self):
        base = np.zeros(6)
        y = np.array([1, 1, 0, 0, 0, 1])
        control = np.array([True, True, True, True, True, False])
        groups = np.array([1, 1, 1, 2, 2, 2])
        c = campaign_offsets(base, y, control, groups)
        p = 1 / (1 + np.exp(-(base + c)))
        assert p[:3].sum() == pytest.approx(2.0, abs=1e-6)  # campaign 1: 2 of 3 churned
        assert p[3:5].sum() == pytest.approx(0.0, abs=0.02)  # campaign 2: none of 2
        assert c[5] == c[3]  # treated rows get their campaign's offset
