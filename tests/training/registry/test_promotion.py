"""The promotion gate as a pure function: both ways, calibration guard, first champion."""

from __future__ import annotations

import pytest

from features.contract.errors import ConfigError
from training.registry.promotion import decide

GOOD = {"roc_auc": 0.80, "ece": 0.02, "log_loss": 0.40}
WORSE = {"roc_auc": 0.75, "ece": 0.02, "log_loss": 0.45}


class TestDecide:
    def test_better_challenger_is_promoted(self):
        d = decide(
            "churn-classifier",
            challenger=GOOD,
            champion=WORSE,
            metric="roc_auc",
            beats_baselines=True,
        )
        assert d.promoted and "beats the champion's 0.7500" in d.reason
        assert (d.challenger_value, d.champion_value) == (0.80, 0.75)

    def test_worse_challenger_is_refused(self):
        d = decide(
            "churn-classifier",
            challenger=WORSE,
            champion=GOOD,
            metric="roc_auc",
            beats_baselines=True,
        )
        assert not d.promoted and "does not beat" in d.reason

    def test_equal_is_not_better(self):
        assert not decide(
            "m", challenger=GOOD, champion=GOOD, metric="roc_auc", beats_baselines=True
        ).promoted

    def test_lower_is_better_metrics(self):
        d = decide("m", challenger=GOOD, champion=WORSE, metric="log_loss", beats_baselines=True)
        assert d.promoted

    def test_better_but_worse_calibrated_is_refused(self):
        sharp = {"roc_auc": 0.85, "ece": 0.08}
        d = decide(
            "churn-classifier",
            challenger=sharp,
            champion=GOOD,
            metric="roc_auc",
            beats_baselines=True,
        )
        assert not d.promoted and "ECE 0.0800 is worse" in d.reason

    def test_calibration_within_tolerance_is_fine(self):
        near = {"roc_auc": 0.81, "ece": 0.024}
        assert decide(
            "m", challenger=near, champion=GOOD, metric="roc_auc", beats_baselines=True
        ).promoted

    def test_a_trivially_calibrated_champion_does_not_block_a_well_calibrated_one(self):
        flat = {"roc_auc": 0.55, "ece": 0.002}  # a near-constant model: ECE ~ 0 for free
        good = {"roc_auc": 0.83, "ece": 0.015}
        d = decide("m", challenger=good, champion=flat, metric="roc_auc", beats_baselines=True)
        assert d.promoted
        poor = {"roc_auc": 0.83, "ece": 0.05}
        d = decide("m", challenger=poor, champion=flat, metric="roc_auc", beats_baselines=True)
        assert not d.promoted and "above 0.03" in d.reason

    @pytest.mark.parametrize("beats", [True, False])
    def test_first_model_becomes_champion_only_if_it_beats_baselines(self, beats):
        d = decide(
            "ltv-regressor",
            challenger={"normalized_gini": 0.5},
            champion=None,
            metric="normalized_gini",
            beats_baselines=beats,
        )
        assert d.promoted is beats and "no champion yet" in d.reason

    def test_unknown_metric(self):
        with pytest.raises(ConfigError, match="promote metric: 'auc'"):
            decide("m", challenger=GOOD, champion=GOOD, metric="auc", beats_baselines=True)
