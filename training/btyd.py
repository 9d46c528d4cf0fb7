"""BTYD reference model: BG/NBD for P(alive) and future orders, Gamma-Gamma for order value.

The classic "buy 'til you die" pair our LightGBM models are compared against:

- **BG/NBD** (Fader, Hardie & Lee 2005): while alive, a customer buys as a Poisson process
  with rate ``lambda ~ Gamma(r, alpha)``; after each repeat purchase they drop out with
  probability ``p ~ Beta(a, b)``. It gives P(alive) at the cutoff and the expected number
  of orders over a horizon from three numbers per customer (frequency, recency, T).
- **Gamma-Gamma** (Fader & Hardie 2013): order values vary around a customer's mean
  ``p / nu`` with ``nu ~ Gamma(q, v)``; it gives each customer's conditional expected
  value of one order. Expected spend = expected orders x expected order value.

Both are fitted with `pymc-marketing <https://www.pymc-marketing.io>`_
(``pymc_marketing.clv.BetaGeoModel`` and ``GammaGammaModel``) by maximum a posteriori
(``method="map"``); the data preparation is :func:`rfm_at`, which applies the project's
point-in-time rule (:func:`features.events.visible_events`: an order is visible at
``cutoff`` when strictly before it) instead of ``pymc_marketing.clv.rfm_summary``
(which keeps events *at* its end date).

Choices, so the numbers can be read:

- An *order* is a **purchase day** (UTC calendar day, dated at its start): orders on the
  same day are one purchase with their amounts summed; refunds are ignored entirely.
- BG/NBD is fitted with time in **weeks** under pymc-marketing's default priors, written
  out in :func:`_bgnbd_priors` (``r ~ Weibull(2, 1)``, ``alpha ~ Weibull(2, 10)`` weeks,
  ``a = phi * kappa``, ``b = (1 - phi) * kappa``, ``phi ~ Uniform(0, 1)``,
  ``kappa ~ Pareto(1, 1)``), which are calibrated for weekly data. They are weak for
  thousands of customers (estimates within a few % of the plain maximum likelihood) and
  keep the fit finite for a handful of customers, or when nobody has repeated yet.
  ``alpha`` is reported in days.
- Gamma-Gamma is fitted with pymc-marketing's flat priors (= maximum likelihood) on
  the customers with at least one repeat purchase of positive value, with money scaled
  by their mean order value (``v`` is reported in currency units). When its estimate is
  unusable (non-finite, ``q <= 1`` so the population mean order value is infinite), every
  customer's order value is the pooled mean value of all repeat purchases, the model's
  own limit when customers do not differ; when no customer has a repeat purchase of
  positive value, the expected order value, and so the expected spend, is 0.
- pytensor compiles the likelihood in ``FAST_COMPILE`` mode (Python-linked NumPy
  kernels, no C compiler) for up to :data:`FAST_COMPILE_MAX_CUSTOMERS` customers, and in
  its default C ``FAST_RUN`` mode above. Measured on 2 cores (50 000 customers, 1.1 M
  transactions): ``FAST_COMPILE`` fits in ~14 s every time; ``FAST_RUN`` needs ~29 s on
  a cold compile cache (``~/.pytensor``) but ~2 s once warm, so it wins for larger data.
  Both give the same estimates. Importing pymc-marketing takes another ~8-10 s, paid
  once per process, on the first fit (never at import of this module).

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
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from features.errors import ConfigError
from features.events import NS_PER_DAY, EventView, as_utc, visible_events
from features.schema import CUSTOMER_ID, TRANSACTIONS

if TYPE_CHECKING:
    from types import ModuleType

log = logging.getLogger(__name__)

ORDERED_AT = TRANSACTIONS.time_column or "ordered_at"
AMOUNT = "amount"
IS_REFUND = "is_refund"

RFM_COLUMNS = ("frequency", "recency", "T", "monetary_value")
"""Columns of :func:`rfm_at` (lifetimes / pymc-marketing names)."""
PREDICTION_COLUMNS = ("p_alive", "expected_orders", "expected_spend")
"""Columns of :meth:`BTYDModel.predict`."""
PARAM_NAMES = ("r", "alpha", "a", "b", "p", "q", "v")
"""Keys of :attr:`BTYDModel.params_`, in logging order."""

FIT_DAYS_PER_UNIT = 7.0
"""BG/NBD is fitted in weeks, the time unit its default priors are calibrated for."""
FAST_COMPILE_MAX_CUSTOMERS = 100_000
"""Fits on more customers than this use pytensor's C backend (see the module notes)."""

