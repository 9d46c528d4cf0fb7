"""The HTML report: every section with a plot and its table, self-contained, written atomically.

The model registry here is a small hand-made MLflow store (one training run with metrics,
a metric table and plots, both models registered and aliased ``champion``, and one logged
monitor result), so no model has to be trained.
"""

from __future__ import annotations

import base64
import os
import re
import stat
from html.parser import HTMLParser

import mlflow
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from mlflow import MlflowClient
from typer.testing import CliRunner

from churn.cli import app
from features.contract.errors import ConfigError, OutputError
from features.contract.load import load_tables
from features.synthetic import generate
from serving.policy.bands import risk_band, value_segment
from serving.report.report import make_report, write_report
from serving.report.sections import SECTION_IDS
from training.monitoring.drift import psi_table, score_histogram
from training.monitoring.monitor import MonitorResult, log_result
from training.monitoring.monitor_data import data_fingerprint
from training.registry.registry import CHAMPION, CHURN_MODEL, LTV_MODEL
from training.registry.tracking import configure

ENV = "MLFLOW_TRACKING_URI"
KPI_SECTIONS = [
    "kpi-retention",
    "kpi-repeat",
    "kpi-nps",
    "kpi-satisfaction",
    "kpi-spend",
    "kpi-ltv",
    "kpi-support",
    "kpi-upsell",
    "kpi-engagement",
]
ALL_SECTIONS = ["overview", *KPI_SECTIONS, "rfm", "scores", "models", "monitoring"]
pytestmark = pytest.mark.usefixtures("isolated_mlflow")


