"""The LTV regressor on a real LightGBM fit of a small generated data set, both variants.

The fits use one LightGBM thread: on a shared, busy machine OpenMP's spinning threads
make a 300-round fit of a few hundred rows take a minute instead of a fraction of a
second (the models are the same; ``deterministic`` is on).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.contract.errors import ConfigError, SnapshotError
from tests import small_models
from training.models.ltv import VARIANTS, LTVModel

CUTOFFS = [pd.Timestamp(d, tz="UTC") for d in ("2025-03-31", "2025-06-30")]
STOP = pd.Timestamp("2025-09-30", tz="UTC")
PARAMS = {"num_threads": 1}


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    """Labelled features of 600 generated customers at three quarterly cutoffs (no BTYD).

    The rows the small registry models fit on (:func:`tests.small_models.labelled_rows`),
    built once per session.
    """
    assert (CUTOFFS, STOP) == (small_models.CUTOFFS, small_models.CALIBRATION)
    return small_models.labelled_rows()


@pytest.fixture(scope="module")
def train(rows) -> pd.DataFrame:
    return rows.loc[rows["cutoff"].isin(CUTOFFS)].reset_index(drop=True)


@pytest.fixture(scope="module")
def held_out(rows) -> pd.DataFrame:
    """The later cutoff's rows, with a non-default index (outputs must keep it)."""
    frame = rows.loc[rows["cutoff"] == STOP]
    return frame.set_axis(pd.RangeIndex(1000, 1000 + len(frame)))


@pytest.fixture(scope="module")
def fitted(train) -> dict[str, LTVModel]:
    return {
        v: LTVModel(variant=v, params=PARAMS, seed=3).fit(train, train["ltv"].to_numpy())
        for v in VARIANTS
    }


def test_the_data_is_zero_inflated(train):
    """Both variants are for spend with a mass at zero: the data must have both parts."""
    ltv = train["ltv"].to_numpy()
    assert 0.1 < (ltv <= 0).mean() < 0.9 and len(ltv) > 300


class TestFit:
    def test_variants_are_the_literal_ones(self):
        assert VARIANTS == ("tweedie", "two_part")

    def test_boosters_per_variant(self, fitted):
        assert set(fitted["tweedie"].boosters_) == {"spend"}
        assert set(fitted["two_part"].boosters_) == {"any", "spend"}

    def test_unknown_variant_is_refused_at_fit_naming_the_choices(self, train):
        model = LTVModel(variant="xgboost")  # __init__ only stores
        with pytest.raises(
            ConfigError, match=r"Invalid variant: 'xgboost'; expected one of \('tweedie'"
        ):
            model.fit(train, train["ltv"].to_numpy())

    def test_label_columns_are_not_features(self, fitted):
        names = fitted["tweedie"].spec_.names
        assert not {"customer_id", "cutoff", "churned", "ltv"} & set(names)
        assert fitted["tweedie"].input_names == names  # no BTYD features to derive

    @pytest.mark.parametrize("variant", VARIANTS)
    def test_negative_labels_count_as_zero(self, train, fitted, variant):
        y = train["ltv"].to_numpy().copy()
        refunds = y == 0
        assert refunds.any()
        y[refunds] = -50.0  # a net refund is no negative value
        model = LTVModel(variant=variant, params=PARAMS, seed=3).fit(train, y)
        np.testing.assert_array_equal(model.predict(train), fitted[variant].predict(train))

    @pytest.mark.parametrize("variant", VARIANTS)
    def test_same_seed_same_model_other_seed_other_model(self, train, fitted, variant):
        y = train["ltv"].to_numpy()
        again = LTVModel(variant=variant, params=PARAMS, seed=3).fit(train, y)
        other = LTVModel(variant=variant, params=PARAMS, seed=4).fit(train, y)
        np.testing.assert_array_equal(again.predict(train), fitted[variant].predict(train))
        assert not np.array_equal(other.predict(train), fitted[variant].predict(train))

    @pytest.mark.parametrize("variant", VARIANTS)
    def test_stop_set_stops_early(self, train, held_out, variant):
        model = LTVModel(variant=variant, params=PARAMS, seed=3).fit(
            train,
            train["ltv"].to_numpy(),
            stop_set=(held_out, held_out["ltv"].to_numpy()),
        )
        for booster in model.boosters_.values():
            assert 1 <= booster.best_iteration <= booster.current_iteration()
        assert np.isfinite(model.predict(held_out)).all()


