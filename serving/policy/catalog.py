"""The offer catalog (``offers.toml``): offers, risk bands, value segments, and loading it.

Also names the customer columns the offer policy reads (and derives the order value
relative costs are priced on). The decision itself is in
:mod:`serving.policy.decide`, its explanation for one customer in
:mod:`serving.policy.explain`. No I/O except :func:`load_catalog` reading the file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from features.contract.errors import ConfigError
from features.contract.schema import CONTRACT_TYPES, CUSTOMER_ID
from serving.policy.bands import RISK_BANDS, RiskBands, ValueSegments, rule_error

__all__ = [
    "CHURN_PROBABILITY",
    "DECISION_COLUMNS",
    "OPTIONAL_COLUMNS",
    "PREDICTED_LTV",
    "REQUIRED_COLUMNS",
    "RISK_BANDS",
    "Offer",
    "OfferCatalog",
    "RiskBands",
    "ValueSegments",
    "load_catalog",
    "order_value",
]

CHURN_PROBABILITY = "churn_probability"
PREDICTED_LTV = "predicted_ltv"
LOYALTY_TIER = "loyalty_tier"
CONTRACT_TYPE = "contract_type"
OPEN_TICKETS = "open_tickets"
DAYS_TO_BIRTHDAY = "days_to_birthday"
ORDER_VALUE = "order_value"
STATUS = "status"
STATUSES = ("active", "lapsed")
"""Statuses an offer's ``statuses`` rule may name (a cancelled customer gets no offer)."""

REQUIRED_COLUMNS: tuple[str, ...] = (CUSTOMER_ID, CHURN_PROBABILITY, PREDICTED_LTV)
"""Columns :func:`decide` needs."""

OPTIONAL_COLUMNS: tuple[str, ...] = (
    LOYALTY_TIER,
    CONTRACT_TYPE,
    OPEN_TICKETS,
    DAYS_TO_BIRTHDAY,
    ORDER_VALUE,
)
"""Columns :func:`decide` uses when present; absent (or NA) means unknown, and an offer
whose eligibility depends on an unknown value is not offered."""

DECISION_COLUMNS: tuple[str, ...] = (
    CUSTOMER_ID,
    "risk_band",
    "value_segment",
    "offer_id",
    "offer_name",
    "offer_cost",
    "expected_value",
    "uplift",
    "uplift_source",
    "no_offer_reason",
)
"""Columns of :func:`decide`'s result, in order."""

_OFFER_ID_PATTERN = r"^[a-z][a-z0-9_]*$"


# --------------------------------------------------------------------------------------
# The catalog


