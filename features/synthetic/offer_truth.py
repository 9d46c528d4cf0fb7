"""True incremental saves of retention offers on generated data, from the planted effects.

The generator (:mod:`features.synthetic`) gives every customer a per-offer uplift
``u`` (``ground_truth.parquet``, ``uplift_<offer_id>``): once accepted, an offer lowers
the monthly churn hazard's logit by ``u`` for ``offer_months`` (3) months; the
priority call-back's ``u`` is scaled by the customer's bad-support score then (capped
at 1). The customer accepts with probability ``a = expit(logit(accept_p) + u −
accept_offset)`` (:func:`features.synthetic.activity.accept_probability`).

For a customer who got no offer at cutoff ``t`` and whose latent churn time
(``churned_at``) fell in ``[t, t + H)`` (``H`` ≤ 3 months), an offer made at ``t``
would have prevented that churn with probability

    saved = a × (1 − h'/h) ≈ a × (1 − exp(−u))

where ``h`` and ``h' = expit(logit h − u)`` are the monthly hazards without and with
the offer, and the churn month's uniform draw is shared (the same customer, the same
luck). Churn in the campaign's own calendar month is not prevented: the generator
draws each month's churn before that month's campaign, so an offer acts from the
next month on. ``h'/h → exp(−u)`` as ``h → 0``; for the riskiest customers (h ≈ 0.3) this
overstates the saving by about a tenth of itself. A customer who did not churn is not
saved by anything: ``saved = 0``. The call-back's bad-support score is not in the
ground truth; it is approximated from the features at ``t``:
``min(1, 0.15 × tickets_90d + 0.85 × min(tickets_90d, sla_breaches_365d +
escalations_365d))`` (each ticket adds 0.15, a slow or escalated one about 1 more).
Customers saved are counted by latent churn, not by the churn label (for
non-contractual customers a saved customer may still not order within ``H``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.contract.schema import CUSTOMER_ID
from features.synthetic.activity import accept_probability
from features.synthetic.params import OFFER_IDS


def bad_support_proxy(features: pd.DataFrame) -> np.ndarray:
    """Approximate bad-support score at the cutoff from built features, 0–1, shape (n,)."""
    tickets = features["tickets_90d"].to_numpy(dtype=float, na_value=0.0)
    bad = features["sla_breaches_365d"].to_numpy(dtype=float, na_value=0.0) + features[
        "escalations_365d"
    ].to_numpy(dtype=float, na_value=0.0)
    return np.minimum(1.0, 0.15 * tickets + 0.85 * np.minimum(tickets, bad))


def true_saves(
    ground_truth: pd.DataFrame,
    features: pd.DataFrame,
    offer_ids: Sequence[str],
    *,
    cutoff: pd.Timestamp,
    horizon_days: int,
) -> np.ndarray:
    """Probability that each offer, made at ``cutoff``, would have kept each customer.

    Parameters
    ----------
    ground_truth : pandas.DataFrame
        ``ground_truth.parquet`` of the generated data set.
    features : pandas.DataFrame, shape (n, ...)
        ``customer_id`` and the support features as of ``cutoff`` of customers who got
        no offer then.
    offer_ids : sequence of str
        Offer ids (e.g. the catalog's); ids the generator does not know save nobody.
    cutoff : pandas.Timestamp
    horizon_days : int
        Churn horizon, at most ``offer_months`` months (the offer's effect lasts that long).

    Returns
    -------
    numpy.ndarray of float, shape (n, len(offer_ids))
        Expected customers saved, 0–1 (see the module doc).
    """
    truth = ground_truth.set_index(CUSTOMER_ID).reindex(features[CUSTOMER_ID])
    churned_at = pd.to_datetime(truth["churned_at"], utc=True)
    end = cutoff + pd.Timedelta(days=horizon_days)
    next_month = (cutoff.tz_localize(None).to_period("M") + 1).to_timestamp().tz_localize("UTC")
    churns = ((churned_at >= next_month) & (churned_at < end)).to_numpy(dtype=bool)
    bad = bad_support_proxy(features)
    out = np.zeros((len(features), len(offer_ids)))
    for j, offer in enumerate(offer_ids):
        if offer not in OFFER_IDS:
            continue
        u = truth[f"uplift_{offer}"].to_numpy(dtype=float, na_value=0.0)
        accept = accept_probability(np.full(u.size, OFFER_IDS.index(offer)), u)
        effect = u * bad if offer == "priority_callback" else u
        out[:, j] = churns * accept * (1.0 - np.exp(-effect))
    return out
