"""Metrics on tiny hand-made arrays with hand-computed answers, plus a few properties."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal
from scipy.stats import spearmanr
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    mean_absolute_error,
    roc_auc_score,
    root_mean_squared_error,
)

from training.evaluation.churn_metrics import (
    CHURN_METRIC_KEYS,
    _calibration_bins,
    capture_rate_at,
    churn_metrics,
    expected_calibration_error,
    gains_table,
    lift_at,
)
from training.evaluation.ltv_metrics import (
    LTV_METRIC_KEYS,
    decile_table,
    ltv_metrics,
    normalized_gini,
)

# Ten customers ranked by score; churners at ranks 1, 3 and 6 (base rate 0.3).
SCORE_10 = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
Y_10 = np.array([1, 0, 1, 0, 0, 1, 0, 0, 0, 0])

# Four customers' actual LTV; the perfect ordering has Gini 0.3125 (see TestNormalizedGini).
LTV_4 = np.array([0.0, 0.0, 1.0, 3.0])


@pytest.fixture
def churn_sample():
    """Seeded, calibrated-by-construction probabilities and labels, n = 2000."""
    rng = np.random.default_rng(7)
    p = rng.uniform(0, 1, 2000)
    return (rng.uniform(0, 1, 2000) < p).astype(int), p


@pytest.fixture
def metric_warnings(caplog):
    caplog.set_level(logging.WARNING, logger="training.evaluation")
    return caplog


class TestInputValidation:
    """The shared checks, seen through one public function each."""

    def test_length_mismatch_names_both_lengths(self):
        with pytest.raises(ValueError, match=r"different lengths \(3 and 2\)"):
            churn_metrics([0, 1, 0], [0.1, 0.2])

    def test_empty_input(self):
        with pytest.raises(ValueError, match="y_true is empty"):
            lift_at([], [])

    def test_non_binary_target_lists_the_bad_values(self):
        with pytest.raises(ValueError, match="must be binary.*2"):
            churn_metrics([0, 1, 2], [0.1, 0.2, 0.3])

    def test_probability_out_of_range(self):
        with pytest.raises(ValueError, match=r"p must be probabilities in \[0, 1\].*1\.5"):
            churn_metrics([0, 1], [0.5, 1.5])

    def test_nan_is_refused_with_its_position(self):
        with pytest.raises(ValueError, match=r"pred has 1 NaN.*position 1"):
            ltv_metrics([1.0, 2.0], [1.0, np.nan])

    def test_two_dimensional_is_refused(self):
        with pytest.raises(ValueError, match=r"must be 1-D.*\(2, 1\)"):
            normalized_gini([[1.0], [2.0]], [[1.0], [2.0]])

    def test_text_is_refused(self):
        with pytest.raises(ValueError, match="score must be numeric"):
            lift_at([0, 1], ["a", "b"])

    def test_bool_and_pandas_inputs_are_accepted(self):
        y = pd.Series([True, False, True, False])
        p = pd.Series([0.9, 0.1, 0.8, 0.2])
        assert churn_metrics(y, p)["roc_auc"] == 1.0


class TestExpectedCalibrationError:
    # p = 0.2 for five customers (one churns), p = 0.6 for five (three churn)
    CALIBRATED_Y = [1, 0, 0, 0, 0, 1, 1, 1, 0, 0]
    CALIBRATED_P = [0.2] * 5 + [0.6] * 5

    @pytest.mark.parametrize("strategy", ["quantile", "uniform"])
    def test_perfectly_calibrated_construction_is_zero(self, strategy):
        ece = expected_calibration_error(self.CALIBRATED_Y, self.CALIBRATED_P, strategy=strategy)
        assert ece == pytest.approx(0.0, abs=1e-12)

    def test_calibrated_sample_is_close_to_zero(self, churn_sample):
        assert expected_calibration_error(*churn_sample) < 0.03

    @pytest.mark.parametrize("strategy", ["quantile", "uniform"])
    def test_known_miscalibration(self, strategy):
        # 4 customers at p = 0.2 churn at 0.5 (gap 0.3); 6 at p = 0.9 churn at 0.5 (gap 0.4)
        y = [1, 1, 0, 0] + [1, 1, 1, 0, 0, 0]
        p = [0.2] * 4 + [0.9] * 6
        expected = 0.4 * 0.3 + 0.6 * 0.4
        assert expected_calibration_error(y, p, strategy=strategy) == pytest.approx(expected)

    def test_constant_probability_is_the_gap_to_the_base_rate(self):
        assert expected_calibration_error([1, 0, 1, 0], [0.8] * 4) == pytest.approx(0.3)

    @pytest.mark.parametrize("strategy", ["quantile", "uniform"])
    def test_bins_are_those_of_sklearn_calibration_curve(self, churn_sample, strategy):
        y, p = churn_sample
        _, observed, predicted = _calibration_bins(y.astype(float), p, 7, strategy)
        sk_observed, sk_predicted = calibration_curve(y, p, n_bins=7, strategy=strategy)
        np.testing.assert_allclose(observed, sk_observed)
        np.testing.assert_allclose(predicted, sk_predicted)

    def test_unknown_strategy(self):
        with pytest.raises(ValueError, match="Invalid strategy: 'median'; expected one of"):
            expected_calibration_error([0, 1], [0.1, 0.9], strategy="median")

    @pytest.mark.parametrize("bins", [0, -1, 2.5, True])
    def test_bad_bins(self, bins):
        with pytest.raises(ValueError, match="Invalid bins"):
            expected_calibration_error([0, 1], [0.1, 0.9], bins=bins)


class TestLiftAndCaptureRate:
    @pytest.mark.parametrize(
        ("fraction", "lift", "capture"),
        [
            (0.1, 1 / 0.3, 1 / 3),  # top 1: one churner
            (0.3, (2 / 3) / 0.3, 2 / 3),  # top 3 (not 4, despite 0.3 * 10 > 3 in floats)
            (0.25, (2 / 3) / 0.3, 2 / 3),  # ceil(2.5) = 3
            (0.6, 0.5 / 0.3, 1.0),  # top 6: all three churners
            (1.0, 1.0, 1.0),
        ],
    )
    def test_ten_row_example(self, fraction, lift, capture):
        assert lift_at(Y_10, SCORE_10, fraction=fraction) == pytest.approx(lift)
        assert capture_rate_at(Y_10, SCORE_10, fraction=fraction) == pytest.approx(capture)

    def test_order_of_rows_does_not_matter_without_ties(self):
        perm = np.random.default_rng(0).permutation(10)
        assert lift_at(Y_10[perm], SCORE_10[perm], fraction=0.3) == pytest.approx(
            lift_at(Y_10, SCORE_10, fraction=0.3)
        )

    def test_ties_keep_input_order(self):
        score = np.full(10, 0.5)
        assert capture_rate_at(Y_10, score, fraction=0.1) == pytest.approx(1 / 3)  # row 0
        assert capture_rate_at(Y_10[::-1], score, fraction=0.1) == 0.0  # row 0 is no churner

    def test_no_churners_is_nan_with_a_warning(self, metric_warnings):
        assert np.isnan(lift_at(np.zeros(10), SCORE_10))
        assert np.isnan(capture_rate_at(np.zeros(10), SCORE_10))
        assert "no churners" in metric_warnings.text

    @pytest.mark.parametrize("fraction", [0, -0.1, 1.5, True, "0.1"])
    def test_bad_fraction(self, fraction):
        with pytest.raises(ValueError, match="Invalid fraction.*expected a number in"):
            lift_at(Y_10, SCORE_10, fraction=fraction)

    @settings(max_examples=50, deadline=None)
    @given(
        y=st.lists(st.integers(0, 1), min_size=1, max_size=40).filter(any),
        seed=st.integers(0, 2**16),
        fraction=st.floats(0.01, 1.0),
    )
    def test_capture_is_lift_times_share_targeted(self, y, seed, fraction):
        y = np.array(y)
        score = np.random.default_rng(seed).integers(0, 5, y.size)  # many ties
        k = max(1, int(np.ceil(round(fraction * y.size, 9))))
        assert capture_rate_at(y, score, fraction=fraction) == pytest.approx(
            lift_at(y, score, fraction=fraction) * k / y.size
        )


class TestChurnMetrics:
    def test_keys_in_order_and_all_floats(self, churn_sample):
        result = churn_metrics(*churn_sample)
        assert tuple(result) == CHURN_METRIC_KEYS
        assert all(isinstance(v, float) for v in result.values())

    def test_agrees_with_sklearn_and_own_functions(self, churn_sample):
        y, p = churn_sample
        result = churn_metrics(y, p)
        assert result["roc_auc"] == pytest.approx(roc_auc_score(y, p))
        assert result["pr_auc"] == pytest.approx(average_precision_score(y, p))
        assert result["log_loss"] == pytest.approx(log_loss(y, p))
        assert result["brier"] == pytest.approx(brier_score_loss(y, p))
        assert result["ece"] == pytest.approx(expected_calibration_error(y, p))
        assert result["lift_top_decile"] == pytest.approx(lift_at(y, p, fraction=0.1))
        assert result["capture_top_decile"] == pytest.approx(capture_rate_at(y, p, fraction=0.1))
        assert result["base_rate"] == pytest.approx(y.mean())
        assert result["n"] == 2000.0

    def test_one_class_gives_nan_ranking_metrics_not_an_error(self, metric_warnings):
        result = churn_metrics(np.zeros(10), np.linspace(0.05, 0.5, 10))
        assert np.isnan(result["roc_auc"])
        assert np.isnan(result["pr_auc"])
        assert np.isnan(result["lift_top_decile"])
        assert np.isfinite(result["log_loss"])
        assert result["brier"] == pytest.approx(np.mean(np.linspace(0.05, 0.5, 10) ** 2))
        assert "ROC AUC is undefined: y_true has only one class (0)" in metric_warnings.text

    def test_constant_prediction(self):
        result = churn_metrics(Y_10, np.full(10, 0.5))
        assert result["roc_auc"] == 0.5
        assert result["pr_auc"] == pytest.approx(0.3)
        assert result["ece"] == pytest.approx(0.2)
        assert result["brier"] == pytest.approx(0.25)


class TestGainsTable:
    def test_ten_rows_in_five_groups(self):
        # rows by score: churners [1,0 | 1,0 | 0,1 | 0,0 | 0,0]
        expected = pd.DataFrame(
            {
                "n": np.array([2, 2, 2, 2, 2]),
                "churners": np.array([1, 1, 1, 0, 0]),
                "churn_rate": [0.5, 0.5, 0.5, 0.0, 0.0],
                "cum_share_customers": [0.2, 0.4, 0.6, 0.8, 1.0],
                "cum_share_churners": [1 / 3, 2 / 3, 1.0, 1.0, 1.0],
                "lift": [0.5 / 0.3, 0.5 / 0.3, 0.5 / 0.3, 0.0, 0.0],
                "cum_lift": [0.5 / 0.3, 0.5 / 0.3, 0.5 / 0.3, 0.375 / 0.3, 1.0],
            },
            index=pd.RangeIndex(1, 6, name="decile"),
        )
        assert_frame_equal(gains_table(Y_10, SCORE_10, bins=5), expected)

    def test_cumulative_share_matches_capture_rate_with_uneven_groups(self):
        rng = np.random.default_rng(3)
        y, score = rng.integers(0, 2, 25), rng.uniform(size=25)
        table = gains_table(y, score, bins=10)
        assert table["n"].tolist() == [3, 2, 3, 2, 3, 2, 3, 2, 3, 2]
        for decile, share in table["cum_share_churners"].items():
            assert share == pytest.approx(capture_rate_at(y, score, fraction=decile / 10))

    def test_no_churners(self, metric_warnings):
        table = gains_table(np.zeros(10), SCORE_10, bins=5)
        assert table[["cum_share_churners", "lift", "cum_lift"]].isna().all().all()
        assert table["churn_rate"].eq(0).all()
        assert "no churners" in metric_warnings.text

    def test_fewer_rows_than_bins(self):
        with pytest.raises(ValueError, match=r"Cannot split 5 row\(s\) into bins=10"):
            gains_table(Y_10[:5], SCORE_10[:5])


class TestNormalizedGini:
    # Perfect order of LTV_4 is rows 3, 2, 0, 1: cumulative shares .75, 1, 1, 1 against
    # the diagonal .25, .5, .75, 1, so Gini* = (.5 + .5 + .25 + 0) / 4 = 0.3125.

    def test_perfect_order_is_one(self):
        assert normalized_gini(LTV_4, LTV_4) == pytest.approx(1.0)

    def test_reversed_order_is_minus_one(self):
        assert normalized_gini(LTV_4, -LTV_4) == pytest.approx(-1.0)
        ltv = np.random.default_rng(1).gamma(1.0, 100.0, 500)
        assert normalized_gini(ltv, -ltv) == pytest.approx(-1.0)

    def test_hand_computed_order(self):
        # order rows 2, 3, 1, 0: shares .25, 1, 1, 1 -> (0 + .5 + .25 + 0) / 4 = 0.1875
        assert normalized_gini(LTV_4, [0.1, 0.2, 0.4, 0.3]) == pytest.approx(0.1875 / 0.3125)

    def test_ties_count_as_the_average_order(self):
        # rows 2 and 3 tie on top: shares (.75 and .25 averaged) .5, then 1, 1, 1 -> 0.25
        pred = np.array([0.0, 0.0, 1.0, 1.0])
        assert normalized_gini(LTV_4, pred) == pytest.approx(0.25 / 0.3125)
        assert normalized_gini(LTV_4[::-1], pred[::-1]) == pytest.approx(0.25 / 0.3125)

    def test_constant_prediction_is_zero(self):
        assert normalized_gini(LTV_4, np.ones(4)) == pytest.approx(0.0, abs=1e-12)

    def test_random_order_is_near_zero(self):
        rng = np.random.default_rng(42)
        ltv = rng.gamma(0.8, 150.0, 20_000)
        assert normalized_gini(ltv, rng.uniform(size=ltv.size)) == pytest.approx(0.0, abs=0.03)

    @settings(max_examples=50, deadline=None)
    @given(
        ltv=st.lists(st.integers(0, 500), min_size=2, max_size=30).filter(
            lambda v: len(set(v)) > 1
        ),
        seed=st.integers(0, 2**16),
    )
    def test_invariant_to_increasing_transforms_and_bounded(self, ltv, seed):
        ltv = np.array(ltv, dtype=float)
        pred = np.random.default_rng(seed).integers(-50, 50, ltv.size).astype(float)
        gini = normalized_gini(ltv, pred)
        assert -1 - 1e-9 <= gini <= 1 + 1e-9
        for transformed in (pred**3 + 5 * pred, np.exp(pred / 10), 2 * pred + 7):
            assert normalized_gini(ltv, transformed) == pytest.approx(gini, abs=1e-9)

    @pytest.mark.parametrize("ltv", [np.zeros(4), np.full(4, 25.0)])
    def test_constant_target_is_nan_with_a_warning(self, ltv, metric_warnings):
        assert np.isnan(normalized_gini(ltv, [1, 2, 3, 4]))
        assert "normalized_gini is undefined" in metric_warnings.text

    def test_negative_target(self):
        with pytest.raises(ValueError, match="non-negative y_true; got a minimum of -5"):
            normalized_gini([1.0, -5.0], [1.0, 2.0])


class TestLtvMetrics:
    def test_hand_example(self):
        result = ltv_metrics([0.0, 10.0, 20.0, 30.0], [5.0, 5.0, 25.0, 25.0])
        assert tuple(result) == LTV_METRIC_KEYS
        assert result["mae"] == pytest.approx(5.0)
        assert result["rmse"] == pytest.approx(5.0)
        assert result["mean_actual"] == result["mean_predicted"] == pytest.approx(15.0)
        assert result["n"] == 4.0
        # pred ties rows 2, 3 (50 of 60) on top, then rows 0, 1: shares 25, 50, 55, 60
        # (/60) vs the diagonal 15, 30, 45, 60 -> 40/60; perfect 30, 50, 60, 60 -> 50/60
        assert result["normalized_gini"] == pytest.approx(0.8)

    def test_agrees_with_sklearn_and_scipy(self):
        rng = np.random.default_rng(5)
        y = rng.gamma(1.0, 100.0, 300)
        pred = y * rng.lognormal(0, 0.5, 300)
        result = ltv_metrics(y, pred)
        assert result["mae"] == pytest.approx(mean_absolute_error(y, pred))
        assert result["rmse"] == pytest.approx(root_mean_squared_error(y, pred))
        assert result["spearman"] == pytest.approx(spearmanr(y, pred).statistic)
        assert result["normalized_gini"] == pytest.approx(normalized_gini(y, pred))

    def test_constant_prediction(self, metric_warnings):
        result = ltv_metrics([0.0, 10.0, 20.0], [7.0, 7.0, 7.0])
        assert np.isnan(result["spearman"])
        assert result["normalized_gini"] == pytest.approx(0.0, abs=1e-12)
        assert "Spearman correlation is undefined" in metric_warnings.text


class TestDecileTable:
    def test_hand_example_shuffled(self):
        pred = np.array([6.0, 5.0, 4.0, 3.0, 2.0, 1.0])
        y = np.array([10.0, 20.0, 0.0, 5.0, 1.0, 4.0])
        perm = [3, 0, 5, 2, 4, 1]
        expected = pd.DataFrame(
            {
                "n": np.array([2, 2, 2]),
                "mean_predicted": [5.5, 3.5, 1.5],
                "mean_actual": [15.0, 2.5, 2.5],
                "sum_actual": [30.0, 5.0, 5.0],
                "share_of_actual": [0.75, 0.125, 0.125],
            },
            index=pd.RangeIndex(1, 4, name="decile"),
        )
        assert_frame_equal(decile_table(y[perm], pred[perm], bins=3), expected)

    def test_sums(self):
        rng = np.random.default_rng(11)
        y = rng.gamma(1.0, 100.0, 1003)
        pred = y + rng.normal(0, 30, 1003)
        table = decile_table(y, pred)
        assert len(table) == 10
        assert table["n"].sum() == 1003
        assert table["n"].max() - table["n"].min() <= 1
        assert table["sum_actual"].sum() == pytest.approx(y.sum())
        assert table["share_of_actual"].sum() == pytest.approx(1.0)
        assert (table["n"] * table["mean_predicted"]).sum() == pytest.approx(pred.sum())
        assert table["mean_predicted"].is_monotonic_decreasing

    def test_zero_total(self, metric_warnings):
        table = decile_table(np.zeros(4), [1.0, 2.0, 3.0, 4.0], bins=2)
        assert table["share_of_actual"].isna().all()
        assert "sums to 0" in metric_warnings.text

    def test_fewer_rows_than_bins(self):
        with pytest.raises(ValueError, match=r"Cannot split 3 row\(s\) into bins=10"):
            decile_table([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])

    def test_length_mismatch(self):
        with pytest.raises(ValueError, match=r"y_true and pred have different lengths \(2 and 3\)"):
            decile_table([1.0, 2.0], [1.0, 2.0, 3.0], bins=1)
