"""The retention report: one self-contained HTML file of KPIs, segments, scores and models.

:func:`make_report` gathers everything — monthly KPIs and RFM segments from the tables,
the risk × value matrix from the latest scores, the champions' metrics and plots from
MLflow, the latest drift check — and :func:`write_report` writes it atomically. Plots
are embedded as base64 PNG and the styles inline, so the file opens offline and can be
mailed as is. Sections whose source is missing (no scores, no registry) say so instead
of disappearing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import jinja2
import pandas as pd

from features.contract.errors import ChurnError, ConfigError
from features.contract.tables import Tables
from features.families.population import ACTIVE_DAYS
from features.io.atomic import atomic_write
from serving.policy.catalog import OfferCatalog
from serving.report import sections
from serving.report.blocks import Section
from serving.report.kpi import monthly_kpis
from serving.report.rfm import rfm_table, segment_summary

log = logging.getLogger(__name__)

TEMPLATE = Path(__file__).with_name("report_template.html.j2")
Monitoring = Literal["auto", "latest", "run", "skip"]
MONITORING: tuple[str, ...] = ("auto", "latest", "run", "skip")
"""``auto``: the latest monitor run of the current champions, else run one now;
``latest``: only a logged run; ``run``: always run now; ``skip``: no monitoring."""


@dataclass
class Report:
    """A rendered report and what went into it."""

    html: str
    sections: list[Section]
    notes: list[str] = field(default_factory=list)
    monitor_run_id: str | None = None

    @property
    def section_ids(self) -> list[str]:
        """HTML anchors of the sections, in order."""
        return [s.id for s in self.sections]


def render(parts: list[Section], *, title: str, subtitle: str, footer: str = "") -> str:
    """The HTML document of ``parts`` (autoescaped Jinja2 template, inline CSS)."""
    env = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True
    )
    template = env.from_string(TEMPLATE.read_text(encoding="utf-8"))
    return template.render(title=title, subtitle=subtitle, sections=parts, footer=footer)


def write_report(html: str, path: str | os.PathLike[str], *, mkdir: bool = False) -> Path:
    """Write ``html`` to ``path`` atomically (:func:`features.io.atomic.atomic_write`).

    Raises
    ------
    OutputError
        When ``path`` cannot be written, or its folder is missing and ``mkdir`` is False.
    """
    with atomic_write(path, mkdir=mkdir) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return Path(path)


def read_scores(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read scores written by ``churn score`` (a file, or the Spark engine's folder).

    Reading is :func:`serving.batch.reader.read_scores`'s; this adds the check that the
    columns the report needs are there.

    Raises
    ------
    ConfigError
        When the scores cannot be read or lack the columns the report needs.
    """
    from serving.batch.reader import read_scores as read_batch_scores
    from serving.policy.decide import require_columns
    from serving.report.portfolio import MATRIX_COLUMNS

    scores, _ = read_batch_scores(path)
    require_columns(
        scores,
        (*MATRIX_COLUMNS, "offer_id", "offer_cost", "expected_value"),
        what=f"scores file {path}",
    )
    return scores


