"""BTYD models: BG/NBD for P(alive), P(no purchase) and future orders, Gamma-Gamma for value.

The classic "buy 'til you die" pair, used twice: as the baseline our LightGBM models must
beat, and, fitted point in time at every cutoff, as features of those models (stacking).

- **BG/NBD** (Fader, Hardie & Lee 2005): while alive, a customer buys as a Poisson process
  with rate ``lambda ~ Gamma(r, alpha)``; after each repeat purchase they drop out with
  probability ``p ~ Beta(a, b)``. From three numbers per customer (frequency ``x``,
  recency ``t_x``, age ``T``: :mod:`features.families.purchase_days`) it gives P(alive) at the
  cutoff, the expected purchases over a horizon ``h`` and the probability of **no
  purchase in** ``[T, T + h)``: ``1 − P(alive) + P(alive) ((alpha + T) / (alpha + T + h))^(r + x)``
  (a customer dies only at a purchase, so one who buys nothing cannot die meanwhile).
  That probability, not ``1 − P(alive)``, is what a churn label "no order within H"
  asks, and it stays informative when dropout vanishes (P(alive) → 1 for everyone, as on
  a wholesaler's log, where the maximum likelihood runs to that boundary).
- **Gamma-Gamma** (Fader & Hardie 2013): order values vary around a customer's mean
  ``p / nu`` with ``nu ~ Gamma(q, v)``; it gives each customer's conditional expected
  value of one order. Expected spend = expected orders x expected order value.

Both are fitted here by maximising the closed-form log-likelihoods with SciPy's L-BFGS-B
over log parameters (sub-second on 100 k customers; customers with equal ``(x, t_x, T)``
are one weighted row). BG/NBD is fitted in weeks under the weak priors pymc-marketing
uses by default (``r ~ Weibull(2, 1)``, ``alpha ~ Weibull(2, 10)`` weeks, ``a = phi kappa``,
``b = (1 − phi) kappa``, ``phi ~ Uniform(0, 1)``, ``kappa ~ Pareto(1, 1)``): a maximum a
posteriori estimate, within a few % of the maximum likelihood on thousands of
customers, finite for a handful, and bounded where the likelihood runs to a boundary.
``tests/training/models/test_btyd.py`` checks parameter recovery on data simulated from the
model. The benchmark's anchors are fitted by pymc-marketing itself
(``benchmarks/quality.py``), so the project is never judged against its own fit.

Gamma-Gamma is fitted by maximum likelihood on the customers with a repeat purchase of
positive value, money scaled by their mean. When its estimate is unusable (non-finite,
or ``q <= 1`` so the population mean order value is infinite), every customer's order
value is the pooled mean of the repeat purchases; when nobody has a repeat purchase of
positive value, it is 0.

References
----------
.. [1] Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005). "Counting your customers the
   easy way: an alternative to the Pareto/NBD model." Marketing Science, 24(2), 275-284.
.. [2] Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2008). "Computing P(alive) using the
   BG/NBD model." http://www.brucehardie.com/notes/021/palive_for_BGNBD.pdf
.. [3] Fader, P. S., & Hardie, B. G. S. (2013). "The Gamma-Gamma model of monetary
   value." http://www.brucehardie.com/notes/025/gamma_gamma.pdf
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import gammaln, hyp2f1

from features.contract.errors import ConfigError
from features.contract.schema import CUSTOMER_ID, TRANSACTIONS
from features.families.events import as_utc, visible_events
from features.families.purchase_days import PURCHASE_DAY_FEATURES, purchase_days, rfm_from_days

log = logging.getLogger(__name__)

ORDERED_AT = TRANSACTIONS.time_column or "ordered_at"
RFM_COLUMNS = ("frequency", "recency", "T", "monetary_value")
"""Columns of :func:`rfm_at` (lifetimes / pymc-marketing names), in days."""
PREDICTION_COLUMNS = (
    "p_alive",
    "p_no_purchase",
    "expected_orders",
    "order_value",
    "expected_spend",
)
"""Columns of :meth:`BTYDParams.predict`."""
PARAM_NAMES = ("r", "alpha", "a", "b", "p", "q", "v")
"""Fitted parameters, in logging order."""
BTYD_FEATURES = tuple(f"btyd_{c}" for c in PREDICTION_COLUMNS)
"""Model features added by :func:`with_btyd_features`."""

FIT_DAYS_PER_UNIT = 7.0
"""BG/NBD is fitted in weeks, the time unit its priors are calibrated for."""
LOG_BOUNDS = (-12.0, 14.0)
"""Bounds of every log parameter in the optimiser: a boundary estimate stops here."""

SpendModel = Literal["gamma_gamma", "pooled_mean", "none"]


def rfm_at(
    transactions: pd.DataFrame, *, cutoff: str | pd.Timestamp, customer_ids: pd.Index
) -> pd.DataFrame:
    """Frequency, recency, T and monetary value of each customer at ``cutoff``.

    Only orders (not refunds) strictly before ``cutoff`` count, collapsed into purchase
    days (see :mod:`features.families.purchase_days`).

    Parameters
    ----------
    transactions : DataFrame
        The validated contract table.
    cutoff : str or Timestamp
        Exclusive cutoff; naive values are UTC.
    customer_ids : pandas.Index
        Unique customer ids; one output row per id, in this order.

    Returns
    -------
    DataFrame, shape (len(customer_ids), 4)
        :data:`RFM_COLUMNS` in days and currency units, indexed by ``customer_id``; all 0
        for a customer without an order before ``cutoff``.

    Raises
    ------
    ConfigError
        When ``customer_ids`` has duplicates.
    """
    cutoff = as_utc(cutoff)
    index = _unique_index(customer_ids)
    refund = transactions["is_refund"].fillna(False).to_numpy(dtype=bool)
    view = visible_events(
        transactions.loc[~refund],
        ORDERED_AT,
        index=index,
        as_of=cutoff,
        columns=(ORDERED_AT, "amount"),
    )
    pos, day, value = purchase_days(
        view.pos,
        view.rows[ORDERED_AT].to_numpy(dtype="datetime64[ns]"),
        view.rows["amount"].to_numpy(dtype="float64"),
    )
    columns = rfm_from_days(pos, day, value, n=len(index), as_of=cutoff)
    return pd.DataFrame(
        dict(zip(RFM_COLUMNS, (columns[c] for c in PURCHASE_DAY_FEATURES), strict=True)),
        index=pd.Index(index, name=CUSTOMER_ID),
    )


def rfm_of_features(features: pd.DataFrame) -> pd.DataFrame:
    """:data:`RFM_COLUMNS` read from built features' :data:`PURCHASE_DAY_FEATURES`."""
    return pd.DataFrame(
        {
            new: features[old].to_numpy(dtype="float64", na_value=0.0)
            for new, old in zip(RFM_COLUMNS, PURCHASE_DAY_FEATURES, strict=True)
        },
        index=features.index,
    )


