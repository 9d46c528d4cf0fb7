"""The real-log result held in CI: never below BG/NBD on UCI Online Retail.

The log is imported with ``churn import orders``'s library function, the models are
trained only on what was known at the cutoff, and judged on the same customers against
BG/NBD P(no purchase in H) and BG/NBD x Gamma-Gamma fitted on the same history
(``make bench-quality`` holds the full comparison, with pymc-marketing's fits).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.contract.load import known_at, load_tables
from features.families.build import build_features
from features.io.orders_import import import_orders
from training.evaluation.churn_metrics import churn_metrics
from training.evaluation.ltv_metrics import ltv_metrics
from training.labels import make_labels
from training.train import TrainConfig, train

RETAIL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "online_retail.parquet"
CUTOFF = pd.Timestamp("2011-10-10", tz="UTC")
H = 60


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    root = tmp_path_factory.mktemp("retail")
    import_orders(RETAIL, root / "data")
    tables = load_tables(root / "data")
    history = known_at(tables, CUTOFF)
    config = TrainConfig(horizon_days=H, ltv_horizon_days=H, train_cutoffs=4)
    result = train(
        history, config=config, tracking_uri=f"sqlite:///{root / 'm.db'}", register=False
    )
    labels = make_labels(tables, cutoff=CUTOFF, horizon_days=H, ltv_horizon_days=H)
    rows = labels[["customer_id"]].merge(
        build_features(history, as_of=CUTOFF), on="customer_id", how="left"
    )
    return result, labels, result.churn.model.btyd_.add(rows), rows


@pytest.mark.slow
class TestOnlineRetail:
    def test_churn_ranks_at_least_as_well_as_bgnbd(self, judged):
        result, labels, with_btyd, rows = judged
        y = labels["churned"].to_numpy()
        project = churn_metrics(y, result.churn.model.predict_proba(rows))
        anchor = churn_metrics(y, with_btyd["btyd_p_no_purchase"].fillna(1.0).to_numpy())
        assert project["roc_auc"] >= anchor["roc_auc"], (project, anchor)  # 0.725 vs 0.722
        assert project["ece"] < 0.12  # seasonal shift: see docs/quality.md

    def test_ltv_ranks_at_least_as_well_as_bgnbd_gamma_gamma(self, judged):
        result, labels, _, rows = judged
        spend = result.ltv.model.btyd_.add(rows)["btyd_expected_spend"].fillna(0.0)
        project = ltv_metrics(labels["ltv"], result.ltv.model.predict(rows))
        anchor = ltv_metrics(labels["ltv"], spend.to_numpy())
        assert project["normalized_gini"] >= anchor["normalized_gini"] - 0.005

    def test_the_run_baseline_is_p_no_purchase_and_not_constant(self, judged):
        result, *_ = judged
        bgnbd = result.churn.metrics.loc["bgnbd_p_no_purchase"]
        assert bgnbd["roc_auc"] > 0.65 and bgnbd["log_loss"] < 1.0
        assert np.isfinite(result.churn.validation["btyd_p_no_purchase"]).mean() > 0.99

    def test_the_default_catalog_recommends_paying_offers_on_online_retail(self, judged):
        """The shipped catalog, unedited, on a real retailer's currency and churn rate."""
        from serving.policy.catalog import load_catalog
        from serving.policy.scoring import ScoringModels, score
        from serving.settings import packaged_offers_file
        from training.registry.registry import CHURN_MODEL, LTV_MODEL, LoadedModel

        result, _, _, rows = judged
        tags = {"horizon_days": str(H), "population": "active"}
        models = ScoringModels(
            churn=LoadedModel(CHURN_MODEL, "1", "run", result.churn.model, (), tags),
            ltv=LoadedModel(LTV_MODEL, "1", "run", result.ltv.model, (), tags),
            catalog=load_catalog(packaged_offers_file()),
        )
        scores = score(rows, models, reasons=0, as_of=CUTOFF)
        offered = scores["offer_id"].notna()
        assert offered.mean() > 0.1, scores["no_offer_reason"].str.split(":").str[0].value_counts()
        assert (scores.loc[offered, "expected_value"] > 0).all()
        assert (scores.loc[offered, "risk_band"] != "low").all()
        assert not offered.all()  # ~40 % churn here: not an offer for everyone
