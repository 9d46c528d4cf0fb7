"""The synthetic data sets the benchmarks share: generated once per size, cached.

Under ``data/bench/<n>tx/`` as Parquet with a generation record (``generated.json``);
``benchmarks.features`` and ``benchmarks.score`` read the same folders. Loading is the
untimed set-up of each timed child: :func:`cache_tables` validates the tables once and
pickles them, :func:`load` unpickles them.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pandas as pd

DATA_ROOT = Path("data/bench")
SEED = 1
AS_OF_MONTHS_BEFORE_END = 6
MARKER = "generated.json"
TABLE_CACHE = "tables.pkl"


def ensure_data(
    transactions: int, *, events: int | None = None, root: Path = DATA_ROOT
) -> tuple[Path, dict]:
    """Synthetic data of about ``transactions`` transaction rows, generated once.

    ``events``: about this many engagement event rows (default: the generator's usual
    ~2.8 per transaction). Returns the folder and its generation record (customers,
    rows per table, window). A folder without the record (an interrupted run) is
    generated again.
    """
    from features import synthetic

    rate = 1.0 if events is None else events / (transactions * synthetic.EVENTS_PER_TRANSACTION)
    out = root / (f"{transactions}tx" + ("" if events is None else f"_{events}ev"))
    marker = out / MARKER
    if marker.is_file():
        record = json.loads(marker.read_text())
        if (
            record.get("target_transactions") == transactions
            and record.get("seed") == SEED
            and record.get("event_rate", None) == rate
        ):
            return out, record
    customers = max(1, round(transactions / synthetic.TRANSACTIONS_PER_CUSTOMER))
    print(
        f"generating ~{transactions:,} transactions ({customers:,} customers, event rate "
        f"{rate:.2f}) into {out} ...",
        flush=True,
    )
    summary = synthetic.generate(
        out, customers=customers, seed=SEED, file_format="parquet", event_rate=rate
    )
    record = {
        "event_rate": rate,
        "target_transactions": transactions,
        "customers": customers,
        "seed": SEED,
        "rows": summary.rows,
        "start": summary.start.isoformat(),
        "end": summary.end.isoformat(),
    }
    marker.write_text(json.dumps(record, indent=2))
    return out, record


def default_as_of(record: dict) -> pd.Timestamp:
    """A midnight about six months before the end of the generated window, UTC."""
    end = pd.Timestamp(record["end"])
    return (end - pd.DateOffset(months=AS_OF_MONTHS_BEFORE_END)).normalize()


def load(data_dir: Path, cache: Path | None = None):
    """Untimed setup of each child: the validated tables, as every caller gets them.

    With ``cache``, the tables are unpickled from it (written by :func:`cache_tables`
    from :func:`features.contract.load.load_tables`: the same frames, without re-validating).
    """
    if cache is not None:
        with open(cache, "rb") as fh:
            return pickle.load(fh)
    from features.contract.load import load_tables

    return load_tables(data_dir)


def _cache_key(data_dir: Path) -> str:
    """Changes when the data or the loading code changes."""
    import features.contract.load
    import features.contract.schema

    digest = hashlib.sha256((data_dir / MARKER).read_bytes())
    for module in (features.contract.load, features.contract.schema):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()


def _write_cache(data_dir: Path, path: Path) -> float:
    from features.contract.load import load_tables
    from features.io.atomic import atomic_write

    start = time.perf_counter()
    tables = load_tables(data_dir)
    seconds = time.perf_counter() - start
    with atomic_write(path, mkdir=True) as tmp, open(tmp, "wb") as fh:
        pickle.dump(tables, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return seconds


def cache_tables(data_dir: Path) -> Path:
    """Load and validate the tables once (in a child process) and pickle them.

    Loading 10 M transactions takes minutes, so the timed runs start from this cache
    instead of re-validating in every fresh process. Reused while the data and
    ``features/contract/load.py``/``schema.py`` are unchanged.
    """
    path, key_file = data_dir / TABLE_CACHE, data_dir / f"{TABLE_CACHE}.key"
    key = _cache_key(data_dir)
    if path.is_file() and key_file.is_file() and key_file.read_text() == key:
        return path
    print(f"  loading {data_dir} with load_tables (untimed, once) ...", flush=True)
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        seconds = pool.submit(_write_cache, data_dir, path).result()
    print(f"  load_tables took {seconds:.1f} s; validated tables cached in {path}", flush=True)
    key_file.write_text(key)
    return path