@dataclass(frozen=True)
class BTYDParams:
    """A fitted BG/NBD + Gamma-Gamma pair: population parameters, no customer data.

    Attributes
    ----------
    r, alpha, a, b : float
        BG/NBD: purchase-rate shape and scale (``alpha`` in days), dropout Beta shapes.
    p, q, v : float
        Gamma-Gamma: order-value shape, and the shape and scale (currency units) of the
        customers' rate; NaN when not fitted.
    spend_model : {"gamma_gamma", "pooled_mean", "none"}
        Where the expected order value comes from (see the module notes).
    pooled_value : float
        Pooled mean value of a repeat purchase day, currency units (0 when none).
    customers : int
        Customers with an order the fit saw.
    """

    r: float
    alpha: float
    a: float
    b: float
    p: float
    q: float
    v: float
    spend_model: SpendModel
    pooled_value: float
    customers: int

    def as_dict(self) -> dict[str, float]:
        """``{name: value}`` of :data:`PARAM_NAMES` (for MLflow params)."""
        return {k: float(v) for k, v in asdict(self).items() if k in PARAM_NAMES}

    def predict(self, rfm: pd.DataFrame, *, horizon_days: int) -> pd.DataFrame:
        """Per-customer BTYD quantities over ``[cutoff, cutoff + horizon_days)``.

        Parameters
        ----------
        rfm : DataFrame, shape (n, 4)
            :data:`RFM_COLUMNS` (days); ``T == 0`` marks a customer without an order.
        horizon_days : int
            Horizon ``h`` in days, >= 1.

        Returns
        -------
        DataFrame, shape (n, 5)
            Same index; float64 :data:`PREDICTION_COLUMNS`: ``p_alive`` (0–1),
            ``p_no_purchase`` (0–1: no purchase day in the horizon), ``expected_orders``
            (purchase days in the horizon), ``order_value`` (currency units per purchase
            day) and ``expected_spend`` (orders x value). A customer without an order gets
            NaN for the probabilities and the value, 0 for orders and spend.

        Raises
        ------
        ConfigError
            When ``horizon_days`` is not an integer >= 1.
        """
        return self.predict_horizons(rfm, (horizon_days,))[horizon_days]

    def predict_horizons(
        self, rfm: pd.DataFrame, horizons: Sequence[int]
    ) -> dict[int, pd.DataFrame]:
        """:meth:`predict` over each of ``horizons`` (days), ``{horizon: frame}``.

        P(alive) and the order value do not depend on the horizon: computed once for all
        (the scoring core's block for the churn and LTV models that share one fit).
        Raises :class:`ConfigError` when a horizon is not an integer >= 1.
        """
        for h in horizons:
            if not isinstance(h, int | np.integer) or isinstance(h, bool) or h < 1:
                raise ConfigError("horizon_days", h, "an integer number of days >= 1")
        x = rfm["frequency"].to_numpy(dtype="float64")
        tx = rfm["recency"].to_numpy(dtype="float64") / FIT_DAYS_PER_UNIT
        T = rfm["T"].to_numpy(dtype="float64") / FIT_DAYS_PER_UNIT
        r, alpha, a, b = self.r, self.alpha / FIT_DAYS_PER_UNIT, self.a, self.b
        bought = T > 0
        with np.errstate(all="ignore"):
            alive = _p_alive(x, tx, T, r, alpha, a, b)
        value = self.order_values(x, rfm["monetary_value"].to_numpy(dtype="float64"))
        out = {}
        for horizon_days in horizons:
            h = horizon_days / FIT_DAYS_PER_UNIT
            with np.errstate(all="ignore"):
                stay = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + h)))
                none = np.clip(1.0 - alive + alive * stay, 0.0, 1.0)
                orders = _expected_orders(x, tx, T, h, r, alpha, a, b, alive)
            orders = np.where(bought, orders, 0.0)
            out[horizon_days] = pd.DataFrame(
                {
                    "p_alive": np.where(bought, alive, np.nan),
                    "p_no_purchase": np.where(bought, none, np.nan),
                    "expected_orders": orders,
                    "order_value": np.where(bought, value, np.nan),
                    "expected_spend": np.where(bought, orders * np.nan_to_num(value), 0.0),
                },
                index=rfm.index,
            )
        return out

    def order_values(self, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        """Conditional expected value of one purchase day, currency units, shape (n,)."""
        if self.spend_model == "gamma_gamma":
            with np.errstate(all="ignore"):
                return (self.p * (self.v + x * m)) / (self.p * x + self.q - 1.0)
        return np.full(len(x), self.pooled_value if self.spend_model == "pooled_mean" else 0.0)


def fit_btyd(rfm: pd.DataFrame) -> BTYDParams:
    """Fit BG/NBD and Gamma-Gamma on the customers of ``rfm`` with an order (``T > 0``).

    Parameters
    ----------
    rfm : DataFrame
        :data:`RFM_COLUMNS` (days, currency units), one row per customer.

    Returns
    -------
    BTYDParams

    Raises
    ------
    ConfigError
        When no customer has an order.
    """
    rfm = rfm.loc[rfm["T"].to_numpy() > 0]
    if not len(rfm):
        raise ConfigError("BTYD fit", "no customer with an order", "at least one customer")
    r, alpha, a, b = _fit_bgnbd(
        rfm["frequency"].to_numpy(dtype="float64"),
        rfm["recency"].to_numpy(dtype="float64") / FIT_DAYS_PER_UNIT,
        rfm["T"].to_numpy(dtype="float64") / FIT_DAYS_PER_UNIT,
    )
    x = rfm["frequency"].to_numpy(dtype="float64")
    m = rfm["monetary_value"].to_numpy(dtype="float64")
    p, q, v, spend_model = _fit_gamma_gamma(x, m)
    repeat = float(x.sum())
    pooled = float((x * m).sum() / repeat) if repeat > 0 else 0.0
    if spend_model != "gamma_gamma" and pooled <= 0:
        spend_model = "none"
    return BTYDParams(
        r=r,
        alpha=alpha * FIT_DAYS_PER_UNIT,
        a=a,
        b=b,
        p=p,
        q=q,
        v=v,
        spend_model=spend_model,
        pooled_value=max(pooled, 0.0),
        customers=len(rfm),
    )


def with_btyd_features(
    features: pd.DataFrame, params: BTYDParams | None, *, horizon_days: int
) -> pd.DataFrame:
    """``features`` with :data:`BTYD_FEATURES` over ``horizon_days`` added (replaced).

    ``features`` needs the :data:`~features.families.purchase_days.PURCHASE_DAY_FEATURES`; the
    output is a new frame, same index. Without ``params`` (nobody had ordered at the
    cutoff) the features are unknown: NaN.
    """
    out = features.copy()
    if params is None:
        for name in BTYD_FEATURES:
            out[name] = np.nan
        return out
    predicted = params.predict(rfm_of_features(features), horizon_days=horizon_days)
    for column, name in zip(PREDICTION_COLUMNS, BTYD_FEATURES, strict=True):
        out[name] = predicted[column].to_numpy()
    return out


@dataclass(frozen=True)
class BTYDFeatures:
    """A BTYD fit and the horizon a model reads its :data:`BTYD_FEATURES` over."""

    params: BTYDParams
    horizon_days: int
    names: tuple[str, ...] = BTYD_FEATURES

    def add(self, features: pd.DataFrame) -> pd.DataFrame:
        """:func:`with_btyd_features` of ``features`` (a new frame)."""
        return with_btyd_features(features, self.params, horizon_days=self.horizon_days)


@dataclass(frozen=True)
class BTYDModel:
    """BG/NBD + Gamma-Gamma fitted at one cutoff on given customers, predicting them.

    Attributes
    ----------
    cutoff_ : Timestamp
    rfm_ : DataFrame
        :func:`rfm_at` of the customers, indexed by ``customer_id``.
    params_ : BTYDParams
    """

    cutoff_: pd.Timestamp
    rfm_: pd.DataFrame
    params_: BTYDParams

    @classmethod
    def fit(
        cls, transactions: pd.DataFrame, *, cutoff: str | pd.Timestamp, customer_ids: pd.Index
    ) -> BTYDModel:
        """Fit on the orders before ``cutoff`` of ``customer_ids`` (see :func:`rfm_at`).

        Raises
        ------
        ConfigError
            When ``customer_ids`` has duplicates, or none of them ordered before ``cutoff``.
        """
        cutoff = as_utc(cutoff)
        rfm = rfm_at(transactions, cutoff=cutoff, customer_ids=customer_ids)
        if not (rfm["T"] > 0).any():
            raise ConfigError(
                "cutoff",
                f"{cutoff:%Y-%m-%d %H:%M}",
                f"a time after the first order of at least one of the {len(rfm)} customers",
            )
        params = fit_btyd(rfm)
        log.info("BTYD at %s: %s", f"{cutoff:%Y-%m-%d}", params)
        return cls(cutoff_=cutoff, rfm_=rfm, params_=params)

    def predict(self, *, horizon_days: int) -> pd.DataFrame:
        """:meth:`BTYDParams.predict` of the fitted customers."""
        return self.params_.predict(self.rfm_, horizon_days=horizon_days)


def _unique_index(customer_ids: pd.Index) -> pd.Index:
    index = pd.Index(customer_ids)
    if not index.is_unique:
        dup = index[index.duplicated()].unique()[:5].tolist()
        raise ConfigError("customer_ids", f"{len(dup)}+ duplicated ids, e.g. {dup}", "unique ids")
    return index


def _p_alive(x, tx, T, r, alpha, a, b) -> np.ndarray:
    """BG/NBD P(alive at T | x, t_x, T) [2]; 1 without a repeat purchase."""
    log_ratio = (r + x) * (np.log(alpha + T) - np.log(alpha + tx))
    odds = np.where(x > 0, np.exp(np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) + log_ratio), 0)
    return 1.0 / (1.0 + odds)


