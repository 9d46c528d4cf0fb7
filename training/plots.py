"""Evaluation figures for the churn and LTV models, one function per chart.

Every function builds a :class:`matplotlib.figure.Figure` directly (not through
``pyplot``) on the non-interactive Agg canvas, so nothing depends on the global backend
or a display, and nothing is registered with ``pyplot``'s figure manager. The caller
saves the figure (``fig.savefig(path)``, or ``mlflow.log_figure``) and drops it;
``plt.close(fig)`` is harmless but not needed. Importing this module only imports.

The metric values shown in legends come from :mod:`training.metrics`, so the numbers on
the charts equal the numbers logged with the run. ``serving/`` must not import this
module (it pulls in matplotlib).
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Colormap, LinearSegmentedColormap, Normalize
from matplotlib.figure import Figure
from numpy.typing import ArrayLike
from sklearn.calibration import calibration_curve
from sklearn.metrics import precision_recall_curve, roc_curve

from training.metrics import (
    BinStrategy,
    _average_precision_or_nan,
    _binary_inputs,
    _check_bins,
    _check_strategy,
    _descending_order,
    _roc_auc_or_nan,
    expected_calibration_error,
    gains_table,
)

log = logging.getLogger(__name__)

Curves = Mapping[str, tuple[ArrayLike, ArrayLike]]
"""Model name -> ``(y_true, score)``, both of shape (n_customers,)."""

DECILE_COLUMNS = ("mean_predicted", "mean_actual")
MISSING_COLOR = (0.6, 0.6, 0.6, 1.0)
LOW_HIGH_COLORS = ("#1f6fd1", "#8a3fb3", "#e0224b")  # blue -> purple -> red, no grey
REFERENCE_STYLE = {"color": "0.45", "linestyle": "--", "linewidth": 1.0}


# --------------------------------------------------------------------------- helpers


def _new_figure(width: float, height: float) -> Figure:
    """A Figure on an Agg canvas with constrained layout, outside ``pyplot``."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _check_mapping(value: object, name: str, expected: str) -> None:
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must be a mapping of {expected}; got {type(value).__name__}.")
    if not value:
        raise ValueError(f"{name} is empty; expected at least one entry of {expected}.")


