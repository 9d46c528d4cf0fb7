"""Figures of the retention report: KPIs per month, RFM segments, the risk × value matrix.

Built as :mod:`training.evaluation.plot_base` builds them: a
:class:`~matplotlib.figure.Figure` on an Agg canvas with constrained layout, never through
``pyplot`` (no display, no global state). Only :mod:`serving.report.report` imports this module;
the scoring service never does, so it does not load matplotlib. :func:`png_data_uri` turns
a figure into the ``data:image/png;base64,…`` URI the self-contained HTML embeds.
"""

from __future__ import annotations

import base64
import io

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 100
GOOD, BAD, NEUTRAL, MAIN, SECOND = "#2ca02c", "#d62728", "#9e9e9e", "#1f77b4", "#ff7f0e"


def new_figure(width: float = 7.5, height: float = 4.2) -> Figure:
    """A Figure (inches) on an Agg canvas with constrained layout, outside ``pyplot``."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: Figure, *, dpi: int = DPI) -> bytes:
    """The figure rendered as PNG."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def png_size(data: bytes) -> tuple[int, int]:
    """``(width, height)`` in pixels of PNG bytes, from the IHDR chunk.

    Raises
    ------
    ValueError
        When ``data`` is not a PNG.
    """
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("Invalid image: expected PNG bytes (signature and IHDR chunk).")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def png_data_uri(image: Figure | bytes) -> str:
    """``data:image/png;base64,…`` of a figure or of PNG bytes."""
    data = png_bytes(image) if isinstance(image, Figure) else image
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _months(kpis: pd.DataFrame) -> pd.DatetimeIndex:
    index = pd.DatetimeIndex(kpis.index)
    return index.tz_localize(None) if index.tz is not None else index


def _month_axis(ax: Axes) -> None:
    locator = mdates.AutoDateLocator(maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.grid(True, alpha=0.3)


def _legend(*axes: Axes, loc: str = "upper left") -> None:
    handles, labels = [], []
    for ax in axes:
        h, lab = ax.get_legend_handles_labels()
        handles += h
        labels += lab
    axes[0].legend(handles, labels, loc=loc, fontsize=8, framealpha=0.85)


def _complement(percent):
    return 100 - percent


def retention_figure(kpis: pd.DataFrame) -> Figure:
    """Customers at the start of each month with new and lost ones; CRR and churn rate.

    Parameters
    ----------
    kpis : DataFrame
        :func:`serving.report.kpi.monthly_kpis` output.
    """
    x = _months(kpis)
    fig = new_figure(7.5, 5.4)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(1.1, 1))
    width = 20
    top.bar(x, kpis["new_customers"], width=width, color=GOOD, alpha=0.8, label="new (N)")
    top.bar(x, -kpis["lost"], width=width, color=BAD, alpha=0.8, label="lost")
    top.axhline(0, color="0.3", linewidth=0.8)
    top.set_ylabel("Customers per month")
    base = top.twinx()
    base.plot(x, kpis["customers_start"], color=MAIN, linewidth=2, label="customers at start (S)")
    base.set_ylabel("Customers at start of month")
    top.set_title("Customer base: gains and losses per month")
    _legend(top, base)
    _month_axis(top)
    bottom.plot(x, kpis["crr_pct"], color=MAIN, marker="o", markersize=3, label="CRR (%)")
    bottom.set_ylabel("Retention rate CRR (%)")
    churn = bottom.secondary_yaxis("right", functions=(_complement, _complement))
    churn.set_ylabel("Churn rate (%) = 100 − CRR")
    bottom.set_title("Monthly retention rate (left) and churn rate (right)")
    bottom.legend(loc="lower left", fontsize=8)
    _month_axis(bottom)
    return fig


def lines_figure(
    kpis: pd.DataFrame,
    columns: dict[str, str],
    *,
    title: str,
    ylabel: str,
    secondary: dict[str, str] | None = None,
    secondary_label: str = "",
) -> Figure:
    """One line per column over the months, optionally some on a second y axis.

    Parameters
    ----------
    kpis : DataFrame
        Indexed by month.
    columns : dict of str to str
        Column → legend label, on the left axis (unit ``ylabel``).
    title, ylabel : str
    secondary : dict of str to str, optional
        Column → legend label on the right axis (unit ``secondary_label``).
    """
    x = _months(kpis)
    fig = new_figure()
    ax = fig.add_subplot()
    colors = iter([MAIN, SECOND, GOOD, BAD, "#9467bd", "#8c564b"])
    for column, label in columns.items():
        ax.plot(x, kpis[column], marker="o", markersize=3, color=next(colors), label=label)
    ax.set_ylabel(ylabel)
    axes = [ax]
    if secondary:
        right = ax.twinx()
        for column, label in secondary.items():
            right.plot(
                x,
                kpis[column],
                marker="s",
                markersize=3,
                linestyle="--",
                color=next(colors),
                label=label,
            )
        right.set_ylabel(secondary_label)
        axes.append(right)
    ax.set_title(title)
    _legend(*axes)
    _month_axis(ax)
    return fig


