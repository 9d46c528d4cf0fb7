"""Evaluation metrics for the churn classifier and the LTV regressor.

Pure numpy / scikit-learn / scipy, no plotting, so ``serving/`` may import it.
scikit-learn computes everything it has (ROC AUC, average precision, log loss, Brier
score, MAE, RMSE); this module adds what it lacks: expected calibration error, lift and
capture rate, the normalized Gini and the decile/gains tables marketing reads.

Conventions
-----------
- ``y_true`` for churn is binary: 0/1 or bool, 1 = churned within ``horizon_days``.
- ``p`` is a churn probability in [0, 1]; ``score`` is any ranking score, higher = more
  likely to churn.
- LTV targets and predictions are in currency units over ``ltv_horizon_days``.
- Rows are ranked by score descending with a *stable* sort, so tied scores keep their
  input order (earlier rows rank higher). Results are deterministic for a given input
  order; :func:`normalized_gini` instead averages over all orders of tied rows.
- A metric that is undefined for the data (AUC with one class, lift with no churners,
  Gini of an all-zero target) is returned as NaN with a logged warning; malformed input
  (length mismatch, empty, NaN, wrong values) raises :class:`ValueError`.
"""

from __future__ import annotations

import logging
import math
import numbers
import warnings
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.stats import spearmanr
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    mean_absolute_error,
    roc_auc_score,
    root_mean_squared_error,
)

log = logging.getLogger(__name__)

BinStrategy = Literal["quantile", "uniform"]
BIN_STRATEGIES = ("quantile", "uniform")

CHURN_METRIC_KEYS = (
    "roc_auc",
    "pr_auc",
    "log_loss",
    "brier",
    "ece",
    "lift_top_decile",
    "capture_top_decile",
    "base_rate",
    "n",
)
LTV_METRIC_KEYS = (
    "normalized_gini",
    "spearman",
    "mae",
    "rmse",
    "mean_actual",
    "mean_predicted",
    "n",
)


# --------------------------------------------------------------------------- validation


def _as_1d_float(values: ArrayLike, name: str) -> np.ndarray:
    """``values`` as a finite 1-D float64 array, or a ValueError naming ``name``."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be numeric; could not convert it to float ({e}).") from e
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got an array of shape {array.shape}.")
    if array.size == 0:
        raise ValueError(f"{name} is empty; expected at least one value.")
    bad = ~np.isfinite(array)
    if bad.any():
        raise ValueError(
            f"{name} has {int(bad.sum())} NaN or infinite value(s) (first at position "
            f"{int(np.flatnonzero(bad)[0])}); expected finite numbers."
        )
    return array


def _check_same_length(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{name_a} and {name_b} have different lengths ({a.shape[0]} and {b.shape[0]}); "
            "expected one value per customer in each."
        )


def _binary_inputs(
    y_true: ArrayLike, score: ArrayLike, *, score_name: str = "score", probability: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Validate a binary target and a score of the same length; return float arrays.

    Raises ValueError when either is empty, not 1-D, non-finite, of different lengths,
    when ``y_true`` has values other than 0 and 1, or (``probability=True``) when the
    score leaves [0, 1].
    """
    y = _as_1d_float(y_true, "y_true")
    s = _as_1d_float(score, score_name)
    _check_same_length(y, s, "y_true", score_name)
    not_binary = (y != 0) & (y != 1)
    if not_binary.any():
        examples = ", ".join(f"{v:g}" for v in np.unique(y[not_binary])[:5])
        raise ValueError(f"y_true must be binary (0/1 or bool); it has other values: {examples}.")
    if probability and (s.min() < 0 or s.max() > 1):
        raise ValueError(
            f"{score_name} must be probabilities in [0, 1]; got values from {s.min():g} "
            f"to {s.max():g}."
        )
    return y, s


