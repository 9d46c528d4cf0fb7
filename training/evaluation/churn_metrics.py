"""Evaluation metrics for the churn classifier; the LTV ones live in ``ltv_metrics``.

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

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
)

from training.evaluation.metric_inputs import (
    BinStrategy,
    _binary_inputs,
    _check_bins,
    _check_fraction,
    _check_strategy,
    _descending_order,
    _rank_groups,
    _top_count,
)

log = logging.getLogger(__name__)

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
