"""Retention KPIs from the contract tables: the seeds' formulas, and their values per month.

Two kinds of function live here:

* the formulas themselves on plain numbers (:func:`retention_rate`, :func:`churn_rate`,
  :func:`net_promoter_score`, :func:`csat_score`, :func:`customer_effort_score`), so
  the seeds' worked example reads as code: ``retention_rate(200, 180, 20) == 80.0``;
* :func:`monthly_kpis`, every KPI for each calendar month (UTC) of the history.

Who is a customer at an instant ``t`` (:func:`customer_base`) is stated once:

* a *contractual* (``subscription``) customer signed up before ``t`` and had not
  cancelled before ``t``;
* a *non-contractual* customer signed up before ``t``, had not cancelled before ``t``
  and placed an order (not a refund) in the *active window* ``[t - active_days, t)``,
  90 days by default: the same window :func:`features.families.population.active_customers` uses to
  decide whom the models score (which additionally asks every customer for an order).

"Before ``t``" means strictly before, as everywhere in ``features/``. For the month
``[s, e)``: ``S`` = customers at ``s``, ``E`` = customers at ``e``, ``N`` = customers at
``e`` who were not customers at ``s`` (sign-ups of the month, and lapsed non-contractual
customers who ordered again), so ``E - N`` are exactly the customers kept from ``S``
and the retention and churn rates add up to 100 %.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from features.contract.errors import ConfigError
from features.contract.schema import CONTRACT_TYPES, CUSTOMER_ID
from features.contract.tables import Tables
from features.families.attributes import contract_type
from features.families.events import as_utc, days_before, known_before
from features.families.population import ACTIVE_DAYS
from serving.report.kpi_engagement import ENGAGEMENT_DEFINITIONS, engagement_kpis
from serving.report.months import month_ceil, month_edges, month_floor, month_of

log = logging.getLogger(__name__)

"""Default active window of non-contractual customers, days."""

SATISFIED_FROM = 4
"""CSAT answers (1–5) from which a customer counts as satisfied."""


@dataclass(frozen=True)
class KPI:
    """How one KPI is named, measured and defined (for reports and notebooks)."""

    label: str
    unit: str
    definition: str


DEFINITIONS: dict[str, KPI] = {
    "crr_pct": KPI(
        "Customer retention rate (CRR)",
        "%",
        "(E − N) / S × 100: S customers at the start of the month, E at its end, N of "
        "them new in the month (sign-ups and returning lapsed buyers). Start 200, end "
        "180, new 20 gives 80 %.",
    ),
    "churn_rate_pct": KPI(
        "Churn rate",
        "%",
        "Customers lost in the month / customers at its start × 100 (= 100 − CRR). A "
        "subscriber is lost when the contract is cancelled; a non-contractual customer "
        "when no order falls in the last 90 days.",
    ),
    "repeat_purchase_rate_pct": KPI(
        "Repeat purchase rate",
        "%",
        "Buyers of the month who have ordered at least twice in total (this month or "
        "before) / buyers of the month × 100.",
    ),
    "nps": KPI(
        "Net Promoter Score (NPS)",
        "points, −100 to 100",
        "% promoters (9–10) − % detractors (0–6) among the NPS answers of the month; "
        "passives (7–8) count in the base only.",
    ),
    "csat_pct": KPI(
        "Customer satisfaction (CSAT)",
        "%",
        "Satisfied answers (4 or 5 on 1–5) / survey CSAT answers of the month × 100.",
    ),
    "ces_mean": KPI(
        "Customer effort score (CES)",
        "1–7, lower is easier",
        "Mean of the survey effort answers of the month (1 very easy … 7 very hard).",
    ),
    "aov": KPI(
        "Average order value (AOV)",
        "currency",
        "Value of the month's orders (refunds excluded) / number of orders.",
    ),
    "spend_per_customer": KPI(
        "Spend per customer",
        "currency",
        "Net revenue of the month (orders − refunds) / customers who ordered in it.",
    ),
    "avg_ltv": KPI(
        "Average customer lifetime value (LTV)",
        "currency",
        "Customer value per month × expected lifetime in months: net revenue / "
        "average number of customers ((S + E) / 2), times 100 / churn rate.",
    ),
    "tickets_per_100_customers": KPI(
        "Support volume",
        "tickets per 100 customers",
        "Support tickets opened in the month per 100 customers at its start.",
    ),
    "resolution_hours_median": KPI(
        "Resolution time",
        "hours",
        "Median time from opening to resolution of the tickets opened in the month "
        "(unresolved tickets excluded and counted separately).",
    ),
    **{name: KPI(*fields) for name, fields in ENGAGEMENT_DEFINITIONS.items()},
}
"""Every KPI of :func:`monthly_kpis` shown in the report, with its definition."""


# --------------------------------------------------------------------------- formulas


def retention_rate(customers_start: float, customers_end: float, new_customers: float) -> float:
    """Customer retention rate CRR = (E − N) / S × 100.

    Parameters
    ----------
    customers_start : float
        S, customers at the start of the period (count, ≥ 0).
    customers_end : float
        E, customers at the end of the period (count, ≥ 0).
    new_customers : float
        N, customers at the end who were not customers at the start (count, 0 ≤ N ≤ E).

    Returns
    -------
    float
        Percent of the starting customers kept; NaN when S is 0.

    Raises
    ------
    ConfigError
        When a count is negative or N exceeds E (also a ``ValueError``).

    Examples
    --------
    >>> retention_rate(200, 180, 20)
    80.0
    """
    for name, value in (
        ("customers_start", customers_start),
        ("customers_end", customers_end),
        ("new_customers", new_customers),
    ):
        if not value >= 0:
            raise ConfigError(name, value, "a count ≥ 0")
    if new_customers > customers_end:
        raise ConfigError(
            "new_customers", new_customers, f"at most customers_end ({customers_end!r})"
        )
    if customers_start == 0:
        return float("nan")
    return (customers_end - new_customers) / customers_start * 100.0


def churn_rate(customers_start: float, customers_lost: float) -> float:
    """Churn rate = customers lost / customers at the start × 100 (percent; NaN if S is 0)."""
    if not (customers_start >= 0 and 0 <= customers_lost <= customers_start):
        raise ConfigError(
            "customers_lost",
            customers_lost,
            f"a count from 0 to customers_start ({customers_start!r})",
        )
    return float("nan") if customers_start == 0 else customers_lost / customers_start * 100.0


@dataclass(frozen=True)
class NPS:
    """A Net Promoter Score with its three shares (percent of ``responses``)."""

    nps: float
    promoters_pct: float
    passives_pct: float
    detractors_pct: float
    responses: int


def net_promoter_score(scores: ArrayLike) -> NPS:
    """NPS = % promoters (9–10) − % detractors (0–6), in points from −100 to 100.

    Parameters
    ----------
    scores : array_like of float, shape (n,)
        Answers 0–10 to "how likely are you to recommend us"; NaN answers are ignored.

    Returns
    -------
    NPS
        The score and the shares of promoters, passives (7–8) and detractors, percent;
        all NaN when there is no answer.
    """
    x = np.asarray(scores, dtype="float64")
    x = x[~np.isnan(x)]
    n = x.size
    if n == 0:
        return NPS(np.nan, np.nan, np.nan, np.nan, 0)
    promoters = np.count_nonzero(x >= 9) / n * 100.0
    detractors = np.count_nonzero(x <= 6) / n * 100.0
    return NPS(promoters - detractors, promoters, 100.0 - promoters - detractors, detractors, n)


def csat_score(ratings: ArrayLike, *, satisfied_from: int = SATISFIED_FROM) -> float:
    """CSAT = satisfied answers (≥ ``satisfied_from`` on 1–5) / answers × 100; NaN if none."""
    x = np.asarray(ratings, dtype="float64")
    x = x[~np.isnan(x)]
    return float(np.count_nonzero(x >= satisfied_from) / x.size * 100.0) if x.size else np.nan


def customer_effort_score(ratings: ArrayLike) -> float:
    """CES = mean effort answer on 1–7 (higher is more effort); NaN if none."""
    x = np.asarray(ratings, dtype="float64")
    x = x[~np.isnan(x)]
    return float(x.mean()) if x.size else np.nan


# --------------------------------------------------------------------------- customer base


def _orders(tables: Tables) -> pd.DataFrame:
    txn = tables.transactions
    return txn.loc[~txn["is_refund"].fillna(False).astype(bool)]


def customer_base(
    tables: Tables, at: str | pd.Timestamp, *, active_days: int = ACTIVE_DAYS
) -> np.ndarray:
    """Customer ids who are customers at the instant ``at`` (see the module doc), sorted.

    Parameters
    ----------
    tables : Tables
        Validated tables.
    at : str or Timestamp
        The instant (UTC); only events strictly before it count.
    active_days : int, default 90
        Active window of non-contractual customers, days.
    """
    return np.sort(
        tables.customers[CUSTOMER_ID].to_numpy()[
            _base_matrix(tables, pd.DatetimeIndex([as_utc(at)]), active_days)[:, 0]
        ]
    )


def _base_matrix(tables: Tables, instants: pd.DatetimeIndex, active_days: int) -> np.ndarray:
    """Boolean (n_customers, n_instants): row i is a customer at instant j."""
    customers = tables.customers
    contractual = (contract_type(customers) == CONTRACT_TYPES[0]).fillna(False).to_numpy()
    orders = _orders(tables)
    pos = pd.Index(customers[CUSTOMER_ID]).get_indexer(orders[CUSTOMER_ID])
    known = pos >= 0
    out = np.zeros((len(customers), len(instants)), bool)
    for j, at in enumerate(instants):
        signed = known_before(customers["signup_at"], at)
        cancelled = known_before(customers["cancelled_at"], at)
        age = days_before(orders["ordered_at"], at)
        recent = np.zeros(len(customers), bool)
        recent[pos[known & (age > 0) & (age <= active_days)]] = True
        out[:, j] = signed & ~cancelled & (contractual | recent)
    return out


# --------------------------------------------------------------------------- per month


def default_period(
    tables: Tables, *, active_days: int = ACTIVE_DAYS
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``(start, end)`` of the complete months that can be measured from the tables.

    ``start`` is the first month start at least ``active_days`` after the first order
    (before it, non-contractual customers would look absent for lack of history);
    ``end`` is the start of the month holding the day after the latest event (the data
    are taken to cover every day up to and including that of the latest event).
    """
    first = tables.transactions["ordered_at"].min() + pd.Timedelta(days=active_days)
    last = tables.data_end().floor("D") + pd.Timedelta(days=1)
    return month_ceil(first), month_floor(last)


