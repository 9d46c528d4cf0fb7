"""Population stability index (PSI): how far a distribution has moved from a reference.

For bins ``i`` with reference share ``r_i`` and current share ``c_i``::

    PSI = Σ (c_i − r_i) × ln(c_i / r_i)

Numeric values are binned at the reference's deciles (fewer bins when values tie), with
one extra bin for missing values; categorical values by category, with one bin for
categories unseen in the reference and one for missing. Empty bins get a share of
``EPSILON`` so the logarithm stays finite. Rule of thumb (:data:`PSI_LEVELS`): below
0.1 stable, 0.1–0.2 moderate shift, above 0.2 significant shift.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

EPSILON = 1e-4
PSI_MODERATE = 0.1
PSI_SIGNIFICANT = 0.2
PSI_LEVELS = ((PSI_SIGNIFICANT, "significant"), (PSI_MODERATE, "moderate"), (0.0, "stable"))
"""``(lower bound, level)`` from the highest: PSI > 0.2 significant, > 0.1 moderate."""

MISSING = "(missing)"
OTHER = "(unseen)"


def psi_level(psi: float) -> str:
    """``"significant"`` (> 0.2), ``"moderate"`` (> 0.1) or ``"stable"``; NaN → ``"n/a"``."""
    if not np.isfinite(psi):
        return "n/a"
    return next(level for bound, level in PSI_LEVELS if psi > bound or bound == 0.0)


def numeric_edges(reference: ArrayLike, *, bins: int = 10) -> np.ndarray:
    """Interior bin edges at the reference's quantiles, deduplicated (may be empty)."""
    x = np.asarray(reference, dtype="float64")
    x = x[np.isfinite(x)]
    if x.size == 0:
        return np.empty(0)
    return np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)[1:-1]))


def numeric_shares(values: ArrayLike, edges: np.ndarray) -> np.ndarray:
    """Shares of ``values`` per bin ``(-inf, e_0], (e_0, e_1], …, (e_k, inf)`` + missing."""
    x = np.asarray(values, dtype="float64")
    missing = ~np.isfinite(x)
    counts = np.bincount(np.searchsorted(edges, x[~missing], side="left"), minlength=edges.size + 1)
    counts = np.append(counts, missing.sum()).astype("float64")
    return counts / max(x.size, 1)


def categorical_shares(values: pd.Series, categories: Sequence[str]) -> np.ndarray:
    """Shares of ``values`` per category, then unseen categories, then missing."""
    text = values.astype("string")
    missing = text.isna().to_numpy()
    known = text.isin(list(categories)).fillna(False).to_numpy()
    counts = text[known & ~missing].value_counts().reindex(list(categories), fill_value=0)
    counts = np.append(counts.to_numpy(), [(~known & ~missing).sum(), missing.sum()]).astype(
        "float64"
    )
    return counts / max(len(values), 1)


def psi_from_shares(reference: np.ndarray, current: np.ndarray) -> float:
    """PSI of two share vectors over the same bins (each summing to 1)."""
    r = np.clip(np.asarray(reference, dtype="float64"), EPSILON, None)
    c = np.clip(np.asarray(current, dtype="float64"), EPSILON, None)
    return float(np.sum((c - r) * np.log(c / r)))


def population_stability_index(
    reference: ArrayLike | pd.Series,
    current: ArrayLike | pd.Series,
    *,
    bins: int = 10,
    categorical: bool = False,
) -> float:
    """PSI of ``current`` against ``reference`` (see the module doc).

    Parameters
    ----------
    reference, current : array_like, shape (n_ref,), (n_cur,)
        Values of one feature or score; NaN/NA are counted in a missing bin.
    bins : int, default 10
        Quantile bins of the reference (numeric values).
    categorical : bool, default False
        Bin by category instead of by quantile.

    Returns
    -------
    float
        PSI ≥ 0 (0 for identical distributions); NaN when either side is empty.

    Raises
    ------
    ValueError
        When ``bins`` is not a whole number of at least 2.
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise ValueError(f"Invalid bins: {bins!r}; expected a whole number ≥ 2.")
    if len(reference) == 0 or len(current) == 0:
        return float("nan")
    if categorical:
        ref, cur = pd.Series(reference), pd.Series(current)
        categories = sorted(ref.dropna().astype(str).unique())
        return psi_from_shares(
            categorical_shares(ref, categories), categorical_shares(cur, categories)
        )
    edges = numeric_edges(reference, bins=bins)
    return psi_from_shares(numeric_shares(reference, edges), numeric_shares(current, edges))


def psi_table(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: Sequence[str],
    *,
    categorical: Sequence[str] = (),
    bins: int = 10,
) -> pd.DataFrame:
    """PSI of each feature, highest first.

    Parameters
    ----------
    reference, current : DataFrame
        Feature rows (one per customer and cutoff) holding ``features``.
    features : sequence of str
        Columns to compare.
    categorical : sequence of str, default ()
        Which of them are categorical.
    bins : int, default 10

    Returns
    -------
    DataFrame
        Index ``feature``; columns ``psi``, ``level`` (:func:`psi_level`), ``kind``
        (numeric/categorical), ``reference_mean`` and ``current_mean`` (numeric only),
        ``reference_missing_pct`` and ``current_missing_pct``.
    """
    rows = []
    for name in features:
        is_cat = name in categorical
        ref, cur = reference[name], current[name]
        psi = population_stability_index(ref, cur, bins=bins, categorical=is_cat)
        rows.append(
            {
                "feature": name,
                "psi": psi,
                "level": psi_level(psi),
                "kind": "categorical" if is_cat else "numeric",
                "reference_mean": np.nan
                if is_cat
                else float(pd.to_numeric(ref, errors="coerce").mean()),
                "current_mean": np.nan
                if is_cat
                else float(pd.to_numeric(cur, errors="coerce").mean()),
                "reference_missing_pct": float(ref.isna().mean() * 100),
                "current_missing_pct": float(cur.isna().mean() * 100),
            }
        )
    out = (
        pd.DataFrame(rows).set_index("feature")
        if rows
        else pd.DataFrame(
            columns=[
                "psi",
                "level",
                "kind",
                "reference_mean",
                "current_mean",
                "reference_missing_pct",
                "current_missing_pct",
            ]
        ).rename_axis("feature")
    )
    return out.sort_values("psi", ascending=False, kind="stable")


def score_histogram(reference: ArrayLike, current: ArrayLike, *, bins: int = 10) -> pd.DataFrame:
    """Shares of two score samples in the reference's quantile bins (for plots and tables).

    Returns
    -------
    DataFrame
        One row per bin: ``low`` and ``high`` (bin bounds, score units; the outer bins
        are bounded by the smallest and largest value seen), ``reference_pct`` and
        ``current_pct`` (percent of each sample).
    """
    ref = np.asarray(reference, dtype="float64")
    cur = np.asarray(current, dtype="float64")
    edges = numeric_edges(ref, bins=bins)
    both = np.concatenate([ref[np.isfinite(ref)], cur[np.isfinite(cur)]])
    lo, hi = (float(both.min()), float(both.max())) if both.size else (0.0, 1.0)
    bounds = np.concatenate([[lo], edges, [hi]])
    return pd.DataFrame(
        {
            "low": bounds[:-1],
            "high": bounds[1:],
            "reference_pct": numeric_shares(ref, edges)[:-1] * 100,
            "current_pct": numeric_shares(cur, edges)[:-1] * 100,
        }
    )
