"""Evaluation metrics for the LTV regressor; the churn ones live in ``churn_metrics``.

The normalized Gini and the decile table marketing reads, next to scikit-learn's MAE and
RMSE. Targets and predictions are in currency units over ``ltv_horizon_days``; the
conventions (NaN with a logged warning when undefined, ValueError on malformed input) are
those of :mod:`training.evaluation.churn_metrics`.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.stats import spearmanr
from sklearn.metrics import (
    mean_absolute_error,
    root_mean_squared_error,
)

from training.evaluation.metric_inputs import (
    _check_bins,
    _continuous_inputs,
    _descending_order,
    _rank_groups,
)

log = logging.getLogger(__name__)

LTV_METRIC_KEYS = (
    "normalized_gini",
    "spearman",
    "mae",
    "rmse",
    "mean_actual",
    "mean_predicted",
    "n",
)


def _gini(actual: np.ndarray, pred: np.ndarray) -> float:
    """Unnormalized Gini of ``actual`` ordered by ``pred`` descending, ties averaged.

    ``G = (1/n) * sum_i (C_i / T - i / n)`` where ``C_i`` is the total ``actual`` of the
    top ``i`` rows and ``T`` the grand total: the area between the cumulative-share
    curve and the diagonal. Within a run of tied ``pred`` the ``C_i`` are interpolated
    linearly, which is the mean of ``G`` over every order of the tied rows.
    """
    n = actual.shape[0]
    order = _descending_order(pred)
    sorted_pred = pred[order]
    cumulative = np.concatenate(([0.0], np.cumsum(actual[order])))
    # group boundaries (positions 0..n in cumulative) where the sorted pred changes
    boundaries = np.concatenate(([0], np.flatnonzero(np.diff(sorted_pred)) + 1, [n]))
    positions = np.arange(1, n + 1)
    group = np.searchsorted(boundaries, positions, side="left")  # group end index
    end, start = boundaries[group], boundaries[group - 1]
    interpolated = cumulative[start] + (positions - start) / (end - start) * (
        cumulative[end] - cumulative[start]
    )
    total = cumulative[-1]
    return float(np.sum(interpolated / total - positions / n) / n)


def normalized_gini(y_true: ArrayLike, pred: ArrayLike) -> float:
    """Normalized Gini coefficient of a non-negative continuous target (e.g. LTV).

    The Gini of an ordering is the area between its cumulative-share curve and the
    diagonal: sort customers by ``pred`` descending, let ``C_i`` be the share of the
    total actual value held by the top ``i`` of ``n`` customers, and take
    ``G(pred) = (1/n) * sum_i (C_i - i/n)``. The normalized Gini is
    ``G(pred) / G(y_true)``, the ordering's Gini over that of the perfect ordering
    (the Kaggle / insurance definition).

    It depends only on the order of ``pred`` (invariant to any strictly increasing
    transform), is 1 for the perfect order, about 0 for a random one and -1 for the
    exactly reversed order. Tied predictions count as the average over every order of
    the tied rows, so a constant prediction scores 0.

    Parameters
    ----------
    y_true : array-like of shape (n_customers,)
        Actual value per customer, non-negative (e.g. currency over the LTV horizon).
    pred : array-like of shape (n_customers,)
        Predicted value or any score; only its order matters.

    Returns
    -------
    float
        In [-1, 1]. NaN (with a logged warning) when the perfect ordering has Gini 0,
        i.e. every ``y_true`` is equal (including all zero).

    Raises
    ------
    ValueError
        Empty or mismatched inputs, NaN/inf, or negative ``y_true``.
    """
    y, p = _continuous_inputs(y_true, pred)
    if y.min() < 0:
        raise ValueError(
            f"normalized_gini needs a non-negative y_true; got a minimum of {y.min():g}."
        )
    if y.min() == y.max():
        log.warning(
            "normalized_gini is undefined: every y_true equals %g, so no ordering beats "
            "another; returning NaN.",
            y[0],
        )
        return float("nan")
    return _gini(y, p) / _gini(y, y)


def _spearman_or_nan(y: np.ndarray, pred: np.ndarray) -> float:
    if y.shape[0] < 2 or y.min() == y.max() or pred.min() == pred.max():
        log.warning(
            "Spearman correlation is undefined for constant or single-row input; returning NaN."
        )
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(spearmanr(y, pred).statistic)


def ltv_metrics(y_true: ArrayLike, pred: ArrayLike) -> dict[str, float]:
    """All LTV-model metrics for one set of predictions.

    Parameters
    ----------
    y_true : array-like of shape (n_customers,)
        Actual value per customer over the LTV horizon, currency units, non-negative.
    pred : array-like of shape (n_customers,)
        Predicted value, same units.

    Returns
    -------
    dict of str to float
        In the order of :data:`LTV_METRIC_KEYS`:

        - ``normalized_gini``: :func:`normalized_gini` (NaN if ``y_true`` is constant).
        - ``spearman``: :func:`scipy.stats.spearmanr` rank correlation (NaN if either
          side is constant).
        - ``mae``: :func:`sklearn.metrics.mean_absolute_error`, currency units.
        - ``rmse``: :func:`sklearn.metrics.root_mean_squared_error`, currency units.
        - ``mean_actual``, ``mean_predicted``: currency units per customer.
        - ``n``: number of customers (a float, like every value).

    Raises
    ------
    ValueError
        Empty or mismatched inputs, NaN/inf, or negative ``y_true``.
    """
    y, p = _continuous_inputs(y_true, pred)
    return {
        "normalized_gini": normalized_gini(y, p),
        "spearman": _spearman_or_nan(y, p),
        "mae": float(mean_absolute_error(y, p)),
        "rmse": float(root_mean_squared_error(y, p)),
        "mean_actual": float(y.mean()),
        "mean_predicted": float(p.mean()),
        "n": float(y.shape[0]),
    }


def decile_table(y_true: ArrayLike, pred: ArrayLike, *, bins: int = 10) -> pd.DataFrame:
    """Mean predicted and actual value per predicted decile (or other quantile group).

    Parameters
    ----------
    y_true : array-like of shape (n_customers,)
        Actual value per customer (e.g. LTV in currency units).
    pred : array-like of shape (n_customers,)
        Predicted value, same units.
    bins : int, default=10
        Number of groups; group 1 holds the highest predictions. Groups are contiguous in
        the stable descending order of ``pred`` and differ in size by at most one row.

    Returns
    -------
    DataFrame, shape (bins, 5)
        Index ``decile`` (1..bins), columns:

        - ``n``: customers in the group (int).
        - ``mean_predicted``, ``mean_actual``: per customer, units of the inputs.
        - ``sum_actual``: total actual value of the group.
        - ``share_of_actual``: ``sum_actual`` / total actual value (sums to 1; NaN with
          a logged warning if the total is 0).

    Raises
    ------
    ValueError
        Empty or mismatched inputs, NaN/inf, or fewer rows than ``bins``.
    """
    _check_bins(bins)
    y, p = _continuous_inputs(y_true, pred)
    _check_bins(bins, y.shape[0])
    groups = _rank_groups(p, bins)
    n = np.bincount(groups, minlength=bins + 1)[1:]
    sum_actual = np.bincount(groups, weights=y, minlength=bins + 1)[1:]
    sum_pred = np.bincount(groups, weights=p, minlength=bins + 1)[1:]
    total = sum_actual.sum()
    if total == 0:
        log.warning("decile_table: y_true sums to 0; share_of_actual is NaN.")
        share = np.full(bins, np.nan)
    else:
        share = sum_actual / total
    return pd.DataFrame(
        {
            "n": n,
            "mean_predicted": sum_pred / n,
            "mean_actual": sum_actual / n,
            "sum_actual": sum_actual,
            "share_of_actual": share,
        },
        index=pd.RangeIndex(1, bins + 1, name="decile"),
    )