def make_report(
    tables: Tables,
    *,
    scores: pd.DataFrame | None = None,
    scores_source: str = "",
    tracking_uri: str | None = None,
    monitoring: Monitoring = "auto",
    snapshots: str | Path | None = None,
    load: Callable[[Path], Tables] | None = None,
    catalog: OfferCatalog | None = None,
    as_of: str | pd.Timestamp | None = None,
    active_days: int = ACTIVE_DAYS,
    title: str = "Customer retention report",
) -> Report:
    """Gather every section and render the report (see the module doc).

    Parameters
    ----------
    tables : Tables
        Validated tables: the KPIs and RFM segments come from them.
    scores : DataFrame, optional
        Latest scores (``churn score`` output); without them the risk × value section
        holds a note.
    scores_source : str
        Where the scores came from, for the text.
    tracking_uri : str, optional
        MLflow tracking URI (``MLFLOW_TRACKING_URI`` wins); when the store is absent or
        unreachable, the model and monitoring sections hold a note.
    monitoring : {"auto", "latest", "run", "skip"}, default "auto"
        See :data:`MONITORING`.
    snapshots, load
        Passed to :func:`training.monitoring.monitor.monitor` when a check runs.
    catalog : OfferCatalog, optional
        For the order of the value segments.
    as_of : str or Timestamp, optional
        RFM cutoff; default the day after the latest event.
    active_days : int, default 90
        Active window of non-contractual customers (KPIs), days.
    title : str

    Returns
    -------
    Report

    Raises
    ------
    ConfigError
        When ``monitoring`` is not one of :data:`MONITORING`.
    """
    if monitoring not in MONITORING:
        raise ConfigError("monitoring", monitoring, f"one of {', '.join(MONITORING)}")
    from features.families.events import as_utc

    data_end = tables.data_end()
    as_of = as_utc(as_of) if as_of is not None else data_end.floor("D") + pd.Timedelta(days=1)
    kpis = monthly_kpis(tables, active_days=active_days)
    period = f"{kpis.index[0]:%b %Y} to {kpis.index[-1]:%b %Y}"
    rfm = rfm_table(tables, as_of=as_of)
    ltv = scores.set_index("customer_id")["predicted_ltv"] if scores is not None else None
    notes: list[str] = []
    parts = [
        sections.overview_section(kpis, period=period, active_days=active_days),
        *sections.kpi_sections(kpis),
        sections.rfm_section(segment_summary(rfm, predicted_ltv=ltv), as_of=as_of),
        sections.scores_section(
            scores,
            source=scores_source or "none given",
            segments=catalog.segments.names if catalog else None,
        ),
    ]
    cards, models_note = _champions(tracking_uri)
    parts.append(sections.models_section(cards, note=models_note))
    result, monitor_note = _monitoring(
        tables,
        cards,
        models_note,
        mode=monitoring,
        tracking_uri=tracking_uri,
        snapshots=snapshots,
        load=load,
    )
    parts.append(sections.monitoring_section(result, note=monitor_note))
    notes += [n for n in (models_note, monitor_note) if n]
    subtitle = (
        f"{len(tables.customers):,} customers; events up to {data_end:%Y-%m-%d}; "
        f"KPIs for {period}; generated {pd.Timestamp.now(tz='UTC'):%Y-%m-%d %H:%M} UTC"
    )
    html = render(
        parts,
        title=title,
        subtitle=subtitle,
        footer="Self-contained report written by `churn report`; plots are embedded PNG.",
    )
    return Report(
        html=html, sections=parts, notes=notes, monitor_run_id=result.run_id if result else None
    )


def _champions(tracking_uri: str | None):
    from mlflow.exceptions import MlflowException

    from training.registry.model_card import champion_cards, registry_problem

    problem = registry_problem(tracking_uri)
    if problem:
        return (
            [],
            f"No model registry: {problem}. Train with `churn train --promote` to fill it.",
        )
    try:
        cards = champion_cards(tracking_uri=tracking_uri)
    except MlflowException as e:
        return [], f"The model registry could not be read: {str(e).splitlines()[0]}"
    if not cards:
        return (
            [],
            "The registry has no champion yet: run `churn train --promote` (or `churn promote`).",
        )
    return cards, ""


def _monitoring(tables, cards, models_note, *, mode, tracking_uri, snapshots, load):
    if mode == "skip":
        return None, "Monitoring skipped (--monitor skip)."
    if len(cards) < 2:
        return None, "Monitoring compares with the champions' training data: it needs both."
    from training.monitoring.monitor import data_fingerprint, latest_monitor, monitor

    versions = {card.name: card.version for card in cards}
    if mode in ("auto", "latest"):
        result = latest_monitor(
            tracking_uri=tracking_uri, models=versions, data=data_fingerprint(tables)
        )
        if result is not None or mode == "latest":
            return (
                result,
                "" if result else "No monitor run for the current champions: run `churn monitor`.",
            )
    try:
        log.info("running a drift check for the report")
        return monitor(tables, tracking_uri=tracking_uri, snapshots=snapshots, load=load), ""
    except ChurnError as e:
        return None, f"The drift check could not run: {e}"
