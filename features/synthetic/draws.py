"""Link functions and the vectorised random draws the simulation is built from."""

from __future__ import annotations

import numpy as np


def expit(x: np.ndarray) -> np.ndarray:
    """The logistic function, stable for large ``|x|``."""
    return np.exp(-np.logaddexp(0.0, -x))


def logit(p: np.ndarray | float) -> np.ndarray:
    """Log-odds of probabilities ``p`` in (0, 1)."""
    p = np.asarray(p, dtype=float)
    return np.log(p / (1.0 - p))


def pick(u: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Categorical draws from uniforms ``u`` and probabilities ``(k,)`` or ``(len(u), k)``."""
    cum = np.cumsum(probs, axis=-1)
    cum = cum / cum[..., -1:]
    if cum.ndim == 1:
        return np.minimum(np.searchsorted(cum, u, side="right"), len(cum) - 1)
    return np.minimum((u[:, None] >= cum).sum(axis=1), cum.shape[1] - 1)


def uniform_times(rng: np.random.Generator, lo: np.ndarray, span: np.ndarray) -> np.ndarray:
    """Epoch seconds drawn uniformly in ``[lo, lo + span)``."""
    return lo + (rng.random(lo.size) * span).astype(np.int64)