def _model_inputs(
    curves: Curves, *, probability: bool = False
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Validate every ``(y_true, score)`` pair; errors name the model at fault."""
    _check_mapping(curves, "curves", "model name to (y_true, score)")
    checked = []
    for name, pair in curves.items():
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise ValueError(
                f"curves[{name!r}] must be a (y_true, score) pair; got {type(pair).__name__}."
            )
        try:
            y, score = _binary_inputs(*pair, probability=probability)
        except ValueError as e:
            raise ValueError(f"curves[{name!r}]: {e}") from e
        checked.append((str(name), y, score))
    return checked


def _has_both_classes(name: str, y: np.ndarray, chart: str) -> bool:
    if y.min() == y.max():
        log.warning(
            "%s: skipping model %r, its y_true has only one class (%d).", chart, name, int(y[0])
        )
        return False
    return True


def _check_top(top: int) -> None:
    if isinstance(top, bool) or not isinstance(top, numbers.Integral) or top < 1:
        raise ValueError(f"Invalid top: {top!r}; expected a positive integer.")


def _finish_unit_axes(ax: Axes) -> None:
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)


# --------------------------------------------------------------------------- churn


def roc_figure(curves: Curves) -> Figure:
    """ROC curves of several churn models on one axes, AUC in the legend.

    Parameters
    ----------
    curves : mapping of str to (array-like, array-like)
        Model name -> ``(y_true, score)``, each of shape (n_customers,): 0/1 churn
        labels and a score where higher means more likely to churn. Models may be
        scored on different customers.

    Returns
    -------
    Figure
        One axes: a dashed chance diagonal, then one line per model labelled
        ``"name (AUC = 0.812)"``. Models whose ``y_true`` has one class are skipped with a
        logged warning.

    Raises
    ------
    ValueError
        Empty ``curves`` or an invalid pair (the message names the model).
    """
    models = _model_inputs(curves)
    fig = _new_figure(6, 6)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], label="random (AUC = 0.500)", **REFERENCE_STYLE)
    for name, y, score in models:
        if not _has_both_classes(name, y, "roc_figure"):
            continue
        fpr, tpr, _ = roc_curve(y, score)
        ax.plot(fpr, tpr, linewidth=1.8, label=f"{name} (AUC = {_roc_auc_or_nan(y, score):.3f})")
    ax.set_title("ROC curve: churn ranking")
    ax.set_xlabel("False positive rate (share of non-churners flagged)")
    ax.set_ylabel("True positive rate (share of churners flagged)")
    ax.set_aspect("equal")
    _finish_unit_axes(ax)
    ax.legend(loc="lower right")
    return fig


def pr_figure(curves: Curves) -> Figure:
    """Precision-recall curves of several churn models, average precision in the legend.

    Parameters
    ----------
    curves : mapping of str to (array-like, array-like)
        Model name -> ``(y_true, score)``, each of shape (n_customers,).

    Returns
    -------
    Figure
        One axes: a dotted no-skill line at each distinct base churn rate (one line when
        every model is scored on the same customers), then one step line per model
        labelled ``"name (AP = 0.412)"``. Models without churners are skipped with a
        logged warning.

    Raises
    ------
    ValueError
        Empty ``curves`` or an invalid pair (the message names the model).
    """
    models = _model_inputs(curves)
    fig = _new_figure(6, 6)
    ax = fig.add_subplot()
    base_rates = sorted({round(float(y.mean()), 12) for _, y, _ in models if y.max() > 0})
    for rate in base_rates:
        ax.axhline(
            rate,
            color="0.45",
            linestyle=":",
            linewidth=1.0,
            label=f"no skill (base rate = {rate:.3f})",
        )
    for name, y, score in models:
        if y.max() == 0:
            log.warning("pr_figure: skipping model %r, its y_true has no churners.", name)
            continue
        precision, recall, _ = precision_recall_curve(y, score)
        ap = _average_precision_or_nan(y, score)
        ax.plot(
            recall,
            precision,
            drawstyle="steps-post",
            linewidth=1.8,
            label=f"{name} (AP = {ap:.3f})",
        )
    ax.set_title("Precision-recall curve: churn ranking")
    ax.set_xlabel("Recall (share of churners flagged)")
    ax.set_ylabel("Precision (share of flagged customers who churn)")
    _finish_unit_axes(ax)
    ax.legend(loc="upper right")
    return fig


def calibration_figure(
    curves: Curves,
    *,
    bins: int = 10,
    strategy: BinStrategy = "quantile",
    hist_bins: int = 40,
) -> Figure:
    """Reliability diagram of several churn models, with their probability histograms.

    Parameters
    ----------
    curves : mapping of str to (array-like, array-like)
        Model name -> ``(y_true, p)``, each of shape (n_customers,); ``p`` is a churn
        probability in [0, 1].
    bins : int, default=10
        Bins of the reliability curve (as :func:`sklearn.calibration.calibration_curve`).
    strategy : {"quantile", "uniform"}, default="quantile"
        Binning of the reliability curve, also used for the ECE in the legend.
    hist_bins : int, default=40
        Equal-width bins on [0, 1] of the histogram.

    Returns
    -------
    Figure
        Two axes sharing x. Top: the dashed diagonal, then one line with markers per
        model (observed churn rate vs mean probability per bin), labelled
        ``"name (ECE = 0.021)"``. Bottom: one step histogram per model of the predicted
        probabilities, in customers per bin.

    Raises
    ------
    ValueError
        Empty ``curves``, an invalid pair (the message names the model), probabilities
        outside [0, 1], or invalid ``bins`` / ``strategy`` / ``hist_bins``.
    """
    _check_bins(bins)
    _check_strategy(strategy)
    if isinstance(hist_bins, bool) or not isinstance(hist_bins, numbers.Integral) or hist_bins < 1:
        raise ValueError(f"Invalid hist_bins: {hist_bins!r}; expected a positive integer.")
    models = _model_inputs(curves, probability=True)
    fig = _new_figure(6.5, 8)
    reliability, histogram = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    reliability.plot([0, 1], [0, 1], label="perfectly calibrated", **REFERENCE_STYLE)
    edges = np.linspace(0, 1, hist_bins + 1)
    for name, y, p in models:
        observed, predicted = calibration_curve(y, p, n_bins=bins, strategy=strategy)
        ece = expected_calibration_error(y, p, bins=bins, strategy=strategy)
        (line,) = reliability.plot(
            predicted,
            observed,
            marker="o",
            markersize=4,
            linewidth=1.5,
            label=f"{name} (ECE = {ece:.3f})",
        )
        histogram.hist(
            p, bins=edges, histtype="step", linewidth=1.5, color=line.get_color(), label=name
        )
    reliability.set_title(f"Calibration: churn probability ({bins} {strategy} bins)")
    reliability.set_ylabel("Observed churn rate (share of customers in bin)")
    reliability.set_aspect("equal")
    _finish_unit_axes(reliability)
    reliability.legend(loc="upper left")
    histogram.set_xlabel("Predicted churn probability (mean per bin)")
    histogram.set_ylabel("Customers (count)")
    histogram.grid(True, alpha=0.3)
    return fig


def gains_figure(curves: Curves, *, bins: int = 10) -> Figure:
    """Cumulative gains curves and cumulative lift per decile of several churn models.

    Parameters
    ----------
    curves : mapping of str to (array-like, array-like)
        Model name -> ``(y_true, score)``, each of shape (n_customers,).
    bins : int, default=10
        Groups of the lift panel (see :func:`training.metrics.gains_table`).

    Returns
    -------
    Figure
        Two axes. Left: the dashed random diagonal, then one gains curve per model
        (share of churners captured vs share of customers targeted, customers ranked by
        score descending). Right: a dashed line at lift 1, then one line with markers
        per model of the cumulative lift of the top 1..``bins`` groups. Models without
        churners are skipped with a logged warning.

    Raises
    ------
    ValueError
        Empty ``curves``, an invalid pair (the message names the model), or ``bins``
        invalid or larger than a model's number of rows.
    """
    _check_bins(bins)
    models = _model_inputs(curves)
    fig = _new_figure(12, 5.5)
    gains, lift = fig.subplots(1, 2)
    gains.plot([0, 1], [0, 1], label="random", **REFERENCE_STYLE)
    lift.axhline(1.0, label="random (lift = 1)", **REFERENCE_STYLE)
    for name, y, score in models:
        if y.max() == 0:
            log.warning("gains_figure: skipping model %r, its y_true has no churners.", name)
            continue
        n = y.shape[0]
        targeted = np.arange(n + 1) / n
        captured = np.concatenate(([0.0], np.cumsum(y[_descending_order(score)]))) / y.sum()
        (line,) = gains.plot(targeted, captured, linewidth=1.8, label=name)
        table = gains_table(y, score, bins=bins)
        lift.plot(
            table["cum_share_customers"],
            table["cum_lift"],
            marker="o",
            markersize=4,
            linewidth=1.5,
            color=line.get_color(),
            label=name,
        )
    gains.set_title("Cumulative gains: churners reached by score")
    gains.set_xlabel("Customers targeted (cumulative share, highest score first)")
    gains.set_ylabel("Churners captured (cumulative share)")
    gains.set_aspect("equal")
    _finish_unit_axes(gains)
    gains.legend(loc="lower right")
    lift.set_title(f"Cumulative lift per score group ({bins} groups)")
    lift.set_xlabel("Customers targeted (cumulative share, highest score first)")
    lift.set_ylabel("Cumulative lift (× overall churn rate)")
    lift.set_xlim(0, 1.02)
    lift.set_ylim(bottom=0)
    lift.grid(True, alpha=0.3)
    lift.legend(loc="upper right")
    return fig


# --------------------------------------------------------------------------- LTV


def ltv_decile_figure(
    tables: Mapping[str, pd.DataFrame], *, unit: str = "currency units"
) -> Figure:
    """Predicted vs actual mean LTV per predicted decile, one panel per model.

    Parameters
    ----------
    tables : mapping of str to DataFrame
        Model name -> output of :func:`training.metrics.decile_table` (index = decile,
        1 = highest predicted; columns ``mean_predicted`` and ``mean_actual``).
    unit : str, default="currency units"
        Unit of the LTV values, shown on the y axis (e.g. ``"EUR over 365 days"``).

    Returns
    -------
    Figure
        One axes per model, sharing y, each with two bars per decile: mean predicted
        (hatched) and mean actual LTV per customer.

    Raises
    ------
    ValueError
        Empty ``tables``, or a table that is empty or lacks the required columns.
    """
    _check_mapping(tables, "tables", "model name to decile_table() output")
    for name, table in tables.items():
        if not isinstance(table, pd.DataFrame) or table.empty:
            raise ValueError(
                f"tables[{name!r}] must be a non-empty DataFrame from decile_table(); got "
                f"{type(table).__name__}{' (empty)' if isinstance(table, pd.DataFrame) else ''}."
            )
        missing = [c for c in DECILE_COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(
                f"tables[{name!r}] must contain columns {list(DECILE_COLUMNS)}, but "
                f"{missing} were missing (columns: {list(table.columns)})."
            )
    fig = _new_figure(1.0 + 4.8 * len(tables), 4.8)
    axes = fig.subplots(1, len(tables), sharey=True, squeeze=False)[0]
    width = 0.4
    for ax, (name, table) in zip(axes, tables.items(), strict=True):
        position = np.arange(len(table))
        ax.bar(
            position - width / 2,
            table["mean_predicted"],
            width,
            label="mean predicted",
            color="tab:blue",
            alpha=0.55,
            hatch="//",
            edgecolor="tab:blue",
        )
        ax.bar(
            position + width / 2,
            table["mean_actual"],
            width,
            label="mean actual",
            color="tab:orange",
        )
        ax.set_xticks(position, [str(d) for d in table.index])
        ax.set_title(str(name))
        ax.set_xlabel("Predicted decile (1 = highest predicted LTV)")
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].set_ylabel(f"Mean LTV per customer ({unit})")
    axes[0].legend(loc="upper right")
    fig.suptitle("LTV: predicted vs actual mean per predicted decile")
    return fig


# --------------------------------------------------------------------------- explanations


def importance_figure(importance: pd.Series, *, top: int = 20) -> Figure:
    """Horizontal bars of the most important features by LightGBM gain importance.

    Parameters
    ----------
    importance : Series, shape (n_features,)
        Feature name (index) -> gain importance, the total reduction of the training loss
        from splits on that feature (``booster.feature_importance("gain")``). NaN
        entries are dropped.
    top : int, default=20
        Number of features shown, the most important at the top.

    Returns
    -------
    Figure
        One axes with ``min(top, n_features)`` bars.

    Raises
    ------
    ValueError
        ``importance`` is not a Series, is empty (after dropping NaN), is not numeric, or
        ``top`` is not a positive integer.
    """
    _check_top(top)
    if not isinstance(importance, pd.Series):
        raise ValueError(
            f"importance must be a pandas Series of feature name -> gain; got "
            f"{type(importance).__name__}."
        )
    try:
        values = importance.astype(float).dropna()
    except (TypeError, ValueError) as e:
        raise ValueError(f"importance must be numeric; got dtype {importance.dtype}.") from e
    if values.empty:
        raise ValueError("importance is empty (or all NaN); expected at least one feature.")
    shown = values.sort_values(ascending=False, kind="stable").head(top)
    fig = _new_figure(8, 1.5 + 0.32 * len(shown))
    ax = fig.add_subplot()
    ax.barh(np.arange(len(shown)), shown.to_numpy(), color="tab:blue")
    ax.set_yticks(np.arange(len(shown)), [str(i) for i in shown.index])
    ax.invert_yaxis()
    ax.set_title(f"Top {len(shown)} features by gain importance")
    ax.set_xlabel("Gain importance (total training-loss reduction from splits on the feature)")
    ax.grid(True, axis="x", alpha=0.3)
    return fig


def _feature_as_float(column: pd.Series) -> np.ndarray:
    """Numeric view of a feature for colouring: numbers as is, categories by code, NaN kept."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy(dtype=float)
        codes[codes < 0] = np.nan
        return codes
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        return column.to_numpy(dtype=float, na_value=np.nan)
    # strings, dates, anything else: by position in the sorted distinct values
    codes = column.astype("category").cat.codes.to_numpy(dtype=float)
    codes[codes < 0] = np.nan
    return codes


def _low_high_colormap() -> Colormap:
    """Blue (low) to red (high) through purple, so grey stays free for missing values."""
    return LinearSegmentedColormap.from_list("feature_value", LOW_HIGH_COLORS)


def _colour_scale(values: np.ndarray) -> np.ndarray:
    """Values scaled to [0, 1] between their 5th and 95th percentile; NaN stays NaN."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return values
    low, high = np.percentile(finite, [5, 95])
    if high <= low:
        low, high = finite.min(), finite.max()
    if high <= low:
        return np.where(np.isfinite(values), 0.5, np.nan)
    return np.clip((values - low) / (high - low), 0, 1)


def _swarm_offsets(x: np.ndarray, *, width: float = 0.4, resolution: int = 100) -> np.ndarray:
    """Vertical offsets in [-width, width] that spread points by their local density.

    Points are bucketed into ``resolution`` equal-width bins of ``x``; within a bucket
    they alternate above and below the centre line (0, +1, -1, +2, ...), scaled so the
    most crowded bucket fills ``width``. Deterministic for a given input order.
    """
    if x.size == 0:
        return x
    span = x.max() - x.min()
    if span > 0:
        bucket = np.minimum(((x - x.min()) / span * resolution).astype(np.int64), resolution - 1)
    else:
        bucket = np.zeros(x.size, dtype=np.int64)
    rank = pd.Series(bucket).groupby(bucket).cumcount().to_numpy()
    layer = (rank + 1) // 2 * np.where(rank % 2 == 1, 1, -1)
    deepest = np.abs(layer).max()
    return layer * (width / deepest) if deepest > 0 else layer.astype(float)


def contribution_figure(
    contributions: pd.DataFrame,
    features: pd.DataFrame,
    *,
    top: int = 15,
    max_points: int | None = 5000,
    seed: int = 0,
    unit: str = "raw model score",
) -> Figure:
    """SHAP-style summary of LightGBM ``pred_contrib`` output.

    Features are ranked by mean absolute contribution over all rows; for the top ones,
    each customer is a dot at its contribution (x), spread vertically by local density
    (beeswarm-like), coloured by the feature's value scaled per feature from its 5th
    (blue, low) to 95th (red, high) percentile through purple. Missing values are grey; categorical
    and string features are coloured by category code.

    Parameters
    ----------
    contributions : DataFrame, shape (n_customers, n_features)
        Per-customer contribution of each feature to the raw score
        (``booster.predict(X, pred_contrib=True)`` without its last, bias column), one
        column per feature.
    features : DataFrame, shape (n_customers, >= n_features)
        The feature values the contributions were computed on, rows in the same order
        (matched by position, not index); must contain every column of
        ``contributions``.
    top : int, default=15
        Number of features shown, the largest mean |contribution| at the top.
    max_points : int or None, default=5000
        If there are more rows, draw a random sample of this many (the ranking still
        uses every row); None draws all.
    seed : int, default=0
        Seed of that sample.
    unit : str, default="raw model score"
        Unit of the contributions for the x label (log-odds for the churn booster,
        currency for an LTV regressor with an identity link).

    Returns
    -------
    Figure
        A main axes with one scatter collection per shown feature and a vertical line at
        0, and a colour-bar axes.

    Raises
    ------
    ValueError
        Inputs not DataFrames, empty, of different lengths, contributions with columns
        missing from ``features`` or with NaN/inf, or ``top`` / ``max_points`` invalid.
    """
    _check_top(top)
    if max_points is not None and (
        isinstance(max_points, bool)
        or not isinstance(max_points, numbers.Integral)
        or max_points < 1
    ):
        raise ValueError(
            f"Invalid max_points: {max_points!r}; expected a positive integer or None."
        )
    for name, frame in (("contributions", contributions), ("features", features)):
        if not isinstance(frame, pd.DataFrame):
            raise ValueError(f"{name} must be a DataFrame; got {type(frame).__name__}.")
    if contributions.empty or contributions.shape[1] == 0:
        raise ValueError(
            f"contributions is empty (shape {contributions.shape}); expected at least one row "
            "and one feature column."
        )
    if len(contributions) != len(features):
        raise ValueError(
            f"contributions and features have different lengths ({len(contributions)} and "
            f"{len(features)}); expected the same customers in the same order."
        )
    missing = [c for c in contributions.columns if c not in features.columns]
    if missing:
        raise ValueError(
            f"features must contain every column of contributions, but {missing[:10]} were "
            f"missing{' (and more)' if len(missing) > 10 else ''}."
        )
    try:
        values = contributions.to_numpy(dtype=float)
    except (TypeError, ValueError) as e:
        raise ValueError(f"contributions must be numeric ({e}).") from e
    if not np.isfinite(values).all():
        raise ValueError("contributions has NaN or infinite values; expected finite numbers.")

    mean_abs = pd.Series(np.abs(values).mean(axis=0), index=contributions.columns)
    shown = mean_abs.sort_values(ascending=False, kind="stable").head(top).index
    rows = np.arange(len(contributions))
    if max_points is not None and rows.size > max_points:
        rows = np.sort(np.random.default_rng(seed).choice(rows.size, max_points, replace=False))

    cmap = _low_high_colormap()
    fig = _new_figure(9, 1.5 + 0.45 * len(shown))
    ax = fig.add_subplot()
    ax.axvline(0.0, color="0.45", linewidth=0.8)
    for position, column in enumerate(shown):
        x = contributions[column].to_numpy(dtype=float)[rows]
        scaled = _colour_scale(_feature_as_float(features[column].iloc[rows]))
        colours = cmap(np.nan_to_num(scaled, nan=0.5))
        colours[np.isnan(scaled)] = MISSING_COLOR
        y = len(shown) - 1 - position + _swarm_offsets(x)
        ax.scatter(x, y, c=colours, s=9, linewidths=0, rasterized=True)
    ax.set_yticks(np.arange(len(shown)), [str(c) for c in shown[::-1]])  # bottom to top
    ax.set_ylim(-0.6, len(shown) - 0.4)
    ax.set_xlabel(f"Contribution to the prediction ({unit})")
    ax.set_title(f"Feature contributions: top {len(shown)} by mean |contribution|")
    ax.grid(True, axis="x", alpha=0.3)
    colourbar = fig.colorbar(
        ScalarMappable(norm=Normalize(0, 1), cmap=cmap), ax=ax, ticks=[0, 1], aspect=30
    )
    colourbar.ax.set_yticklabels(["low", "high"])
    colourbar.set_label("Feature value (per feature; grey = missing)")
    return fig
