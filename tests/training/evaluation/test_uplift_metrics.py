"""Qini, AUUC, uplift at k and the overlap check on small hand-made data."""

from __future__ import annotations

import numpy as np
import pytest

from training.evaluation.uplift_metrics import auuc, overlap, qini_curve, uplift_at_k


def experiment(n: int = 20000, seed: int = 0):
    """Randomised rows where the offer keeps 30 % more of the 'responsive' half."""
    rng = np.random.default_rng(seed)
    responsive = rng.random(n) < 0.5
    treated = rng.random(n) < 0.5
    p_kept = 0.6 + 0.3 * (treated & responsive)
    kept = (rng.random(n) < p_kept).astype(int)
    return kept, treated, responsive.astype(float), rng


class TestQini:
    def test_curve_starts_at_zero_and_ends_at_the_average_effect(self):
        kept, treated, score, _ = experiment()
        share, q = qini_curve(kept, treated, score)
        assert share[0] == 0 and q[0] == 0 and share[-1] == 1
        assert q[-1] == pytest.approx(0.15, abs=0.02)  # half of them gain 0.3

    def test_auuc_ranks_the_truth_above_random_above_reversed(self):
        kept, treated, score, rng = experiment()
        good = auuc(kept, treated, score)
        random = auuc(kept, treated, rng.random(score.size))
        bad = auuc(kept, treated, -score)
        assert good > 0.02 and abs(random) < 0.01 and bad < -0.02

    def test_weights_undo_confounded_assignment(self):
        rng = np.random.default_rng(1)
        n = 40000
        risky = rng.random(n) < 0.5
        pi = np.where(risky, 0.8, 0.2)  # the risky are mostly offered
        treated = rng.random(n) < pi
        kept = (rng.random(n) < np.where(risky, 0.3, 0.9) + 0.05 * treated).astype(int)
        w = np.where(treated, 1 / pi, 1 / (1 - pi))
        naive = uplift_at_k(kept, treated, np.zeros(n), k=1.0)
        weighted = uplift_at_k(kept, treated, np.zeros(n), k=1.0, weight=w)
        assert naive < -0.2  # offered customers look worse: they were riskier
        assert weighted == pytest.approx(0.05, abs=0.02)

    def test_uplift_at_k_of_a_group_without_controls_is_nan(self):
        assert np.isnan(uplift_at_k([1, 0], [True, True], [1.0, 0.5], k=1.0))


class TestOverlap:
    def test_a_randomised_rare_offer_overlaps_fully(self):
        treated = np.random.default_rng(0).random(5000) < 0.02
        found = overlap(np.full(5000, 0.02), treated)
        assert found.share_in_overlap == 1.0 and found.treated_in_overlap == 1.0

    def test_deterministic_targeting_has_no_overlap(self):
        treated = np.arange(1000) < 100
        pi = np.where(treated, 0.999, 0.0005)
        found = overlap(pi, treated)
        assert found.share_in_overlap < 0.05 and found.treated_rows == 100
