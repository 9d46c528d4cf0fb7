"""The churn hazard's non-linear terms, in logit units, as functions of the latent state."""

from __future__ import annotations

import numpy as np

from features.synthetic.draws import expit
from features.synthetic.params import M


def drift(z: np.ndarray) -> np.ndarray:
    """Hazard logit from engagement: mild above the norm, steep once well below it."""
    return -M.engagement_effect * z + M.drift_effect * expit(
        -M.drift_steepness * (z - M.drift_threshold)
    )


def plan_fit(plan: np.ndarray, usage: np.ndarray) -> np.ndarray:
    """Hazard logit of subscribers paying for more plan than they use (``plan`` -1: none).

    ``usage`` is orders a month; premium with hardly any orders is the worst fit.
    """
    return np.where(
        plan >= 0,
        M.plan_fit_effect
        * expit(M.plan_fit_steepness * (plan - M.plan_fit_offset - M.plan_fit_usage * usage)),
        0.0,
    )


def support(bad: np.ndarray, threshold: np.ndarray, effect: np.ndarray) -> np.ndarray:
    """Hazard logit from the bad-support score (about the recent bad tickets): a step.

    Nothing below ``threshold`` (one bad ticket for most, two for gold and platinum),
    ``effect`` above it.
    """
    return effect * expit(M.bad_steepness * (bad - threshold))


def detractor(satisfaction: np.ndarray) -> np.ndarray:
    """Hazard logit from satisfaction: a step for the very unhappy (NPS about 0-4)."""
    return M.detractor_effect * expit(
        -M.detractor_steepness * (satisfaction - M.detractor_threshold)
    )
