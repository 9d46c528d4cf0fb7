"""Figures of a drift check: PSI per feature and the score distributions then and now.

Built like :mod:`training.evaluation.plot_base`: a :class:`~matplotlib.figure.Figure` on an Agg
canvas, never through ``pyplot``; the caller saves or logs it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from training.evaluation.plot_base import _new_figure
from training.monitoring.drift import PSI_MODERATE, PSI_SIGNIFICANT

LEVEL_COLORS = {"significant": "#d62728", "moderate": "#ff7f0e", "stable": "#2ca02c", "n/a": "0.6"}


def psi_figure(features: pd.DataFrame, *, top: int = 15) -> Figure:
    """Horizontal bars of the ``top`` features by PSI, coloured by level.

    Parameters
    ----------
    features : DataFrame
        :func:`training.monitoring.drift.psi_table` output (index feature; ``psi`` and ``level``).
    top : int, default 15

    Returns
    -------
    Figure
        One axes with dashed lines at PSI 0.1 (moderate) and 0.2 (significant).
    """
    shown = features.sort_values("psi", ascending=False).head(top)
    fig = _new_figure(7.5, 1.4 + 0.3 * max(len(shown), 1))
    ax = fig.add_subplot()
    y = np.arange(len(shown))
    ax.barh(
        y,
        shown["psi"].fillna(0).to_numpy(),
        color=[LEVEL_COLORS.get(level, "0.6") for level in shown["level"]],
    )
    ax.set_yticks(y, [str(i) for i in shown.index])
    ax.invert_yaxis()
    for x, label in ((PSI_MODERATE, "moderate (0.1)"), (PSI_SIGNIFICANT, "significant (0.2)")):
        ax.axvline(x, color="0.35", linestyle="--", linewidth=1.0)
        ax.text(x, -0.7, f" {label}", fontsize=8, color="0.3", va="bottom")
    ax.set_xlabel("Population stability index (current vs training rows)")
    ax.set_title(f"Feature drift: top {len(shown)} features by PSI")
    ax.grid(True, axis="x", alpha=0.3)
    return fig


def _histogram_axes(ax, table: pd.DataFrame, *, title: str, unit: str, fmt: str) -> None:
    x = np.arange(len(table))
    ax.bar(x - 0.2, table["reference_pct"], 0.4, label="training rows", color="tab:blue", alpha=0.6)
    ax.bar(x + 0.2, table["current_pct"], 0.4, label="current", color="tab:orange")
    ax.set_xticks(
        x,
        [f"{lo:{fmt}}–{hi:{fmt}}" for lo, hi in zip(table["low"], table["high"], strict=True)],
        rotation=45,
        ha="right",
        fontsize=8,
    )
    ax.set_title(title)
    ax.set_xlabel(f"Bin of the training rows' deciles ({unit})")
    ax.set_ylabel("Customers (% of each sample)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper right")


def score_drift_figure(result) -> Figure:
    """Churn-probability and predicted-LTV shares per reference decile, then vs now.

    Parameters
    ----------
    result : MonitorResult
        From :func:`training.monitoring.monitor.monitor` (uses its two score histograms and PSIs).
    """
    fig = _new_figure(12, 4.6)
    left, right = fig.subplots(1, 2)
    _histogram_axes(
        left,
        result.score_histogram,
        fmt=".2f",
        unit="probability",
        title=f"Churn probability (PSI {result.score_psi:.3f})",
    )
    _histogram_axes(
        right,
        result.ltv_histogram,
        fmt=",.0f",
        unit="currency",
        title=f"Predicted LTV (PSI {result.ltv_score_psi:.3f})",
    )
    return fig