@pytest.fixture(autouse=True)
def each_test_names_its_store(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("report-data")
    generate(out, customers=600, seed=3, file_format="parquet")
    return out


@pytest.fixture(scope="module")
def tables(data_dir):
    return load_tables(data_dir)


@pytest.fixture(scope="module")
def scores(tables):
    """A frame shaped like `churn score` output, with an offer name that needs escaping."""
    rng = np.random.default_rng(0)
    ids = tables.customers["customer_id"].to_numpy()[:400]
    p = rng.uniform(0.01, 0.9, size=len(ids))
    ltv = rng.gamma(2.0, 300.0, size=len(ids))
    offer = np.where(p * ltv > 100, "vip_upgrade", None)
    return pd.DataFrame(
        {
            "customer_id": ids,
            "churn_probability": p,
            "risk_band": risk_band(p),
            "predicted_ltv": ltv,
            "value_segment": value_segment(ltv),
            "reasons": [["no order for 80 days"]] * len(ids),
            "offer_id": offer,
            "offer_name": np.where(offer == None, None, "<b>VIP</b> & more"),  # noqa: E711
            "offer_cost": np.where(offer == None, np.nan, 40.0),  # noqa: E711
            "expected_value": np.where(offer == None, np.nan, 0.15 * p * ltv - 40.0),  # noqa: E711
            "churn_model_version": "1",
            "ltv_model_version": "1",
        }
    )


def _png() -> Figure:
    fig = Figure(figsize=(3, 2))
    fig.add_subplot().plot([0, 1], [0, 1])
    return fig


@pytest.fixture(scope="module")
def store(tmp_path_factory, tables):
    """Champions of both models pointing at one logged training run, and a monitor result."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('registry') / 'mlflow.db'}"
    configure(uri)
    with mlflow.start_run(run_name="train") as run:
        mlflow.log_metrics(
            {"churn_roc_auc": 0.8123, "churn_ece": 0.0213, "ltv_normalized_gini": 0.7011}
        )
        mlflow.log_table(
            pd.DataFrame(
                {
                    "model": ["lightgbm", "logistic_regression"],
                    "roc_auc": [0.8123, 0.79],
                    "ece": [0.0213, 0.03],
                }
            ),
            "churn_metrics.json",
        )
        for name in ("churn_roc.png", "churn_calibration.png", "ltv_deciles.png"):
            mlflow.log_figure(_png(), f"plots/{name}")
    client = MlflowClient()
    for name in (CHURN_MODEL, LTV_MODEL):
        client.create_registered_model(name)
        mv = client.create_model_version(
            name,
            source=f"{run.info.artifact_uri}/model",
            run_id=run.info.run_id,
            tags={"parent_run_id": run.info.run_id, "validation_cutoff": "2025-10-01"},
        )
        client.set_registered_model_alias(name, CHAMPION, mv.version)
    features = psi_table(
        pd.DataFrame({"age_years": [30.0, 40.0, 50.0, 60.0]}),
        pd.DataFrame({"age_years": [20.0, 25.0, 30.0, 60.0]}),
        ["age_years"],
        bins=2,
    )
    features["key"] = True
    rng = np.random.default_rng(1)
    result = MonitorResult(
        as_of="2025-12-31",
        reference_source="the champion's training data",
        reference_cutoffs=["2025-03-05", "2025-04-04"],
        models={CHURN_MODEL: "1", LTV_MODEL: "1"},
        rows_reference=1600,
        rows_current=800,
        features=features,
        score_psi=0.05,
        ltv_score_psi=0.04,
        score_histogram=score_histogram(rng.uniform(size=200), rng.uniform(size=100)),
        ltv_histogram=score_histogram(rng.gamma(2, 300, 200), rng.gamma(2, 250, 100)),
        churn_rate_reference=0.22,
        churn_rate_observed=0.27,
        churn_rate_expected=0.23,
        churn_rate_predicted=0.21,
        observed_cutoff="2025-10-01",
        horizon_days=90,
        reasons=["key feature drifted (PSI > 0.2): age_years 0.55"],
    )
    log_result(result, data=data_fingerprint(tables), tracking_uri=uri)
    return uri


@pytest.fixture(scope="module")
def report(tables, scores, store):
    return make_report(
        tables, scores=scores, scores_source="test scores", tracking_uri=store, monitoring="latest"
    )


class Sections(HTMLParser):
    """Per <section id=...>: its images' src and the number of tables."""

    def __init__(self):
        super().__init__()
        self.sections: dict[str, dict] = {}
        self.current: str | None = None
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        if tag == "section":
            self.current = attrs["id"]
            self.sections[self.current] = {"images": [], "tables": 0}
        elif self.current and tag == "img":
            self.sections[self.current]["images"].append(attrs["src"])
        elif self.current and tag == "table":
            self.sections[self.current]["tables"] += 1


def parse(html: str) -> Sections:
    parser = Sections()
    parser.feed(html)
    return parser


class TestSections:
    def test_every_section_in_order(self, report):
        assert report.section_ids == ALL_SECTIONS
        assert list(parse(report.html).sections) == ALL_SECTIONS
        assert report.notes == []

    def test_the_report_check_reads_the_section_ids_from_the_report(self, report):
        from benchmarks.report_check import check_html

        assert tuple(ALL_SECTIONS) == SECTION_IDS
        findings, problems = check_html(report.html)
        assert list(findings) == ALL_SECTIONS and problems == []
        assert {sid: f.problems for sid, f in findings.items() if f.problems} == {}

    @pytest.mark.parametrize("section", [*KPI_SECTIONS, "rfm", "scores", "models", "monitoring"])
    def test_plot_and_table(self, report, section):
        found = parse(report.html).sections[section]
        assert found["images"] and found["tables"] >= 1
        for src in found["images"]:
            assert src.startswith("data:image/png;base64,")
            assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"

    def test_kpi_definitions_as_in_the_seeds(self, report):
        assert "(E − N) / S × 100" in report.html
        assert "Start 200, end 180, new 20 gives 80 %" in report.html
        assert "promoters (9–10) − % detractors (0–6)" in report.html

    def test_monthly_tables_newest_first(self, report):
        table = report.html.split('id="kpi-retention"')[1]
        months = re.findall(r"<td>(\d{4}-\d{2})</td>", table.split("</table>")[0])
        assert months == sorted(months, reverse=True) and len(months) > 12

    def test_scores_matrix_and_offers(self, report, scores):
        section = report.html.split('id="scores"')[1].split("</section>")[0]
        assert f"{len(scores):,} customers scored" in section
        assert "high risk × top value" in section

    def test_models_from_the_registry(self, report):
        section = report.html.split('id="models"')[1].split("</section>")[0]
        assert "churn-classifier v1" in section and "ltv-regressor v1" in section
        assert "0.812" in section and "logistic_regression" in section
        assert len(parse(report.html).sections["models"]["images"]) == 3

    def test_monitoring_from_the_latest_run(self, report):
        section = report.html.split('id="monitoring"')[1].split("</section>")[0]
        assert "Retraining advised." in section and "age_years 0.55" in section
        assert "27.0%" in section  # observed churn rate

    def test_upsell_and_engagement_numbers_are_the_kpis(self, report, tables):
        from serving.report.kpi import monthly_kpis

        last = monthly_kpis(tables).iloc[-1]
        for section, column in (
            ("kpi-upsell", "upsell_rate_pct"),
            ("kpi-engagement", "engagement_index_mean"),
        ):
            html = report.html.split(f'id="{section}"')[1].split("</section>")[0]
            assert f"<td>{last[column]:,.1f}</td>" in html
        assert "two or more product categories" in report.html  # in the definitions

    def test_without_events_no_engagement_section(self, tables, tmp_path):
        from dataclasses import replace

        bare = replace(tables, absent=tables.absent | {"events"})
        report = make_report(bare, tracking_uri=f"sqlite:///{tmp_path / 'none.db'}")
        assert "kpi-engagement" not in report.section_ids and "kpi-upsell" in report.section_ids


class TestSelfContained:
    def test_no_external_resources_or_scripts(self, report):
        html = report.html
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
        assert parse(html).tags.isdisjoint({"script", "link", "iframe"})

    def test_text_from_the_data_is_escaped(self, report):
        assert "<b>VIP</b>" not in report.html
        assert "&lt;b&gt;VIP&lt;/b&gt; &amp; more" in report.html


class TestMissingSources:
    def test_notes_instead_of_sections(self, tables, tmp_path):
        report = make_report(tables, tracking_uri=f"sqlite:///{tmp_path / 'none' / 'mlflow.db'}")
        assert report.section_ids == ALL_SECTIONS
        html = report.html
        assert "No scores" in html and "No model registry" in html
        assert not (tmp_path / "none").exists()  # reading never creates a store
        assert len(report.notes) == 2

    def test_unknown_monitoring_mode_is_refused(self, tables):
        with pytest.raises(ConfigError, match="monitoring"):
            make_report(tables, monitoring="sometimes")


class TestWrite:
    def test_atomic_write_in_a_new_folder_when_asked(self, tmp_path):
        with pytest.raises(OutputError, match="does not exist"):
            write_report("<html></html>", tmp_path / "a" / "report.html")
        path = write_report("<html></html>", tmp_path / "a" / "report.html", mkdir=True)
        assert path.read_text() == "<html></html>"
        assert os.listdir(path.parent) == ["report.html"]
        umask = os.umask(0)
        os.umask(umask)
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask

    def test_unwritable_target_is_a_clear_error(self, tmp_path):
        (tmp_path / "file").write_text("x")
        with pytest.raises(OutputError, match="not a folder"):
            write_report("<html></html>", tmp_path / "file" / "report.html")


class TestCommand:
    def test_report_command(self, data_dir, scores, store, tmp_path):
        scores_path = tmp_path / "scores.parquet"
        scores.to_parquet(scores_path)
        out = tmp_path / "out" / "report.html"
        result = CliRunner().invoke(
            app,
            [
                "report",
                "--data",
                str(data_dir),
                "--scores",
                str(scores_path),
                "--out",
                str(out),
                "--monitor",
                "latest",
                "--mkdir",
            ],
            env={ENV: store},
        )
        assert result.exit_code == 0, result.output
        assert out.is_file() and "Wrote" in result.output
        assert list(parse(out.read_text()).sections) == ALL_SECTIONS

    def test_bad_scores_file_is_a_clear_error(self, data_dir, tmp_path):
        bad = tmp_path / "scores.parquet"
        pd.DataFrame({"customer_id": [1]}).to_parquet(bad)
        result = CliRunner().invoke(
            app,
            [
                "report",
                "--data",
                str(data_dir),
                "--scores",
                str(bad),
                "--out",
                str(tmp_path / "r.html"),
            ],
        )
        assert result.exit_code == 2
        assert "churn_probability" in result.output
