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

__all__ = [
    "Overlap",
    "auuc",
    "evaluate_uplift",
    "overlap",
    "pairwise_propensity",
    "qini_curve",
    "summary",
    "uplift_at_k",
]


def qini_curve(
    kept: np.ndarray,
    treated: np.ndarray,
    score: np.ndarray,
    *,
    weight: np.ndarray | None = None,
    points: int = 101,
) -> tuple[np.ndarray, np.ndarray]:
    """Qini curve: incremental customers kept when targeting the top share by ``score``.

    ``Q(φ) = (K_T(φ) − K_C(φ) · W_T(φ) / W_C(φ)) / W_T(1)``, with ``K`` the (weighted)
    customers kept and ``W`` the (weighted) rows among the top share ``φ`` of rows,
    treated (T) and untreated (C); 0 where a group is still empty. Normalised by all
    treated rows, so ``Q(1)`` is the average effect (kept-rate difference).

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
        Incremental kept customers per treated row.
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
        q = np.where((w_t > 0) & (w_c > 0), k_t - k_c * w_t / w_c, 0.0) / max(w_t[-1], 1e-12)
    share = np.linspace(0.0, 1.0, points)
    index = np.clip(np.ceil(share * kept.size).astype(int) - 1, 0, kept.size - 1)
    return share, np.where(share > 0, q[index], 0.0)


def auuc(kept, treated, score, *, weight=None) -> float:
    """Area between the Qini curve and the random-targeting line (Qini coefficient).

    Incremental kept customers per treated row, averaged over targeting shares: positive when
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


PROPENSITY_CLIP = 0.01
"""Pairwise propensities are clipped to ``[clip, 1 − clip]`` before inverse weighting."""


def offer_rows(treatment: np.ndarray, offer: str, *, no_offer: str) -> np.ndarray:
    """Rows of one offer's comparison: that offer or no offer; bool, shape (n,)."""
    return (treatment == offer) | (treatment == no_offer)


def pairwise_propensity(e: np.ndarray, j: int) -> np.ndarray:
    """``π = e_j / (e_0 + e_j)`` from multiclass propensities ``e`` (column 0 = no offer)."""
    return e[:, j + 1] / np.maximum(e[:, 0] + e[:, j + 1], 1e-12)


