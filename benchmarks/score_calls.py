"""The scoring benchmark's set-up and the calls it times (``benchmarks.score`` runs them).

Set-up, done once and untimed: the cached data per size, champion models trained on a
small generated set (pickled), the day's feature snapshot. Timed calls: each runs in a
fresh spawned process (:func:`benchmarks.common.measure_isolated`), so they are
module-level functions and partials of them, which pickle.
"""

from __future__ import annotations

import pickle
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pandas as pd

from benchmarks.data import ensure_data

MODEL_CUSTOMERS = 5_000
TRANSACTIONS_PER_CUSTOMER = 22
PARTITIONS = 4


# ----------------------------------------------------------------------------- set-up


def data_for(customers: int) -> tuple[Path, dict]:
    """The cached synthetic data set of ``customers`` customers and its record."""
    return ensure_data(customers * TRANSACTIONS_PER_CUSTOMER)


def score_day(record: dict) -> pd.Timestamp:
    """The scoring day: the end of the generated history (UTC midnight)."""
    return pd.Timestamp(record["end"]).normalize()


def train_models(folder: Path) -> tuple[Path, float]:
    """Train and promote both models on a small generated set; pickle ScoringModels.

    Runs in a child process (MLflow state stays out of the parent). Returns the pickle
    file and the training seconds.
    """
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_train_models, folder).result()


def _train_models(folder: Path) -> tuple[Path, float]:
    from features.contract.load import load_tables
    from serving.models import load_scoring_models
    from training.champion import train_and_promote
    from training.train import TrainConfig

    data, _ = ensure_data(MODEL_CUSTOMERS * TRANSACTIONS_PER_CUSTOMER)
    uri = f"sqlite:///{folder}/mlflow.db"
    start = time.perf_counter()
    # a small set's model may not pass the gate: champions are forced
    train_and_promote(load_tables(data), config=TrainConfig(train_cutoffs=2), tracking_uri=uri)
    seconds = time.perf_counter() - start
    models = load_scoring_models(tracking_uri=uri, offers_file=Path("offers.toml").resolve())
    path = folder / "models.pkl"
    path.write_bytes(pickle.dumps(models))
    return path, seconds


def ensure_snapshot(data_dir: Path, as_of: pd.Timestamp) -> Path:
    """The feature snapshot of ``data_dir`` as of ``as_of``, built once (untimed)."""
    from features.io.snapshot import snapshot_path
    from serving.batch.snapshot import find_snapshot

    if found := find_snapshot(data_dir, as_of):
        return found
    path = snapshot_path(data_dir / "features", as_of)
    print(f"  building the feature snapshot {path} (untimed, once) ...", flush=True)
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_make_snapshot, data_dir, as_of).result()


def _make_snapshot(data_dir: Path, as_of: pd.Timestamp) -> Path:
    from features.contract.load import load_tables
    from features.io.snapshot import make_snapshot

    return make_snapshot(load_tables(data_dir), as_of=as_of, partitions=PARTITIONS)[0]


# ----------------------------------------------------------------------------- timed calls
# Each runs in a fresh spawned process (benchmarks.common.measure_isolated): module-level
# functions and partials of them, so they pickle.


def load_models(models_path: Path):
    """Untimed set-up: the pickled ScoringModels (what the registry gives)."""
    return pickle.loads(models_path.read_bytes())


def end_to_end(
    models, *, data_dir: Path, as_of, out: Path, snapshot: bool, reasons: int = 3
) -> dict:
    """What ``churn score`` does: from the day's snapshot, or load the tables and build."""
    from features.contract.files import table_files
    from features.contract.load import load_tables
    from serving.batch.local import score_base
    from serving.batch.runs import ScoreOptions
    from serving.batch.snapshot import find_snapshot, score_snapshot

    options = ScoreOptions(reasons=reasons)
    start = time.perf_counter()
    if snapshot:
        path = find_snapshot(data_dir, as_of)
        if path is None:
            raise RuntimeError(f"no current feature snapshot in {data_dir}/features")
        found = time.perf_counter() - start
        result = score_snapshot(
            path,
            models,
            as_of=as_of,
            out=out,
            partitions=PARTITIONS,
            options=options,
            sources=table_files(data_dir),
        )
        return {"rows": result.summary.rows, "find": found, **result.seconds}
    tables = load_tables(data_dir)
    loaded = time.perf_counter() - start
    result = score_base(
        tables, models, as_of=as_of, out=out, partitions=PARTITIONS, options=options
    )
    return {
        "rows": result.summary.rows,
        "known": result.meta["customers_known"],
        "read": loaded,
        **result.seconds,
    }


def active_rows(models_path: Path, *, data_dir: Path, snapshot: Path, as_of):
    """Untimed set-up: models and the active customers' feature rows, in memory."""
    from features.contract.load import load_tables
    from features.contract.schema import CUSTOMER_ID
    from features.families.population import active_customers
    from features.io.snapshot import read_snapshot

    models = load_models(models_path)
    frame, _ = read_snapshot(snapshot)
    active = active_customers(load_tables(data_dir), as_of)[CUSTOMER_ID]
    return models, frame.loc[frame[CUSTOMER_ID].isin(active)].reset_index(drop=True)


def matrix(models_path: Path, **kwargs):
    """Untimed set-up: the churn booster and its model matrix of the active rows."""
    models, frame = active_rows(models_path, **kwargs)
    model = models.churn.model
    return model.booster_, model.matrix(frame)


def bare_predict(state) -> dict:
    """The reference: ``Booster.predict`` on an in-memory matrix."""
    booster, X = state
    booster.predict(X, num_iteration=booster.best_iteration)
    return {"rows": len(X), "trees": booster.num_trees()}


def both_matrices(models_path: Path, **kwargs):
    """Untimed set-up: every booster of both models with its model matrix."""
    models, frame = active_rows(models_path, **kwargs)
    churn, ltv = models.churn.model, models.ltv.model
    X_ltv = ltv.matrix(frame)
    return [(churn.booster_, churn.matrix(frame))] + [
        (booster, X_ltv) for booster in ltv.boosters_.values()
    ]


def bare_predict_both(state) -> dict:
    """``Booster.predict`` of the churn and the LTV boosters on in-memory matrices."""
    for booster, X in state:
        booster.predict(X, num_iteration=booster.best_iteration or None)
    return {"rows": len(state[0][1]), "trees": sum(b.num_trees() for b, _ in state)}


def score_in_memory(state, *, reasons: int) -> dict:
    """:func:`serving.policy.scoring.score` on in-memory feature rows."""
    from serving.policy.scoring import score

    models, frame = state
    return {"rows": len(score(frame, models, reasons=reasons))}


def spark_run(
    models, *, data_dir: Path, as_of, out: Path, partitions: int, driver_memory: str
) -> dict:
    """Start a local[*] Spark session and score on it; session start-up apart."""
    from serving.batch.spark import score_spark, spark_session

    start = time.perf_counter()
    spark = spark_session(conf={"spark.ui.enabled": "false", "spark.driver.memory": driver_memory})
    spark.sparkContext.setLogLevel("ERROR")
    session = time.perf_counter() - start
    try:
        result = score_spark(
            data_dir, models, as_of=as_of, out=out, partitions=partitions, spark=spark
        )
    finally:
        spark.stop()
    return {
        "rows": result.summary.rows,
        "session": session,
        "job": time.perf_counter() - start - session,
    }
