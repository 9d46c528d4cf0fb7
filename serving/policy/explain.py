"""One customer's offer decision explained: every offer's value and, if ineligible, why.

The same computation as :func:`serving.policy.decide.decide`, so the two always agree;
the HTTP ``offer`` endpoint serves it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from features.contract.schema import CUSTOMER_ID
from serving.policy.bands import Population
from serving.policy.catalog import Offer, OfferCatalog
from serving.policy.decide import CATALOG_SOURCE, Assessment, LearnedUplift, assess, choose
from serving.policy.option import OfferOption

__all__ = [
    "OfferOption",
    "explain",
]


def explain(
    customer: Mapping[str, Any],
    catalog: OfferCatalog,
    *,
    uplift: LearnedUplift | None = None,
    population: Population | None = None,
) -> list[OfferOption]:
    """Every offer for one customer, best first, with values and ineligibility reasons.

    Shares :func:`decide`'s computation, so the first option is ``recommended`` exactly
    when :func:`decide` chooses an offer, and it is that offer.

    Parameters
    ----------
    customer : mapping
        One customer's ``churn_probability`` and ``predicted_ltv`` and optionally
        ``customer_id``, ``loyalty_tier``, ``contract_type``, ``open_tickets``,
        ``days_to_birthday`` (absent or
        None: unknown).
    catalog : OfferCatalog
        The offers, segments and risk bands.
    uplift : LearnedUplift, optional
        The ``offer-uplift`` model's effects for this customer (one row).
    population : Population, optional
        The reference population of the risk bands and value segments (the champion's);
        default: this one customer.

    Returns
    -------
    list of OfferOption
        One per catalog offer: eligible offers first, each group by expected value
        (highest first), then cost (lowest first), then catalog order.

    Raises
    ------
    ConfigError
        As :func:`decide`.
    """
    frame = pd.DataFrame([{CUSTOMER_ID: None, **customer}])
    assessment = assess(frame, catalog, uplift, population)
    chosen, best = choose(assessment, catalog)
    options = [
        (
            not assessment.eligible[0, j],
            -np.nan_to_num(assessment.value[0, j], nan=-np.inf),
            np.nan_to_num(assessment.cost[0, j], nan=np.inf),
            j,
            OfferOption(
                offer_id=offer.id,
                offer_name=offer.name,
                cost=_finite(assessment.cost[0, j]),
                uplift=float(assessment.share[0, j]),
                uplift_source=assessment.source if assessment.learned[j] else CATALOG_SOURCE,
                expected_value=_finite(assessment.value[0, j]),
                eligible=bool(assessment.eligible[0, j]),
                recommended=bool(chosen[0] and best[0] == j),
                reasons=_reasons(offer, assessment, j, catalog),
            ),
        )
        for j, offer in enumerate(catalog.offers)
    ]
    return [option for *_, option in sorted(options, key=lambda o: o[:4])]


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _reasons(offer: Offer, a: Assessment, j: int, catalog: OfferCatalog) -> list[str]:
    """Phrases for the rules offer ``j`` breaks for the one customer in ``a``, in this order."""
    phrases = {
        "risk": lambda: (
            f"needs {catalog.risk.offer_from} risk or higher (churn probability from "
            f"{a.risk_floor:.3f}), customer's is {a.p[0]:.3f} ({a.risk[0]})"
        ),
        "segments": lambda: (
            f"needs value segment {_either(offer.segments)}, customer is {a.segment[0]}"
        ),
        "tiers": lambda: _needs_one_of("loyalty tier", offer.tiers, a.tier[0], "tier"),
        "contract_types": lambda: _needs_one_of(
            "contract type", offer.contract_types, a.contract[0], "contract type"
        ),
        "min_ltv": lambda: (
            f"needs predicted LTV of at least {offer.min_ltv:g}, customer's is {a.ltv[0]:g}"
        ),
        "min_open_tickets": lambda: (
            f"needs at least {offer.min_open_tickets} open support "
            f"ticket{'s' if offer.min_open_tickets != 1 else ''}, "
            + _unknown_or(a.tickets[0], "customer's open tickets are unknown", "customer has {:g}")
        ),
        "statuses": lambda: _needs_one_of("status", offer.statuses, a.status[0], "status"),
        "max_days_to_birthday": lambda: (
            f"needs a birthday within {offer.max_days_to_birthday} days, "
            + _unknown_or(
                a.birthday[0], "customer's birthday is unknown", "customer's is in {:g} days"
            )
        ),
        "order_value": lambda: (
            "its cost is a share of the order value, customer's is unknown (no orders)"
        ),
    }
    return [phrase() for rule, phrase in phrases.items() if not a.rules[rule][0, j]]


def _needs_one_of(rule: str, allowed: Sequence[str] | None, value: object, what: str) -> str:
    """``needs <rule> <allowed>, <value>`` for a rule that allows a set of categories."""
    return f"needs {rule} {_either(allowed)}, {_is(value, what)}"


def _unknown_or(value: float, unknown: str, known: str) -> str:
    """``unknown`` when ``value`` is NaN, else ``known`` formatted with it."""
    return unknown if math.isnan(value) else known.format(value)


def _either(values: Sequence[str] | None) -> str:
    values = list(values or ())
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"


def _is(value: object, what: str) -> str:
    return f"customer's {what} is unknown" if pd.isna(value) else f"customer is {value}"