def offer_comparison(
    treatment: np.ndarray, e: np.ndarray, j: int, offer: str, *, no_offer: str = "none"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One offer against no offer: the rows, which are treated, their IPW weights.

    Parameters
    ----------
    treatment : numpy.ndarray of object, shape (n,)
    e : numpy.ndarray, shape (n, 1 + m)
        Multiclass propensities, column 0 = no offer, ``j + 1`` = this offer.
    j : int
    offer : str

    Returns
    -------
    rows : numpy.ndarray of bool, shape (n,)
        The offer's rows and the untreated rows.
    treated : numpy.ndarray of bool, shape (rows.sum(),)
    weight : numpy.ndarray of float, shape (rows.sum(),)
        ``1/π`` treated, ``1/(1 − π)`` untreated, π clipped to
        ``[PROPENSITY_CLIP, 1 − PROPENSITY_CLIP]``.
    """
    rows = offer_rows(treatment, offer, no_offer=no_offer)
    treated = treatment[rows] == offer
    pi = np.clip(pairwise_propensity(e[rows], j), PROPENSITY_CLIP, 1 - PROPENSITY_CLIP)
    return rows, treated, np.where(treated, 1 / pi, 1 / (1 - pi))


def evaluate_uplift(model, rows, *, no_offer: str = "none", k: float = 0.1):
    """Per-offer held-out metrics of an uplift model, inverse-propensity weighted.

    Parameters
    ----------
    model : training.models.uplift.UpliftModel
        Fitted before the held-out cutoff (its propensity model weights the rows).
    rows : pandas.DataFrame
        Held-out campaign rows: features, ``treatment``, ``churned``.
    no_offer : str, default "none"
    k : float, default 0.1
        Share targeted for ``uplift_at_k``.

    Returns
    -------
    pandas.DataFrame
        One row per offer (index), columns: ``treated_rows``, ``control_rows``,
        ``auuc`` (the model's τ ranking), ``auuc_churn_risk`` (ranking by P(churn | no
        offer): the catalog policy's order within an offer), ``uplift_at_k``,
        ``mean_uplift`` (mean predicted τ, churn-probability points) and ``ipw_ate``
        (the weighted difference in kept rates: the offer's average effect).
    """
    import pandas as pd

    treatment = rows["treatment"].to_numpy(dtype=object)
    kept = 1 - rows["churned"].to_numpy(dtype=float)
    tau, e, p0 = model.predict(rows), model.propensity(rows), model.predict_untreated(rows)
    out = {}
    for j, offer in enumerate(model.offers_):
        s, t, w = offer_comparison(treatment, e, j, offer, no_offer=no_offer)
        ate = (
            np.average(kept[s][t], weights=w[t]) - np.average(kept[s][~t], weights=w[~t])
            if t.any() and (~t).any()
            else np.nan
        )
        out[offer] = {
            "treated_rows": int(t.sum()),
            "control_rows": int((~t).sum()),
            "auuc": auuc(kept[s], t, tau[s, j], weight=w) if t.any() else np.nan,
            "auuc_churn_risk": auuc(kept[s], t, p0[s], weight=w) if t.any() else np.nan,
            "uplift_at_k": uplift_at_k(kept[s], t, tau[s, j], k=k, weight=w),
            "mean_uplift": float(tau[s, j].mean()),
            "ipw_ate": float(ate),
        }
    return pd.DataFrame(out).T.rename_axis("offer_id")


def summary(per_offer) -> dict[str, float]:
    """Treated-row weighted means of :func:`evaluate_uplift`'s AUUCs (the gate's figures)."""
    ok = per_offer["treated_rows"].astype(float) > 0
    w = per_offer.loc[ok, "treated_rows"].astype(float)
    if not ok.any():
        return {"auuc": float("nan"), "auuc_churn_risk": float("nan")}
    return {
        "auuc": float(np.average(per_offer.loc[ok, "auuc"].astype(float), weights=w)),
        "auuc_churn_risk": float(
            np.average(per_offer.loc[ok, "auuc_churn_risk"].astype(float), weights=w)
        ),
    }


GAIN_DRAWS, GAIN_LEVEL = 200, 0.95
"""Bootstrap draws and one-sided confidence level of :func:`gain_bound`."""


def gain_bound(
    model,
    rows,
    *,
    no_offer: str = "none",
    draws: int = GAIN_DRAWS,
    level: float = GAIN_LEVEL,
    seed: int = 0,
) -> dict[str, float]:
    """Held-out gain of the model's targeting over the catalog rule, with a lower bound.

    The gain is :func:`summary`'s ``auuc − auuc_churn_risk`` (treated-row weighted over
    offers): how much more churn the model's τ ranking prevents than ranking by churn
    risk, the catalog policy's order. The bound is the ``1 − level`` quantile of the
    gain over ``draws`` bootstrap resamples of the held-out customers (rows drawn with
    replacement; the model and its propensities fixed): the model is used only when
    that bound is above 0.

    Returns
    -------
    dict
        ``gain``, ``gain_lower`` (the one-sided ``level`` bound), ``gain_draws``.
    """
    treatment = rows["treatment"].to_numpy(dtype=object)
    kept = 1 - rows["churned"].to_numpy(dtype=float)
    tau, e, p0 = model.predict(rows), model.propensity(rows), model.predict_untreated(rows)

    def gain(index: np.ndarray) -> float:
        num = den = 0.0
        for j, offer in enumerate(model.offers_):
            s, t, w = offer_comparison(treatment[index], e[index], j, offer, no_offer=no_offer)
            n = int(t.sum())
            if not n or not (~t).any():
                continue
            y = kept[index][s]
            diff = auuc(y, t, tau[index][s, j], weight=w) - auuc(y, t, p0[index][s], weight=w)
            num, den = num + n * diff, den + n
        return num / den if den else float("nan")

    everyone = np.arange(len(rows))
    rng = np.random.default_rng(seed)
    sampled = np.array([gain(rng.integers(0, len(rows), len(rows))) for _ in range(draws)])
    sampled = sampled[np.isfinite(sampled)]
    lower = float(np.quantile(sampled, 1 - level)) if sampled.size else float("nan")
    return {"gain": gain(everyone), "gain_lower": lower, "gain_draws": float(sampled.size)}
