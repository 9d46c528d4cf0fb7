"""Targeting policies compared on a held-out campaign: who is kept per unit of budget.

Four policies choose (customer, offer) pairs under the same budget, among the same
customers (those of the held-out campaign who got no offer then, so their outcome is
the untreated one):

- ``random``: customers in random order, each with the catalog policy's offer, while
  the budget lasts;
- ``top_churn``: the same offers, highest churn probability first;
- ``top_expected_value``: today's campaign, :func:`select_campaign` on the catalog's
  expected value ``p × uplift × LTV − cost``;
- ``top_uplift``: by the ``offer-uplift`` model's learned drop in churn probability
  ``tau``: each customer's eligible offer with the most ``tau`` per unit of cost
  (``tau`` > 0), then :func:`select_campaign` with ``tau`` as the item's value, so the
  budget buys the most incremental customers the model expects. (The served policy
  ranks by incremental *value*, ``tau × LTV − cost``; here the question is customers
  kept per unit of budget.)

Each policy's ``customers_saved`` is Σ over its targets of the offer's incremental
effect on that customer: on generated data the **true** one from the generator's
planted effects (:func:`features.synthetic.offer_truth.true_saves`, ``evaluation = "truth"``);
on real history the uplift model's estimate ``tau`` (``evaluation = "estimate"``:
honest only as far as the model is). ``net_value`` = Σ saved × predicted LTV − cost.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from features.contract.load import Tables
from features.contract.schema import CUSTOMER_ID
from features.families.population import status_in_features
from features.synthetic.offer_truth import true_saves
from serving.batch.campaign import fill_budget, select_campaign
from serving.policy.catalog import (
    CHURN_PROBABILITY,
    OPTIONAL_COLUMNS,
    ORDER_VALUE,
    PREDICTED_LTV,
    OfferCatalog,
    order_value,
)
from serving.policy.decide import LearnedUplift, assess, decide
from training.registry.registry import LoadedModel
from training.uplift_data import NO_OFFER, TREATMENT, uplift_rows

POLICIES: tuple[str, ...] = ("random", "top_churn", "top_expected_value", "top_uplift")
CATALOG_PER_COST = "catalog_per_cost"
"""Diagnostic policy: ``top_uplift``'s selection rule on the catalog's uplift."""
POLICY_COLUMNS: tuple[str, ...] = (
    "policy",
    "targeted",
    "cost",
    "customers_saved",
    "net_value",
    "saved_per_1000",
    "evaluation",
)
"""Columns of :func:`compare_policies` (``saved_per_1000``: customers saved per 1,000
currency units spent)."""


def _picks(
    customers: pd.DataFrame,
    catalog: OfferCatalog,
    uplift: LearnedUplift,
    *,
    budget: float,
    seed: int,
    diagnostics: bool = False,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per policy: positions of the targeted customers and the catalog column of their offer."""
    column = {o.id: j for j, o in enumerate(catalog.offers)}
    frame = customers.reset_index(drop=True)
    by_catalog = decide(frame, catalog)
    out = {}
    offered = np.flatnonzero(by_catalog["offer_id"].notna().to_numpy())
    cost = by_catalog["offer_cost"].to_numpy(dtype=float)
    p = frame[CHURN_PROBABILITY].to_numpy(dtype=float)
    rng = np.random.default_rng(seed)
    orders = {
        "random": rng.permutation(offered),
        "top_churn": offered[np.argsort(-p[offered], kind="stable")],
    }
    for name, order in orders.items():
        rows = fill_budget(order, cost, budget)
        out[name] = (rows, by_catalog["offer_id"].iloc[rows].map(column).to_numpy(dtype=int))
    scores = by_catalog.assign(
        **{CHURN_PROBABILITY: frame[CHURN_PROBABILITY], PREDICTED_LTV: frame[PREDICTED_LTV]}
    )
    chosen = select_campaign(scores, budget=budget)
    rows = pd.Index(frame[CUSTOMER_ID]).get_indexer(chosen.targets[CUSTOMER_ID])
    out["top_expected_value"] = (rows, chosen.targets["offer_id"].map(column).to_numpy())
    out["top_uplift"] = _top_uplift(frame, catalog, uplift, budget=budget)
    if diagnostics:
        out[CATALOG_PER_COST] = _top_uplift(frame, catalog, None, budget=budget)
    return out


