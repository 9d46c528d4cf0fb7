"""The retention offer policy: which offer, if any, each customer should get, and why.

An offer catalog (``offers.toml``) lists the retention levers with their cost and
assumed uplift and who may get them. For a customer with churn probability ``p``
(over the churn horizon) and predicted lifetime value ``LTV`` (currency units over the
LTV horizon), an offer's expected net value is

    expected_value = p × uplift × LTV − cost      (currency units)

where ``uplift`` is the share of would-be churners the offer keeps (the absolute drop
in churn probability of an at-risk customer who accepts). :func:`decide` picks, per
customer, the eligible offer with the highest positive expected value (ties: the
cheaper offer, then catalog order), vectorised over a customers × offers matrix for the
batch scorer. :func:`explain` gives the same decision for one customer with every
offer's value and, for the ineligible ones, the reason, for the HTTP ``offer`` endpoint.
Both share one computation, so they always agree.

This module is pure: no I/O except :func:`load_catalog` reading the catalog file.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from features.errors import ConfigError
from features.schema import CONTRACT_TYPES, CUSTOMER_ID

__all__ = [
    "CHURN_PROBABILITY",
    "DECISION_COLUMNS",
    "OPTIONAL_COLUMNS",
    "PREDICTED_LTV",
    "REQUIRED_COLUMNS",
    "RISK_BANDS",
    "Offer",
    "OfferCatalog",
    "OfferOption",
    "RiskBands",
    "ValueSegments",
    "decide",
    "expected_value",
    "explain",
    "load_catalog",
    "require_columns",
    "risk_band",
    "value_segment",
]

CHURN_PROBABILITY = "churn_probability"
PREDICTED_LTV = "predicted_ltv"
LOYALTY_TIER = "loyalty_tier"
CONTRACT_TYPE = "contract_type"
OPEN_TICKETS = "open_tickets"
STATUS = "status"
STATUSES = ("active", "lapsed")
"""Statuses an offer's ``statuses`` rule may name (a cancelled customer gets no offer)."""

REQUIRED_COLUMNS: tuple[str, ...] = (CUSTOMER_ID, CHURN_PROBABILITY, PREDICTED_LTV)
"""Columns :func:`decide` needs."""

OPTIONAL_COLUMNS: tuple[str, ...] = (LOYALTY_TIER, CONTRACT_TYPE, OPEN_TICKETS)
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
)
"""Columns of :func:`decide`'s result, in order."""

RISK_BANDS: tuple[str, ...] = ("low", "medium", "high")

ArrayLike = np.ndarray | pd.Series | Sequence[float] | float

_OFFER_ID_PATTERN = r"^[a-z][a-z0-9_]*$"


# --------------------------------------------------------------------------------------
# The catalog


def _rule_error(
    field: str, value: object, expected: str, *, offer_id: str | None = None
) -> PydanticCustomError:
    """A catalog rule broken, with the offer, field, value and expectation as structure."""
    return PydanticCustomError(
        "catalog_rule",
        "{field} {value}: expected {expected}",
        {"offer_id": offer_id, "field": field, "value": value, "expected": expected},
    )


