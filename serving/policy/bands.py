"""Risk bands and value segments, relative to the population a model scores.

A churn probability of 0.3 is alarming in a business that loses 2 % of its customers a
quarter and ordinary in one that loses 40 %; a predicted LTV of 500 is a whale in one
currency and a coffee in another. So by default both are cut relative to a
**reference population**: the distribution of churn probabilities and predicted LTVs
over the customers the champion scores (recorded when it was trained, on its newest
complete cutoff; :class:`Population`), and the catalog (``offers.toml``) says how:

- risk bands by ``lift`` over the population's base rate (mean churn probability;
  default: medium from 1 ×, high from 2 ×), by ``quantile`` of its probabilities, or by
  absolute ``probability`` thresholds;
- value segments by ``quantile`` of its predicted LTVs (default: low below the median,
  medium to the 80th percentile, high to the 95th, top above), or by ``amount``
  (currency units).

A value exactly on a cut point belongs to the higher band.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from features.contract.errors import ConfigError
from training.models.matrix import REFERENCE_POINTS, quantile_points

__all__ = [
    "REFERENCE_POINTS",
    "RISK_BANDS",
    "Population",
    "RiskBands",
    "ValueSegments",
    "band",
    "risk_band",
    "value_segment",
]

RISK_BANDS: tuple[str, ...] = ("low", "medium", "high")

ArrayLike = np.ndarray | pd.Series | Sequence[float] | float


def rule_error(
    field: str, value: object, expected: str, *, offer_id: str | None = None
) -> PydanticCustomError:
    """A catalog rule broken, with the offer, field, value and expectation as structure."""
    return PydanticCustomError(
        "catalog_rule",
        "{field} {value}: expected {expected}",
        {"offer_id": offer_id, "field": field, "value": value, "expected": expected},
    )


def _absolute_when_only_thresholds(data: object, absolute: str) -> object:
    """Raw section ``data`` with ``basis = absolute`` when it gives ``thresholds`` but no
    ``basis`` (catalogs written before relative bands keep their meaning)."""
    if isinstance(data, dict) and "thresholds" in data and "basis" not in data:
        return {**data, "basis": absolute}
    return data


@dataclass(frozen=True)
class Population:
    """The reference distributions bands and segments are cut on.

    Attributes
    ----------
    churn : numpy.ndarray of float, shape (REFERENCE_POINTS,) or (0,)
        Quantile points of the population's churn probabilities (0–1), ascending.
    ltv : numpy.ndarray of float, shape (REFERENCE_POINTS,) or (0,)
        Quantile points of its predicted LTVs (currency units), ascending.
    source : str
        Where the population comes from, in words (shown by ``/model_info``).
    mean : float, optional
        The exact mean churn probability; default: the quantile points' mean.
    """

    churn: np.ndarray
    ltv: np.ndarray
    source: str = "the customers scored"
    mean: float | None = None

    @classmethod
    def of(
        cls, churn: ArrayLike, ltv: ArrayLike, *, source: str = "the customers scored"
    ) -> Population:
        """The population of these probabilities and LTVs (NaN ignored)."""
        p = np.asarray(churn, dtype=float).ravel()
        p = p[np.isfinite(p)]
        mean = float(p.mean()) if p.size else None
        return cls(quantile_points(p), quantile_points(ltv), source, mean)

    @property
    def base_rate(self) -> float:
        """Mean churn probability of the population (NaN when empty)."""
        if self.mean is not None:
            return self.mean
        return float(self.churn.mean()) if self.churn.size else float("nan")

    def churn_quantile(self, q: Sequence[float]) -> np.ndarray:
        """Churn probabilities at quantiles ``q`` (0–1) of the population."""
        return np.quantile(self.churn, q) if self.churn.size else np.full(len(q), np.nan)

    def ltv_quantile(self, q: Sequence[float]) -> np.ndarray:
        """Predicted LTVs at quantiles ``q`` (0–1) of the population."""
        return np.quantile(self.ltv, q) if self.ltv.size else np.full(len(q), np.nan)


class RiskBands(BaseModel):
    """How churn probabilities are cut into the bands low, medium and high.

    ``basis`` ``"lift"`` (default): medium from ``lift[0]`` × the population's base
    rate, high from ``lift[1]`` × it (cut points capped at 1). ``"quantile"``: medium
    from the ``quantiles[0]`` quantile of the population's probabilities, high from the
    ``quantiles[1]``. ``"probability"``: the absolute ``thresholds``. A catalog that
    gives ``thresholds`` without a ``basis`` means ``"probability"`` (as before lift and
    quantile existed). ``offer_from``: customers in a lower band get no offer.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    basis: Literal["lift", "quantile", "probability"] = Field(
        "lift", description="How the cut points are set: lift, quantile or probability."
    )
    lift: tuple[float, float] = Field(
        (1.0, 2.0), description="Multiples of the base rate from which risk is medium, high."
    )
    quantiles: tuple[float, float] = Field(
        (0.5, 0.9), description="Quantiles of the population from which risk is medium, high."
    )
    thresholds: tuple[float, float] = Field(
        (0.3, 0.6), description="Churn probabilities from which risk is medium, then high."
    )
    offer_from: Literal["low", "medium", "high"] = Field(
        "medium", description="Lowest risk band that may get an offer."
    )

    @model_validator(mode="before")
    @classmethod
    def _thresholds_mean_probability(cls, data: object) -> object:
        return _absolute_when_only_thresholds(data, "probability")

    @model_validator(mode="after")
    def _increasing(self) -> RiskBands:
        low, high = self.thresholds
        if not (0.0 <= low < high <= 1.0):
            raise rule_error(
                "thresholds", list(self.thresholds), "two increasing probabilities in [0, 1]"
            )
        low, high = self.quantiles
        if not (0.0 <= low < high <= 1.0):
            raise rule_error(
                "quantiles", list(self.quantiles), "two increasing quantiles in [0, 1]"
            )
        low, high = self.lift
        if not (0.0 < low < high and np.isfinite(high)):
            raise rule_error("lift", list(self.lift), "two increasing positive multiples")
        return self

    @property
    def names(self) -> tuple[str, ...]:
        """The band names, lowest risk first: ``("low", "medium", "high")``."""
        return RISK_BANDS

    def cut_points(self, population: Population | None) -> tuple[float, float]:
        """The churn probabilities from which risk is medium, then high.

        Without a population (or an empty one) a relative basis falls back to the
        absolute ``thresholds``.
        """
        if self.basis == "probability" or population is None or not population.churn.size:
            return self.thresholds
        if self.basis == "quantile":
            low, high = population.churn_quantile(self.quantiles)
        else:
            low, high = (min(1.0, population.base_rate * k) for k in self.lift)
        return float(low), float(high)

    def describe(self, population: Population | None) -> str:
        """The cut points in words, e.g. ``"medium from 0.052 (1 × base rate 0.052) ..."``."""
        low, high = self.cut_points(population)
        if self.basis == "lift" and population is not None and population.churn.size:
            rate = population.base_rate
            return (
                f"medium from {low:.3g} ({self.lift[0]:g} × base rate {rate:.3g}), "
                f"high from {high:.3g} ({self.lift[1]:g} ×)"
            )
        if self.basis == "quantile" and population is not None and population.churn.size:
            return (
                f"medium from {low:.3g} (quantile {self.quantiles[0]:g}), "
                f"high from {high:.3g} (quantile {self.quantiles[1]:g})"
            )
        return f"medium from {low:.3g}, high from {high:.3g} (churn probability)"


