"""Building blocks of the report's sections: images, figure-and-table blocks, table formats.

A :class:`Section` is plain data the HTML template lays out; the builders of each section
are in :mod:`serving.report.sections`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from markupsafe import Markup

from serving.report import plots
from serving.report.kpi import KPI

# column -> (header, format); format "pct" = one decimal, "int", "money", "num2", "num1"
COLUMNS: dict[str, tuple[str, str]] = {
    "customers_start": ("S: customers at start", "int"),
    "new_customers": ("N: new", "int"),
    "customers_end": ("E: customers at end", "int"),
    "signups": ("sign-ups", "int"),
    "lost": ("lost", "int"),
    "crr_pct": ("CRR %", "num1"),
    "churn_rate_pct": ("churn %", "num1"),
    "orders": ("orders", "int"),
    "buyers": ("buyers", "int"),
    "repeat_purchase_rate_pct": ("repeat purchase %", "num1"),
    "revenue": ("net revenue", "money"),
    "aov": ("AOV", "money"),
    "spend_per_customer": ("spend / customer", "money"),
    "avg_ltv": ("avg LTV", "money"),
    "nps": ("NPS", "num1"),
    "promoters_pct": ("promoters %", "num1"),
    "passives_pct": ("passives %", "num1"),
    "detractors_pct": ("detractors %", "num1"),
    "nps_responses": ("answers", "int"),
    "csat_pct": ("CSAT %", "num1"),
    "csat_mean": ("CSAT mean (1–5)", "num2"),
    "csat_responses": ("CSAT answers", "int"),
    "ces_mean": ("CES mean (1–7)", "num2"),
    "ces_responses": ("CES answers", "int"),
    "tickets": ("tickets", "int"),
    "tickets_per_100_customers": ("per 100 customers", "num1"),
    "resolution_hours_median": ("median h", "num1"),
    "resolution_hours_mean": ("mean h", "num1"),
    "unresolved_tickets": ("unresolved", "int"),
    "multi_category_buyers": ("buyers of 2+ categories", "int"),
    "single_category_buyers": ("buyers of 1 category", "int"),
    "upsell_rate_pct": ("upsell rate %", "num1"),
    "engagement_index_mean": ("engagement index", "num1"),
    "engagement_index_subscription": ("subscribers", "num1"),
    "engagement_index_non_contractual": ("non-contractual", "num1"),
}
FORMATS = {
    "int": "{:,.0f}",
    "money": "{:,.2f}",
    "num1": "{:,.1f}",
    "num2": "{:,.2f}",
    "num3": "{:,.3f}",
    "pct": "{:.1%}",
    "str": "{}",
}


@dataclass(frozen=True)
class Image:
    """An embedded PNG with its pixel size (so the page lays out before it decodes)."""

    src: str
    alt: str
    width: int
    height: int
    caption: str = ""

    @property
    def wide(self) -> bool:
        """Much wider than tall: shown across the whole grid row."""
        return self.width > 1.7 * self.height


def image(figure, alt: str, *, caption: str = "") -> Image:
    """Embed a Matplotlib figure or PNG bytes as an :class:`Image` (``data:`` URI)."""
    data = figure if isinstance(figure, bytes) else plots.png_bytes(figure)
    width, height = plots.png_size(data)
    return Image(plots.png_data_uri(data), alt, width, height, caption)


@dataclass
class Block:
    """One figure beside one table (either may be missing), or a grid of images."""

    heading: str = ""
    definition: str = ""
    image: Image | None = None
    table: Markup | None = None
    images: list[Image] = field(default_factory=list)


@dataclass
class Section:
    """One section of the report (its ``id`` is the HTML anchor)."""

    id: str
    title: str
    kind: str = "kpi"
    definitions: list[KPI] = field(default_factory=list)
    intro: str = ""
    note: str = ""
    verdict: dict[str, str] | None = None
    bullets: list[str] = field(default_factory=list)
    cards: list[dict[str, str]] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)


def fmt(value: object, kind: str) -> str:
    """One number as text (``–`` for missing)."""
    if value is None or (isinstance(value, float | np.floating) and not np.isfinite(value)):
        return "–"
    if kind == "yesno":
        return "yes" if value else ""
    if kind == "str" or not isinstance(value, int | float | np.number):
        return str(value)
    return FORMATS[kind].format(value)


def html_table(
    frame: pd.DataFrame,
    columns: Mapping[str, tuple[str, str]],
    *,
    index: tuple[str, str] = ("", "str"),
) -> Markup:
    """An escaped HTML table of ``frame``'s ``columns`` (header, format) with its index first."""
    out = pd.DataFrame(
        {
            header: [fmt(v, kind) for v in frame[column]]
            for column, (header, kind) in columns.items()
            if column in frame.columns
        }
    )
    out.insert(0, index[0], [fmt(v, index[1]) for v in frame.index])
    return Markup(out.to_html(index=False, escape=True, border=0, classes="numbers"))