def _expected_orders(x, tx, T, h, r, alpha, a, b, alive) -> np.ndarray:
    """E[purchases in (T, T + h] | x, t_x, T] [1], eq. (10); bounded by the no-dropout rate.

    Where the closed form cancels catastrophically (dropout near 0: ``b`` huge), the
    bound ``P(alive) (r + x) h / (alpha + T)`` (no dropout from now on) is used instead.
    """
    bound = alive * (r + x) * h / (alpha + T)
    first = (a + b + x - 1) / (a - 1)
    z = h / (alpha + T + h)
    tail = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + h)))
    exact = first * (1.0 - tail * hyp2f1(r + x, b + x, a + b + x - 1, z)) * alive
    ok = np.isfinite(exact) & (exact >= 0) & (exact <= bound * (1 + 1e-9))
    return np.where(ok, exact, bound)


def _weighted_unique(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Distinct rows of the columns and how often each occurs."""
    stacked = np.column_stack(columns)
    rows, counts = np.unique(stacked, axis=0, return_counts=True)
    return [rows[:, i] for i in range(rows.shape[1])], counts.astype("float64")


def _fit_bgnbd(x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> tuple[float, float, float, float]:
    """MAP ``r, alpha, a, b`` (time in the unit of ``tx`` and ``T``) under the module's priors."""
    (x, tx, T), w = _weighted_unique(x, tx, T)
    repeat = x > 0

    def objective(theta: np.ndarray) -> float:
        r, alpha, phi, kappa = _bgnbd_natural(theta)
        a, b = phi * kappa, (1 - phi) * kappa
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
        a3 = -(r + x) * np.log(alpha + T)
        a4 = np.where(
            repeat,
            np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + tx),
            -np.inf,
        )
        ll = float(np.sum(w * (a1 + a2 + np.logaddexp(a3, a4))))
        prior = (
            math.log(r)
            - r**2  # Weibull(2, 1)
            + math.log(alpha)
            - (alpha / 10.0) ** 2  # Weibull(2, 10)
            - 2.0 * math.log(kappa)  # Pareto(1, 1), kappa >= 1
        )
        value = -(ll + prior)
        return value if math.isfinite(value) else 1e300

    best = None
    for start in ((0.0, math.log(max(float(np.median(T)), 1.0)), 0.0, 1.0), (-1.0, 1.0, -2.0, 3.0)):
        result = minimize(objective, np.array(start), method="L-BFGS-B", bounds=[LOG_BOUNDS] * 4)
        if best is None or result.fun < best.fun:
            best = result
    r, alpha, phi, kappa = _bgnbd_natural(best.x)
    return r, alpha, phi * kappa, (1 - phi) * kappa


