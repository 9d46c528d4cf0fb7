"""Model quality on real and generated logs against BTYD anchors: ``make bench-quality``.

For each case (a data set, a cutoff ``t`` and a horizon ``H``) and each population
(``active``: an order in the 90 days before ``t``; ``all``: every customer with an order
who has not cancelled), the project is trained the way a user would run it, on the
tables as they were known at ``t`` (later events removed, later cancellations unknown),
then scores its own features as of ``t``; outcomes come from the full data. On the
same customers it is compared with anchors fitted on the same history:

- BG/NBD P(no purchase in [t, t+H)) and BG/NBD x Gamma-Gamma expected spend, fitted by
  pymc-marketing (``BetaGeoModel``, ``GammaGammaModel``, MAP) on every customer with an
  order before ``t`` (the project's own BTYD code is not the judge of itself);
- the recency heuristic (days since last order over the usual gap; its ranking) and the
  historical average (past-year spend scaled to the horizon).

Churn: ROC-AUC and ECE, and the ECE after each prior-shift candidate of
:mod:`benchmarks.shift` (``ece_newest``, ``ece_trend``, ``ece_bgnbd``, ``ece_oracle``);
LTV (net spend in [t, t+L), floored at 0): normalized Gini.
On Online Retail L = H (there is not a year of outcomes after ``t``). Goal in every
case: AUC and Gini at least 0.02 above the best anchor, ECE at most 0.03.

Usage: ``python -m benchmarks.quality [--cases or-sep,or-oct,generated] [--populations
active,all]``. The Online Retail cases need ``../shared/data/online_retail.parquet``
(from the project root) and import it with ``churn import orders``'s library function.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RETAIL = ROOT.parent / "shared" / "data" / "online_retail.parquet"
GOAL_GAIN, GOAL_ECE = 0.02, 0.03


@dataclass(frozen=True)
class Case:
    """One evaluation: data set, cutoff, churn horizon H and LTV horizon L (days)."""

    name: str
    data: str
    cutoff: str
    horizon_days: int
    ltv_horizon_days: int


CASES = {
    "or-sep": Case("Online Retail, 9 months of history", "retail", "2011-09-10", 90, 90),
    "or-oct": Case("Online Retail, 10 months of history", "retail", "2011-10-10", 60, 60),
    "generated": Case("generated, 3 years of history", "generated", "2024-12-31", 90, 365),
}


def load_case_tables(case: Case, workdir: Path, retail_dir: Path | None = None):
    """The full tables of a case's data set (imported or generated into ``workdir``)."""
    from features.contract.load import load_tables

    out = retail_dir if case.data == "retail" and retail_dir else workdir / case.data
    if not out.exists():
        if case.data == "retail":
            from features.io.orders_import import import_orders

            import_orders(RETAIL, out)
        else:
            from features.synthetic import generate

            generate(out, customers=6000, seed=21, file_format="parquet")
    return load_tables(out)


