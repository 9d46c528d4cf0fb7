"""Time-ordered cutoffs, and proof that no training row uses information after t + H."""

from __future__ import annotations

import pandas as pd
import pytest

from features.errors import ConfigError
from features.load import Tables, load_tables, validate_tables
from features.synthetic import generate
from training.dataset import labelled_features, plan_cutoffs

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

    def test_too_little_history_is_a_clear_error(self):
        with pytest.raises(ConfigError, match="enough history"):
            plan_cutoffs(
                END,
                horizon_days=365,
                train_cutoffs=2,
                spacing_days=30,
                calibration=False,
                data_start=pd.Timestamp("2025-01-01", tz="UTC"),
            )


def truncate(tables: Tables, end: pd.Timestamp) -> Tables:
    """The tables as they were known at ``end``: later events removed, later outcomes unknown."""
    frames = {}
    for name, frame in tables.frames().items():
        frame = frame.copy()
        time_column = {
            "customers": "signup_at",
            "transactions": "ordered_at",
            "support_tickets": "opened_at",
            "surveys": "answered_at",
            "offers": "offered_at",
        }[name]
        frame = frame.loc[frame[time_column] < end]
        for column in ("cancelled_at", "resolved_at"):
            if column in frame:
                frame.loc[frame[column] >= end, column] = pd.NaT
        frames[name] = frame
    return validate_tables(frames)


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
