"""The retention offer policy: which offer, if any, each customer should get, and why.

An offer catalog (``offers.toml``) lists the retention levers with their cost and
assumed uplift and who may get them. For a customer with churn probability ``p``
(over the churn horizon) and predicted lifetime value ``LTV`` (currency units over the
LTV horizon), an offer's expected net value is

    expected_value = p × uplift × LTV − cost      (currency units)

where ``uplift`` is the share of would-be churners the offer keeps (the absolute drop
in churn probability of an at-risk customer who accepts). Its **source** is the
catalog's constant per offer, or, when an ``offer-uplift`` model is champion, the
model's learned per-customer drop in churn probability ``tau`` (:class:`LearnedUplift`):
then ``uplift = tau / p`` and ``expected_value = tau × LTV − cost`` (offers the model
has no history of keep the catalog's). Every decision names its ``uplift_source``:
``"catalog"`` or ``"model:<version>"``. :func:`decide` picks, per
customer, the eligible offer with the highest positive expected value (ties: the
cheaper offer, then catalog order), vectorised over a customers × offers matrix for the
batch scorer. :func:`explain` gives the same decision for one customer with every
offer's value and, for the ineligible ones, the reason, for the HTTP ``offer`` endpoint.
Both share one computation, so they always agree.

This module is pure; the catalog and its loading are in :mod:`serving.policy.catalog`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.contract.errors import ConfigError
from features.contract.schema import CUSTOMER_ID
from serving.policy.bands import ArrayLike, Population, band, value_segment
from serving.policy.catalog import (
    CHURN_PROBABILITY,
    CONTRACT_TYPE,
    DAYS_TO_BIRTHDAY,
    LOYALTY_TIER,
    OPEN_TICKETS,
    ORDER_VALUE,
    PREDICTED_LTV,
    REQUIRED_COLUMNS,
    RISK_BANDS,
    STATUS,
    OfferCatalog,
)

__all__ = [
    "CATALOG_SOURCE",
    "LearnedUplift",
    "decide",
    "expected_value",
    "require_columns",
]


CATALOG_SOURCE = "catalog"
"""``uplift_source`` of a decision made with the catalog's constant uplift."""


@dataclass(frozen=True)
class LearnedUplift:
    """Per-customer effect of each offer, from the ``offer-uplift`` model.

    Attributes
    ----------
    reduction : numpy.ndarray of float, shape (n, k)
        Drop in churn probability over the churn horizon each offer brings, absolute
        (0.03 = 3 points), rows aligned with the customers decided on.
    offers : tuple of str
        Offer ids of the ``k`` columns.
    source : str
        ``"model:<version>"``.
    """

    reduction: np.ndarray
    offers: tuple[str, ...]
    source: str


# --------------------------------------------------------------------------------------
# Bands, segments, expected value


def expected_value(
    churn_probability: ArrayLike, uplift: ArrayLike, predicted_ltv: ArrayLike, cost: ArrayLike
) -> np.ndarray:
    """Expected net value of making an offer: ``p × uplift × LTV − cost``.

    Arguments broadcast as numpy arrays do; pass ``p[:, None]`` and ``uplift[None, :]``
    for a customers × offers matrix.

    Parameters
    ----------
    churn_probability : array_like of float
        Probability of churning within the churn horizon, 0–1.
    uplift : array_like of float
        Share of would-be churners the offer keeps, 0–1.
    predicted_ltv : array_like of float
        Predicted net spend over the LTV horizon, currency units.
    cost : array_like of float
        Cost of the offer, currency units.

    Returns
    -------
    numpy.ndarray of float
        Expected value, currency units; negative when the offer costs more than it saves.
    """
    p = np.asarray(churn_probability, dtype=float)
    return p * np.asarray(uplift, dtype=float) * np.asarray(predicted_ltv, dtype=float) - (
        np.asarray(cost, dtype=float)
    )


# --------------------------------------------------------------------------------------
# Decisions


