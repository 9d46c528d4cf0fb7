"""Figure plumbing shared by the evaluation charts: an Agg figure, argument checks, styles.

Every chart is a :class:`matplotlib.figure.Figure` built directly (not through ``pyplot``)
on the non-interactive Agg canvas, so nothing depends on the global backend or a display.

The charts themselves live in ``churn_plots``, ``ltv_plots`` and ``explain_plots``.
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Mapping

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from training.evaluation.metric_inputs import (
    _binary_inputs,
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
