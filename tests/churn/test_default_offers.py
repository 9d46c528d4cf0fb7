"""A default offer catalog ships with the package: the CLI works outside the project folder."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from churn.cli import app
from serving.policy.catalog import load_catalog
from serving.settings import load_settings, packaged_offers_file, uses_packaged_offers
from tests.features.test_bad_data import plain

REPO = Path(__file__).resolve().parents[2]


def scores_file(folder: Path) -> Path:
    """A tiny scores file as `churn score` writes it, with an offer of the default catalog."""
    path = folder / "scores.parquet"
    pd.DataFrame(
        {
            "customer_id": [1, 2],
            "offer_id": ["free_month", None],
            "offer_cost": [20.0, None],
            "expected_value": [55.0, None],
            "churn_probability": [0.6, 0.1],
            "predicted_ltv": [600.0, 40.0],
        }
    ).to_parquet(path)
    return path


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A working folder with no churn.toml and no offers.toml; no settings from the env."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    for key in [k for k in os.environ if k.startswith("CHURN_")]:
        monkeypatch.delenv(key)
    return folder


def test_the_packaged_catalog_is_the_projects_catalog():
    packaged = tomllib.loads(packaged_offers_file().read_text(encoding="utf-8"))
    project = tomllib.loads((REPO / "offers.toml").read_text(encoding="utf-8"))
    assert packaged == project
    assert load_catalog(packaged_offers_file()).ids


def test_the_package_data_lists_it():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert (
        "default_offers.toml" in pyproject["tool"]["setuptools"]["package-data"]["serving.policy"]
    )


class TestSettings:
    def test_no_offers_toml_and_no_setting_means_the_packaged_catalog(self, elsewhere):
        settings = load_settings()
        assert settings.serving.offers_file == packaged_offers_file()
        assert uses_packaged_offers(settings)

    def test_an_offers_toml_in_the_folder_wins(self, elsewhere):
        (elsewhere / "offers.toml").write_text(packaged_offers_file().read_text())
        settings = load_settings()
        assert settings.serving.offers_file == Path("offers.toml")
        assert not uses_packaged_offers(settings)

    @pytest.mark.parametrize("how", ["file", "env"])
    def test_a_path_the_user_set_is_kept_even_when_missing(self, elsewhere, monkeypatch, how):
        if how == "env":
            monkeypatch.setenv("CHURN_SERVING__OFFERS_FILE", "mine.toml")
            settings = load_settings()
        else:
            (elsewhere / "c.toml").write_text('[serving]\noffers_file = "mine.toml"\n')
            settings = load_settings(elsewhere / "c.toml")
        assert settings.serving.offers_file == Path("mine.toml")
        assert not uses_packaged_offers(settings)


def test_campaign_outside_the_project_uses_the_default_catalog_and_says_so(elsewhere):
    scores = scores_file(elsewhere)
    result = CliRunner().invoke(app, ["campaign", "--scores", str(scores), "--budget", "100"])
    assert result.exit_code == 0, result.output
    text = plain(result.output)
    assert "note: no offers.toml here" in text and "default offer catalog" in text
    assert pd.read_csv(elsewhere / "campaign.csv")["offer_id"].tolist() == ["free_month"]


def test_a_missing_catalog_the_user_named_is_an_error(elsewhere, monkeypatch):
    monkeypatch.setenv("CHURN_SERVING__OFFERS_FILE", "mine.toml")
    scores = scores_file(elsewhere)
    result = CliRunner().invoke(app, ["campaign", "--scores", str(scores), "--budget", "100"])
    assert result.exit_code == 2, result.output
    assert "offer catalog file: 'mine.toml'" in plain(result.output)


def test_the_installed_command_from_another_folder(elsewhere):
    """The real CLI in a fresh process, started in a folder without any project file."""
    scores = scores_file(elsewhere)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHURN_")}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-m", "churn", "campaign", "--scores", str(scores), "--budget", "100"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "default offer catalog" in " ".join(done.stderr.split())
