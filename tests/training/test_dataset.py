"""Time-ordered cutoffs, and proof that no training row uses information after t + H."""

from __future__ import annotations

import pandas as pd
import pytest

from features.contract.errors import ConfigError
from features.contract.load import known_at, load_tables
from features.synthetic import generate
from training.dataset import btyd_at, cutoff_features, labelled_features, plan_cutoffs
from training.models.btyd import BTYD_FEATURES, with_btyd_features

END = pd.Timestamp("2025-12-31 18:00", tz="UTC")


class TestPlanCutoffs:
    def test_churn_plan_leaves_a_full_horizon_between_roles(self):
        plan = plan_cutoffs(
            END, horizon_days=90, train_cutoffs=3, spacing_days=30, calibration=True
        )
        h = pd.Timedelta(days=90)
        assert plan.validation == pd.Timestamp("2025-10-02", tz="UTC")
        assert plan.calibration == plan.validation - h
        assert plan.train == tuple(plan.calibration - h - pd.Timedelta(days=d) for d in (60, 30, 0))
        assert all(t + h <= plan.calibration for t in plan.train)
        assert plan.validation + h <= END

    def test_ltv_plan_without_calibration(self):
        plan = plan_cutoffs(
            END, horizon_days=365, train_cutoffs=2, spacing_days=30, calibration=False
        )
        assert plan.calibration is None
        assert max(plan.train) + pd.Timedelta(days=365) <= plan.validation

    def test_refit_moves_the_layout_one_horizon_later(self):
        plan = plan_cutoffs(
            END, horizon_days=90, train_cutoffs=3, spacing_days=30, calibration=True
        )
        h = pd.Timedelta(days=90)
        assert plan.reduced == ""
        assert plan.refit_calibration == plan.validation  # the newest complete cutoff
        assert plan.refit_train == tuple(t + h for t in plan.train)
        assert max(plan.refit_train) + h <= plan.refit_calibration

    def test_nine_months_of_history_get_a_reduced_plan(self):
        start = pd.Timestamp("2025-03-15", tz="UTC")  # 291 days before END
        plan = plan_cutoffs(
            END,
            horizon_days=90,
            train_cutoffs=6,
            spacing_days=30,
            calibration=True,
            data_start=start,
        )
        h = pd.Timedelta(days=90)
        assert plan.calibration is None and "cross-fitting" in plan.reduced
        assert plan.train  # it trains
        # no training label window overlaps the validation outcomes
        assert all(t + h <= plan.validation for t in plan.train)
        assert all(t > start + pd.Timedelta(days=30) for t in plan.train)
        assert max(plan.refit_train) == plan.validation and plan.refit_calibration is None

    def test_too_little_history_names_the_minimum(self):
        with pytest.raises(ConfigError, match="at least 210 days"):
            plan_cutoffs(
                END,
                horizon_days=90,
                train_cutoffs=2,
                spacing_days=30,
                calibration=True,
                data_start=pd.Timestamp("2025-06-15", tz="UTC"),
            )

    def test_too_little_history_is_a_clear_error(self):
        with pytest.raises(ConfigError, match="at least 760 days"):
            plan_cutoffs(
                END,
                horizon_days=365,
                train_cutoffs=2,
                spacing_days=30,
                calibration=False,
                data_start=pd.Timestamp("2025-01-01", tz="UTC"),
            )


truncate = known_at  # the tables as they were known at a time


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    generate(out, customers=600, seed=11, start="2023-01-01", end="2025-12-31")
    return load_tables(out)


def test_no_training_row_uses_information_after_its_cutoff_plus_horizon(demo):
    plan = plan_cutoffs(
        demo.data_end(), horizon_days=90, train_cutoffs=3, spacing_days=30, calibration=True
    )
    stacked = labelled_features(demo, plan.train, horizon_days=90, ltv_horizon_days=None)
    for cutoff in plan.train:
        known_then = truncate(demo, cutoff + pd.Timedelta(days=90))
        rows = stacked.loc[stacked["cutoff"] == cutoff].reset_index(drop=True)
        # Rebuilt from only what was known at t + H, every feature and label is the same.
        again = labelled_features(known_then, [cutoff], horizon_days=90, ltv_horizon_days=None)
        assert len(rows) > 50
        pd.testing.assert_frame_equal(rows, again)


def test_refit_rows_use_only_data_known_at_the_newest_refit_cutoff_plus_horizon(demo):
    plan = plan_cutoffs(
        demo.data_end(), horizon_days=90, train_cutoffs=2, spacing_days=30, calibration=True
    )
    cutoffs = [*plan.refit_train, plan.refit_calibration]
    rows = labelled_features(demo, cutoffs, horizon_days=90, ltv_horizon_days=None)
    known_then = truncate(demo, max(cutoffs) + pd.Timedelta(days=90))
    again = labelled_features(known_then, cutoffs, horizon_days=90, ltv_horizon_days=None)
    pd.testing.assert_frame_equal(rows, again)


def test_btyd_features_are_point_in_time(demo):
    """Appending (here: revealing) every event at or after the cutoff changes no BTYD feature."""
    cutoff = pd.Timestamp("2025-03-31", tz="UTC")
    full = cutoff_features(demo, cutoff)
    before = cutoff_features(truncate(demo, cutoff), cutoff)
    params = btyd_at(full, cutoff)
    assert params == btyd_at(before, cutoff)
    a = with_btyd_features(full, params, horizon_days=90)
    b = with_btyd_features(before, btyd_at(before, cutoff), horizon_days=90)
    cols = ["customer_id", *BTYD_FEATURES]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert a["btyd_p_no_purchase"].nunique() > 10  # informative, not constant