def monthly_kpis(
    tables: Tables,
    *,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    active_days: int = ACTIVE_DAYS,
) -> pd.DataFrame:
    """Every retention KPI for each calendar month in ``[start, end)``.

    Parameters
    ----------
    tables : Tables
        Validated tables; optional tables may be empty (their KPIs are then NaN).
    start, end : str or Timestamp, optional
        First month and the month start where measurement stops (exclusive); default
        :func:`default_period`, the complete months of the history.
    active_days : int, default 90
        Active window of non-contractual customers, days.

    Returns
    -------
    DataFrame
        Index ``month`` (UTC month starts), one row per month; columns (counts unless
        stated): ``customers_start`` (S), ``customers_end`` (E), ``new_customers`` (N),
        ``signups``, ``retained`` (E − N), ``lost`` (S − retained), ``crr_pct``,
        ``churn_rate_pct``; ``orders``, ``buyers``, ``revenue`` (net, currency),
        ``aov`` and ``spend_per_customer`` (currency), ``repeat_purchase_rate_pct``,
        ``avg_ltv`` (currency); ``nps`` (points) with ``promoters_pct``,
        ``passives_pct``, ``detractors_pct`` and ``nps_responses``; ``csat_pct``,
        ``csat_mean`` (1–5), ``csat_responses``; ``ces_mean`` (1–7), ``ces_responses``;
        ``tickets``, ``tickets_per_100_customers``, ``resolution_hours_median`` and
        ``resolution_hours_mean`` (hours), ``unresolved_tickets``; the upsell and
        engagement columns of :func:`serving.report.kpi_engagement.engagement_kpis`.
        Definitions in :data:`DEFINITIONS`.

    Raises
    ------
    ConfigError
        When ``[start, end)`` holds no whole month (the CLI's one-panel error, exit 2).
    """
    if start is None or end is None:
        default_start, default_end = default_period(tables, active_days=active_days)
        start, end = start or default_start, end or default_end
    edges = month_edges(start, end)
    if len(edges) < 2:
        raise ConfigError("period", f"{start} to {end}", "at least one whole month")
    months = edges[:-1]
    base = _base_matrix(tables, edges, active_days)
    s, e = base[:, :-1], base[:, 1:]
    out = pd.DataFrame(index=pd.DatetimeIndex(months, name="month"))
    out["customers_start"] = s.sum(axis=0)
    out["customers_end"] = e.sum(axis=0)
    out["new_customers"] = (e & ~s).sum(axis=0)
    out["signups"] = np.bincount(
        month_of(tables.customers["signup_at"], edges), minlength=len(edges)
    )[1:]
    out["retained"] = (e & s).sum(axis=0)
    out["lost"] = (s & ~e).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["crr_pct"] = (
            (out["customers_end"] - out["new_customers"]) / out["customers_start"] * 100
        )
        out["churn_rate_pct"] = out["lost"] / out["customers_start"] * 100
    out = out.join(_purchase_kpis(tables, edges)).join(_survey_kpis(tables, edges))
    out = out.join(_support_kpis(tables, edges)).join(engagement_kpis(tables, edges, base))
    average_customers = (out["customers_start"] + out["customers_end"]) / 2
    out["tickets_per_100_customers"] = out["tickets"] / out["customers_start"] * 100
    out["avg_ltv"] = out["revenue"] / average_customers * (100 / out["churn_rate_pct"])
    out = out.replace([np.inf, -np.inf], np.nan)
    log.info("monthly KPIs for %d months from %s", len(out), f"{months[0]:%Y-%m}")
    return out