def _top_uplift(
    frame: pd.DataFrame, catalog: OfferCatalog, uplift: LearnedUplift | None, *, budget: float
) -> tuple[np.ndarray, np.ndarray]:
    """``top_uplift``'s picks: most learned ``tau`` per unit of cost, knapsack on ``tau``.

    With ``uplift`` None, the same selection on the catalog's ``tau = p × uplift``.
    """
    a = assess(frame, catalog, uplift)
    p = frame[CHURN_PROBABILITY].to_numpy(dtype=float)
    tau = a.share * p[:, None]  # the learned drop (catalog p × uplift where not learned)
    cost = np.nan_to_num(a.cost, nan=np.inf)  # (n, m): per customer; unknown: ineligible
    with np.errstate(divide="ignore", invalid="ignore"):
        per_cost = np.where(cost > 0, tau / np.where(cost > 0, cost, 1.0), np.inf)
    per_cost = np.where(a.eligible & (tau > 0), per_cost, -np.inf)
    best = np.argmax(per_cost, axis=1)
    rows = np.arange(len(frame))
    has = per_cost[rows, best] > -np.inf
    items = pd.DataFrame(
        {
            CUSTOMER_ID: frame[CUSTOMER_ID],
            "offer_id": np.where(has, np.array(catalog.ids, dtype=object)[best], None),
            "offer_cost": np.where(has, cost[rows, best], 0.0),
            "expected_value": np.where(has, tau[rows, best], 0.0),
            CHURN_PROBABILITY: p,
            PREDICTED_LTV: frame[PREDICTED_LTV],
            "uplift": a.share[rows, best],
        }
    )
    chosen = select_campaign(items, budget=budget)
    picked = pd.Index(frame[CUSTOMER_ID]).get_indexer(chosen.targets[CUSTOMER_ID])
    return picked, best[picked]


def compare_policies(
    customers: pd.DataFrame,
    catalog: OfferCatalog,
    uplift: LearnedUplift,
    *,
    budget: float,
    saved: np.ndarray | None = None,
    seed: int = 0,
    diagnostics: bool = False,
) -> pd.DataFrame:
    """Evaluate the four policies on one held-out campaign (see the module doc).

    Parameters
    ----------
    customers : pandas.DataFrame, shape (n, ...)
        One row per customer: ``customer_id``, ``churn_probability``,
        ``predicted_ltv`` and the offer inputs (``loyalty_tier``, ``contract_type``,
        ``open_tickets``, ``status``) as :func:`decide` reads them.
    catalog : OfferCatalog
    uplift : LearnedUplift
        The uplift model's effects for ``customers`` (rows aligned).
    budget : float
        Most each policy may spend, currency units.
    saved : numpy.ndarray, shape (n, len(catalog.offers)), optional
        True incremental saves per customer and catalog offer (generated data); None:
        the model's estimate.
    seed : int, default 0
        Order of the ``random`` policy.
    diagnostics : bool, default False
        Add a row :data:`CATALOG_PER_COST`: ``top_uplift``'s selection with the
        catalog's constant uplift, to tell the learned effects' share of its margin
        from that of ranking by effect per unit of cost.

    Returns
    -------
    pandas.DataFrame
        One row per policy of :data:`POLICIES`, columns :data:`POLICY_COLUMNS`.
    """
    frame = customers.reset_index(drop=True)
    evaluation = "truth" if saved is not None else "estimate"
    if saved is None:
        saved = _estimated(frame, catalog, uplift)
    cost = np.nan_to_num(assess(frame, catalog, uplift).cost)  # (n, m): per customer
    ltv = frame[PREDICTED_LTV].to_numpy(dtype=float)
    rows = []
    picks = _picks(frame, catalog, uplift, budget=budget, seed=seed, diagnostics=diagnostics)
    for name, (who, offer) in picks.items():
        kept = saved[who, offer] if who.size else np.zeros(0)
        spent = math.fsum(cost[who, offer]) if who.size else 0.0
        rows.append(
            {
                "policy": name,
                "targeted": int(who.size),
                "cost": spent,
                "customers_saved": math.fsum(kept),
                "net_value": math.fsum(kept * ltv[who]) - spent,
                "saved_per_1000": 1000 * math.fsum(kept) / spent if spent else 0.0,
                "evaluation": evaluation,
            }
        )
    return pd.DataFrame(rows, columns=list(POLICY_COLUMNS))


def _estimated(frame: pd.DataFrame, catalog: OfferCatalog, uplift: LearnedUplift) -> np.ndarray:
    """The model's ``tau`` per customer and catalog offer; the catalog's ``p × uplift``
    for offers the model has no history of."""
    p = frame[CHURN_PROBABILITY].to_numpy(dtype=float)
    out = np.empty((len(frame), len(catalog.offers)))
    for j, offer in enumerate(catalog.offers):
        if offer.id in uplift.offers:
            out[:, j] = uplift.reduction[:, uplift.offers.index(offer.id)]
        else:
            out[:, j] = p * offer.uplift
    return out