class Offer(BaseModel):
    """One retention lever and who may get it.

    Eligibility rules left unset (None) allow every customer.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(
        strict=True, pattern=_OFFER_ID_PATTERN, description="Stable id, e.g. free_month."
    )
    name: str = Field(strict=True, min_length=1, description="What marketing calls it.")
    cost: float = Field(
        0.0,
        strict=True,
        ge=0,
        allow_inf_nan=False,
        description="Fixed cost per offer made, currency units (added to the relative parts).",
    )
    cost_pct_of_order: float = Field(
        0.0,
        strict=True,
        ge=0,
        allow_inf_nan=False,
        description="Cost as a percentage of the customer's average order value "
        "(order_value: aov_365d, else aov_total); a customer with no known order value "
        "is not eligible when this is set.",
    )
    cost_pct_of_ltv: float = Field(
        0.0,
        strict=True,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="Cost as a percentage of the customer's predicted LTV.",
    )
    cost_min: float = Field(
        0.0, strict=True, ge=0, allow_inf_nan=False, description="Floor of the cost, currency."
    )
    cost_max: float | None = Field(
        None, strict=True, ge=0, allow_inf_nan=False, description="Cap of the cost, currency."
    )
    uplift: float = Field(
        strict=True,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="Share of would-be churners the offer keeps (absolute churn-probability "
        "reduction for an at-risk customer who accepts), 0–1.",
    )
    segments: tuple[str, ...] | None = Field(
        None, min_length=1, description="Value segments allowed; None for all."
    )
    tiers: tuple[str, ...] | None = Field(
        None, min_length=1, description="Loyalty tiers allowed; None for all."
    )
    min_ltv: float = Field(
        0.0,
        strict=True,
        ge=0,
        allow_inf_nan=False,
        description="Smallest predicted LTV allowed, currency units.",
    )
    contract_types: tuple[str, ...] | None = Field(
        None, min_length=1, description=f"Contract types allowed ({', '.join(CONTRACT_TYPES)})."
    )
    min_open_tickets: int | None = Field(
        None, strict=True, ge=1, description="Fewest open support tickets; None for no rule."
    )
    statuses: tuple[str, ...] | None = Field(
        None,
        min_length=1,
        description="Customer statuses allowed (active, lapsed): win-back offers name "
        "lapsed; None for all.",
    )
    max_days_to_birthday: int | None = Field(
        None,
        strict=True,
        ge=0,
        le=365,
        description="Only customers whose next birthday is at most this many days after "
        "the cutoff (feature days_to_birthday); None for no rule.",
    )

    @property
    def relative_cost(self) -> bool:
        """Whether the cost depends on the customer (a percentage is set)."""
        return self.cost_pct_of_order > 0 or self.cost_pct_of_ltv > 0

    def costs(self, order_value: np.ndarray, ltv: np.ndarray) -> np.ndarray:
        """Cost of making this offer to each customer, currency units, shape (n,).

        ``cost + cost_pct_of_order % × order_value + cost_pct_of_ltv % × ltv`` within
        [``cost_min``, ``cost_max``]; NaN where the order value is needed but unknown.
        """
        value = np.full(np.shape(ltv), self.cost, dtype=float)
        if self.cost_pct_of_order:
            value = value + self.cost_pct_of_order / 100.0 * np.asarray(order_value, float)
        if self.cost_pct_of_ltv:
            value = value + self.cost_pct_of_ltv / 100.0 * np.clip(np.asarray(ltv, float), 0, None)
        return np.clip(value, self.cost_min, self.cost_max)

    @model_validator(mode="after")
    def _known_contract_types(self) -> Offer:
        if self.cost_max is not None and self.cost_max < self.cost_min:
            raise rule_error("cost_max", self.cost_max, f"at least cost_min ({self.cost_min:g})")
        unknown = [c for c in self.contract_types or () if c not in CONTRACT_TYPES]
        if unknown:
            raise rule_error("contract_types", unknown, f"one of {', '.join(CONTRACT_TYPES)}")
        unknown = [c for c in self.statuses or () if c not in STATUSES]
        if unknown:
            raise rule_error("statuses", unknown, f"one of {', '.join(STATUSES)}")
        return self


class OfferCatalog(BaseModel):
    """The offer catalog: value segments, risk bands and the offers in preference order.

    Catalog order matters only to break exact ties (same expected value, same cost).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    loyalty_tiers: tuple[str, ...] | None = Field(
        None,
        min_length=1,
        description="Known loyalty tiers, lowest first; when given, offers' tiers must be "
        "among them (catches typos).",
    )
    segments: ValueSegments = Field(default_factory=ValueSegments)
    risk: RiskBands = Field(default_factory=RiskBands)
    offers: tuple[Offer, ...] = Field((), description="The offers, in catalog order.")

    @model_validator(mode="after")
    def _cross_checks(self) -> OfferCatalog:
        seen: set[str] = set()
        for offer in self.offers:
            if offer.id in seen:
                raise rule_error("id", offer.id, "a unique offer id", offer_id=offer.id)
            seen.add(offer.id)
            unknown = [s for s in offer.segments or () if s not in self.segments.names]
            if unknown:
                raise rule_error(
                    "segments",
                    unknown,
                    f"segment names from [segments]: {', '.join(self.segments.names)}",
                    offer_id=offer.id,
                )
            if self.loyalty_tiers is not None:
                unknown = [t for t in offer.tiers or () if t not in self.loyalty_tiers]
                if unknown:
                    raise rule_error(
                        "tiers",
                        unknown,
                        f"tiers from loyalty_tiers: {', '.join(self.loyalty_tiers)}",
                        offer_id=offer.id,
                    )
        return self

    @property
    def ids(self) -> tuple[str, ...]:
        """Offer ids in catalog order."""
        return tuple(o.id for o in self.offers)

    def offer(self, offer_id: str) -> Offer:
        """The offer with id ``offer_id``.

        Raises
        ------
        ConfigError
            When the catalog has no such offer.
        """
        for offer in self.offers:
            if offer.id == offer_id:
                return offer
        raise ConfigError("offer id", offer_id, f"one of {', '.join(self.ids) or '(none)'}")