def require_columns(frame: pd.DataFrame, columns: Sequence[str], *, what: str) -> None:
    """Check that ``frame`` has ``columns``.

    Raises
    ------
    ConfigError
        Naming every missing column and what ``frame`` is (``what``).
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigError(
            f"{what} (missing columns)", missing, f"a frame with columns {', '.join(columns)}"
        )


@dataclass(frozen=True)
class Assessment:
    """Every offer's value and eligibility for every customer (n customers, m offers)."""

    p: np.ndarray  # (n,) float, churn probability
    risk: np.ndarray  # (n,) object
    risk_floor: float  # churn probability from which offers may be made (offer_from)
    segment: np.ndarray  # (n,) object
    ltv: np.ndarray  # (n,) float
    order_value: np.ndarray  # (n,) float, NaN when unknown
    tier: pd.Series  # (n,) string, NA when unknown
    contract: pd.Series  # (n,) string, NA when unknown
    tickets: np.ndarray  # (n,) float, NaN when unknown
    birthday: np.ndarray  # (n,) float, days to the next birthday, NaN when unknown
    status: pd.Series  # (n,) string, NA when unknown
    share: np.ndarray  # (n, m) float, uplift: share of would-be churners kept
    learned: np.ndarray  # (m,) bool, the offer's uplift comes from the model
    source: str  # the model's uplift_source, or CATALOG_SOURCE
    cost: np.ndarray  # (n, m) float, currency units (NaN: order value unknown)
    value: np.ndarray  # (n, m) float, expected value
    rules: dict[str, np.ndarray]  # rule -> (n, m) bool, True where the rule allows
    eligible: np.ndarray  # (n, m) bool


RULES = (
    "risk",
    "segments",
    "tiers",
    "min_ltv",
    "contract_types",
    "min_open_tickets",
    "statuses",
    "max_days_to_birthday",
    "order_value",
)
"""Eligibility rules, in the order :func:`explain` states them."""


