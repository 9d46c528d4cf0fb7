"""Issue 20 item 12: `churn campaign --compare-policies` on a registry like the demo's.

The shared ``batch_env`` (3000 generated customers, churn and LTV champions) plus one
small ``offer-uplift`` run that its gate does not promote (overlap too thin, as in the
report): the comparison runs on that version, named with ``--uplift-version``, and
writes one row per policy instead of ending in a ``KeyError`` traceback.
"""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from serving.evaluation.policies import POLICIES, POLICY_COLUMNS
from tests.conftest import mlflow_state_restored
from tests.serving.conftest import plain


@pytest.fixture(scope="module")
def with_uplift(batch_env, tmp_path_factory):
    """A copy of ``batch_env``'s registry with an unpromoted offer-uplift version."""
    from training.uplift_train import UpliftConfig, train_uplift

    root = tmp_path_factory.mktemp("policies")
    shutil.copy(batch_env.root / "mlflow.db", root / "mlflow.db")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with mlflow_state_restored():
        result = train_uplift(
            batch_env.tables,
            config=UpliftConfig(max_cutoffs=4, holdout=1, min_treated_rows=10),
            tracking_uri=uri,
        )
    config = root / "churn.toml"
    config.write_text(
        batch_env.config(root).read_text().replace(batch_env.tracking_uri, uri),
        encoding="utf-8",
    )
    return root, config, result.version


@pytest.mark.slow
def test_compare_policies_writes_one_row_per_policy(batch_env, with_uplift):
    from churn.cli import app

    root, config, version = with_uplift
    out = root / "policies.csv"
    with mlflow_state_restored():
        result = CliRunner().invoke(
            app,
            [
                "campaign",
                "--budget",
                "3000",
                "--compare-policies",
                "--data",
                str(batch_env.data),
                "--uplift-version",
                str(version),
                "--policies-out",
                str(out),
                "--config",
                str(config),
            ],
        )
    assert result.exit_code == 0, (plain(result.output), result.exception)
    assert "Traceback" not in result.output
    table = pd.read_csv(out)
    assert list(table.columns) == list(POLICY_COLUMNS)
    assert set(table["policy"]) == set(POLICIES)
    assert (table["cost"] <= 3000 + 1e-6).all()  # one held-out campaign, its budget
    assert f"offer-uplift v{version}" in plain(result.output)