def nps_figure(kpis: pd.DataFrame) -> Figure:
    """Shares of promoters, passives and detractors (stacked) and the NPS per month."""
    x = _months(kpis)
    fig = new_figure()
    ax = fig.add_subplot()
    width = 20
    bottom = np.zeros(len(x))
    for column, label, color in (
        ("detractors_pct", "detractors 0–6", BAD),
        ("passives_pct", "passives 7–8", NEUTRAL),
        ("promoters_pct", "promoters 9–10", GOOD),
    ):
        values = kpis[column].fillna(0).to_numpy()
        ax.bar(x, values, width=width, bottom=bottom, color=color, alpha=0.55, label=label)
        bottom += values
    ax.set_ylabel("Share of NPS answers (%)")
    ax.set_ylim(0, 100)
    right = ax.twinx()
    right.plot(x, kpis["nps"], color="black", marker="o", markersize=3, label="NPS (points)")
    right.set_ylabel("NPS (promoters % − detractors %)")
    ax.set_title("Net Promoter Score per month")
    _legend(ax, right, loc="lower left")
    _month_axis(ax)
    return fig


def support_figure(kpis: pd.DataFrame) -> Figure:
    """Tickets per 100 customers (bars) and median resolution hours (line) per month."""
    x = _months(kpis)
    fig = new_figure()
    ax = fig.add_subplot()
    ax.bar(
        x,
        kpis["tickets_per_100_customers"],
        width=20,
        color=MAIN,
        alpha=0.6,
        label="tickets per 100 customers",
    )
    ax.set_ylabel("Tickets per 100 customers")
    right = ax.twinx()
    right.plot(
        x,
        kpis["resolution_hours_median"],
        color=SECOND,
        marker="o",
        markersize=3,
        label="median resolution (h)",
    )
    right.set_ylabel("Median resolution time (hours)")
    right.set_ylim(bottom=0)
    ax.set_title("Support volume and resolution time")
    _legend(ax, right)
    _month_axis(ax)
    return fig


def rfm_figure(summary: pd.DataFrame) -> Figure:
    """Customers and share of the year's net spend per RFM segment (two bar panels).

    Parameters
    ----------
    summary : DataFrame
        :func:`serving.report.rfm.segment_summary` output.
    """
    fig = new_figure(8, 0.9 + 0.34 * len(summary))
    left, right = fig.subplots(1, 2, sharey=True)
    y = np.arange(len(summary))
    left.barh(y, summary["customers"], color=MAIN)
    left.set_yticks(y, list(summary.index))
    left.invert_yaxis()
    left.set_xlabel("Customers")
    left.set_title("Segment size")
    right.barh(y, summary["revenue_share_pct"].fillna(0), color=GOOD)
    right.set_xlabel("Share of net spend, last 365 days (%)")
    right.set_title("Segment value")
    for ax in (left, right):
        ax.grid(True, axis="x", alpha=0.3)
    return fig


def _heatmap(ax: Axes, table: pd.DataFrame, *, title: str, fmt: str, cmap: str) -> None:
    values = table.to_numpy(dtype=float)
    ax.imshow(values, cmap=cmap, aspect="auto")
    ax.set_xticks(np.arange(table.shape[1]), [str(c) for c in table.columns])
    ax.set_yticks(np.arange(table.shape[0]), [str(i) for i in table.index])
    ax.set_xlabel("Value segment (predicted LTV)")
    ax.set_ylabel("Risk band (churn probability)")
    ax.set_title(title)
    high = np.nanmax(values) if values.size else 0
    for (i, j), v in np.ndenumerate(values):
        ax.text(
            j,
            i,
            format(v, fmt),
            ha="center",
            va="center",
            fontsize=9,
            color="white" if high and v > 0.6 * high else "black",
        )


def risk_value_figure(matrix: dict[str, pd.DataFrame]) -> Figure:
    """Heatmaps of customers and of value at stake per risk band × value segment.

    Parameters
    ----------
    matrix : dict of str to DataFrame
        :func:`serving.report.portfolio.risk_value_matrix` output.
    """
    fig = new_figure(10, 3.8)
    left, right = fig.subplots(1, 2)
    _heatmap(left, matrix["customers"], title="Customers", fmt=",.0f", cmap="Blues")
    _heatmap(
        right,
        matrix["value_at_stake"],
        title="Value at stake: Σ p(churn) × predicted LTV",
        fmt=",.0f",
        cmap="Reds",
    )
    return fig


def offers_figure(offers: pd.DataFrame) -> Figure:
    """Cost and expected net value per recommended offer (horizontal bars).

    Parameters
    ----------
    offers : DataFrame
        :func:`serving.report.portfolio.offer_summary` output.
    """
    shown = offers.drop(index="no offer", errors="ignore")
    fig = new_figure(7.5, 1.2 + 0.45 * max(len(shown), 1))
    ax = fig.add_subplot()
    y = np.arange(len(shown))
    ax.barh(y - 0.2, shown["cost"], 0.4, color=BAD, alpha=0.7, label="total offer cost")
    ax.barh(y + 0.2, shown["expected_value"], 0.4, color=GOOD, label="expected net value")
    ax.set_yticks(y, [str(i) for i in shown.index])
    ax.invert_yaxis()
    ax.set_xlabel("Currency units")
    ax.set_title("Recommended offers: cost and expected net value")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return fig