def _continuous_inputs(y_true: ArrayLike, pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate a continuous target and prediction of the same length."""
    y = _as_1d_float(y_true, "y_true")
    p = _as_1d_float(pred, "pred")
    _check_same_length(y, p, "y_true", "pred")
    return y, p


def _check_bins(bins: int, n: int | None = None) -> None:
    if isinstance(bins, bool) or not isinstance(bins, numbers.Integral) or bins < 1:
        raise ValueError(f"Invalid bins: {bins!r}; expected a positive integer.")
    if n is not None and n < bins:
        raise ValueError(
            f"Cannot split {n} row(s) into bins={bins} groups; expected at least {bins} rows."
        )


def _check_strategy(strategy: str) -> None:
    if strategy not in BIN_STRATEGIES:
        raise ValueError(
            f"Invalid strategy: {strategy!r}; expected one of "
            f"{', '.join(map(repr, BIN_STRATEGIES))}."
        )


def _check_fraction(fraction: float) -> None:
    if isinstance(fraction, bool) or not (isinstance(fraction, numbers.Real) and 0 < fraction <= 1):
        raise ValueError(f"Invalid fraction: {fraction!r}; expected a number in (0, 1].")


# --------------------------------------------------------------------------- ranking


def _descending_order(score: np.ndarray) -> np.ndarray:
    """Row indices by score descending; ties keep input order (stable sort)."""
    return np.argsort(-score, kind="stable")


def _top_count(n: int, fraction: float) -> int:
    """``ceil(fraction * n)``, at least 1, robust to float noise (0.3 * 10 is 3, not 4)."""
    return max(1, math.ceil(round(fraction * n, 9)))


def _rank_groups(score: np.ndarray, bins: int) -> np.ndarray:
    """Group 1..``bins`` per row, 1 = highest scores, as equal as possible in size.

    The rows ranked ``0 .. n-1`` by :func:`_descending_order` are cut into contiguous
    groups; the first ``j`` groups hold exactly ``ceil(j * n / bins)`` rows, which is
    the top-count rule of :func:`lift_at` at ``fraction = j / bins``.
    """
    n = score.shape[0]
    groups = np.empty(n, dtype=np.int64)
    groups[_descending_order(score)] = np.arange(n) * bins // n + 1
    return groups


# --------------------------------------------------------------------------- churn


def _calibration_bins(
    y: np.ndarray, p: np.ndarray, bins: int, strategy: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, observed churn rate and mean probability per non-empty bin.

    Bins exactly as :func:`sklearn.calibration.calibration_curve`, so the rates and
    means equal its ``prob_true`` and ``prob_pred``.
    """
    if strategy == "quantile":
        edges = np.percentile(p, np.linspace(0, 100, bins + 1))
    else:
        edges = np.linspace(0.0, 1.0, bins + 1)
    ids = np.searchsorted(edges[1:-1], p)
    total = np.bincount(ids, minlength=bins)
    positives = np.bincount(ids, weights=y, minlength=bins)
    prob_sum = np.bincount(ids, weights=p, minlength=bins)
    keep = total > 0
    return total[keep], positives[keep] / total[keep], prob_sum[keep] / total[keep]


def expected_calibration_error(
    y_true: ArrayLike,
    p: ArrayLike,
    *,
    bins: int = 10,
    strategy: BinStrategy = "quantile",
) -> float:
    """Expected calibration error: mean gap between observed churn rate and mean probability.

    ``ECE = sum_b (n_b / n) * |observed_rate_b - mean_p_b|`` over the non-empty bins
    ``b`` of the predicted probability, with the same bins as
    :func:`sklearn.calibration.calibration_curve`.

    Parameters
    ----------
    y_true : array-like of shape (n_customers,)
        1 if the customer churned, else 0.
    p : array-like of shape (n_customers,)
        Predicted churn probability in [0, 1].
    bins : int, default=10
        Number of bins.
    strategy : {"quantile", "uniform"}, default="quantile"
        ``"quantile"``: bins of (about) equal numbers of customers, edges at the
        quantiles of ``p``; ``"uniform"``: equal-width bins on [0, 1].

    Returns
    -------
    float
        In [0, 1], in units of probability; 0 for perfect calibration at this binning.

    Raises
    ------
    ValueError
        Empty or mismatched inputs, non-binary ``y_true``, ``p`` outside [0, 1], or an
        invalid ``bins`` / ``strategy``.
    """
    _check_bins(bins)
    _check_strategy(strategy)
    y, prob = _binary_inputs(y_true, p, score_name="p", probability=True)
    counts, observed, predicted = _calibration_bins(y, prob, bins, strategy)
    return float(np.sum(counts * np.abs(observed - predicted)) / y.shape[0])


def _top_churners(y: np.ndarray, score: np.ndarray, fraction: float) -> tuple[int, float]:
    """Number of rows in the top ``fraction`` by score, and the churners among them."""
    k = _top_count(y.shape[0], fraction)
    return k, float(y[_descending_order(score)[:k]].sum())


def lift_at(y_true: ArrayLike, score: ArrayLike, *, fraction: float = 0.1) -> float:
    """Churn rate among the top-scored customers divided by the overall churn rate.

    Parameters
    ----------
    y_true : array-like of shape (n_customers,)
        1 if the customer churned, else 0.
    score : array-like of shape (n_customers,)
        Any score where higher means more likely to churn (probabilities or not).
    fraction : float, default=0.1
        Share of customers targeted, in (0, 1]; the top ``ceil(fraction * n)`` rows (at
        least one) by score, ties broken by input order (stable sort).

    Returns
    -------
    float
        Lift, dimensionless: 1 is no better than random, ``1 / fraction`` is the best
        possible when churners are rarer than ``fraction``. NaN (with a logged warning)
        if nobody churned.

    Raises
    ------
    ValueError
        Empty or mismatched inputs, non-binary ``y_true``, or ``fraction`` outside (0, 1].
    """
    _check_fraction(fraction)
    y, s = _binary_inputs(y_true, score)
    base_rate = y.mean()
    if base_rate == 0:
        log.warning("lift_at: y_true has no churners, so lift is undefined; returning NaN.")
        return float("nan")
    k, hits = _top_churners(y, s, fraction)
    return float((hits / k) / base_rate)


def capture_rate_at(y_true: ArrayLike, score: ArrayLike, *, fraction: float = 0.1) -> float:
    """Share of all churners found among the top-scored customers (recall at a budget).

    Parameters
    ----------
    y_true : array-like of shape (n_customers,)
        1 if the customer churned, else 0.
    score : array-like of shape (n_customers,)
        Any score where higher means more likely to churn.
    fraction : float, default=0.1
        Share of customers targeted, in (0, 1]; the top ``ceil(fraction * n)`` rows (at
        least one) by score, ties broken by input order (stable sort).

    Returns
    -------
    float
        In [0, 1]: churners in the top rows / all churners. NaN (with a logged warning)
        if nobody churned.

    Raises
    ------
    ValueError
        Empty or mismatched inputs, non-binary ``y_true``, or ``fraction`` outside (0, 1].
    """
    _check_fraction(fraction)
    y, s = _binary_inputs(y_true, score)
    churners = y.sum()
    if churners == 0:
        log.warning(
            "capture_rate_at: y_true has no churners, so capture rate is undefined; returning NaN."
        )
        return float("nan")
    _, hits = _top_churners(y, s, fraction)
    return float(hits / churners)


def _roc_auc_or_nan(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC from scikit-learn, NaN with a logged warning when ``y`` has one class."""
    if y.min() == y.max():
        log.warning(
            "ROC AUC is undefined: y_true has only one class (%d); returning NaN.", int(y[0])
        )
        return float("nan")
    return float(roc_auc_score(y, score))


def _average_precision_or_nan(y: np.ndarray, score: np.ndarray) -> float:
    """Average precision from scikit-learn, NaN with a logged warning if no churners."""
    if y.max() == 0:
        log.warning("Average precision is undefined: y_true has no churners; returning NaN.")
        return float("nan")
    return float(average_precision_score(y, score))


def churn_metrics(y_true: ArrayLike, p: ArrayLike) -> dict[str, float]:
    """All churn-model metrics for one set of predictions.

    Parameters
    ----------
    y_true : array-like of shape (n_customers,)
        1 if the customer churned within the horizon, else 0.
    p : array-like of shape (n_customers,)
        Predicted churn probability in [0, 1].

    Returns
    -------
    dict of str to float
        In the order of :data:`CHURN_METRIC_KEYS`:

        - ``roc_auc``: :func:`sklearn.metrics.roc_auc_score` (NaN if one class).
        - ``pr_auc``: :func:`sklearn.metrics.average_precision_score` (NaN if no churners).
        - ``log_loss``: :func:`sklearn.metrics.log_loss` in nats per customer.
        - ``brier``: :func:`sklearn.metrics.brier_score_loss`, mean squared error of ``p``.
        - ``ece``: :func:`expected_calibration_error`, 10 quantile bins.
        - ``lift_top_decile``, ``capture_top_decile``: :func:`lift_at` and
          :func:`capture_rate_at` at ``fraction=0.1`` (NaN if no churners).
        - ``base_rate``: share of churners.
        - ``n``: number of customers (a float, like every value).

    Raises
    ------
    ValueError
        Empty or mismatched inputs, non-binary ``y_true``, or ``p`` outside [0, 1].
    """
    y, prob = _binary_inputs(y_true, p, score_name="p", probability=True)
    return {
        "roc_auc": _roc_auc_or_nan(y, prob),
        "pr_auc": _average_precision_or_nan(y, prob),
        "log_loss": float(log_loss(y, prob, labels=[0, 1])),
        "brier": float(brier_score_loss(y, prob, labels=[0, 1])),
        "ece": expected_calibration_error(y, prob),
        "lift_top_decile": lift_at(y, prob, fraction=0.1),
        "capture_top_decile": capture_rate_at(y, prob, fraction=0.1),
        "base_rate": float(y.mean()),
        "n": float(y.shape[0]),
    }


def gains_table(y_true: ArrayLike, score: ArrayLike, *, bins: int = 10) -> pd.DataFrame:
    """Cumulative gains and lift per score decile (or other quantile group).

    Parameters
    ----------
    y_true : array-like of shape (n_customers,)
        1 if the customer churned, else 0.
    score : array-like of shape (n_customers,)
        Any score where higher means more likely to churn.
    bins : int, default=10
        Number of groups; group 1 holds the highest scores. Groups are contiguous in the
        stable descending order and differ in size by at most one row; the first ``j``
        hold ``ceil(j * n / bins)`` rows, matching :func:`capture_rate_at`.

    Returns
    -------
    DataFrame, shape (bins, 7)
        Index ``decile`` (1..bins), columns:

        - ``n``: customers in the group (int).
        - ``churners``: churners in the group (int).
        - ``churn_rate``: ``churners / n``.
        - ``cum_share_customers``: share of all customers in groups 1..this one.
        - ``cum_share_churners``: share of all churners captured by groups 1..this one.
        - ``lift``: ``churn_rate`` / overall churn rate.
        - ``cum_lift``: churn rate of groups 1..this one / overall churn rate.

        The last three are NaN (with a logged warning) if nobody churned.

    Raises
    ------
    ValueError
        Empty or mismatched inputs, non-binary ``y_true``, or fewer rows than ``bins``.
    """
    _check_bins(bins)
    y, s = _binary_inputs(y_true, score)
    _check_bins(bins, y.shape[0])
    groups = _rank_groups(s, bins)
    n = np.bincount(groups, minlength=bins + 1)[1:]
    churners = np.bincount(groups, weights=y, minlength=bins + 1)[1:].astype(np.int64)
    total_churners = int(churners.sum())
    base_rate = total_churners / y.shape[0]
    cum_n, cum_churners = np.cumsum(n), np.cumsum(churners)
    if total_churners == 0:
        log.warning("gains_table: y_true has no churners; shares and lifts are NaN.")
        share = lift = cum_lift = np.full(bins, np.nan)
    else:
        share = cum_churners / total_churners
        lift = churners / n / base_rate
        cum_lift = cum_churners / cum_n / base_rate
    return pd.DataFrame(
        {
            "n": n,
            "churners": churners,
            "churn_rate": churners / n,
            "cum_share_customers": cum_n / y.shape[0],
            "cum_share_churners": share,
            "lift": lift,
            "cum_lift": cum_lift,
        },
        index=pd.RangeIndex(1, bins + 1, name="decile"),
    )


# --------------------------------------------------------------------------- LTV


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
