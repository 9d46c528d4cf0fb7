"""Explanation figures for either model: feature importance and per-customer contributions.

Built as every evaluation figure is (see :mod:`training.evaluation.plot_base`). Imports
matplotlib, so ``serving/`` must not import this module.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Colormap, LinearSegmentedColormap, Normalize
from matplotlib.figure import Figure

from training.evaluation.plot_base import (
    LOW_HIGH_COLORS,
    MISSING_COLOR,
    _check_top,
    _new_figure,
)

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