def _per_month(values: pd.Series, month: np.ndarray, n: int, how: str) -> np.ndarray:
    keep = month > 0
    grouped = values[keep].groupby(month[keep]).agg(how)
    return grouped.reindex(range(1, n + 1)).to_numpy(dtype="float64")


def _purchase_kpis(tables: Tables, edges: pd.DatetimeIndex) -> pd.DataFrame:
    n = len(edges) - 1
    txn = tables.transactions
    month = month_of(txn["ordered_at"], edges)
    revenue = _per_month(txn["amount"], month, n, "sum")
    orders = _orders(tables).sort_values([CUSTOMER_ID, "ordered_at"], kind="stable")
    order_month = month_of(orders["ordered_at"], edges)
    number = orders.groupby(CUSTOMER_ID, sort=False).cumcount().to_numpy() + 1
    keep = order_month > 0
    per_buyer = (
        pd.DataFrame(
            {
                "month": order_month[keep],
                CUSTOMER_ID: orders[CUSTOMER_ID].to_numpy()[keep],
                "number": number[keep],
            }
        )
        .groupby(["month", CUSTOMER_ID])["number"]
        .max()
    )
    by_month = per_buyer.groupby(level="month")
    buyers = by_month.size().reindex(range(1, n + 1), fill_value=0).to_numpy()
    repeat = (
        (per_buyer >= 2)
        .groupby(level="month")
        .sum()
        .reindex(range(1, n + 1), fill_value=0)
        .to_numpy()
    )
    count = np.bincount(order_month, minlength=n + 1)[1:]
    gross = _per_month(orders["amount"], order_month, n, "sum")
    with np.errstate(divide="ignore", invalid="ignore"):
        return pd.DataFrame(
            {
                "orders": count,
                "buyers": buyers,
                "revenue": np.nan_to_num(revenue),
                "aov": gross / count,
                "spend_per_customer": np.nan_to_num(revenue) / buyers,
                "repeat_purchase_rate_pct": repeat / buyers * 100,
            },
            index=pd.DatetimeIndex(edges[:-1], name="month"),
        )