SpendModel = Literal["gamma_gamma", "pooled_mean", "none"]


def rfm_at(
    transactions: pd.DataFrame, *, cutoff: str | pd.Timestamp, customer_ids: pd.Index
) -> pd.DataFrame:
    """Frequency, recency, T and monetary value of each customer at ``cutoff``.

    Only orders (rows that are not refunds) placed strictly before ``cutoff`` count. An
    order is a purchase day: a UTC calendar day with at least one order, dated at the
    start of the day, its value the sum of that day's order amounts.

    Parameters
    ----------
    transactions : DataFrame
        The validated contract table (``customer_id``, ``ordered_at`` as
        ``datetime64[ns, UTC]``, ``amount`` float, ``is_refund`` boolean).
    cutoff : str or Timestamp
        Exclusive cutoff; naive values are UTC.
    customer_ids : pandas.Index
        Unique customer ids; the output has one row per id, in this order. Rows of other
        customers are ignored.

    Returns
    -------
    DataFrame, shape (len(customer_ids), 4)
        Indexed by ``customer_id``; float64 columns:

        - ``frequency``: repeat purchases, distinct purchase days - 1.
        - ``recency``: days from the first to the last purchase day.
        - ``T``: days from the first purchase day to ``cutoff`` (> ``recency``;
          fractional when ``cutoff`` is not at midnight UTC).
        - ``monetary_value``: mean value of the repeat purchase days (the first
          purchase day excluded), currency units; 0 without repeat purchases.

        Customers without any order before ``cutoff`` get 0 everywhere (T = 0 marks
        them; :class:`BTYDModel` does not fit or predict them).

    Raises
    ------
    ConfigError
        When ``customer_ids`` has duplicates.
    """
    cutoff = as_utc(cutoff)
    index = _unique_index(customer_ids)
    view = visible_events(orders_only(transactions), ORDERED_AT, index=index, as_of=cutoff)
    pos, day, value = purchase_days(view)
    return rfm_from_days(pos, day, value, index=index, cutoff=cutoff)