def pymc_anchors(tables, cutoff: pd.Timestamp, case: Case) -> pd.DataFrame:
    """pymc-marketing BG/NBD P(no purchase in H) and BG/NBD x Gamma-Gamma spend over L."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pymc_marketing import clv

        from training.models.btyd import rfm_at

        ids = pd.Index(tables.customers["customer_id"])
        rfm = rfm_at(tables.transactions, cutoff=cutoff, customer_ids=ids)
        rfm = rfm.loc[rfm["T"] > 0]
        weeks = pd.DataFrame(
            {
                "customer_id": np.arange(len(rfm)),
                "frequency": rfm["frequency"].to_numpy(),
                "recency": rfm["recency"].to_numpy() / 7.0,
                "T": rfm["T"].to_numpy() / 7.0,
            }
        )
        bg = clv.BetaGeoModel(data=weeks)
        bg.fit(method="map", progressbar=False)
        none = bg.expected_probability_no_purchase(t=case.horizon_days / 7.0, data=weeks)
        orders = bg.expected_purchases(future_t=case.ltv_horizon_days / 7.0, data=weeks)
        none = np.asarray(none.mean(("chain", "draw")).to_numpy(), dtype="float64")
        orders = np.asarray(orders.mean(("chain", "draw")).to_numpy(), dtype="float64")
        x, m = rfm["frequency"].to_numpy(), rfm["monetary_value"].to_numpy()
        usable = (x > 0) & (m > 0)
        scale = float(m[usable].mean())
        gg_data = pd.DataFrame(
            {
                "customer_id": np.arange(int(usable.sum())),
                "frequency": x[usable],
                "monetary_value": m[usable] / scale,
            }
        )
        gg = clv.GammaGammaModel(data=gg_data)
        gg.fit(method="map", progressbar=False)
        everyone = pd.DataFrame(
            {"customer_id": np.arange(len(rfm)), "frequency": x, "monetary_value": m / scale}
        )
        value = scale * np.asarray(
            gg.expected_customer_spend(data=everyone).mean(("chain", "draw")).to_numpy(),
            dtype="float64",
        )
    value = np.where(np.isfinite(value), value, float((x * m).sum() / max(x.sum(), 1)))
    return pd.DataFrame(
        {"bgnbd_p_no_purchase": none, "bgnbd_gamma_gamma": np.clip(orders * value, 0, None)},
        index=rfm.index,
    )


def run_case(case: Case, population: str, tables, store: str) -> dict[str, object]:
    """Train on the history before the cutoff, score at it, judge against the anchors."""
    from features.contract.load import known_at
    from features.families.build import build_features
    from training.evaluation.churn_metrics import churn_metrics
    from training.evaluation.ltv_metrics import ltv_metrics
    from training.labels import make_labels
    from training.models.baselines import historical_average_ltv, overdue_score
    from training.train import TrainConfig, train

    cutoff = pd.Timestamp(case.cutoff, tz="UTC")
    active_days = 90 if population == "active" else None
    history = known_at(tables, cutoff)
    config = TrainConfig(
        horizon_days=case.horizon_days,
        ltv_horizon_days=case.ltv_horizon_days,
        active_days=active_days,
        train_cutoffs=6,
    )
    started = time.perf_counter()
    result = train(history, config=config, tracking_uri=store, register=False)
    seconds = time.perf_counter() - started
    labels = make_labels(
        tables,
        cutoff=cutoff,
        horizon_days=case.horizon_days,
        ltv_horizon_days=case.ltv_horizon_days,
        active_days=active_days,
    )
    features = build_features(history, as_of=cutoff)
    rows = labels[["customer_id"]].merge(features, on="customer_id", how="left")
    anchors = pymc_anchors(history, cutoff, case).reindex(labels["customer_id"])
    y, spend = labels["churned"].to_numpy(), labels["ltv"].to_numpy()
    p = result.churn.model.predict_proba(rows)
    churn_scores = {
        "project": p,
        "bgnbd_p_no_purchase": anchors["bgnbd_p_no_purchase"].fillna(1.0).to_numpy(),
        "recency_heuristic": overdue_score(rows),
    }
    value_scores = {
        "project": result.ltv.model.predict(rows),
        "bgnbd_gamma_gamma": anchors["bgnbd_gamma_gamma"].fillna(0.0).to_numpy(),
        "historical_average": historical_average_ltv(rows, ltv_horizon_days=case.ltv_horizon_days),
    }
    auc = {
        k: churn_metrics(y, v if k != "recency_heuristic" else _rank(v))["roc_auc"]
        for k, v in churn_scores.items()
    }
    gini = {k: ltv_metrics(spend, v)["normalized_gini"] for k, v in value_scores.items()}
    from benchmarks.shift import complete_rates, shift_candidates

    shifted = shift_candidates(
        p,
        y,
        complete_rates(history, cutoff, case.horizon_days, active_days),
        churn_scores["bgnbd_p_no_purchase"],
    )
    best_auc = max((v, k) for k, v in auc.items() if k != "project")
    best_gini = max((v, k) for k, v in gini.items() if k != "project")
    ece = churn_metrics(y, p)["ece"]
    return {
        "case": case.name,
        "population": population,
        "customers": len(labels),
        "churn_rate": float(y.mean()),
        "auc": auc["project"],
        "auc_bgnbd": auc["bgnbd_p_no_purchase"],
        "auc_recency": auc["recency_heuristic"],
        "auc_gain": auc["project"] - best_auc[0],
        "ece": ece,
        **shifted,
        "gini": gini["project"],
        "gini_bgnbd_gg": gini["bgnbd_gamma_gamma"],
        "gini_hist": gini["historical_average"],
        "gini_gain": gini["project"] - best_gini[0],
        "plan": result.churn.plan.reduced and "reduced" or "full",
        "train_s": seconds,
        "goal_met": bool(
            auc["project"] >= best_auc[0] + GOAL_GAIN
            and gini["project"] >= best_gini[0] + GOAL_GAIN
            and ece <= GOAL_ECE
        ),
    }


def _rank(score: np.ndarray) -> np.ndarray:
    """A score as a probability-like rank in (0, 1) (for AUC; the heuristic is uncalibrated)."""
    return (pd.Series(score).rank(pct=True).to_numpy() - 1e-9).clip(0, 1)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run the cases, print the table and return it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--populations", default="active,all")
    parser.add_argument(
        "--retail-dir", type=Path, help="Online Retail already imported (contract tables)."
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        store = f"sqlite:///{workdir / 'mlflow.db'}"
        for key in args.cases.split(","):
            case = CASES[key]
            tables = load_case_tables(case, workdir, args.retail_dir)
            for population in args.populations.split(","):
                row = run_case(case, population, tables, store)
                rows.append(row)
                print(_format(pd.DataFrame([row])), flush=True)
    table = pd.DataFrame(rows)
    print("\n" + _format(table))
    return table


def _format(table: pd.DataFrame) -> str:
    return table.to_string(index=False, float_format=lambda v: f"{v:.3f}")


if __name__ == "__main__":
    main()
