"""Population stability index on hand-computed shares."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from training.monitoring.drift import (
    categorical_shares,
    numeric_edges,
    numeric_shares,
    population_stability_index,
    psi_from_shares,
    psi_level,
    psi_table,
    score_histogram,
)

# reference 50/50, current 25/75: (0.25 - 0.5) ln(0.5) + (0.75 - 0.5) ln(1.5)
HALF_TO_QUARTER = 0.25 * math.log(2) + 0.25 * math.log(1.5)


class TestShares:
    def test_numeric_bins_at_reference_quantiles_plus_missing(self):
        edges = numeric_edges([1, 2, 3, 4], bins=2)
        assert edges.tolist() == [2.5]
        assert numeric_shares([1, 4, 4, np.nan], edges).tolist() == [0.25, 0.5, 0.25]

    def test_ties_merge_bins(self):
        edges = numeric_edges([0, 0, 0, 0, 0, 0, 0, 0, 1, 2], bins=10)
        np.testing.assert_allclose(edges, [0.0, 0.2, 1.1])  # 7 deciles at 0 make one edge

    def test_categorical_with_unseen_and_missing(self):
        shares = categorical_shares(pd.Series(["a", "b", "c", None]), ["a", "b"])
        assert shares.tolist() == [0.25, 0.25, 0.25, 0.25]


class TestPSI:
    def test_identical_distributions_have_zero_psi(self):
        x = np.random.default_rng(0).normal(size=500)
        assert population_stability_index(x, x) == pytest.approx(0.0)

    def test_hand_computed_value(self):
        assert psi_from_shares([0.5, 0.5], [0.25, 0.75]) == pytest.approx(HALF_TO_QUARTER)
        assert population_stability_index([1, 2, 3, 4], [1, 4, 4, 4], bins=2) == pytest.approx(
            HALF_TO_QUARTER
        )

    def test_categorical(self):
        psi = population_stability_index(["x", "y"], ["x", "y", "y", "y"], categorical=True)
        assert psi == pytest.approx(HALF_TO_QUARTER)

    def test_symmetric_in_swapping_two_bins(self):
        a = psi_from_shares([0.5, 0.5], [0.25, 0.75])
        b = psi_from_shares([0.25, 0.75], [0.5, 0.5])
        assert a == pytest.approx(b)

    def test_a_shift_of_one_standard_deviation_is_significant(self):
        rng = np.random.default_rng(1)
        psi = population_stability_index(rng.normal(size=5000), rng.normal(1.0, size=5000))
        assert psi_level(psi) == "significant"

    def test_empty_side_is_nan_and_bad_bins_refused(self):
        assert math.isnan(population_stability_index([], [1.0]))
        with pytest.raises(ValueError, match="Invalid bins: 1"):
            population_stability_index([1.0], [1.0], bins=1)

    @pytest.mark.parametrize(
        ("psi", "level"),
        [
            (0.0, "stable"),
            (0.1, "stable"),
            (0.15, "moderate"),
            (0.25, "significant"),
            (float("nan"), "n/a"),
        ],
    )
    def test_levels(self, psi, level):
        assert psi_level(psi) == level


class TestTables:
    def test_psi_table_sorted_with_kinds(self):
        ref = pd.DataFrame({"a": [1, 2, 3, 4], "b": [1, 2, 3, 4], "c": ["x", "y", "x", "y"]})
        cur = pd.DataFrame({"a": [1, 2, 3, 4], "b": [1, 4, 4, 4], "c": ["x", "x", "x", None]})
        table = psi_table(ref, cur, ["a", "b", "c"], categorical=["c"], bins=2)
        assert list(table.index) == ["c", "b", "a"]
        assert table.loc["b", "psi"] == pytest.approx(HALF_TO_QUARTER)
        assert (
            table.loc["c", "kind"] == "categorical" and table.loc["c", "current_missing_pct"] == 25
        )
        assert table.loc["a", "level"] == "stable"

    def test_score_histogram_shares_add_to_100(self):
        rng = np.random.default_rng(2)
        hist = score_histogram(rng.uniform(size=1000), rng.uniform(0.2, 1.0, size=300))
        assert len(hist) == 10
        assert hist["reference_pct"].sum() == pytest.approx(100.0)
        assert hist["current_pct"].sum() == pytest.approx(100.0)
        assert hist["current_pct"].iloc[0] == 0.0