def _survey_kpis(tables: Tables, edges: pd.DatetimeIndex) -> pd.DataFrame:
    surveys = tables.surveys
    month = month_of(surveys["answered_at"], edges)
    rows = []
    for m in range(1, len(edges)):
        answers = surveys.loc[month == m]
        nps = net_promoter_score(answers["nps"].to_numpy(dtype="float64", na_value=np.nan))
        csat = answers["csat"].to_numpy(dtype="float64", na_value=np.nan)
        ces = answers["ces"].to_numpy(dtype="float64", na_value=np.nan)
        rows.append(
            {
                "nps": nps.nps,
                "promoters_pct": nps.promoters_pct,
                "passives_pct": nps.passives_pct,
                "detractors_pct": nps.detractors_pct,
                "nps_responses": nps.responses,
                "csat_pct": csat_score(csat),
                "csat_mean": float(np.nanmean(csat)) if np.isfinite(csat).any() else np.nan,
                "csat_responses": int(np.isfinite(csat).sum()),
                "ces_mean": customer_effort_score(ces),
                "ces_responses": int(np.isfinite(ces).sum()),
            }
        )
    return pd.DataFrame(rows, index=pd.DatetimeIndex(edges[:-1], name="month"))


def _support_kpis(tables: Tables, edges: pd.DatetimeIndex) -> pd.DataFrame:
    n = len(edges) - 1
    tickets = tables.support_tickets
    month = month_of(tickets["opened_at"], edges)
    hours = (tickets["resolved_at"] - tickets["opened_at"]).dt.total_seconds() / 3600
    resolved = hours.notna().to_numpy()
    return pd.DataFrame(
        {
            "tickets": np.bincount(month, minlength=n + 1)[1:],
            "resolution_hours_median": _per_month(hours, np.where(resolved, month, 0), n, "median"),
            "resolution_hours_mean": _per_month(hours, np.where(resolved, month, 0), n, "mean"),
            "unresolved_tickets": np.bincount(np.where(resolved, 0, month), minlength=n + 1)[1:],
        },
        index=pd.DatetimeIndex(edges[:-1], name="month"),
    )
