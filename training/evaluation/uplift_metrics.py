"""Uplift evaluation: Qini curve, AUUC, uplift at k, and propensity overlap.

Outcomes are *kept* customers (``1 − churned``), so a good uplift score puts customers
an offer keeps first. On observational history each row can be weighted by its inverse
propensity (``1/π`` treated, ``1/(1 − π)`` untreated, ``π`` the pairwise propensity of
the offer against no offer), which removes the targeting bias the propensity model
captures. A small numpy implementation: the uplift libraries (scikit-uplift, causalml)
do not fit the project's pins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Overlap", "auuc", "overlap", "qini_curve", "uplift_at_k"]


def qini_curve(
    kept: np.ndarray,
    treated: np.ndarray,
    score: np.ndarray,
    *,
    weight: np.ndarray | None = None,
    points: int = 101,
) -> tuple[np.ndarray, np.ndarray]:
    """Qini curve: incremental customers kept when targeting the top share by ``score``.

    ``Q(φ) = (K_T(φ) − K_C(φ) · W_T(φ) / W_C(φ)) / W``, with ``K`` the (weighted)
    customers kept and ``W`` the (weighted) rows among the top share ``φ`` of rows,
    treated (T) and untreated (C); 0 where a group is still empty.

    Parameters
    ----------
    kept : array_like of {0, 1}, shape (n,)
        1 when the customer did not churn over the horizon.
    treated : array_like of bool, shape (n,)
    score : array_like of float, shape (n,)
        Higher means more uplift expected.
    weight : array_like of float, shape (n,), optional
        Inverse-propensity weights (default 1).
    points : int, default 101
        Shares ``φ`` evaluated, evenly from 0 to 1.

    Returns
    -------
    share : numpy.ndarray, shape (points,)
        ``φ``, fraction of rows targeted.
    qini : numpy.ndarray, shape (points,)
        Incremental kept customers per row of the population.
    """
    kept = np.asarray(kept, dtype=float)
    treated = np.asarray(treated, dtype=bool)
    w = np.ones_like(kept) if weight is None else np.asarray(weight, dtype=float)
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    kept, treated, w = kept[order], treated[order], w[order]
    k_t = np.cumsum(w * kept * treated)
    k_c = np.cumsum(w * kept * ~treated)
    w_t = np.cumsum(w * treated)
    w_c = np.cumsum(w * ~treated)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where((w_t > 0) & (w_c > 0), k_t - k_c * w_t / w_c, 0.0) / w.sum()
    share = np.linspace(0.0, 1.0, points)
    index = np.clip(np.ceil(share * kept.size).astype(int) - 1, 0, kept.size - 1)
    return share, np.where(share > 0, q[index], 0.0)


def auuc(kept, treated, score, *, weight=None) -> float:
    """Area between the Qini curve and the random-targeting line (Qini coefficient).

    Incremental kept customers per row, averaged over targeting shares: positive when
    ``score`` ranks better than random, 0 for random, negative when worse. Arguments as
    :func:`qini_curve`.
    """
    share, q = qini_curve(kept, treated, score, weight=weight)
    return float(np.trapezoid(q - share * q[-1], share))


def uplift_at_k(kept, treated, score, *, k: float = 0.1, weight=None) -> float:
    """Kept rate of treated minus untreated among the top ``k`` share by ``score``.

    Returns NaN when either group is empty there. Arguments as :func:`qini_curve`.
    """
    kept = np.asarray(kept, dtype=float)
    treated = np.asarray(treated, dtype=bool)
    w = np.ones_like(kept) if weight is None else np.asarray(weight, dtype=float)
    top = np.argsort(-np.asarray(score, dtype=float), kind="stable")[: max(int(k * kept.size), 1)]
    t, c = top[treated[top]], top[~treated[top]]
    if not t.size or not c.size:
        return float("nan")
    return float(np.average(kept[t], weights=w[t]) - np.average(kept[c], weights=w[c]))


@dataclass(frozen=True)
class Overlap:
    """Propensity overlap of one offer against no offer.

    Attributes
    ----------
    treated_rows, control_rows : int
        Rows with the offer and rows without any offer.
    share_in_overlap : float
        Share of those rows whose *balanced* propensity lies in ``[low, 1 − low]``
        (see :func:`overlap`), 0–1.
    treated_in_overlap : float
        The same share among the treated rows only.
    """

    treated_rows: int
    control_rows: int
    share_in_overlap: float
    treated_in_overlap: float


def overlap(p_offer: np.ndarray, treated: np.ndarray, *, low: float = 0.05) -> Overlap:
    """Check overlap with the balanced propensity of one offer against no offer.

    A rare offer has small propensities everywhere even when it was randomised, so the
    usual ``e ∈ [0.05, 0.95]`` rule is applied to the propensity re-weighted to equal
    group sizes: ``b = (π/ρ) / (π/ρ + (1 − π)/(1 − ρ))``, with ``π`` the pairwise
    propensity ``e_j / (e_0 + e_j)`` and ``ρ`` the offer's share of the two groups.
    ``b`` is 0.5 everywhere under randomisation; it leaves ``[low, 1 − low]`` where
    targeting made the odds of the offer 19 times (``low`` = 0.05) above or below
    its average, i.e. where one group has (almost) no comparable rows.

    Parameters
    ----------
    p_offer : array_like of float, shape (n,)
        Pairwise propensity ``π`` of the rows of the offer and the untreated rows.
    treated : array_like of bool, shape (n,)
        Whether each row got the offer.
    low : float, default 0.05

    Returns
    -------
    Overlap
    """
    p = np.clip(np.asarray(p_offer, dtype=float), 1e-9, 1 - 1e-9)
    treated = np.asarray(treated, dtype=bool)
    rho = treated.mean() if treated.size else 0.5
    rho = min(max(rho, 1e-9), 1 - 1e-9)
    odds = (p / rho) / (p / rho + (1 - p) / (1 - rho))
    inside = (odds >= low) & (odds <= 1 - low)
    return Overlap(
        treated_rows=int(treated.sum()),
        control_rows=int((~treated).sum()),
        share_in_overlap=float(inside.mean()) if inside.size else 0.0,
        treated_in_overlap=float(inside[treated].mean()) if treated.any() else 0.0,
    )
