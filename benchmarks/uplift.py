"""Targeting policies on generated data over several seeds: customers saved per 1,000 spent.

For each seed: generate ``--customers`` customers, train ``offer-uplift`` as ``churn
train-uplift`` does (in a throw-away MLflow store, not registered), then run the
policy comparison of ``churn campaign --compare-policies`` on its held-out campaigns,
judged by the generator's true effects (:mod:`features.synthetic.offer_truth`).
Predicted LTV is the historical-average baseline (past 365-day spend), so no churn or
LTV model needs training here; it only moves the value-based policies' choices.

Prints, per policy, customers saved per 1,000 currency units (mean ± sd over seeds)
and the per-seed margin of ``top_uplift`` over the others, plus the held-out Qini
figures (AUUC of the uplift ranking vs ranking by churn risk).

    python -m benchmarks.uplift [--seeds 3] [--customers 20000] [--budget 1000]

Per seed it also prints the held-out gain of the learned targeting over the catalog
rule with its 95 % bootstrap lower bound (:func:`training.evaluation.uplift_metrics.
gain_bound`), and whether the policy would use the model (bound > 0, overlap ok).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def one_seed(seed: int, *, customers: int, budget: float, folder: Path) -> dict:
    """Generate, train the uplift model, compare the policies; figures of one seed."""
    from features.contract.load import load_tables
    from features.synthetic import generate
    from serving.evaluation.policies import compare_on_history
    from serving.policy.catalog import load_catalog
    from serving.settings import packaged_offers_file
    from training.evaluation.uplift_metrics import summary
    from training.models.baselines import historical_average_ltv
    from training.registry.registry import UPLIFT_MODEL, LoadedModel
    from training.uplift_train import train_uplift

    data = folder / f"seed{seed}"
    generate(data, customers=customers, seed=seed, file_format="parquet")
    tables = load_tables(data)
    result = train_uplift(tables, tracking_uri=f"sqlite:///{folder}/mlflow.db", register=False)
    loaded = LoadedModel(
        name=UPLIFT_MODEL,
        version="bench",
        run_id=result.run_id,
        model=result.model,
        aliases=(),
        tags={
            "validation_cutoffs": ",".join(f"{t:%Y-%m-%d}" for t in result.plan.validation),
            "horizon_days": "90",
            "window_days": "14",
            "active_days": "90",
        },
        validated=result.validated,
    )
    table = compare_on_history(
        tables,
        load_catalog(packaged_offers_file()),
        uplift=loaded,
        predict_ltv=lambda rows: historical_average_ltv(rows, ltv_horizon_days=365),
        budget=budget,
        ground_truth=pd.read_parquet(data / "ground_truth.parquet"),
        seed=seed,
        diagnostics=True,
    )
    head = summary(result.metrics)
    return {
        "per_1000": dict(zip(table["policy"], table["saved_per_1000"], strict=True)),
        "saved": dict(zip(table["policy"], table["customers_saved"], strict=True)),
        "cost": dict(zip(table["policy"], table["cost"], strict=True)),
        "auuc": head["auuc"],
        "auuc_churn_risk": head["auuc_churn_risk"],
        "overlap_ok": result.overlap_ok,
        "gain": result.gain["gain"],
        "gain_lower": result.gain["gain_lower"],
        "used": bool(result.beats_baseline and result.overlap_ok),
    }


def main() -> None:
    """Run the seeds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--customers", type=int, default=20000)
    parser.add_argument("--budget", type=float, default=1000.0)
    args = parser.parse_args()
    started = time.perf_counter()
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-uplift-") as tmp:
        for seed in range(1, args.seeds + 1):
            runs.append(
                one_seed(seed, customers=args.customers, budget=args.budget, folder=Path(tmp))
            )
            print(
                f"seed {seed}: "
                + ", ".join(f"{k} {v:.2f}" for k, v in runs[-1]["per_1000"].items())
                + f"; AUUC {runs[-1]['auuc']:.4f} vs churn risk {runs[-1]['auuc_churn_risk']:.4f}"
                + f"; gain {runs[-1]['gain']:+.4f} (95 % lower bound {runs[-1]['gain_lower']:+.4f})"
                + "; learned vs catalog rule: top_uplift "
                + f"{runs[-1]['per_1000']['top_uplift']:.2f} vs top_expected_value "
                + f"{runs[-1]['per_1000']['top_expected_value']:.2f}"
                + f"; model used: {'yes' if runs[-1]['used'] else 'no'}",
                flush=True,
            )
    per = pd.DataFrame([r["per_1000"] for r in runs])
    print(
        f"\n{args.seeds} seeds × {args.customers:,} customers, budget {args.budget:,.0f} per "
        f"held-out campaign (3 campaigns per seed); customers saved per 1,000 spent "
        f"(true effects)\n"
    )
    print("| policy | saved per 1,000 (mean ± sd) | top_uplift − policy (mean ± sd) |")
    print("|---|---|---|")
    for policy in per.columns:
        margin = per["top_uplift"] - per[policy]
        if policy == "catalog_per_cost":
            print("| *diagnostic:* `top_uplift`'s rule on the catalog's uplift | ", end="")
            print(
                f"{per[policy].mean():.2f} ± {per[policy].std(ddof=1):.2f} | "
                f"{margin.mean():+.2f} ± {margin.std(ddof=1):.2f} |"
            )
            continue
        print(
            f"| {policy} | {per[policy].mean():.2f} ± {per[policy].std(ddof=1):.2f} | "
            + (
                "—"
                if policy == "top_uplift"
                else f"{margin.mean():+.2f} ± {margin.std(ddof=1):.2f}"
            )
            + " |"
        )
    auuc = np.array([r["auuc"] for r in runs])
    base = np.array([r["auuc_churn_risk"] for r in runs])
    print(
        f"\nheld-out AUUC (IPW, treated-weighted over offers): uplift {auuc.mean():.4f} ± "
        f"{auuc.std(ddof=1):.4f}, churn-risk ranking {base.mean():.4f} ± {base.std(ddof=1):.4f}; "
        f"overlap ok in {sum(r['overlap_ok'] for r in runs)}/{len(runs)} seeds; "
        f"{time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