class RiskBands(BaseModel):
    """Churn-probability thresholds of the risk bands.

    ``low`` < ``thresholds[0]`` ≤ ``medium`` < ``thresholds[1]`` ≤ ``high``: a
    probability exactly on a threshold belongs to the higher band.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    thresholds: tuple[float, float] = Field(
        (0.3, 0.6),
        description="Churn probability from which risk is medium, then high.",
    )

    @model_validator(mode="after")
    def _increasing(self) -> RiskBands:
        low, high = self.thresholds
        if not (0.0 <= low < high <= 1.0):
            raise _rule_error(
                "thresholds", list(self.thresholds), "two increasing probabilities in [0, 1]"
            )
        return self

    @property
    def names(self) -> tuple[str, ...]:
        """The band names, lowest risk first: ``("low", "medium", "high")``."""
        return RISK_BANDS


class ValueSegments(BaseModel):
    """Predicted-LTV thresholds (currency units) of the value segments.

    ``names[0]`` < ``thresholds[0]`` ≤ ``names[1]`` < ``thresholds[1]`` ≤ ... : a value
    exactly on a threshold belongs to the higher segment.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    names: tuple[str, ...] = Field(
        ("low", "medium", "high", "top"),
        min_length=1,
        description="Segment names from the lowest value up.",
    )
    thresholds: tuple[float, ...] = Field(
        (100.0, 500.0, 1500.0),
        description="Predicted LTV from which each next segment starts, currency units.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> ValueSegments:
        if len(set(self.names)) != len(self.names):
            raise _rule_error("names", list(self.names), "distinct segment names")
        if len(self.names) != len(self.thresholds) + 1:
            raise _rule_error(
                "thresholds",
                list(self.thresholds),
                f"one threshold fewer than there are segment names ({len(self.names) - 1})",
            )
        edges = np.asarray(self.thresholds, dtype=float)
        if not np.isfinite(edges).all() or (np.diff(edges) <= 0).any():
            raise _rule_error(
                "thresholds", list(self.thresholds), "finite, strictly increasing numbers"
            )
        return self


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
        strict=True, ge=0, allow_inf_nan=False, description="Cost per accepted offer, currency."
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

    @model_validator(mode="after")
    def _known_contract_types(self) -> Offer:
        unknown = [c for c in self.contract_types or () if c not in CONTRACT_TYPES]
        if unknown:
            raise _rule_error("contract_types", unknown, f"one of {', '.join(CONTRACT_TYPES)}")
        unknown = [c for c in self.statuses or () if c not in STATUSES]
        if unknown:
            raise _rule_error("statuses", unknown, f"one of {', '.join(STATUSES)}")
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
                raise _rule_error("id", offer.id, "a unique offer id", offer_id=offer.id)
            seen.add(offer.id)
            unknown = [s for s in offer.segments or () if s not in self.segments.names]
            if unknown:
                raise _rule_error(
                    "segments",
                    unknown,
                    f"segment names from [segments]: {', '.join(self.segments.names)}",
                    offer_id=offer.id,
                )
            if self.loyalty_tiers is not None:
                unknown = [t for t in offer.tiers or () if t not in self.loyalty_tiers]
                if unknown:
                    raise _rule_error(
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


# --------------------------------------------------------------------------------------
# Bands, segments, expected value


def risk_band(
    churn_probability: ArrayLike, thresholds: RiskBands | Sequence[float] | None = None
) -> np.ndarray:
    """Risk band of each churn probability.

    Parameters
    ----------
    churn_probability : array_like of float, shape (n,)
        Probability of churning within the churn horizon, 0–1.
    thresholds : RiskBands or pair of float, optional
        Default ``RiskBands()``: low < 0.3 ≤ medium < 0.6 ≤ high. The
        probabilities from which risk is medium, then high; a value exactly on a
        threshold belongs to the higher band.

    Returns
    -------
    numpy.ndarray of object, shape (n,)
        ``"low"``, ``"medium"`` or ``"high"``; None where the probability is NaN.

    Raises
    ------
    ConfigError
        When ``thresholds`` are not two increasing probabilities.
    """
    if thresholds is None:
        thresholds = RiskBands()
    elif not isinstance(thresholds, RiskBands):
        try:
            thresholds = RiskBands(thresholds=tuple(thresholds))
        except ValidationError as e:
            raise ConfigError(
                "risk thresholds", thresholds, "two increasing probabilities in [0, 1]"
            ) from e
    return _band(churn_probability, thresholds.thresholds, RISK_BANDS)


def value_segment(predicted_ltv: ArrayLike, thresholds: ValueSegments | None = None) -> np.ndarray:
    """Value segment of each predicted lifetime value.

    Parameters
    ----------
    predicted_ltv : array_like of float, shape (n,)
        Predicted net spend over the LTV horizon, currency units.
    thresholds : ValueSegments, optional
        Segment names and the LTV from which each next one starts; a value exactly on a
        threshold belongs to the higher segment. Default ``ValueSegments()``:
        low < 100 ≤ medium < 500 ≤ high < 1500 ≤ top.

    Returns
    -------
    numpy.ndarray of object, shape (n,)
        Segment names; None where the LTV is NaN.
    """
    segments = thresholds if thresholds is not None else ValueSegments()
    return _band(predicted_ltv, segments.thresholds, segments.names)


def _band(values: ArrayLike, edges: Sequence[float], names: Sequence[str]) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    index = np.searchsorted(np.asarray(edges, dtype=float), x, side="right")
    out = np.empty(x.shape, dtype=object)
    out[...] = np.asarray(names, dtype=object)[index]
    out[np.isnan(x)] = None
    return out


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
class _Assessment:
    """Every offer's value and eligibility for every customer (n customers, m offers)."""

    risk: np.ndarray  # (n,) object
    segment: np.ndarray  # (n,) object
    ltv: np.ndarray  # (n,) float
    tier: pd.Series  # (n,) string, NA when unknown
    contract: pd.Series  # (n,) string, NA when unknown
    tickets: np.ndarray  # (n,) float, NaN when unknown
    status: pd.Series  # (n,) string, NA when unknown
    value: np.ndarray  # (n, m) float, expected value
    rules: dict[str, np.ndarray]  # rule -> (n, m) bool, True where the rule allows
    eligible: np.ndarray  # (n, m) bool


def _numeric(frame: pd.DataFrame, column: str) -> np.ndarray:
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


def _assess(customers: pd.DataFrame, catalog: OfferCatalog) -> _Assessment:
    require_columns(customers, REQUIRED_COLUMNS, what="customers")
    p = _numeric(customers, CHURN_PROBABILITY)
    ltv = _numeric(customers, PREDICTED_LTV)
    _check_range(customers, CHURN_PROBABILITY, p, ~((p >= 0) & (p <= 1)), "probabilities in [0, 1]")
    _check_range(customers, PREDICTED_LTV, ltv, ~np.isfinite(ltv), "finite numbers")
    tier, contract = _text(customers, LOYALTY_TIER), _text(customers, CONTRACT_TYPE)
    tickets = (
        _numeric(customers, OPEN_TICKETS)
        if OPEN_TICKETS in customers.columns
        else np.full(len(customers), np.nan)
    )
    segment = value_segment(ltv, catalog.segments)
    status = _text(customers, STATUS)

    offers = catalog.offers
    n, m = len(customers), len(offers)
    uplift = np.array([o.uplift for o in offers], dtype=float)
    cost = np.array([o.cost for o in offers], dtype=float)
    value = expected_value(p[:, None], uplift[None, :], ltv[:, None], cost[None, :])

    rules = {
        rule: np.ones((n, m), dtype=bool)
        for rule in (
            "segments",
            "tiers",
            "min_ltv",
            "contract_types",
            "min_open_tickets",
            "statuses",
        )
    }
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
    eligible = np.logical_and.reduce(list(rules.values())) if m else np.ones((n, 0), bool)
    return _Assessment(
        risk=risk_band(p, catalog.risk),
        segment=segment,
        ltv=ltv,
        tier=tier,
        contract=contract,
        tickets=tickets,
        status=status,
        value=value,
        rules=rules,
        eligible=eligible,
    )


def _choose(assessment: _Assessment, catalog: OfferCatalog) -> tuple[np.ndarray, np.ndarray]:
    """Per customer: whether an offer is chosen, and its column (valid where chosen)."""
    n, m = assessment.value.shape
    candidate = assessment.eligible & (assessment.value > 0)
    if m == 0:
        return np.zeros(n, dtype=bool), np.zeros(n, dtype=np.intp)
    cost = np.array([o.cost for o in catalog.offers], dtype=float)
    by_preference = np.lexsort((np.arange(m), cost))  # cheaper first, then catalog order
    masked = np.where(candidate, assessment.value, -np.inf)[:, by_preference]
    best = by_preference[np.argmax(masked, axis=1)]  # first maximum wins exact ties
    return candidate.any(axis=1), best


def decide(customers: pd.DataFrame, catalog: OfferCatalog) -> pd.DataFrame:
    """The best retention offer (or none) for each customer.

    For every customer × offer pair the expected value ``p × uplift × LTV − cost`` is
    computed and the offer's eligibility rules checked; each customer gets the eligible
    offer of highest positive expected value. Exact ties go to the cheaper offer, then
    to the one listed first in the catalog. Vectorised: no Python loop over customers.

    Parameters
    ----------
    customers : pandas.DataFrame, shape (n, ...)
        One row per customer: ``customer_id``, ``churn_probability`` (0–1, over the
        churn horizon), ``predicted_ltv`` (currency units over the LTV horizon) and
        optionally ``loyalty_tier``, ``contract_type`` and ``open_tickets``. A missing
        optional column, or NA in it, means unknown: offers whose rules need that value
        are not eligible.
    catalog : OfferCatalog
        The offers, segments and risk bands, e.g. from :func:`load_catalog`.

    Returns
    -------
    pandas.DataFrame, shape (n, 7)
        Same index as ``customers``; columns :data:`DECISION_COLUMNS`: ``customer_id``,
        ``risk_band``, ``value_segment``, ``offer_id`` and ``offer_name`` (object, None
        when no eligible offer has a positive expected value), ``offer_cost`` and
        ``expected_value`` (float, currency units; 0.0 when there is no offer).

    Raises
    ------
    ConfigError
        When a required column is missing, a probability is outside [0, 1] or NaN, or
        a predicted LTV is not finite.
    """
    assessment = _assess(customers, catalog)
    chosen, best = _choose(assessment, catalog)
    rows = np.arange(len(customers))
    ids = np.array([o.id for o in catalog.offers] + [None], dtype=object)
    names = np.array([o.name for o in catalog.offers] + [None], dtype=object)
    cost = np.array([o.cost for o in catalog.offers] + [0.0], dtype=float)
    pick = np.where(chosen, best, len(catalog.offers))  # the extra slot means "no offer"
    value = (
        np.where(chosen, assessment.value[rows, best], 0.0)
        if catalog.offers
        else np.zeros(len(customers))
    )
    index = customers.index
    return pd.DataFrame(
        {
            CUSTOMER_ID: customers[CUSTOMER_ID].array,
            "risk_band": assessment.risk,
            "value_segment": assessment.segment,
            "offer_id": pd.Series(ids[pick], index=index, dtype=object),
            "offer_name": pd.Series(names[pick], index=index, dtype=object),
            "offer_cost": cost[pick],
            "expected_value": value,
        },
        index=index,
    )


class OfferOption(BaseModel):
    """One offer as it stands for one customer: its value, and why not if ineligible."""

    model_config = ConfigDict(frozen=True)

    offer_id: str = Field(description="Offer id from the catalog.")
    offer_name: str = Field(description="What marketing calls it.")
    cost: float = Field(description="Cost per accepted offer, currency units.")
    uplift: float = Field(description="Share of would-be churners the offer keeps, 0–1.")
    expected_value: float = Field(
        description="churn probability × uplift × predicted LTV − cost, currency units."
    )
    eligible: bool = Field(description="Whether the customer meets every eligibility rule.")
    recommended: bool = Field(
        description="The offer the policy chooses: eligible, best and positive expected value."
    )
    reasons: list[str] = Field(
        default_factory=list,
        description="Why the customer is not eligible, one phrase per rule broken.",
    )


def explain(customer: Mapping[str, Any], catalog: OfferCatalog) -> list[OfferOption]:
    """Every offer for one customer, best first, with values and ineligibility reasons.

    Shares :func:`decide`'s computation, so the first option is ``recommended`` exactly
    when :func:`decide` chooses an offer, and it is that offer.

    Parameters
    ----------
    customer : mapping
        One customer's ``churn_probability`` and ``predicted_ltv`` and optionally
        ``customer_id``, ``loyalty_tier``, ``contract_type``, ``open_tickets`` (absent or
        None: unknown).
    catalog : OfferCatalog
        The offers, segments and risk bands.

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
    assessment = _assess(frame, catalog)
    chosen, best = _choose(assessment, catalog)
    options = [
        (
            not assessment.eligible[0, j],
            -assessment.value[0, j],
            offer.cost,
            j,
            OfferOption(
                offer_id=offer.id,
                offer_name=offer.name,
                cost=offer.cost,
                uplift=offer.uplift,
                expected_value=float(assessment.value[0, j]),
                eligible=bool(assessment.eligible[0, j]),
                recommended=bool(chosen[0] and best[0] == j),
                reasons=_reasons(offer, assessment, j),
            ),
        )
        for j, offer in enumerate(catalog.offers)
    ]
    return [option for *_, option in sorted(options, key=lambda o: o[:4])]


def _reasons(offer: Offer, a: _Assessment, j: int) -> list[str]:
    """Phrases for the rules offer ``j`` breaks for the one customer in ``a``."""
    out = []
    if not a.rules["segments"][0, j]:
        out.append(f"needs value segment {_either(offer.segments)}, customer is {a.segment[0]}")
    if not a.rules["tiers"][0, j]:
        out.append(f"needs loyalty tier {_either(offer.tiers)}, {_is(a.tier[0], 'tier')}")
    if not a.rules["contract_types"][0, j]:
        out.append(
            f"needs contract type {_either(offer.contract_types)}, "
            f"{_is(a.contract[0], 'contract type')}"
        )
    if not a.rules["min_ltv"][0, j]:
        out.append(f"needs predicted LTV of at least {offer.min_ltv:g}, customer's is {a.ltv[0]:g}")
    if not a.rules["min_open_tickets"][0, j]:
        need = offer.min_open_tickets
        plural = "s" if need != 1 else ""
        has = (
            "customer's open tickets are unknown"
            if math.isnan(a.tickets[0])
            else f"customer has {a.tickets[0]:g}"
        )
        out.append(f"needs at least {need} open support ticket{plural}, {has}")
    if not a.rules["statuses"][0, j]:
        out.append(f"needs status {_either(offer.statuses)}, {_is(a.status[0], 'status')}")
    return out


def _either(values: Sequence[str] | None) -> str:
    values = list(values or ())
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"


def _is(value: object, what: str) -> str:
    return f"customer's {what} is unknown" if pd.isna(value) else f"customer is {value}"