def load_catalog(path: str | os.PathLike[str]) -> OfferCatalog:
    """Read and check an offer catalog TOML file.

    Parameters
    ----------
    path : path
        The catalog, e.g. ``offers.toml`` (``[serving] offers_file`` in ``churn.toml``).

    Returns
    -------
    OfferCatalog

    Raises
    ------
    ConfigError
        When the file is missing or not valid TOML, or a value breaks a rule; the message
        names the file, the offer id and the field (unknown key, negative cost, uplift
        outside 0–1, duplicate id, thresholds not increasing, ...).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError("offer catalog file", str(path), "an existing TOML file")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"offer catalog {path}", "(unparseable)", f"valid TOML: {e}") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError("offer catalog file", str(path), f"a readable UTF-8 file ({e})") from e
    try:
        return OfferCatalog.model_validate(raw)
    except ValidationError as e:
        raise _catalog_error(e, raw, path) from e


_SECTION_MODELS: dict[str, type[BaseModel]] = {
    "offers": Offer,
    "segments": ValueSegments,
    "risk": RiskBands,
}


def _catalog_error(error: ValidationError, raw: Mapping[str, Any], path: Path) -> ConfigError:
    """Turn pydantic's first error into a ConfigError naming file, offer id and field."""
    errors = error.errors(include_url=False)
    first = errors[0]
    loc, ctx, kind = first["loc"], first.get("ctx") or {}, first["type"]
    offer_id = ctx.get("offer_id")
    section: str | None = None
    field: str | None = None
    if loc[:1] == ("offers",) and len(loc) >= 2 and isinstance(loc[1], int):
        section, field = "offers", (str(loc[2]) if len(loc) >= 3 else None)
        offer_id = offer_id or _raw_offer_id(raw, loc[1])
    elif loc[:1] in (("segments",), ("risk",)):
        section, field = str(loc[0]), (str(loc[1]) if len(loc) >= 2 else None)
    elif loc:
        field = str(loc[0])
    if kind == "catalog_rule":
        field, value, expected = ctx["field"], ctx["value"], ctx["expected"]
        section = "offers" if offer_id else section
    elif kind == "missing":
        value, expected = "(missing)", "a value; this field is required"
    elif kind == "extra_forbidden":
        model = _SECTION_MODELS.get(section or "", OfferCatalog)
        value, expected = first["input"], f"one of the known keys: {', '.join(model.model_fields)}"
    else:
        value, expected = first["input"], _expected_text(kind, first["msg"], ctx)
    what = "key" if kind == "extra_forbidden" else "field"
    if offer_id:
        name = f"{what} '{field}' of offer '{offer_id}' in {path}"
    elif section and field:
        name = f"{what} '{field}' in [{section}] of {path}"
    elif field:
        name = f"{what} '{field}' in {path}"
    else:
        name = f"offer catalog {path}"
    if len(errors) > 1:
        expected += f" ({len(errors) - 1} more problem{'s' if len(errors) > 2 else ''} in the file)"
    return ConfigError(name, value, expected)


def _raw_offer_id(raw: Mapping[str, Any], index: int) -> str:
    offers = raw.get("offers")
    entry = offers[index] if isinstance(offers, list) and index < len(offers) else None
    offer_id = entry.get("id") if isinstance(entry, Mapping) else None
    return offer_id if isinstance(offer_id, str) and offer_id else f"#{index + 1}"


def _expected_text(kind: str, message: str, ctx: Mapping[str, Any]) -> str:
    known = {
        "greater_than_equal": lambda: f"a number ≥ {ctx['ge']:g}",
        "less_than_equal": lambda: f"a number ≤ {ctx['le']:g}",
        "finite_number": lambda: "a finite number",
        "float_type": lambda: "a number",
        "int_type": lambda: "a whole number",
        "string_type": lambda: "text in quotes",
        "string_pattern_mismatch": lambda: (
            "lowercase letters, digits and underscores, starting with a letter"
        ),
        "too_short": lambda: f"at least {ctx['min_length']} item(s)",
        "tuple_type": lambda: "a list",
        "model_type": lambda: "a table",
        "model_attributes_type": lambda: "a table",
    }
    if kind in known:
        return known[kind]()
    return message[:1].lower() + message[1:]


def order_value(frame: pd.DataFrame) -> pd.Series:
    """Each customer's average order value, currency units: ``aov_365d``, else ``aov_total``
    (NaN without orders); what offers priced as a share of an order are priced on."""
    nan = pd.Series(np.nan, index=frame.index)
    recent = pd.to_numeric(frame.get("aov_365d", nan), errors="coerce")
    return recent.fillna(pd.to_numeric(frame.get("aov_total", nan), errors="coerce"))
