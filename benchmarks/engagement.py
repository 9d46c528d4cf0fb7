"""Do engagement events help? ROC-AUC and warning lead time with and without them.

On generated data (``--customers``, default 8 000: a few minutes on 2 cores), the churn
model is trained twice on the same stacked training cutoffs and judged on the same
validation cutoff (the time-ordered plan of :mod:`training.dataset`, reduced: no BTYD
features, so only the engagement family differs): once with every feature, once
without the engagement family (:func:`features.families.engagement.engagement_feature_names`).

Lead time: for each subscription customer who cancels after the validation cutoff, the
churn probability is scored every 7 days over the 180 days before the cancellation; the
lead time is how many days before ``cancelled_at`` it first reaches a risk band of the
catalog (``[risk] thresholds``: medium 0.3, high 0.6 by default; first crossing, it need
not stay). Reported per band: the share of those customers whose score crosses at all,
and the median lead time in days among them.

Prints a table and writes ``benchmarks/engagement_ablation.png`` (``--figure``).
``python -m benchmarks.engagement --customers 8000``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from features.contract.load import load_tables
from features.families.build import DEFAULT_WINDOWS, build_features
from features.families.engagement import engagement_feature_names
from features.synthetic import generate
from serving.policy.catalog import load_catalog
from serving.settings import packaged_offers_file
from training.dataset import data_start, labelled_features, plan_cutoffs
from training.models.churn import ChurnModel

HORIZON_DAYS = 90
STEP_DAYS = 7
LOOKBACK_DAYS = 180
FIGURE = Path(__file__).with_name("engagement_ablation.png")
THREADS = 1  # LightGBM threads: OpenMP spinning on a shared 2-core machine is far slower

log = logging.getLogger(__name__)


def fit(train: pd.DataFrame, drop: Sequence[str], seed: int) -> ChurnModel:
    """A calibrated churn model on ``train`` without the columns ``drop``."""
    frame = train.drop(columns=[c for c in drop if c in train.columns])
    model = ChurnModel(seed=seed, params={"num_threads": THREADS})
    return model.fit(frame.drop(columns="churned"), frame["churned"].to_numpy())


def lead_times(
    tables, models: dict[str, ChurnModel], validation: pd.Timestamp, thresholds: Sequence[float]
) -> pd.DataFrame:
    """Per cancelled subscriber and variant: days before cancelling each band is first hit."""
    customers = tables.customers
    gone = customers[
        (customers["contract_type"] == "subscription")
        & (customers["cancelled_at"] >= validation)
        & (customers["cancelled_at"] - customers["signup_at"] > pd.Timedelta(days=LOOKBACK_DAYS))
    ]
    end = tables.data_end().floor("D")
    grid = pd.date_range(validation - pd.Timedelta(days=LOOKBACK_DAYS), end, freq=f"{STEP_DAYS}D")
    cancel = gone.set_index("customer_id")["cancelled_at"]
    rows = []
    for cutoff in grid:
        feats = build_features(tables.of_customers(cancel.index), as_of=cutoff)
        feats = feats[feats["customer_id"].isin(cancel.index)]
        before = (pd.DatetimeIndex(cancel.loc[feats["customer_id"]]) - cutoff).days.to_numpy()
        keep = (before > 0) & (before <= LOOKBACK_DAYS)
        feats = feats[keep]
        for name, model in models.items():
            p = model.predict_proba(model.matrix(feats))
            rows.append(
                pd.DataFrame(
                    {
                        "customer_id": feats["customer_id"].to_numpy(),
                        "variant": name,
                        "days_before": before[keep],
                        "p": p,
                    }
                )
            )
    scored = pd.concat(rows, ignore_index=True)
    out = []
    for (customer, variant), group in scored.groupby(["customer_id", "variant"]):
        record = {"customer_id": customer, "variant": variant}
        for t in thresholds:
            hit = group.loc[group["p"] >= t, "days_before"]
            record[f"lead_{t:g}"] = float(hit.max()) if len(hit) else np.nan
        out.append(record)
    return pd.DataFrame(out)


def run(customers: int, seed: int, data: Path | None, figure: Path | None) -> dict:
    """Generate (unless ``data``), train both variants, score, return the numbers."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = data or Path(tmp) / "data"
        if data is None:
            generate(folder, customers=customers, seed=seed, file_format="parquet")
        tables = load_tables(folder)
    if not tables.has("events"):
        raise SystemExit(f"{folder} has no events table: nothing to ablate")
    plan = plan_cutoffs(
        tables.data_end(),
        horizon_days=HORIZON_DAYS,
        train_cutoffs=6,
        spacing_days=30,
        calibration=False,
        data_start=data_start(tables),
    )
    cache: dict = {}
    options = dict(horizon_days=HORIZON_DAYS, ltv_horizon_days=None, btyd=False, cache=cache)
    train = labelled_features(tables, plan.train, **options)
    val = labelled_features(tables, [plan.validation], **options)
    log.info("features: %d training rows, %d validation rows", len(train), len(val))
    engagement = engagement_feature_names(DEFAULT_WINDOWS)
    models = {"with": fit(train, [], seed), "without": fit(train, engagement, seed)}
    log.info("models fitted")
    y = val["churned"].to_numpy()
    subs = (val["contract_type"] == "subscription").to_numpy()
    result: dict = {"customers": len(tables.customers), "events": len(tables.events)}
    for name, model in models.items():
        p = model.predict_proba(model.matrix(val))
        result[f"auc_{name}"] = roc_auc_score(y, p)
        result[f"auc_subscription_{name}"] = roc_auc_score(y[subs], p[subs])
    bands = load_catalog(packaged_offers_file()).risk.thresholds
    leads = lead_times(tables, models, plan.validation, bands)
    result["cancelled_subscribers"] = int(leads["customer_id"].nunique())
    for name in models:
        mine = leads[leads["variant"] == name]
        for t in bands:
            column = mine[f"lead_{t:g}"]
            result[f"lead_share_{t:g}_{name}"] = float(column.notna().mean())
            result[f"lead_median_days_{t:g}_{name}"] = float(column.median())
    result.update(
        validation=f"{plan.validation:%Y-%m-%d}",
        train_cutoffs=len(plan.train),
        rows_train=len(train),
        rows_validation=len(val),
    )
    if figure is not None:
        _plot(result, leads, bands, figure)
    return result