def orders_only(transactions: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``transactions`` that are orders, not refunds."""
    refund = transactions[IS_REFUND].fillna(False).to_numpy(dtype=bool)
    return transactions.loc[~refund]


def purchase_days(view: EventView) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Collapse visible orders into purchase days.

    Returns
    -------
    pos : ndarray of int64
        Customer position of each purchase day, ascending.
    day : ndarray of int64
        UTC day number (days since 1970-01-01), ascending within a customer.
    value : ndarray of float64
        Sum of the day's order amounts, currency units.
    """
    ns = view.rows[ORDERED_AT].to_numpy(dtype="datetime64[ns]").astype("int64")
    day = np.floor_divide(ns, NS_PER_DAY)
    amount = view.rows[AMOUNT].to_numpy(dtype="float64")
    if not len(day):
        return view.pos, day, amount
    starts = np.flatnonzero(np.r_[True, (view.pos[1:] != view.pos[:-1]) | (day[1:] != day[:-1])])
    return view.pos[starts], day[starts], np.add.reduceat(amount, starts)


def rfm_from_days(
    pos: np.ndarray, day: np.ndarray, value: np.ndarray, *, index: pd.Index, cutoff: pd.Timestamp
) -> pd.DataFrame:
    """The :func:`rfm_at` frame from purchase days (see :func:`purchase_days`)."""
    n = len(index)
    days = np.bincount(pos, minlength=n).astype("float64")
    total = np.bincount(pos, weights=value, minlength=n)
    first_day, last_day, first_value = np.zeros(n), np.zeros(n), np.zeros(n)
    if len(pos):
        firsts = np.flatnonzero(np.r_[True, pos[1:] != pos[:-1]])
        lasts = np.r_[firsts[1:] - 1, len(pos) - 1]
        customer = pos[firsts]
        first_day[customer] = day[firsts]
        last_day[customer] = day[lasts]
        first_value[customer] = value[firsts]
    bought = days > 0
    frequency = np.where(bought, days - 1, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        monetary = np.where(frequency > 0, (total - first_value) / frequency, 0.0)
    cutoff_day = cutoff.value / NS_PER_DAY
    return pd.DataFrame(
        {
            "frequency": frequency,
            "recency": np.where(bought, last_day - first_day, 0.0),
            "T": np.where(bought, cutoff_day - first_day, 0.0),
            "monetary_value": monetary,
        },
        index=pd.Index(index, name=CUSTOMER_ID),
    )


@dataclass(frozen=True)
class BTYDModel:
    """BG/NBD + Gamma-Gamma fitted at one cutoff, predicting the customers it was fitted on.

    Build it with :meth:`fit`. Customers without an order before the cutoff are not part
    of either model: their ``p_alive`` is NaN and their expected orders and spend are 0.

    Attributes
    ----------
    cutoff_ : Timestamp
        The exclusive cutoff, UTC.
    rfm_ : DataFrame
        :func:`rfm_at` of the fitted customers, indexed by ``customer_id``.
    params_ : dict of str to float
        Fitted ``r`` (shape), ``alpha`` (scale, days), ``a``, ``b`` (dropout Beta shapes),
        ``p`` (order-value shape), ``q`` (shape) and ``v`` (scale, currency units); ``p``,
        ``q``, ``v`` are NaN when Gamma-Gamma was not fitted.
    spend_model_ : {"gamma_gamma", "pooled_mean", "none"}
        Where the expected order value comes from (see the module notes).
    order_value_ : Series
        Conditional expected value of one future order (purchase day), currency units,
        float64, indexed like ``rfm_``; NaN for customers without an order.
    """

    cutoff_: pd.Timestamp
    rfm_: pd.DataFrame
    params_: dict[str, float]
    spend_model_: SpendModel
    order_value_: pd.Series
    _bgnbd: Any = field(repr=False, compare=False)

    @classmethod
    def fit(
        cls,
        transactions: pd.DataFrame,
        *,
        cutoff: str | pd.Timestamp,
        customer_ids: pd.Index,
        seed: int = 0,
    ) -> BTYDModel:
        """Fit BG/NBD and Gamma-Gamma on the orders before ``cutoff``.

        Parameters
        ----------
        transactions : DataFrame
            The validated contract table (see :func:`rfm_at`).
        cutoff : str or Timestamp
            Exclusive cutoff; naive values are UTC.
        customer_ids : pandas.Index
            Unique ids of the customers to fit and predict.
        seed : int, default=0
            Passed to pymc's ``find_MAP`` (seed of its initial point). The initial point
            is not jittered and the optimiser (L-BFGS-B) is deterministic, so equal inputs
            give identical results, whatever the seed; it is kept for the same signature
            as the other model families.

        Returns
        -------
        BTYDModel

        Raises
        ------
        ConfigError
            When ``customer_ids`` has duplicates, or no customer ordered before
            ``cutoff``.
        """
        cutoff = as_utc(cutoff)
        rfm = rfm_at(transactions, cutoff=cutoff, customer_ids=customer_ids)
        bought = rfm["T"].to_numpy() > 0
        if not bought.any():
            raise ConfigError(
                "cutoff",
                f"{cutoff:%Y-%m-%d %H:%M}",
                f"a time after the first order of at least one of the {len(rfm)} customers",
            )
        clv, prior = _pymc_marketing()
        bgnbd, bg_params = _fit_bgnbd(clv, prior, rfm.loc[bought], seed=seed)
        values, spend_model, gg_params = _fit_gamma_gamma(clv, prior, rfm.loc[bought], seed=seed)
        order_value = np.full(len(rfm), np.nan)
        order_value[bought] = values
        params = {**bg_params, **gg_params}
        log.info(
            "BTYD at %s on %d customers (%d with orders): %s, order value from %s",
            f"{cutoff:%Y-%m-%d}",
            len(rfm),
            int(bought.sum()),
            ", ".join(f"{k}={params[k]:.4g}" for k in PARAM_NAMES),
            spend_model,
        )
        return cls(
            cutoff_=cutoff,
            rfm_=rfm,
            params_={k: params[k] for k in PARAM_NAMES},
            spend_model_=spend_model,
            order_value_=pd.Series(order_value, index=rfm.index, name="order_value"),
            _bgnbd=bgnbd,
        )

    def predict(self, *, horizon_days: int) -> pd.DataFrame:
        """P(alive) at the cutoff, expected orders and spend over ``[cutoff, cutoff + horizon)``.

        Parameters
        ----------
        horizon_days : int
            Length of the horizon in days, >= 1.

        Returns
        -------
        DataFrame, shape (n_customers, 3)
            Indexed by ``customer_id`` like ``rfm_``; float64 columns ``p_alive``
            (probability, 0-1; NaN without an order before the cutoff), ``expected_orders``
            (purchase days over the horizon) and ``expected_spend`` (currency units over
            the horizon, ``expected_orders x order_value_``); both 0 without an order.

        Raises
        ------
        ConfigError
            When ``horizon_days`` is not an integer >= 1.
        """
        whole = isinstance(horizon_days, int | np.integer) and not isinstance(horizon_days, bool)
        if not whole or horizon_days < 1:
            raise ConfigError("horizon_days", horizon_days, "an integer number of days >= 1")
        bought = self.rfm_["T"].to_numpy() > 0
        p_alive = np.full(len(bought), np.nan)
        orders = np.zeros(len(bought))
        p_alive[bought] = _per_customer(self._bgnbd.expected_probability_alive())
        orders[bought] = _per_customer(
            self._bgnbd.expected_purchases(future_t=horizon_days / FIT_DAYS_PER_UNIT)
        )
        spend = np.where(bought, orders * self.order_value_.to_numpy(), 0.0)
        return pd.DataFrame(
            {"p_alive": p_alive, "expected_orders": orders, "expected_spend": spend},
            index=self.rfm_.index,
        )


def _unique_index(customer_ids: pd.Index) -> pd.Index:
    index = pd.Index(customer_ids)
    if not index.is_unique:
        dup = index[index.duplicated()].unique()[:5].tolist()
        raise ConfigError("customer_ids", f"{len(dup)}+ duplicated ids, e.g. {dup}", "unique ids")
    return index


def _pymc_marketing() -> tuple[ModuleType, type]:
    """Import pymc-marketing (slow: ~8 s) only when a model is fitted."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)  # arviz's refactor notice
        from pymc_extras.prior import Prior
        from pymc_marketing import clv
    return clv, Prior


def _bgnbd_priors(prior: type) -> dict[str, Any]:
    """pymc-marketing 0.19's default BG/NBD priors, spelled out so upgrades cannot move them."""
    return {
        "r": prior("Weibull", alpha=2, beta=1),
        "alpha": prior("Weibull", alpha=2, beta=10),
        "phi_dropout": prior("Uniform", lower=0, upper=1),
        "kappa_dropout": prior("Pareto", alpha=1, m=1),
    }


def _map_fit(model: Any, data: pd.DataFrame, *, seed: int) -> None:
    import pytensor

    mode = "FAST_COMPILE" if len(data) <= FAST_COMPILE_MAX_CUSTOMERS else "FAST_RUN"
    with pytensor.config.change_flags(mode=mode), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=RuntimeWarning)  # overflow while line-searching
        model.fit(data=data, method="map", progressbar=False, seed=seed)


def _posterior(model: Any, name: str) -> float:
    return float(model.fit_result[name].mean())


def _per_customer(values: Any) -> np.ndarray:
    """A MAP prediction (chain, draw, customer_id) as float64, shape (n,).

    The models are given ``customer_id = 0..n-1``, so xarray's alignment (which sorts the
    coordinate) keeps the input order.
    """
    return np.asarray(values.mean(("chain", "draw")).to_numpy(), dtype="float64")


def _fit_bgnbd(
    clv: ModuleType, prior: type, rfm: pd.DataFrame, *, seed: int
) -> tuple[Any, dict[str, float]]:
    """The fitted pymc-marketing ``BetaGeoModel`` (time in weeks) and ``r, alpha, a, b``."""
    data = pd.DataFrame(
        {
            "customer_id": np.arange(len(rfm)),
            "frequency": rfm["frequency"].to_numpy(),
            "recency": rfm["recency"].to_numpy() / FIT_DAYS_PER_UNIT,
            "T": rfm["T"].to_numpy() / FIT_DAYS_PER_UNIT,
        }
    )
    model = clv.BetaGeoModel(model_config=_bgnbd_priors(prior))
    _map_fit(model, data, seed=seed)
    params = {name: _posterior(model, name) for name in ("r", "alpha", "a", "b")}
    if not all(math.isfinite(v) and v > 0 for v in params.values()):
        raise RuntimeError(f"BG/NBD fit ended at invalid parameters {params}")
    params["alpha"] *= FIT_DAYS_PER_UNIT
    return model, params


def _fit_gamma_gamma(
    clv: ModuleType, prior: type, rfm: pd.DataFrame, *, seed: int
) -> tuple[np.ndarray, SpendModel, dict[str, float]]:
    """Expected value of one order per customer, the source of it, and ``p, q, v``."""
    x = rfm["frequency"].to_numpy()
    m = rfm["monetary_value"].to_numpy()
    params = dict.fromkeys(("p", "q", "v"), math.nan)
    usable = (x > 0) & (m > 0)
    if not usable.any():
        log.warning("no customer has a repeat purchase of positive value: expected spend is 0")
        return np.zeros(len(rfm)), "none", params
    scale = float(m[usable].mean())
    model = clv.GammaGammaModel(model_config={k: prior("HalfFlat") for k in ("p", "q", "v")})
    _map_fit(
        model,
        pd.DataFrame(
            {
                "customer_id": np.arange(int(usable.sum())),
                "frequency": x[usable],
                "monetary_value": m[usable] / scale,
            }
        ),
        seed=seed,
    )
    params = {name: _posterior(model, name) for name in ("p", "q", "v")}
    values = np.full(len(rfm), np.nan)
    if all(math.isfinite(v) and v > 0 for v in params.values()) and params["q"] > 1:
        with np.errstate(all="ignore"):
            values = scale * _per_customer(
                model.expected_customer_spend(
                    pd.DataFrame(
                        {
                            "customer_id": np.arange(len(rfm)),
                            "frequency": x,
                            "monetary_value": m / scale,
                        }
                    )
                )
            )
    params["v"] *= scale
    if np.isfinite(values).all() and (values >= 0).all():
        return values, "gamma_gamma", params
    pooled = float((x * m).sum() / x.sum())
    log.warning(
        "Gamma-Gamma estimate unusable (p=%.4g, q=%.4g, v=%.4g): every order is valued at "
        "the pooled mean repeat purchase, %.4g",
        params["p"],
        params["q"],
        params["v"],
        pooled,
    )
    return np.full(len(rfm), pooled), "pooled_mean", params