def _bgnbd_natural(theta: np.ndarray) -> tuple[float, float, float, float]:
    """``r, alpha, phi, kappa`` from the optimiser's unbounded coordinates."""
    r, alpha = math.exp(theta[0]), math.exp(theta[1])
    phi = 1.0 / (1.0 + math.exp(-theta[2]))
    phi = min(max(phi, 1e-12), 1 - 1e-12)
    kappa = 1.0 + math.exp(theta[3])
    return r, alpha, phi, kappa


def _fit_gamma_gamma(x: np.ndarray, m: np.ndarray) -> tuple[float, float, float, SpendModel]:
    """Maximum-likelihood ``p, q, v`` (``v`` in currency units) and the spend model."""
    usable = (x > 0) & (m > 0)
    if not usable.any():
        log.warning("no customer has a repeat purchase of positive value: expected spend is 0")
        return math.nan, math.nan, math.nan, "none"
    scale = float(m[usable].mean())
    (xu, mu), w = _weighted_unique(x[usable], m[usable] / scale)

    def objective(theta: np.ndarray) -> float:
        p, q, v = np.exp(theta)
        ll = (
            gammaln(p * xu + q)
            - gammaln(p * xu)
            - gammaln(q)
            + q * np.log(v)
            + (p * xu - 1) * np.log(mu)
            + p * xu * np.log(xu)
            - (p * xu + q) * np.log(v + xu * mu)
        )
        value = -float(np.sum(w * ll))
        return value if math.isfinite(value) else 1e300

    result = minimize(objective, np.zeros(3), method="L-BFGS-B", bounds=[LOG_BOUNDS] * 3)
    p, q, v = (float(t) for t in np.exp(result.x))
    if all(math.isfinite(t) for t in (p, q, v)) and q > 1:
        return p, q, v * scale, "gamma_gamma"
    log.warning(
        "Gamma-Gamma estimate unusable (p=%.4g, q=%.4g): orders valued at the pooled mean", p, q
    )
    return p, q, v * scale, "pooled_mean"
