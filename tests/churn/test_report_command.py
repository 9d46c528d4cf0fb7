"""`churn report` on data the KPI check refuses: the one-panel error, exit 2, no file."""

from __future__ import annotations

import re

import pandas as pd
from typer.testing import CliRunner

from churn.cli import app

runner = CliRunner()


def test_too_short_a_history_for_a_monthly_kpi_is_a_user_error(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame({"customer_id": [1, 2], "signup_at": ["2025-06-01", "2025-06-02"]}).to_csv(
        data / "customers.csv", index=False
    )
    pd.DataFrame(
        {
            "customer_id": [1, 2, 1],
            "ordered_at": ["2025-06-03", "2025-06-05", "2025-06-10"],
            "amount": [10.0, 20.0, 5.0],
        }
    ).to_csv(data / "transactions.csv", index=False)
    monkeypatch.chdir(tmp_path)  # no churn.toml, no offers.toml: the defaults
    out = tmp_path / "report.html"
    result = runner.invoke(
        app, ["report", "--data", str(data), "--out", str(out), "--monitor", "skip"]
    )
    text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())
    assert result.exit_code == 2, result.output
    assert "churn: error" in text and "Invalid period" in text and "whole month" in text
    assert "Traceback" not in result.output and not out.exists()