def _plot(result: dict, leads: pd.DataFrame, bands: Sequence[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    labels = ["all customers", "subscribers"]
    x = np.arange(2)
    for i, name in enumerate(("without", "with")):
        values = [result[f"auc_{name}"], result[f"auc_subscription_{name}"]]
        bars = left.bar(x + (i - 0.5) * 0.38, values, 0.38, label=f"{name} engagement")
        left.bar_label(bars, fmt="%.3f", fontsize=8)
    left.set_xticks(x, labels)
    left.set_ylim(0.5, 1.0)
    left.set_ylabel("ROC-AUC (validation cutoff)")
    left.legend(loc="lower right", fontsize=8)
    days = np.arange(STEP_DAYS, LOOKBACK_DAYS + 1, STEP_DAYS)
    for band, style in zip(sorted(bands), (":", "-"), strict=False):
        for name, color in (("without", "C0"), ("with", "C1")):
            lead = leads.loc[leads["variant"] == name, f"lead_{band:g}"].to_numpy()
            share = [(lead >= d).mean() for d in days]  # NaN (never crossed) counts as no
            right.plot(days, share, style, color=color, label=f"{name}, p ≥ {band:g}")
    right.set_xlabel("days before cancellation")
    right.set_ylabel("share already warned")
    right.set_title("subscribers who cancel: first warning by risk band", fontsize=9)
    right.invert_xaxis()
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=8000, help="Customers to generate.")
    parser.add_argument("--seed", type=int, default=7, help="Generator and model seed.")
    parser.add_argument("--data", type=Path, help="Use these tables instead of generating.")
    parser.add_argument("--figure", type=Path, default=FIGURE, help="Where the PNG goes.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    result = run(args.customers, args.seed, args.data, args.figure)
    width = max(len(k) for k in result)
    for key, value in result.items():
        text = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {text}")
    print(f"figure: {args.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
