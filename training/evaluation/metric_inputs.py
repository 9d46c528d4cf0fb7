"""Input checks and rank groups shared by the churn and the LTV metrics.

Malformed input (length mismatch, empty, NaN, wrong values) raises :class:`ValueError`;
rows are ranked by score descending with a *stable* sort (ties keep input order).
"""

from __future__ import annotations

import math
import numbers
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

BinStrategy = Literal["quantile", "uniform"]
BIN_STRATEGIES = ("quantile", "uniform")


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
