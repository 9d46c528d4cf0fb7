"""The uplift training set: past campaigns as natural experiments, point in time.

For every past campaign (a calendar month with offers in the ``offers`` history) the
**campaign cutoff** ``t`` is the UTC day of that month's first offer. A row is a customer
of the churn model's population at ``t`` (:func:`training.dataset.labelled_features`:
the same point-in-time features, BTYD features and churn label), with

- ``treatment``: the ``offer_id`` of the customer's first offer in
  ``[t, t + window_days)``, or :data:`NO_OFFER`;
- ``churned``: the churn label over ``[t, t + horizon_days)`` (as for the churn model).

Features see only events strictly before ``t``; the treatment and the outcome are
after it, as an experiment's are. Offers made later in the horizon (the next month's
campaign) are left in both groups as business as usual, so the estimate is the
effect of *this* offer, intention to treat (accepted or not). Only cutoffs whose
horizon is complete are used; the time-ordered split is :func:`plan_uplift`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.contract.errors import ConfigError
from features.contract.load import Tables
from features.contract.schema import CUSTOMER_ID
from features.families.build import DEFAULT_WINDOWS
from features.families.events import days_before
from features.families.population import ACTIVE_DAYS
from training.dataset import labelled_features
from training.models.uplift import NO_OFFER, TREATMENT


def campaign_cutoffs(tables: Tables) -> list[pd.Timestamp]:
    """The UTC day (midnight) of the first offer of each calendar month with offers.

    Parameters
    ----------
    tables : Tables
        Validated tables; ``tables.offers`` may be absent or empty.

    Returns
    -------
    list of pandas.Timestamp
        Oldest first; empty without an offer history.
    """
    offers = getattr(tables, "offers", None)
    if offers is None or offers.empty:
        return []
    at = offers["offered_at"]
    month = at.dt.tz_convert("UTC").dt.tz_localize(None).dt.to_period("M")
    return sorted(at.groupby(month).min().dt.floor("D"))


@dataclass(frozen=True)
class UpliftPlan:
    """Campaign cutoffs of an uplift run, oldest first.

    Attributes
    ----------
    train : tuple of Timestamp
        Cutoffs the validated model learns from: their outcome windows end at or
        before the first held-out cutoff.
    validation : tuple of Timestamp
        The held-out period: the newest ``holdout`` campaign cutoffs with a complete
        horizon.
    refit_train : tuple of Timestamp
        The newest complete cutoffs, held-out ones included: the model to deploy.
    """

    train: tuple[pd.Timestamp, ...]
    validation: tuple[pd.Timestamp, ...]
    refit_train: tuple[pd.Timestamp, ...]

    def as_dict(self) -> dict[str, str]:
        """For MLflow params."""
        return {
            "train_cutoffs": _days(self.train),
            "validation_cutoffs": _days(self.validation),
            "refit_train_cutoffs": _days(self.refit_train),
        }


def _days(cutoffs: Sequence[pd.Timestamp]) -> str:
    return ",".join(f"{t:%Y-%m-%d}" for t in cutoffs)


def plan_uplift(
    tables: Tables, *, horizon_days: int, max_cutoffs: int = 24, holdout: int = 3
) -> UpliftPlan:
    """Time-ordered split of the campaign cutoffs (see :class:`UpliftPlan`).

    Parameters
    ----------
    tables : Tables
    horizon_days : int
        Churn horizon H, days; a cutoff needs ``t + H`` at or before the end of the data.
    max_cutoffs : int, default 24
        Newest training cutoffs kept (older campaigns add little and cost feature builds).
    holdout : int, default 3
        Newest complete campaigns held out (fewer when the history is short).

    Raises
    ------
    ConfigError
        Naming the offers table when there is no offer history, or too little of it
        for a training cutoff whose outcomes end before the held-out ones.
    """
    cutoffs = campaign_cutoffs(tables)
    end = tables.data_end().floor("D") + pd.Timedelta(days=1)
    h = pd.Timedelta(days=horizon_days)
    complete = [t for t in cutoffs if t + h <= end]
    if not complete:
        raise ConfigError(
            "offers history",
            f"{len(cutoffs)} campaign month(s), none with {horizon_days} days of outcomes",
            "an offers table (customer_id, offered_at, offer_id) with campaigns at least "
            f"{horizon_days} days before the end of the data; without one the offer policy "
            "uses the catalog's uplift",
        )
    for n in range(max(holdout, 1), 0, -1):
        validation = complete[-n:]
        train = [t for t in complete if t + h <= validation[0]][-max_cutoffs:]
        if train:
            return UpliftPlan(tuple(train), tuple(validation), tuple(complete[-max_cutoffs:]))
    raise ConfigError(
        "offers history",
        f"campaigns from {complete[0]:%Y-%m-%d} to {complete[-1]:%Y-%m-%d}",
        f"a campaign whose {horizon_days}-day outcomes end before the held-out campaign "
        f"of {complete[-1]:%Y-%m-%d} (at least {horizon_days} days of campaigns before it)",
    )


def treatment_at(
    tables: Tables, cutoff: pd.Timestamp, customer_ids: pd.Series, *, window_days: int
) -> np.ndarray:
    """Each customer's first offer in ``[cutoff, cutoff + window_days)``, else :data:`NO_OFFER`.

    Returns
    -------
    numpy.ndarray of object, shape (n,)
        Offer ids, aligned with ``customer_ids``.
    """
    offers = tables.offers
    ahead = -days_before(offers["offered_at"], cutoff)  # days after the cutoff; 0 = at it
    window = offers.loc[
        (ahead >= 0) & (ahead < window_days), [CUSTOMER_ID, "offered_at", "offer_id"]
    ]
    first = window.sort_values("offered_at", kind="stable").drop_duplicates(CUSTOMER_ID)
    chosen = customer_ids.map(first.set_index(CUSTOMER_ID)["offer_id"].astype(str))
    return chosen.fillna(NO_OFFER).to_numpy(dtype=object)


def uplift_rows(
    tables: Tables,
    cutoffs: Sequence[pd.Timestamp],
    *,
    horizon_days: int,
    window_days: int = 14,
    active_days: int | None = ACTIVE_DAYS,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    sla_hours: float = 48.0,
    btyd: bool = False,
    cache: dict | None = None,
) -> pd.DataFrame:
    """Labelled point-in-time features at each campaign cutoff, with the ``treatment``.

    ``btyd`` adds the BTYD features (the uplift model does not read them; an LTV
    model adds its own).

    Returns
    -------
    pandas.DataFrame, shape (rows, ...)
        :func:`training.dataset.labelled_features` (``customer_id``, ``cutoff``, the
        features, ``churned``) plus ``treatment`` (offer id or :data:`NO_OFFER`).
    """
    frame = labelled_features(
        tables,
        cutoffs,
        horizon_days=horizon_days,
        ltv_horizon_days=None,
        active_days=active_days,
        windows=windows,
        sla_hours=sla_hours,
        btyd=btyd,
        cache=cache,
    )
    treatment = np.empty(len(frame), dtype=object)
    for cutoff, rows in frame.groupby("cutoff", sort=False).groups.items():
        pos = frame.index.get_indexer(rows)
        treatment[pos] = treatment_at(
            tables, cutoff, frame.loc[rows, CUSTOMER_ID], window_days=window_days
        )
    frame[TREATMENT] = treatment
    return frame


def confounding_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Churn rate and size of each treatment group: the naive (confounded) comparison.

    Returns
    -------
    pandas.DataFrame
        Index ``treatment``; columns ``rows`` (int) and ``churn_rate`` (0–1). With
        targeting aimed at risky customers the offered groups churn *more* than the
        untreated although every offer lowers the hazard.
    """
    grouped = rows.groupby(TREATMENT)["churned"]
    return pd.DataFrame({"rows": grouped.size(), "churn_rate": grouped.mean()})
