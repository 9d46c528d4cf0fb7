"""The sections of the retention report, each a plot with the table of its numbers.

Every builder returns a :class:`Section`, plain data the HTML template lays out:
definitions, an optional note or verdict, headline cards, and blocks of one figure (a
``data:`` URI) beside one table. Nothing here reads files or MLflow; see
:mod:`serving.report.report` for that.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from markupsafe import Markup

from features.families.population import ACTIVE_DAYS
from serving.report import plots, portfolio
from serving.report.blocks import (
    COLUMNS,
    Block,
    Section,
    fmt,
    html_table,
    image,
)
from serving.report.kpi import DEFINITIONS
from serving.report.rfm import SEGMENT_GRID


def _months_table(kpis: pd.DataFrame, columns: Sequence[str]) -> Markup:
    newest_first = kpis.iloc[::-1]
    newest_first = newest_first.set_axis(newest_first.index.strftime("%Y-%m"))
    return html_table(newest_first, {c: COLUMNS[c] for c in columns}, index=("month", "str"))


KPI_SECTIONS: tuple[tuple[str, str, tuple[str, ...], str, tuple[str, ...]], ...] = (
    # id, title, KPIs defined, figure, table columns
    (
        "kpi-retention",
        "Retention and churn",
        ("crr_pct", "churn_rate_pct"),
        "retention",
        (
            "customers_start",
            "new_customers",
            "customers_end",
            "lost",
            "signups",
            "crr_pct",
            "churn_rate_pct",
        ),
    ),
    (
        "kpi-repeat",
        "Repeat purchases",
        ("repeat_purchase_rate_pct",),
        "repeat",
        ("buyers", "orders", "repeat_purchase_rate_pct"),
    ),
    (
        "kpi-nps",
        "Net Promoter Score",
        ("nps",),
        "nps",
        ("nps", "promoters_pct", "passives_pct", "detractors_pct", "nps_responses"),
    ),
    (
        "kpi-satisfaction",
        "Satisfaction (CSAT) and effort (CES)",
        ("csat_pct", "ces_mean"),
        "satisfaction",
        ("csat_pct", "csat_mean", "csat_responses", "ces_mean", "ces_responses"),
    ),
    (
        "kpi-spend",
        "Order value and spend per customer",
        ("aov", "spend_per_customer"),
        "spend",
        ("orders", "buyers", "revenue", "aov", "spend_per_customer"),
    ),
    (
        "kpi-ltv",
        "Customer lifetime value",
        ("avg_ltv",),
        "ltv",
        ("revenue", "customers_start", "customers_end", "churn_rate_pct", "avg_ltv"),
    ),
    (
        "kpi-support",
        "Support volume and resolution time",
        ("tickets_per_100_customers", "resolution_hours_median"),
        "support",
        (
            "tickets",
            "tickets_per_100_customers",
            "resolution_hours_median",
            "resolution_hours_mean",
            "unresolved_tickets",
        ),
    ),
    (
        "kpi-upsell",
        "Upsell: buyers of several product categories",
        ("upsell_rate_pct",),
        "upsell",
        ("multi_category_buyers", "single_category_buyers", "upsell_rate_pct"),
    ),
    (
        "kpi-engagement",
        "Engagement index, overall and by contract type",
        ("engagement_index_mean",),
        "engagement",
        (
            "engagement_index_mean",
            "engagement_index_subscription",
            "engagement_index_non_contractual",
        ),
    ),
)
OPTIONAL_SECTIONS = {"kpi-engagement": "engagement_index_mean"}
"""Sections left out when their KPI has no value in any month (no ``events`` table)."""
SECTION_IDS: tuple[str, ...] = (
    "overview",
    *(section[0] for section in KPI_SECTIONS),
    "rfm",
    "scores",
    "models",
    "monitoring",
)
"""Every section's HTML id, in the report's order (those in :data:`OPTIONAL_SECTIONS` may
be left out); ``benchmarks/report_check.py`` checks a rendered report against these."""


def _kpi_figure(name: str, kpis: pd.DataFrame):
    if name == "retention":
        return plots.retention_figure(kpis)
    if name == "nps":
        return plots.nps_figure(kpis)
    if name == "support":
        return plots.support_figure(kpis)
    spec = {
        "repeat": (
            {"repeat_purchase_rate_pct": "repeat purchase rate (%)"},
            "Repeat purchase rate",
            "% of the month's buyers",
            {"buyers": "buyers"},
            "Customers who ordered",
        ),
        "satisfaction": (
            {"csat_pct": "CSAT: satisfied (%)"},
            "Satisfaction and effort",
            "Satisfied answers (4–5) (%)",
            {"ces_mean": "CES mean (1–7, lower is easier)"},
            "Customer effort (1–7)",
        ),
        "spend": (
            {"aov": "AOV", "spend_per_customer": "spend per customer"},
            "Average order value and spend per customer",
            "Currency units",
            None,
            "",
        ),
        "ltv": (
            {"avg_ltv": "average LTV"},
            "Average customer lifetime value",
            "Currency units",
            None,
            "",
        ),
        "upsell": (
            {"upsell_rate_pct": "upsell rate (%)"},
            "Upsell rate: 2+ categories vs 1 category buyers",
            "% (multi / single-category buyers)",
            {"multi_category_buyers": "buyers of 2+ categories"},
            "Buyers",
        ),
        "engagement": (
            {
                "engagement_index_mean": "all customers",
                "engagement_index_subscription": "subscribers",
                "engagement_index_non_contractual": "non-contractual",
            },
            "Engagement index (last 30 days at month end)",
            "Index, 0–100",
            None,
            "",
        ),
    }[name]
    columns, title, ylabel, secondary, secondary_label = spec
    return plots.lines_figure(
        kpis,
        columns,
        title=title,
        ylabel=ylabel,
        secondary=secondary,
        secondary_label=secondary_label,
    )


def overview_section(kpis: pd.DataFrame, *, period: str, active_days: int = ACTIVE_DAYS) -> Section:
    """Headline cards of the latest month and every KPI definition."""
    last = kpis.iloc[-1]
    cards = [
        {
            "label": f"customers at end of {kpis.index[-1]:%b %Y}",
            "value": fmt(last["customers_end"], "int"),
        },
        {"label": "retention rate CRR", "value": fmt(last["crr_pct"], "num1") + " %"},
        {"label": "churn rate", "value": fmt(last["churn_rate_pct"], "num1") + " %"},
        {"label": "NPS", "value": fmt(last["nps"], "num1")},
        {"label": "CSAT", "value": fmt(last["csat_pct"], "num1") + " %"},
        {"label": "AOV", "value": fmt(last["aov"], "money")},
        {"label": "average LTV", "value": fmt(last["avg_ltv"], "money")},
    ]
    definitions = pd.DataFrame(
        [{"KPI": k.label, "unit": k.unit, "definition": k.definition} for k in DEFINITIONS.values()]
    )
    table = Markup(definitions.to_html(index=False, escape=True, border=0, classes="definitions"))
    return Section(
        id="overview",
        title="Overview and KPI definitions",
        kind="overview",
        cards=cards,
        intro=f"Calendar months (UTC) {period}. Customers at an instant: subscribers not yet "
        f"cancelled; other customers who ordered in the previous {active_days} days.",
        blocks=[Block(table=table)],
    )


def kpi_sections(kpis: pd.DataFrame) -> list[Section]:
    """One section per KPI group: definitions, a plot per month, the numbers beside it."""
    out = []
    for section_id, title, defined, figure, columns in KPI_SECTIONS:
        needed = OPTIONAL_SECTIONS.get(section_id)
        if needed and not kpis[needed].notna().any():
            continue
        out.append(
            Section(
                id=section_id,
                title=title,
                definitions=[DEFINITIONS[k] for k in defined],
                blocks=[
                    Block(
                        image=image(_kpi_figure(figure, kpis), title),
                        table=_months_table(kpis, columns),
                    )
                ],
            )
        )
    return out


def rfm_section(summary: pd.DataFrame, *, as_of: pd.Timestamp, window_days: int = 365) -> Section:
    """RFM segment sizes and value, with how segments are named."""
    columns = {
        "customers": ("customers", "int"),
        "share_pct": ("share %", "num1"),
        "recency_days_median": ("median days since order", "num1"),
        "frequency_mean": ("orders / customer", "num2"),
        "monetary_total": ("net spend", "money"),
        "monetary_mean": ("spend / customer", "money"),
        "revenue_share_pct": ("spend share %", "num1"),
        "predicted_ltv_mean": ("mean predicted LTV", "money"),
    }
    grid = ", ".join(
        f"{name}: R{r}F{f}" for (r, f), name in SEGMENT_GRID.items() if r in (5, 1) and f in (5, 1)
    )
    return Section(
        id="rfm",
        title="RFM segments",
        kind="rfm",
        intro=(
            f"As of {as_of:%Y-%m-%d}: recency = days since the last order, frequency = orders and "
            f"monetary = net spend in the last {window_days} days, each scored 1–5 by quintile; "
            "segments are named from the R and F scores on the classic grid (e.g. "
            f"{grid}); customers without an order for over a year are lost."
        ),
        blocks=[
            Block(
                image=image(plots.rfm_figure(summary), "RFM segments"),
                table=html_table(summary, columns, index=("segment", "str")),
            )
        ],
    )


def scores_section(
    scores: pd.DataFrame | None, *, source: str, segments: Sequence[str] | None = None
) -> Section:
    """Risk × value matrix, value at stake and recommended offers from the latest scores."""
    section = Section(id="scores", title="Risk × value and value at stake", kind="scores")
    if scores is None:
        section.note = (
            f"No scores ({source}). Score the base with `churn score` and pass "
            "--scores to show the risk × value matrix and the offers."
        )
        return section
    headline = portfolio.stake_summary(scores)
    versions = sorted(
        {f"churn v{c}" for c in scores.get("churn_model_version", pd.Series(dtype=str)).dropna()}
        | {f"LTV v{v}" for v in scores.get("ltv_model_version", pd.Series(dtype=str)).dropna()}
    )
    section.intro = (
        f"{len(scores):,} customers scored ({source}; models {', '.join(versions) or 'unknown'}). "
        "Value at stake = churn probability × predicted LTV: the revenue expected to "
        "leave with churners over the LTV horizon."
    )
    section.cards = [
        {"label": "customers scored", "value": fmt(headline["customers"], "int")},
        {"label": "expected churners (Σ p)", "value": fmt(headline["expected_churners"], "int")},
        {"label": "value at stake (Σ p × LTV)", "value": fmt(headline["value_at_stake"], "int")},
        {"label": "customers with an offer", "value": fmt(headline["offers"], "int")},
        {"label": "cost of those offers", "value": fmt(headline["offer_cost"], "int")},
        {
            "label": "expected net value of offers",
            "value": fmt(headline["offer_expected_value"], "int"),
        },
    ]
    matrix = portfolio.risk_value_matrix(scores, segments=segments)
    long = pd.DataFrame({name: frame.stack() for name, frame in matrix.items()})
    long.index = [f"{risk} risk × {value} value" for risk, value in long.index]
    offers = portfolio.offer_summary(scores)
    section.blocks = [
        Block(
            heading="Risk × value matrix",
            image=image(plots.risk_value_figure(matrix), "Risk × value matrix"),
            table=html_table(
                long,
                {
                    "customers": ("customers", "int"),
                    "expected_churners": ("expected churners", "num1"),
                    "value_at_stake": ("value at stake", "money"),
                },
                index=("risk band × value segment", "str"),
            ),
        ),
        Block(
            heading="Recommended offers",
            image=image(plots.offers_figure(offers), "Recommended offers"),
            definition="Expected net value = p(churn) × uplift × predicted LTV − offer cost; each "
            "customer gets the eligible offer of highest positive value, or none.",
            table=html_table(
                offers,
                {
                    "customers": ("customers", "int"),
                    "cost": ("total cost", "money"),
                    "expected_value": ("expected net value", "money"),
                    "value_at_stake": ("value at stake", "money"),
                },
                index=("offer", "str"),
            ),
        ),
    ]
    return section


def models_section(cards, *, note: str = "") -> Section:
    """The champions' validation metrics, comparison with baselines, and training plots.

    Parameters
    ----------
    cards : list of training.registry.model_card.ModelCard
    note : str
        Shown instead when there is no card (why the section is empty).
    """
    section = Section(id="models", title="Champion models", kind="models")
    if not cards:
        section.note = note or "No champion model is registered yet: run `churn train --promote`."
        return section
    for card in cards:
        metrics = pd.DataFrame({"value": card.metrics}).T
        columns = {k: (k, "num3") for k in card.metrics}
        table = html_table(metrics, columns, index=("", "str"))
        if card.comparison is not None:
            shown = [c for c in card.metrics if c in card.comparison.columns]
            table = html_table(
                card.comparison, {c: (c, "num3") for c in shown}, index=("model", "str")
            )
        images = [image(data, f"{card.name}: {file}") for file, data in card.plots.items()]
        section.blocks.append(
            Block(
                heading=f"{card.name} v{card.version}",
                definition=(
                    f"Registered {card.created} UTC; metrics on the validation cutoff "
                    f"{card.validation_cutoff} of training run {card.run_id} (LightGBM first, then "
                    "its baselines)."
                ),
                table=table,
                images=images,
            )
        )
    return section


def monitoring_section(result, *, note: str = "") -> Section:
    """Drift of features, scores and churn rate against the champion's training data.

    Parameters
    ----------
    result : training.monitoring.monitor.MonitorResult or None
    note : str
        Shown when there is no result.
    """
    from training.monitoring import monitor_plots

    section = Section(id="monitoring", title="Monitoring: drift since training", kind="monitoring")
    if result is None:
        section.note = note or "No monitoring run yet: run `churn monitor`."
        return section
    t = result.thresholds
    section.verdict = (
        {"kind": "alert", "text": "Retraining advised."}
        if result.retraining_advised
        else {"kind": "ok", "text": "No retraining needed: no threshold is crossed."}
    )
    section.bullets = list(result.reasons)
    models = ", ".join(f"{k} v{v}" for k, v in result.models.items())
    section.intro = (
        f"Customers active on {result.as_of} ({result.rows_current:,}; "
        f"{result.current_source or 'current features'}) against "
        f"{result.reference_source} ({', '.join(result.reference_cutoffs)}; "
        f"{result.rows_reference:,} rows), models {models}. PSI = Σ (current − training share) × "
        "ln(current / training share) over the training rows' decile bins: < 0.1 stable, "
        "0.1–0.2 moderate, > 0.2 significant. Retraining is advised when a key feature (top "
        f"{t.key_features} by importance) or more than {t.drifted_share:.0%} of the features have "
        f"PSI > {t.feature_psi:g}, a score PSI exceeds {t.score_psi:g}, or the observed churn rate "
        f"is more than ±{t.churn_rate_change:.0%} from the training rate or from the champion's "
        "expectation." + (f" Monitor run {result.run_id}." if result.run_id else "")
    )
    observed_at = result.observed_cutoff or "–"
    measures = [
        ("PSI of the churn probability", result.score_psi, "num3"),
        ("PSI of the predicted LTV", result.ltv_score_psi, "num3"),
        (f"features with PSI > {t.feature_psi:g}", len(result.drifted_features), "int"),
        (
            f"churn rate of the training rows ({result.horizon_days} days)",
            result.churn_rate_reference,
            "pct",
        ),
        (f"churn rate observed from {observed_at}", result.churn_rate_observed, "pct"),
        ("churn rate the champion expected for them", result.churn_rate_expected, "pct"),
        (f"churn rate predicted from {result.as_of}", result.churn_rate_predicted, "pct"),
    ]
    summary = pd.DataFrame(
        {"measure": [m[0] for m in measures], "value": [fmt(m[1], m[2]) for m in measures]}
    )
    top = result.features.head(15)
    section.blocks = [
        Block(
            heading="Feature drift",
            image=image(monitor_plots.psi_figure(result.features), "PSI per feature"),
            table=html_table(
                top,
                {
                    "psi": ("PSI", "num3"),
                    "level": ("level", "str"),
                    "key": ("key feature", "yesno"),
                    "reference_mean": ("training mean", "num2"),
                    "current_mean": ("current mean", "num2"),
                },
                index=("feature", "str"),
            ),
        ),
        Block(
            heading="Score and churn-rate drift",
            image=image(monitor_plots.score_drift_figure(result), "Score drift"),
            table=Markup(summary.to_html(index=False, escape=True, border=0)),
        ),
    ]
    return section
