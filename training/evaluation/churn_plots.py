"""Evaluation figures for the churn model (ROC, PR, calibration, gains), one per chart.

Every function builds a :class:`matplotlib.figure.Figure` directly (not through
``pyplot``) on the non-interactive Agg canvas, so nothing depends on the global backend
or a display, and nothing is registered with ``pyplot``'s figure manager. The caller
saves the figure (``fig.savefig(path)``, or ``mlflow.log_figure``) and drops it;
``plt.close(fig)`` is harmless but not needed. Importing this module only imports.

The metric values shown in legends come from ``churn_metrics`` and ``ltv_metrics``, so the
numbers on the charts equal the numbers logged with the run. ``serving/`` must not import this
module (it pulls in matplotlib).
"""

from __future__ import annotations

import logging
import numbers

import numpy as np
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import precision_recall_curve, roc_curve

from training.evaluation.churn_metrics import (
    _average_precision_or_nan,
    _roc_auc_or_nan,
    expected_calibration_error,
    gains_table,
)
from training.evaluation.metric_inputs import (
    BinStrategy,
    _check_bins,
    _check_strategy,
    _descending_order,
)
from training.evaluation.plot_base import (
    REFERENCE_STYLE,
    Curves,
    _finish_unit_axes,
    _has_both_classes,
    _model_inputs,
    _new_figure,
)

log = logging.getLogger(__name__)


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
        Groups of the lift panel (see :func:`training.evaluation.churn_metrics.gains_table`).

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
