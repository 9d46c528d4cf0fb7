"""The churn model's matrix and contributions on a real LightGBM fit of generated data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.contract.errors import ConfigError
from training.dataset import labelled_features
from training.models.attribution import PathAttribution
from training.models.churn import ChurnModel
from training.models.matrix import FeatureSpec

CUTOFFS = [pd.Timestamp(d, tz="UTC") for d in ("2024-03-31", "2024-06-30", "2024-09-30")]
CALIBRATION = pd.Timestamp("2025-01-31", tz="UTC")


@pytest.fixture(scope="module")
def fitted(generated):
    """(model, validation-like frame): fit on three cutoffs, rows of a later one."""
    rows = labelled_features(
        generated, [*CUTOFFS, CALIBRATION], horizon_days=90, ltv_horizon_days=None
    )
    train = rows.loc[rows["cutoff"].isin(CUTOFFS)]
    cal = rows.loc[rows["cutoff"] == CALIBRATION].reset_index(drop=True)
    model = ChurnModel(seed=1).fit(
        train, train["churned"].to_numpy(), calibration_set=(cal, cal["churned"].to_numpy())
    )
    return model, cal


def _raw(model: ChurnModel, frame: pd.DataFrame) -> np.ndarray:
    booster = model.booster_
    return booster.predict(
        model.spec_.matrix(frame), raw_score=True, num_iteration=booster.best_iteration
    )


class TestPathContributions:
    def test_add_up_to_the_raw_score_with_the_shap_bias(self, fitted):
        model, frame = fitted
        path = model.contributions(frame, method="path")
        booster = model.booster_
        shap_bias = booster.predict(
            model.spec_.matrix(frame), pred_contrib=True, num_iteration=booster.best_iteration
        )[:, -1]
        np.testing.assert_allclose(path.sum(axis=1) + shap_bias, _raw(model, frame), atol=1e-9)
        paths = PathAttribution.of(booster, booster.best_iteration)
        assert paths.bias == pytest.approx(shap_bias[0], abs=1e-9)
        assert list(path.columns) == model.spec_.names
        assert path.index.equals(frame.index)

    def test_name_mostly_the_same_top_features_as_treeshap_for_the_riskiest(self, fitted):
        model, frame = fitted
        risky = frame.loc[
            model.predict_proba(frame) >= np.quantile(model.predict_proba(frame), 0.8)
        ]
        path = model.contributions(risky, method="path").to_numpy()
        shap = model.contributions(risky, method="shap").to_numpy()
        top_path = np.argsort(-path, axis=1)[:, :3]
        top_shap = np.argsort(-shap, axis=1)[:, :3]
        overlap = np.mean(
            [len(set(a) & set(b)) / 3 for a, b in zip(top_path, top_shap, strict=True)]
        )
        assert overlap >= 0.75, overlap
        assert not np.allclose(path, shap)  # two methods, not one under two names

    def test_unknown_method_is_a_config_error(self, fitted):
        model, frame = fitted
        with pytest.raises(ConfigError, match="attribution"):
            model.contributions(frame.head(3), method="lime")

    def test_table_survives_pickling_and_is_rebuilt_when_missing(self, fitted):
        import pickle

        model, frame = fitted
        first = model.contributions(frame.head(50), method="path")
        clone = pickle.loads(pickle.dumps(model))
        clone.__dict__.pop("_paths", None)  # a model pickled before path attributions
        pd.testing.assert_frame_equal(clone.contributions(frame.head(50), method="path"), first)


class TestMatrix:
    def test_a_matrix_is_used_as_is_and_predicts_the_same(self, fitted):
        model, frame = fitted
        X = model.spec_.matrix(frame)
        assert model.spec_.matrix(X) is X
        np.testing.assert_array_equal(model.predict_proba(X), model.predict_proba(frame))

    def test_types_mixed_inputs_and_maps_unseen_levels_to_missing(self):
        spec = FeatureSpec(numeric=("a", "b"), categorical={"plan": ("basic", "pro")})
        frame = pd.DataFrame(
            {
                "a": pd.array([1, None, 3], dtype="Int64"),
                "b": ["1.5", "x", None],
                "plan": pd.array(["pro", "enterprise", None], dtype="string"),
            }
        )
        X = spec.matrix(frame)
        np.testing.assert_array_equal(X["a"].to_numpy(), [1.0, np.nan, 3.0])
        np.testing.assert_array_equal(X["b"].to_numpy(), [1.5, np.nan, np.nan])
        assert X["plan"].cat.codes.tolist() == [1, -1, -1]
        assert list(X["plan"].cat.categories) == ["basic", "pro"]
        assert spec.is_matrix(X) and not spec.is_matrix(frame)


class TestBehaviour:
    def test_a_more_recent_order_never_raises_churn_risk(self, fitted):
        """All else equal, fewer days since the last order never means a higher risk."""
        model, frame = fitted
        rows = frame.loc[frame["days_since_last_order"].notna()].head(300).reset_index(drop=True)
        p = model.predict_proba(rows)
        for factor in (0.5, 0.1):
            recent = rows.assign(days_since_last_order=rows["days_since_last_order"] * factor)
            assert (model.predict_proba(recent) <= p + 1e-12).all()
        later = rows.assign(days_since_last_order=rows["days_since_last_order"] + 60)
        assert (model.predict_proba(later) >= p - 1e-12).all()
        assert (model.predict_proba(later) > p + 1e-6).any()  # the constraint is not a no-op