def total(results: list[pd.DataFrame]) -> pd.DataFrame:
    """Sum per-campaign :func:`compare_policies` tables into one (per-1,000 recomputed)."""
    frame = pd.concat(results, ignore_index=True)
    out = frame.groupby("policy", sort=False)[["targeted", "cost", "customers_saved", "net_value"]]
    out = out.sum().reset_index()
    out["saved_per_1000"] = np.where(
        out["cost"] > 0, 1000 * out["customers_saved"] / out["cost"].where(out["cost"] > 0), 0.0
    )
    out["evaluation"] = frame["evaluation"].iloc[0] if len(frame) else "estimate"
    return out[list(POLICY_COLUMNS)]


def held_out_cutoffs(uplift: LoadedModel) -> list[pd.Timestamp]:
    """The held-out campaign cutoffs of an ``offer-uplift`` version (its tags)."""
    text = uplift.tags.get("validation_cutoffs") or uplift.tags.get("validation_cutoff", "")
    return [pd.Timestamp(day, tz="UTC") for day in text.split(",") if day]


def compare_on_history(
    tables: Tables,
    catalog: OfferCatalog,
    *,
    uplift: LoadedModel,
    predict_ltv: Callable[[pd.DataFrame], np.ndarray],
    budget: float,
    ground_truth: pd.DataFrame | None = None,
    seed: int = 0,
    diagnostics: bool = False,
) -> pd.DataFrame:
    """:func:`compare_policies` on each held-out campaign of ``uplift``, summed.

    The held-out campaigns are the uplift version's own (tag ``validation_cutoffs``),
    so its *validated* model (fitted on earlier campaigns only) supplies both ``tau``
    and the churn probability ``P(churn | no offer)``; ``predict_ltv`` the predicted
    LTV (the CLI passes the LTV champion's validated model). Customers are those
    active at each campaign cutoff who got no offer in its window. The budget applies
    to each campaign.

    Parameters
    ----------
    tables : Tables
    catalog : OfferCatalog
    uplift : LoadedModel
        An ``offer-uplift`` version (its ``validated`` model and tags are used).
    predict_ltv : callable
        Feature rows (as of the campaign cutoff) → predicted LTV, currency units, (n,).
        The rows carry no BTYD features: an LTV model that reads them adds its own
        (the CLI passes the LTV champion's validated ``predict``).
    budget : float
        Per campaign, currency units.
    ground_truth : pandas.DataFrame, optional
        The generator's ``ground_truth.parquet``: evaluate by the true effects.
    seed : int, default 0

    Returns
    -------
    pandas.DataFrame
        :data:`POLICY_COLUMNS`, one row per policy, summed over the campaigns.
    """
    tags = uplift.tags
    horizon = int(tags.get("horizon_days", 90))
    active = tags.get("active_days", "90")
    model = uplift.validated
    cutoffs = held_out_cutoffs(uplift)
    rows = uplift_rows(
        tables,
        cutoffs,
        horizon_days=horizon,
        window_days=int(tags.get("window_days", 14)),
        active_days=None if active == "None" else int(active),
    )
    results = []
    for cutoff in cutoffs:
        part = rows[(rows["cutoff"] == cutoff) & (rows[TREATMENT] == NO_OFFER)]
        part = part.reset_index(drop=True)
        if part.empty:
            continue
        customers = pd.DataFrame(
            {
                CUSTOMER_ID: part[CUSTOMER_ID],
                CHURN_PROBABILITY: model.predict_untreated(part),
                PREDICTED_LTV: np.clip(predict_ltv(part), 0.0, None),
                "status": status_in_features(part),
            }
        )
        for column in OPTIONAL_COLUMNS:
            if column in part.columns:
                customers[column] = part[column]
        customers[ORDER_VALUE] = order_value(part)
        learned = LearnedUplift(
            model.predict(part), tuple(model.offers_), f"model:{uplift.version}"
        )
        saved = None
        if ground_truth is not None:
            saved = true_saves(ground_truth, part, catalog.ids, cutoff=cutoff, horizon_days=horizon)
        results.append(
            compare_policies(
                customers,
                catalog,
                learned,
                budget=budget,
                saved=saved,
                seed=seed,
                diagnostics=diagnostics,
            )
        )
    return total(results)
