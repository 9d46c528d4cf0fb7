"""Budgeted campaign selection: whom to send their offer so the campaign pays most.

Each customer's chosen offer (from :func:`serving.policy.decide.decide`) is an item with a
cost and an expected net value; under a budget, choosing the targets is a 0/1
knapsack. :func:`select_campaign` solves it with the greedy heuristic and its classic
½-approximation fix (see its docstring), vectorised with numpy. :func:`write_targets_csv`
writes the target list for marketing tools, atomically.

This module is pure apart from :func:`write_targets_csv`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from features.contract.errors import ConfigError
from features.contract.schema import CUSTOMER_ID
from features.io.atomic import atomic_write
from serving.policy.catalog import CHURN_PROBABILITY, PREDICTED_LTV
from serving.policy.decide import require_columns

__all__ = [
    "CANDIDATE_COLUMNS",
    "TARGET_COLUMNS",
    "Campaign",
    "Strategy",
    "fill_budget",
    "select_campaign",
    "write_targets_csv",
]

_CHOICE_COLUMNS: tuple[str, ...] = (
    CUSTOMER_ID,
    "offer_id",
    "offer_cost",
    "expected_value",
    CHURN_PROBABILITY,
    PREDICTED_LTV,
)
"""A customer, their chosen offer and what it is worth: the head of both tables below."""

CANDIDATE_COLUMNS: tuple[str, ...] = (*_CHOICE_COLUMNS, "uplift")
"""Columns :func:`select_campaign` needs: one row per customer and their chosen offer."""

TARGET_COLUMNS: tuple[str, ...] = (*_CHOICE_COLUMNS, "rank")
"""Columns of :attr:`Campaign.targets`, in order."""

Strategy = Literal["ratio_greedy", "value_greedy", "best_single"]
"""Which candidate selection won (see :func:`select_campaign`)."""


@dataclass(frozen=True, eq=False)
class Campaign:
    """The customers to target and what the campaign is expected to bring.

    Attributes
    ----------
    targets : pandas.DataFrame
        One row per targeted customer, columns :data:`TARGET_COLUMNS`; ``rank`` 1 is the
        first pick (cut from the bottom if the budget shrinks).
    budget : float
        The budget the campaign was selected under, currency units.
    strategy : {"ratio_greedy", "value_greedy", "best_single"}
        Which candidate selection was kept.
    customers_targeted : int
        Number of targets.
    total_cost : float
        Σ offer cost, currency units; never above ``budget``.
    expected_net_value : float
        Σ expected value (p × uplift × LTV − cost), currency units.
    expected_customers_saved : float
        Σ p × uplift: churners expected to be kept.
    expected_revenue_saved : float
        Σ p × uplift × LTV, currency units over the LTV horizon, before offer costs.
    """

    targets: pd.DataFrame
    budget: float
    strategy: Strategy
    customers_targeted: int
    total_cost: float
    expected_net_value: float
    expected_customers_saved: float
    expected_revenue_saved: float

    def summary(self) -> dict[str, float | int | str]:
        """The summary figures as a plain dict (for reports and JSON)."""
        return {
            "budget": self.budget,
            "strategy": self.strategy,
            "customers_targeted": self.customers_targeted,
            "total_cost": self.total_cost,
            "expected_net_value": self.expected_net_value,
            "expected_customers_saved": self.expected_customers_saved,
            "expected_revenue_saved": self.expected_revenue_saved,
        }


def select_campaign(scores: pd.DataFrame, *, budget: float) -> Campaign:
    """Choose whom to target to maximise total expected net value within a budget.

    Only rows with a positive ``expected_value`` (and an offer) are candidates, each a
    knapsack item of weight ``offer_cost`` and value ``expected_value``. Three candidate
    selections are built and the one of highest total value kept (ties in this order):

    1. ``ratio_greedy``: items by value per unit cost, highest first (zero-cost items
       with positive value first of all), each taken if it still fits, skipped if not.
    2. ``value_greedy``: the same, by value alone (the naive "top expected value" list),
       so the result is never worse than it.
    3. ``best_single``: the single most valuable item that fits on its own, then the
       rest filled as in 1. This is the classic fix that makes greedy a
       ½-approximation: the result is at least half the best possible total.

    Ties in any ordering go to the higher value, then the cheaper item, then row order,
    so the result is deterministic. Each greedy pass is vectorised: a cumulative sum
    takes the longest prefix that fits, the first item that does not fit is skipped,
    items dearer than the remaining budget are dropped, and this repeats; with a
    catalog's few distinct costs it needs only a handful of passes. A final guard drops
    the last picks if rounding ever put the exact (``math.fsum``) total above budget.

    Parameters
    ----------
    scores : pandas.DataFrame
        One row per customer, columns :data:`CANDIDATE_COLUMNS`: ``customer_id``,
        ``offer_id`` (None/NA for no offer), ``offer_cost`` and ``expected_value``
        (currency units), ``churn_probability`` (0–1), ``predicted_ltv`` (currency
        units) and ``uplift`` (0–1) of the offer. The uplift is taken from this column,
        not looked up in a catalog, so the function needs nothing else; build it with
        ``decisions["offer_id"].map({o.id: o.uplift for o in catalog.offers})``.
    budget : float
        Most the campaign may cost, currency units, ≥ 0; ``math.inf`` for no limit.
        With 0 only zero-cost offers are made.

    Returns
    -------
    Campaign

    Raises
    ------
    ConfigError
        When ``budget`` is negative or NaN, a column is missing (all are named), a
        customer appears twice among the candidates, or a candidate's cost,
        probability, LTV or uplift is not a finite number (cost ≥ 0).

    Examples
    --------
    >>> decisions = decide(customers, catalog)
    >>> scores = decisions.assign(
    ...     churn_probability=customers["churn_probability"],
    ...     predicted_ltv=customers["predicted_ltv"],
    ...     uplift=decisions["offer_id"].map({o.id: o.uplift for o in catalog.offers}),
    ... )
    >>> campaign = select_campaign(scores, budget=5_000)  # doctest: +SKIP
    """
    if not _is_number(budget) or math.isnan(budget) or budget < 0:
        raise ConfigError("budget", budget, "a number ≥ 0 (currency units; inf for no limit)")
    budget = float(budget)
    require_columns(scores, CANDIDATE_COLUMNS, what="scores")
    values = _column(scores, "expected_value")
    candidates = scores.loc[(values > 0) & scores["offer_id"].notna().to_numpy()]
    cost = _column(candidates, "offer_cost")
    value = _column(candidates, "expected_value")
    p = _column(candidates, CHURN_PROBABILITY)
    ltv = _column(candidates, PREDICTED_LTV)
    uplift = _column(candidates, "uplift")
    _check(candidates, "offer_cost", cost, np.isfinite(cost) & (cost >= 0), "a number ≥ 0")
    for name, column in ((CHURN_PROBABILITY, p), (PREDICTED_LTV, ltv), ("uplift", uplift)):
        _check(candidates, name, column, np.isfinite(column), "a finite number")
    duplicated = candidates[CUSTOMER_ID].duplicated()
    if duplicated.any():
        raise ConfigError(
            f"scores column {CUSTOMER_ID}",
            candidates.loc[duplicated.to_numpy(), CUSTOMER_ID].head(5).tolist(),
            "one row per customer, each with their chosen offer (as from decide())",
        )

    picks, strategy = _select(cost, value, budget)
    targets = candidates.iloc[picks][list(_CHOICE_COLUMNS)].reset_index(drop=True)
    targets["rank"] = np.arange(1, len(picks) + 1)
    return Campaign(
        targets=targets,
        budget=budget,
        strategy=strategy,
        customers_targeted=len(picks),
        total_cost=math.fsum(cost[picks]),
        expected_net_value=math.fsum(value[picks]),
        expected_customers_saved=math.fsum(p[picks] * uplift[picks]),
        expected_revenue_saved=math.fsum(p[picks] * uplift[picks] * ltv[picks]),
    )


def _is_number(x: object) -> bool:
    return isinstance(x, int | float | np.integer | np.floating) and not isinstance(x, bool)


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    try:
        return pd.to_numeric(frame[name]).to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"scores column {name}", frame[name].head(5).tolist(), "numbers") from e


def _check(
    frame: pd.DataFrame, name: str, values: np.ndarray, ok: np.ndarray, expected: str
) -> None:
    if not ok.all():
        ids = frame[CUSTOMER_ID].to_numpy()[~ok][:5].tolist()
        bad = int((~ok).sum())
        raise ConfigError(
            f"scores column {name}",
            values[~ok][:5].tolist(),
            f"{expected} for every customer with a positive-value offer; {bad} "
            f"row{'s are' if bad != 1 else ' is'} not (customer_id {', '.join(map(str, ids))})",
        )


def _select(cost: np.ndarray, value: np.ndarray, budget: float) -> tuple[np.ndarray, Strategy]:
    """Positions of the chosen items in pick order, and the strategy that won."""
    position = np.arange(cost.size)
    with np.errstate(divide="ignore", over="ignore"):  # tiny costs: ratio inf
        ratio = np.where(cost > 0, value / np.where(cost > 0, cost, 1.0), np.inf)
    by_ratio = np.lexsort((position, cost, -value, -ratio))
    by_value = np.lexsort((position, cost, -value))
    solutions: list[tuple[Strategy, np.ndarray]] = [
        ("ratio_greedy", fill_budget(by_ratio, cost, budget)),
        ("value_greedy", fill_budget(by_value, cost, budget)),
    ]
    fits = by_value[cost[by_value] <= budget]
    if fits.size:
        single = fits[0]  # most valuable item that fits alone (ties: cheaper, row order)
        rest = by_ratio[by_ratio != single]
        fill = fill_budget(rest, cost, budget - cost[single])
        solutions.append(("best_single", np.concatenate([[single], fill])))
    totals = [math.fsum(value[picks]) for _, picks in solutions]
    strategy, picks = solutions[int(np.argmax(totals))]  # first maximum: listed order
    while picks.size and math.fsum(cost[picks]) > budget:  # rounding guard, see docstring
        picks = picks[:-1]
    return picks, strategy


def fill_budget(order: np.ndarray, cost: np.ndarray, budget: float) -> np.ndarray:
    """Items of ``order`` taken in turn while they fit in ``budget``; skipped when not.

    The one-by-one loop (same picks up to rounding of the running total) in vectorised
    passes: take the longest prefix whose cumulative cost fits, skip the next item, drop
    the items dearer than what is left, repeat.
    """
    taken: list[np.ndarray] = []
    left = budget
    remaining = order
    while remaining.size:
        remaining = remaining[cost[remaining] <= left]
        if not remaining.size:
            break
        spent = np.cumsum(cost[remaining])
        k = int(np.searchsorted(spent, left, side="right"))  # ≥ 1: the first item fits
        taken.append(remaining[:k])
        left = max(left - float(spent[k - 1]), 0.0)
        remaining = remaining[k + 1 :]
    return np.concatenate(taken) if taken else np.zeros(0, dtype=np.intp)


def write_targets_csv(
    campaign: Campaign, path: str | os.PathLike[str], *, mkdir: bool = False
) -> Path:
    """Write the campaign's targets to a CSV file, atomically.

    The rows go to a temporary file in the same folder, which is then renamed over
    ``path`` (:func:`features.io.atomic.atomic_write`): readers see the old file or the
    whole new one, never a partial file, and a failed write leaves no trace.

    Parameters
    ----------
    campaign : Campaign
        From :func:`select_campaign`; its ``targets`` are written without the index,
        columns :data:`TARGET_COLUMNS`.
    path : path
        The CSV file to create or replace.
    mkdir : bool, default False
        Make missing parent folders (else a missing folder is an error).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    OutputError
        Naming ``path`` when its folder is missing (without ``mkdir``), cannot be made
        or written to, or ``path`` is a folder.
    """
    with (
        atomic_write(path, mkdir=mkdir) as tmp,
        open(tmp, "w", encoding="utf-8", newline="") as fh,
    ):
        campaign.targets.to_csv(fh, index=False)
    return Path(path)
