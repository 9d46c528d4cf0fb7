"""Training time of the churn model vs a bare ``lightgbm.train`` on the same matrix.

Builds (once, cached under ``data/bench/train/``) about ``--rows`` customer-cutoff rows
from generated data: monthly cutoffs stacked until the target is reached, plus a later
calibration cutoff. Then, each run in a fresh process, times

- ``ours``: :meth:`training.models.churn.ChurnModel.fit` — feature typing, LightGBM with
  early stopping on the calibration cutoff, both calibrators;
- ``bare``: ``lightgbm.train`` with the same parameters and early stopping on the same
  already-typed matrices;

and prints the median seconds and the ratio ours / bare (target ≤ 1.3×).

Run: ``make bench-train`` (``python -m benchmarks.train --rows 1000000 --repeats 3``).
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

import pandas as pd

from benchmarks.common import Timing, format_table, measure_isolated

CACHE = Path("data/bench/train")
ACTIVE_SHARE = 0.26  # active customers per generated customer at a cutoff (measured)


def prepare(rows: int) -> tuple[Path, Path]:
    """Write ``train.parquet`` (≈ rows) and ``calibration.parquet``; return their paths."""
    from features.contract.load import load_tables
    from features.synthetic import generate
    from training.dataset import labelled_features

    cutoffs = 20
    customers = int(rows / (ACTIVE_SHARE * cutoffs)) + 1
    folder = CACHE / f"{rows}"
    train_path, cal_path = folder / "train.parquet", folder / "calibration.parquet"
    if train_path.exists() and cal_path.exists():
        return train_path, cal_path
    data = folder / "data"
    print(f"generating {customers:,} customers …", flush=True)
    generate(data, customers=customers, seed=3, file_format="parquet")
    tables = load_tables(data)
    end = tables.data_end().floor("D")
    calibration = end - pd.Timedelta(days=90)
    monthly = [calibration - pd.Timedelta(days=90 + 30 * j) for j in range(cutoffs)]
    print(f"building features for {len(monthly)} cutoffs …", flush=True)
    stacked = labelled_features(tables, sorted(monthly), horizon_days=90, ltv_horizon_days=None)
    stacked.head(rows).to_parquet(train_path)
    labelled_features(tables, [calibration], horizon_days=90, ltv_horizon_days=None).to_parquet(
        cal_path
    )
    return train_path, cal_path


def load(paths: tuple[Path, Path]):
    train, cal = (pd.read_parquet(p) for p in paths)
    return train, cal


def ours(state) -> int:
    from training.models.churn import ChurnModel

    train, cal = state
    model = ChurnModel(seed=0, calibration="auto").fit(
        train, train["churned"].to_numpy(), calibration_set=(cal, cal["churned"].to_numpy())
    )
    return model.booster_.best_iteration


def typed(paths: tuple[Path, Path]):
    from training.models.matrix import FeatureSpec

    train, cal = load(paths)
    spec = FeatureSpec.from_frame(train)
    return (
        spec.matrix(train),
        train["churned"].to_numpy(),
        spec.matrix(cal),
        cal["churned"].to_numpy(),
    )


def bare(state) -> int:
    import lightgbm as lgb

    from training.models.churn import (
        EARLY_STOPPING,
        MAX_ROUNDS,
        lgb_params,
        monotone_constraints,
    )

    X, y, X_cal, y_cal = state
    data = lgb.Dataset(X, y)
    params = lgb_params(None, 0, rows=len(y))
    params["monotone_constraints"] = monotone_constraints(list(X.columns))
    booster = lgb.train(
        params,
        data,
        num_boost_round=MAX_ROUNDS,
        valid_sets=[lgb.Dataset(X_cal, y_cal, reference=data)],
        callbacks=[lgb.early_stopping(EARLY_STOPPING, verbose=False)],
    )
    return booster.best_iteration


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, default=1_000_000, help="Customer-cutoff rows to train on."
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="Runs per variant (median reported)."
    )
    args = parser.parse_args()
    paths = prepare(args.rows)
    n = len(pd.read_parquet(paths[0], columns=["churned"]))
    print(f"{n:,} training rows; timing {args.repeats} runs each …", flush=True)
    # Ours types the frame inside the timed call, bare gets typed matrices from its setup;
    # runs are interleaved so background load falls on both alike.
    variants = {
        "ours": (ours, functools.partial(load, paths)),
        "bare": (bare, functools.partial(typed, paths)),
    }
    runs: dict[str, list] = {label: [] for label in variants}
    for i in range(args.repeats):
        for label, (task, setup) in variants.items():
            runs[label].append(measure_isolated(task, setup=setup, keep_result=i == 0))
            print(f"  {label} run {i + 1}: {runs[label][-1].seconds:.1f} s", flush=True)
    timings = {label: Timing.of(r) for label, r in runs.items()}
    rows = [
        {
            "variant": label,
            "rows": n,
            "median_s": t.median,
            "rounds": t.result,
            "peak_rss_mib": t.peak_rss_mib,
        }
        for label, t in timings.items()
    ]
    print(format_table(rows))
    print(
        f"ratio ours / bare lightgbm.train: {timings['ours'].median / timings['bare'].median:.2f}× "
        "(target ≤ 1.3×)"
    )


if __name__ == "__main__":
    main()
