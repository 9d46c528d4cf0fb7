"""Every figure: the right number of axes, lines and bars, legends with the metrics, PNGs."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import average_precision_score, roc_auc_score

from training.evaluation import churn_metrics, ltv_metrics, metric_inputs
from training.evaluation.churn_metrics import expected_calibration_error
from training.evaluation.churn_plots import calibration_figure, gains_figure, pr_figure, roc_figure
from training.evaluation.explain_plots import contribution_figure, importance_figure
from training.evaluation.ltv_metrics import decile_table
from training.evaluation.ltv_plots import ltv_decile_figure
from training.evaluation.plot_base import MISSING_COLOR

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
N = 400


@pytest.fixture
def curves():
    """Three churn models on the same 400 customers: good, weaker, and near random."""
    rng = np.random.default_rng(0)
    signal = rng.normal(size=N)
    y = (rng.uniform(size=N) < 1 / (1 + np.exp(-(2 * signal - 1)))).astype(int)
    return {
        "LightGBM": (y, 1 / (1 + np.exp(-(2 * signal - 1 + rng.normal(0, 0.5, N))))),
        "logistic regression": (y, 1 / (1 + np.exp(-(signal - 0.8)))),
        "heuristic": (y, np.clip(0.3 + 0.05 * signal + rng.normal(0, 0.1, N), 0, 1)),
    }


@pytest.fixture
def plot_warnings(caplog):
    caplog.set_level(logging.WARNING, logger="training.evaluation")
    return caplog


def saved_png(fig: Figure, tmp_path, name: str) -> bytes:
    path = tmp_path / f"{name}.png"
    fig.savefig(path, dpi=60)
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    return data


def legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


class TestFiguresAreStandalone:
    def test_not_registered_with_pyplot_and_on_an_agg_canvas(self, curves):
        before = plt.get_fignums()
        fig = roc_figure(curves)
        assert plt.get_fignums() == before
        assert isinstance(fig.canvas, FigureCanvasAgg)

    @pytest.mark.parametrize("metrics", [churn_metrics, ltv_metrics, metric_inputs])
    def test_metrics_module_does_not_import_matplotlib(self, metrics):
        # serving/ imports the metrics; checked on the source so it costs no new process
        tree = ast.parse(Path(metrics.__file__).read_text())
        imported = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        imported |= {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }
        assert not {name for name in imported if name.split(".")[0] == "matplotlib"}


class TestRocFigure:
    def test_one_line_per_model_plus_chance(self, curves, tmp_path):
        fig = roc_figure(curves)
        assert isinstance(fig, Figure)
        (ax,) = fig.axes
        assert len(ax.get_lines()) == 1 + 3
        y, score = curves["LightGBM"]
        assert f"LightGBM (AUC = {roc_auc_score(y, score):.3f})" in legend_texts(ax)
        assert "rate" in ax.get_xlabel() and "rate" in ax.get_ylabel()
        saved_png(fig, tmp_path, "roc")

    def test_one_class_model_is_skipped_with_a_warning(self, curves, plot_warnings):
        curves = {**curves, "empty week": (np.zeros(10), np.linspace(0, 1, 10))}
        (ax,) = roc_figure(curves).axes
        assert len(ax.get_lines()) == 1 + 3
        assert "skipping model 'empty week'" in plot_warnings.text

    def test_errors_name_the_model(self, curves):
        with pytest.raises(ValueError, match=r"curves\['bad'\]: y_true and score have different"):
            roc_figure({**curves, "bad": ([0, 1, 0], [0.2, 0.3])})
        with pytest.raises(ValueError, match=r"curves\['bad'\] must be a \(y_true, score\) pair"):
            roc_figure({"bad": np.zeros(3)})

    def test_empty_mapping(self):
        with pytest.raises(ValueError, match="curves is empty"):
            roc_figure({})
        with pytest.raises(ValueError, match="curves must be a mapping.*got list"):
            roc_figure([(np.zeros(2), np.zeros(2))])


class TestPrFigure:
    def test_one_line_per_model_plus_one_baseline(self, curves, tmp_path):
        fig = pr_figure(curves)
        (ax,) = fig.axes
        assert len(ax.get_lines()) == 1 + 3
        y, score = curves["heuristic"]
        assert f"heuristic (AP = {average_precision_score(y, score):.3f})" in legend_texts(ax)
        assert f"no skill (base rate = {y.mean():.3f})" in legend_texts(ax)
        saved_png(fig, tmp_path, "pr")

    def test_a_baseline_per_distinct_base_rate(self):
        curves = {
            "a": ([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8]),
            "b": ([0, 0, 0, 1], [0.1, 0.2, 0.3, 0.4]),
        }
        (ax,) = pr_figure(curves).axes
        assert len(ax.get_lines()) == 2 + 2


class TestCalibrationFigure:
    def test_reliability_and_histogram_axes(self, curves, tmp_path):
        fig = calibration_figure(curves, bins=8)
        reliability, histogram = fig.axes
        assert len(reliability.get_lines()) == 1 + 3
        assert len(histogram.patches) == 3  # one step outline per model
        y, p = curves["LightGBM"]
        ece = expected_calibration_error(y, p, bins=8)
        assert f"LightGBM (ECE = {ece:.3f})" in legend_texts(reliability)
        assert "count" in histogram.get_ylabel()
        saved_png(fig, tmp_path, "calibration")

    def test_uniform_bins_drop_empty_ones(self):
        y, p = [0, 1, 0, 1], [0.05, 0.05, 0.95, 0.95]
        reliability, _ = calibration_figure({"m": (y, p)}, strategy="uniform").axes
        assert len(reliability.get_lines()[1].get_xdata()) == 2

    def test_probabilities_outside_unit_interval(self):
        with pytest.raises(ValueError, match=r"curves\['m'\]: score must be probabilities"):
            calibration_figure({"m": ([0, 1], [0.5, 2.0])})

    def test_bad_options(self, curves):
        with pytest.raises(ValueError, match="Invalid strategy"):
            calibration_figure(curves, strategy="kmeans")
        with pytest.raises(ValueError, match="Invalid hist_bins: 0"):
            calibration_figure(curves, hist_bins=0)


class TestGainsFigure:
    def test_gains_and_lift_panels(self, curves, tmp_path):
        fig = gains_figure(curves)
        gains, lift = fig.axes
        assert len(gains.get_lines()) == 1 + 3
        assert len(lift.get_lines()) == 1 + 3
        x, captured = gains.get_lines()[1].get_data()
        assert (x[0], captured[0], x[-1], captured[-1]) == (0, 0, 1, 1)
        assert len(lift.get_lines()[1].get_xdata()) == 10
        saved_png(fig, tmp_path, "gains")

    def test_no_churners_is_skipped(self, curves, plot_warnings):
        gains, _ = gains_figure({**curves, "none": (np.zeros(20), np.ones(20))}).axes
        assert len(gains.get_lines()) == 1 + 3
        assert "skipping model 'none'" in plot_warnings.text


class TestLtvDecileFigure:
    @pytest.fixture
    def tables(self):
        rng = np.random.default_rng(1)
        ltv = rng.gamma(0.8, 150.0, 300)
        return {
            "LightGBM": decile_table(ltv, ltv * rng.lognormal(0, 0.4, 300)),
            "mean baseline": decile_table(ltv, np.full(300, ltv.mean())),
        }

    def test_one_panel_per_model_two_bars_per_decile(self, tables, tmp_path):
        fig = ltv_decile_figure(tables, unit="EUR over 365 days")
        assert isinstance(fig, Figure)
        assert len(fig.axes) == 2
        for ax in fig.axes:
            assert len(ax.patches) == 2 * 10
        assert fig.axes[0].get_ylabel() == "Mean LTV per customer (EUR over 365 days)"
        heights = [p.get_height() for p in fig.axes[0].containers[1]]
        np.testing.assert_allclose(heights, tables["LightGBM"]["mean_actual"])
        saved_png(fig, tmp_path, "ltv_deciles")

    def test_missing_columns(self, tables):
        bad = tables["LightGBM"].drop(columns="mean_actual")
        with pytest.raises(ValueError, match=r"tables\['x'\] must contain columns.*'mean_actual'"):
            ltv_decile_figure({"x": bad})

    def test_empty(self):
        with pytest.raises(ValueError, match="tables is empty"):
            ltv_decile_figure({})


class TestImportanceFigure:
    @pytest.fixture
    def importance(self):
        return pd.Series(np.arange(1.0, 26.0), index=[f"feature_{i}" for i in range(1, 26)]).sample(
            frac=1.0, random_state=0
        )

    def test_top_bars_largest_first(self, importance, tmp_path):
        fig = importance_figure(importance, top=20)
        (ax,) = fig.axes
        assert len(ax.patches) == 20
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert labels[0] == "feature_25" and labels[-1] == "feature_6"
        assert ax.yaxis_inverted()  # first label at the top
        saved_png(fig, tmp_path, "importance")

    def test_fewer_features_than_top(self):
        (ax,) = importance_figure(pd.Series({"a": 2.0, "b": np.nan, "c": 1.0})).axes
        assert len(ax.patches) == 2

    def test_bad_input(self):
        with pytest.raises(ValueError, match="importance is empty"):
            importance_figure(pd.Series([], dtype=float))
        with pytest.raises(ValueError, match="must be a pandas Series.*got dict"):
            importance_figure({"a": 1.0})
        with pytest.raises(ValueError, match="Invalid top: 0"):
            importance_figure(pd.Series({"a": 1.0}), top=0)


class TestContributionFigure:
    @pytest.fixture
    def frames(self):
        rng = np.random.default_rng(2)
        n = 300
        features = pd.DataFrame(
            {
                "days_since_last_order": rng.exponential(60, n),
                "orders_90d": rng.poisson(2, n).astype(float),
                "plan": pd.Categorical(rng.choice(["basic", "premium"], n)),
                "nps_last": rng.integers(0, 11, n).astype(float),
                "unused": np.ones(n),
            }
        )
        features.loc[:49, "nps_last"] = np.nan
        contributions = pd.DataFrame(
            {
                "days_since_last_order": 0.01 * (features["days_since_last_order"] - 60),
                "orders_90d": -0.3 * (features["orders_90d"] - 2),
                "plan": np.where(features["plan"] == "premium", -0.1, 0.05),
                "nps_last": rng.normal(0, 0.05, n),
            }
        )
        return contributions, features

    def test_one_strip_per_top_feature_and_a_colourbar(self, frames, tmp_path):
        fig = contribution_figure(*frames, top=3)
        assert len(fig.axes) == 2  # strips + colour bar
        ax = fig.axes[0]
        assert len(ax.collections) == 3
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert labels == ["plan", "orders_90d", "days_since_last_order"]  # bottom to top
        assert "Contribution" in ax.get_xlabel()
        saved_png(fig, tmp_path, "contributions")

    def test_missing_values_are_grey(self, frames):
        ax = contribution_figure(*frames).axes[0]
        nps = ax.collections[3]  # fourth by mean |contribution|
        colours = nps.get_facecolors()
        np.testing.assert_allclose(colours[:50], np.tile(MISSING_COLOR, (50, 1)))
        assert not np.allclose(colours[50:], MISSING_COLOR)

    def test_sample_of_max_points(self, frames):
        ax = contribution_figure(*frames, max_points=100).axes[0]
        assert all(len(c.get_offsets()) == 100 for c in ax.collections)

    def test_mismatched_inputs(self, frames):
        contributions, features = frames
        with pytest.raises(ValueError, match=r"different lengths \(300 and 10\)"):
            contribution_figure(contributions, features.head(10))
        with pytest.raises(ValueError, match=r"\['orders_90d'\] were missing"):
            contribution_figure(contributions, features.drop(columns="orders_90d"))
        with pytest.raises(ValueError, match="contributions is empty"):
            contribution_figure(contributions.head(0), features.head(0))