def _numeric(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    try:
        return pd.to_numeric(frame[column]).to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as e:
        examples = frame[column].head(5).tolist()
        raise ConfigError(column, examples, f"numbers ({e})") from e


def _check_range(
    frame: pd.DataFrame, column: str, values: np.ndarray, bad: np.ndarray, expected: str
) -> None:
    if bad.any():
        ids = frame[CUSTOMER_ID].to_numpy()[bad][:5].tolist()
        raise ConfigError(
            column,
            values[bad][:5].tolist(),
            f"{expected}; {int(bad.sum())} of {len(values)} rows are not (customer_id "
            f"{', '.join(map(str, ids))})",
        )


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(pd.NA, index=range(len(frame)), dtype="string")
    return frame[column].astype("string").reset_index(drop=True)


def _shares(
    p: np.ndarray, catalog: OfferCatalog, uplift: LearnedUplift | None
) -> tuple[np.ndarray, np.ndarray]:
    """Uplift (share kept) per customer and offer, (n, m), and which offers are learned."""
    offers = catalog.offers
    share = np.tile(np.array([o.uplift for o in offers], dtype=float), (p.size, 1))
    learned = np.zeros(len(offers), dtype=bool)
    if uplift is None:
        return share, learned
    for j, offer in enumerate(offers):
        if offer.id in uplift.offers:
            tau = np.asarray(uplift.reduction, dtype=float)[:, uplift.offers.index(offer.id)]
            ratio = np.divide(tau, p, out=np.zeros_like(tau), where=p > 0)
            share[:, j] = np.clip(ratio, -1.0, 1.0)
            learned[j] = True
    return share, learned


def assess(
    customers: pd.DataFrame,
    catalog: OfferCatalog,
    uplift: LearnedUplift | None = None,
    population: Population | None = None,
) -> Assessment:
    require_columns(customers, REQUIRED_COLUMNS, what="customers")
    p = _numeric(customers, CHURN_PROBABILITY)
    ltv = _numeric(customers, PREDICTED_LTV)
    _check_range(customers, CHURN_PROBABILITY, p, ~((p >= 0) & (p <= 1)), "probabilities in [0, 1]")
    _check_range(customers, PREDICTED_LTV, ltv, ~np.isfinite(ltv), "finite numbers")
    if population is None:
        population = Population.of(p, ltv)
    tier, contract = _text(customers, LOYALTY_TIER), _text(customers, CONTRACT_TYPE)
    tickets, birthday = _numeric(customers, OPEN_TICKETS), _numeric(customers, DAYS_TO_BIRTHDAY)
    order_value = _numeric(customers, ORDER_VALUE)
    segment = value_segment(ltv, catalog.segments, population)
    risk_cuts = catalog.risk.cut_points(population)
    risk = band(p, risk_cuts, RISK_BANDS)
    risk_floor = (0.0, *risk_cuts)[RISK_BANDS.index(catalog.risk.offer_from)]
    status = _text(customers, STATUS)

    offers = catalog.offers
    n, m = len(customers), len(offers)
    share, learned = _shares(p, catalog, uplift)
    cost = np.column_stack([o.costs(order_value, ltv) for o in offers]) if m else np.zeros((n, 0))
    value = expected_value(p[:, None], share, ltv[:, None], cost)

    rules = {rule: np.ones((n, m), dtype=bool) for rule in RULES}
    rules["risk"][:] = (p >= risk_floor)[:, None]
    segment_series = pd.Series(segment, dtype="string")
    for j, offer in enumerate(offers):
        if offer.segments is not None:
            rules["segments"][:, j] = segment_series.isin(offer.segments).to_numpy()
        if offer.tiers is not None:
            rules["tiers"][:, j] = tier.isin(offer.tiers).to_numpy(dtype=bool, na_value=False)
        if offer.contract_types is not None:
            rules["contract_types"][:, j] = contract.isin(offer.contract_types).to_numpy(
                dtype=bool, na_value=False
            )
        rules["min_ltv"][:, j] = ltv >= offer.min_ltv
        if offer.min_open_tickets is not None:
            rules["min_open_tickets"][:, j] = tickets >= offer.min_open_tickets
        if offer.statuses is not None:
            rules["statuses"][:, j] = status.isin(offer.statuses).to_numpy(
                dtype=bool, na_value=False
            )
        if offer.max_days_to_birthday is not None:
            rules["max_days_to_birthday"][:, j] = birthday <= offer.max_days_to_birthday
        rules["order_value"][:, j] = np.isfinite(cost[:, j])
    eligible = np.logical_and.reduce(list(rules.values())) if m else np.ones((n, 0), bool)
    return Assessment(
        p=p,
        risk=risk,
        risk_floor=risk_floor,
        segment=segment,
        ltv=ltv,
        order_value=order_value,
        tier=tier,
        contract=contract,
        tickets=tickets,
        birthday=birthday,
        status=status,
        share=share,
        learned=learned,
        source=CATALOG_SOURCE if uplift is None else uplift.source,
        cost=cost,
        value=value,
        rules=rules,
        eligible=eligible,
    )


def choose(assessment: Assessment, catalog: OfferCatalog) -> tuple[np.ndarray, np.ndarray]:
    """Per customer: whether an offer is chosen, and its column (valid where chosen)."""
    n, m = assessment.value.shape
    candidate = assessment.eligible & (assessment.value > 0)
    if m == 0:
        return np.zeros(n, dtype=bool), np.zeros(n, dtype=np.intp)
    # the best value; exact ties: the cheaper offer for this customer, then catalog order
    order = np.lexsort(
        (
            np.broadcast_to(np.arange(m), (n, m)),
            assessment.cost,
            -np.where(candidate, assessment.value, -np.inf),
        ),
        axis=1,
    )
    return candidate.any(axis=1), order[:, 0]


NO_OFFER_KINDS = ("low risk", "not eligible", "none pays", "cancelled")
"""Kinds of ``no_offer_reason``: the text before its colon."""


def _no_offer_reasons(a: Assessment, catalog: OfferCatalog, chosen: np.ndarray) -> np.ndarray:
    """One line per customer without an offer saying why (None where one was chosen)."""
    out = np.full(len(chosen), None, dtype=object)
    if not catalog.offers:
        out[~chosen] = "not eligible: the catalog has no offers"
        return out
    low = ~chosen & ~a.rules["risk"][:, 0]
    for i in np.flatnonzero(low):
        out[i] = (
            f"low risk: churn probability {a.p[i]:.3f} is below the "
            f"{catalog.risk.offer_from} band (from {a.risk_floor:.3f})"
        )
    blocked = ~chosen & ~low & ~a.eligible.any(axis=1)
    for i in np.flatnonzero(blocked):
        rules = [r for r in RULES if not a.rules[r][i].any()] or [
            r for r in RULES if not a.rules[r][i].all()
        ]
        out[i] = f"not eligible: no offer's rules fit ({', '.join(rules)})"
    unpaid = ~chosen & ~low & ~blocked
    values = np.where(a.eligible, a.value, -np.inf)
    for i in np.flatnonzero(unpaid):
        j = int(np.argmax(values[i]))
        out[i] = (
            f"none pays: best is {catalog.offers[j].id} at {a.value[i, j]:,.2f} "
            f"(p {a.p[i]:.3f} × uplift {a.share[i, j]:.3f} × LTV {a.ltv[i]:,.2f} "
            f"< cost {a.cost[i, j]:,.2f})"
        )
    return out


def decide(
    customers: pd.DataFrame,
    catalog: OfferCatalog,
    *,
    uplift: LearnedUplift | None = None,
    population: Population | None = None,
) -> pd.DataFrame:
    """The best retention offer (or none) for each customer, and why none.

    For every customer × offer pair the cost (fixed, or relative to the customer's
    order value or LTV), the expected value ``p × uplift × LTV − cost`` and the offer's
    eligibility rules are computed (customers below the catalog's ``offer_from`` risk
    band are eligible for nothing); each customer gets the eligible offer of highest
    positive expected value. Exact ties go to the cheaper offer, then to the one listed
    first in the catalog. Vectorised: no Python loop over customers with an offer.

    Parameters
    ----------
    customers : pandas.DataFrame, shape (n, ...)
        One row per customer: ``customer_id``, ``churn_probability`` (0–1, over the
        churn horizon), ``predicted_ltv`` (currency units over the LTV horizon) and
        optionally ``loyalty_tier``, ``contract_type``, ``open_tickets``,
        ``days_to_birthday``, ``order_value`` (average order value, currency units)
        and ``status``. A missing optional column, or NA in it, means unknown: offers
        whose rules or cost need that value are not eligible.
    catalog : OfferCatalog
        The offers, segments and risk bands, e.g. from :func:`load_catalog`.
    uplift : LearnedUplift, optional
        The ``offer-uplift`` model's per-customer effects (rows as ``customers``);
        None: every offer's uplift is the catalog's.
    population : Population, optional
        The reference population risk bands and value segments are cut on (the
        champion's, see :class:`~serving.policy.bands.Population`); default: these
        customers.

    Returns
    -------
    pandas.DataFrame, shape (n, 10)
        Same index as ``customers``; columns :data:`DECISION_COLUMNS`: ``customer_id``,
        ``risk_band``, ``value_segment``, ``offer_id`` and ``offer_name`` (object, None
        when no eligible offer has a positive expected value), ``offer_cost`` and
        ``expected_value`` (float, currency units; 0.0 when there is no offer),
        ``uplift`` (the chosen offer's share of would-be churners kept, NaN without an
        offer), ``uplift_source`` (``"catalog"`` or ``"model:<version>"``: the
        chosen offer's source; without an offer, the policy's) and ``no_offer_reason``
        (one line, its kind before the colon: low risk, not eligible, none pays; None
        with an offer).

    Raises
    ------
    ConfigError
        When a required column is missing, a probability is outside [0, 1] or NaN, or
        a predicted LTV is not finite.
    """
    assessment = assess(customers, catalog, uplift, population)
    chosen, best = choose(assessment, catalog)
    n, m = len(customers), len(catalog.offers)
    rows = np.arange(n)
    ids = np.array([o.id for o in catalog.offers] + [None], dtype=object)
    names = np.array([o.name for o in catalog.offers] + [None], dtype=object)
    pick = np.where(chosen, best, m)  # the extra slot means "no offer"
    if m:
        value = np.where(chosen, assessment.value[rows, best], 0.0)
        cost = np.where(chosen, assessment.cost[rows, best], 0.0)
        share = np.where(chosen, assessment.share[rows, best], np.nan)
        from_catalog = chosen & ~assessment.learned[best]
    else:
        value, cost, share = np.zeros(n), np.zeros(n), np.full(n, np.nan)
        from_catalog = np.zeros(n, bool)
    source = np.where(from_catalog, CATALOG_SOURCE, assessment.source).astype(object)
    index = customers.index
    return pd.DataFrame(
        {
            CUSTOMER_ID: customers[CUSTOMER_ID].array,
            "risk_band": assessment.risk,
            "value_segment": assessment.segment,
            "offer_id": pd.Series(ids[pick], index=index, dtype=object),
            "offer_name": pd.Series(names[pick], index=index, dtype=object),
            "offer_cost": cost,
            "expected_value": value,
            "uplift": share,
            "uplift_source": source,
            "no_offer_reason": pd.Series(
                _no_offer_reasons(assessment, catalog, chosen), index=index, dtype=object
            ),
        },
        index=index,
    )