@pytest.mark.parametrize("variant", VARIANTS)
class TestPredict:
    def test_finite_non_negative_currency_per_row(self, fitted, held_out, variant):
        pred = fitted[variant].predict(held_out)
        assert pred.shape == (len(held_out),) and pred.dtype == np.float64
        assert np.isfinite(pred).all() and (pred >= 0).all()

    def test_ranks_spenders_above_non_spenders(self, fitted, held_out, variant):
        pred = fitted[variant].predict(held_out)
        spent = held_out["ltv"].to_numpy() > 0
        assert pred[spent].mean() > 1.5 * pred[~spent].mean()

    def test_two_part_is_probability_times_spend(self, fitted, held_out, variant):
        model = fitted[variant]
        X = model.matrix(held_out)
        spend = model.boosters_["spend"].predict(X)
        expected = spend * model.boosters_["any"].predict(X) if variant == "two_part" else spend
        np.testing.assert_allclose(model.predict(held_out), expected, rtol=1e-12)

    def test_row_order_and_extra_columns_do_not_matter(self, fitted, held_out, variant):
        model = fitted[variant]
        shuffled = held_out.sample(frac=1.0, random_state=0).assign(extra=1.0)
        pd.testing.assert_series_equal(
            pd.Series(model.predict(shuffled), index=shuffled.index).sort_index(),
            pd.Series(model.predict(held_out), index=held_out.index),
        )

    def test_a_missing_feature_is_a_snapshot_error(self, fitted, held_out, variant):
        model = fitted[variant]
        dropped = model.spec_.numeric[0]
        with pytest.raises(SnapshotError, match=rf"lack 1 column\(s\).*: {dropped}\."):
            model.predict(held_out.drop(columns=dropped))


@pytest.mark.parametrize("variant", VARIANTS)
class TestContributions:
    def test_shape_index_and_columns(self, fitted, held_out, variant):
        model = fitted[variant]
        contrib = model.contributions(held_out)
        assert contrib.shape == (len(held_out), len(model.spec_.names))
        assert list(contrib.columns) == model.spec_.names
        assert contrib.index.equals(held_out.index)
        assert np.isfinite(contrib.to_numpy()).all()

    def test_rows_add_up_to_the_raw_scores_less_the_biases(self, fitted, held_out, variant):
        """Tweedie: log of expected spend; two-part: log spend plus log-odds of any spend."""
        model = fitted[variant]
        X = model.matrix(held_out)
        raw = sum(b.predict(X, raw_score=True) for b in model.boosters_.values())
        bias = sum(b.predict(X, pred_contrib=True)[:, -1] for b in model.boosters_.values())
        total = model.contributions(held_out).sum(axis=1).to_numpy()
        np.testing.assert_allclose(total + bias, raw, atol=1e-9)
        if variant == "tweedie":
            np.testing.assert_allclose(total + bias, np.log(model.predict(held_out)), atol=1e-9)


@pytest.mark.parametrize("variant", VARIANTS)
class TestImportance:
    def test_indexed_by_feature_names_and_descending(self, fitted, variant):
        model = fitted[variant]
        gain = model.importance()
        assert sorted(gain.index) == sorted(model.spec_.names)
        assert gain.is_monotonic_decreasing and (gain >= 0).all() and gain.iloc[0] > 0

    def test_sums_the_parts(self, fitted, variant):
        model = fitted[variant]
        parts = [
            pd.Series(b.feature_importance("gain"), index=b.feature_name())
            for b in model.boosters_.values()
        ]
        pd.testing.assert_series_equal(
            model.importance().sort_index(), sum(parts).sort_index(), check_names=False
        )