class ValueSegments(BaseModel):
    """How predicted LTVs are cut into value segments.

    ``basis`` ``"quantile"`` (default): each next segment starts at the next of
    ``quantiles`` of the population's predicted LTVs; ``"amount"``: at the next of
    ``thresholds`` (currency units). A catalog that gives ``thresholds`` without a
    ``basis`` means ``"amount"``. One cut point fewer than there are ``names``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    basis: Literal["quantile", "amount"] = Field(
        "quantile", description="How the cut points are set: quantile or amount."
    )
    names: tuple[str, ...] = Field(
        ("low", "medium", "high", "top"),
        min_length=1,
        description="Segment names from the lowest value up.",
    )
    quantiles: tuple[float, ...] = Field(
        (0.5, 0.8, 0.95),
        description="Quantiles of the population's predicted LTV where each next segment starts.",
    )
    thresholds: tuple[float, ...] = Field(
        (100.0, 500.0, 1500.0),
        description="Predicted LTV from which each next segment starts, currency units.",
    )

    @model_validator(mode="before")
    @classmethod
    def _thresholds_mean_amount(cls, data: object) -> object:
        return _absolute_when_only_thresholds(data, "amount")

    @model_validator(mode="after")
    def _consistent(self) -> ValueSegments:
        if len(set(self.names)) != len(self.names):
            raise rule_error("names", list(self.names), "distinct segment names")
        field = "thresholds" if self.basis == "amount" else "quantiles"
        edges = np.asarray(getattr(self, field), dtype=float)
        if len(self.names) != len(edges) + 1:
            raise rule_error(
                field,
                list(edges),
                f"one {field[:-1]} fewer than there are segment names ({len(self.names) - 1})",
            )
        if not np.isfinite(edges).all() or (np.diff(edges) <= 0).any():
            raise rule_error(field, list(edges), "finite, strictly increasing numbers")
        if field == "quantiles" and ((edges < 0) | (edges > 1)).any():
            raise rule_error(field, list(edges), "quantiles in [0, 1]")
        return self

    def cut_points(self, population: Population | None) -> tuple[float, ...]:
        """The predicted LTVs (currency units) from which each next segment starts.

        Without a population (or an empty one) the quantile basis falls back to the
        ``thresholds``.
        """
        if self.basis == "amount" or population is None or not population.ltv.size:
            return self.thresholds
        cuts = population.ltv_quantile(self.quantiles)
        # ties (e.g. many zero LTVs) would make empty segments: keep cuts strictly increasing
        return tuple(float(v) for v in np.maximum.accumulate(cuts + np.arange(len(cuts)) * 1e-9))


def band(values: ArrayLike, edges: Sequence[float], names: Sequence[str]) -> np.ndarray:
    """Name of the band of each value: ``names[i]`` from ``edges[i-1]`` (inclusive).

    Returns
    -------
    numpy.ndarray of object, shape (n,)
        Band names; None where the value is NaN.
    """
    x = np.asarray(values, dtype=float)
    index = np.searchsorted(np.asarray(edges, dtype=float), x, side="right")
    out = np.empty(x.shape, dtype=object)
    out[...] = np.asarray(names, dtype=object)[index]
    out[np.isnan(x)] = None
    return out


def risk_band(
    churn_probability: ArrayLike,
    thresholds: RiskBands | Sequence[float] | None = None,
    population: Population | None = None,
) -> np.ndarray:
    """Risk band of each churn probability.

    Parameters
    ----------
    churn_probability : array_like of float, shape (n,)
        Probability of churning within the churn horizon, 0–1.
    thresholds : RiskBands or pair of float, optional
        How the bands are cut (default ``RiskBands()``: medium from the population's
        base rate, high from twice it), or two absolute probabilities from which risk is
        medium, then high. A value exactly on a cut point belongs to the higher band.
    population : Population, optional
        The reference a relative basis is cut on; default: these probabilities.

    Returns
    -------
    numpy.ndarray of object, shape (n,)
        ``"low"``, ``"medium"`` or ``"high"``; None where the probability is NaN.

    Raises
    ------
    ConfigError
        When ``thresholds`` are not two increasing probabilities.
    """
    bands = _risk_bands(thresholds)
    if population is None:
        population = Population.of(churn_probability, [])
    return band(churn_probability, bands.cut_points(population), RISK_BANDS)


def _risk_bands(thresholds: RiskBands | Sequence[float] | None) -> RiskBands:
    if thresholds is None:
        return RiskBands()
    if isinstance(thresholds, RiskBands):
        return thresholds
    try:
        return RiskBands(thresholds=tuple(thresholds))
    except ValidationError as e:
        raise ConfigError(
            "risk thresholds", thresholds, "two increasing probabilities in [0, 1]"
        ) from e


def value_segment(
    predicted_ltv: ArrayLike,
    thresholds: ValueSegments | None = None,
    population: Population | None = None,
) -> np.ndarray:
    """Value segment of each predicted lifetime value.

    Parameters
    ----------
    predicted_ltv : array_like of float, shape (n,)
        Predicted net spend over the LTV horizon, currency units.
    thresholds : ValueSegments, optional
        Segment names and how they are cut (default ``ValueSegments()``: quantiles 0.5,
        0.8 and 0.95 of the population's LTVs); a value exactly on a cut point belongs
        to the higher segment.
    population : Population, optional
        The reference a quantile basis is cut on; default: these LTVs.

    Returns
    -------
    numpy.ndarray of object, shape (n,)
        Segment names; None where the LTV is NaN.
    """
    segments = thresholds if thresholds is not None else ValueSegments()
    if population is None:
        population = Population.of([], predicted_ltv)
    return band(predicted_ltv, segments.cut_points(population), segments.names)
