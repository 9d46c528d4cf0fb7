"""Reading a scores file (or the Spark engine's folder) with its record; preparing a campaign."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.contract.errors import ConfigError
from serving.batch.campaign import CANDIDATE_COLUMNS
from serving.batch.runs import (
    META_KEY,
    META_SIDECAR,
)
from serving.policy.catalog import OfferCatalog
from serving.policy.decide import require_columns
from serving.policy.scores import SCORE_TYPES

__all__ = [
    "campaign_scores",
    "read_scores",
]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------
# Reading scores; preparing a campaign


def read_scores(path: str | os.PathLike[str]) -> tuple[pd.DataFrame, dict]:
    """Read a scores file (or a Spark engine's folder of part files) and its record.

    Returns
    -------
    (DataFrame, dict)
        The scores and the metadata record (empty when there is none).

    Raises
    ------
    ConfigError
        When ``path`` does not exist or is not readable Parquet.
    """
    path = Path(path)
    expected = "a scores Parquet file (or folder) written by `churn score`"
    if not path.exists():
        raise ConfigError("scores file", str(path), expected)
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as e:
        raise ConfigError("scores file", str(path), f"{expected} ({e})") from e
    if path.is_dir():
        sidecar = path / META_SIDECAR
        meta = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else {}
    else:  # in the footer's key-value metadata, not in the Arrow schema
        raw = (pq.read_metadata(path).metadata or {}).get(META_KEY)
        meta = json.loads(raw) if raw else {}
    for name, kind in SCORE_TYPES.items():  # Spark writes timestamps its own way: one type
        if pa.types.is_timestamp(kind) and name in table.column_names:
            column = table[name]
            if column.type.tz is None:
                column = pc.assume_timezone(column, "UTC")
            table = table.set_column(table.column_names.index(name), name, column.cast(kind))
    return table.to_pandas(), meta


def campaign_scores(scores: pd.DataFrame, catalog: OfferCatalog) -> pd.DataFrame:
    """Add each recommended offer's ``uplift`` from the catalog, for ``select_campaign``.

    Parameters
    ----------
    scores : DataFrame
        Scores as :func:`score_base` writes them (at least
        :data:`serving.batch.campaign.CANDIDATE_COLUMNS` but ``uplift``).
    catalog : OfferCatalog
        The catalog the scores were made with.

    Returns
    -------
    DataFrame
        ``scores`` with an ``uplift`` column (share of would-be churners kept; NaN where
        no offer is recommended): the scores' own (catalog or ``offer-uplift`` model,
        see ``uplift_source``), or for scores written before that column the catalog's.

    Raises
    ------
    ConfigError
        When a column is missing, or an offer in the scores is not in the catalog or
        costs something else there (the scores were made with another catalog).
    """
    require_columns(scores, [c for c in CANDIDATE_COLUMNS if c != "uplift"], what="scores")
    offered = scores.loc[scores["offer_id"].notna(), ["offer_id", "offer_cost"]]
    unknown = sorted(set(offered["offer_id"]) - set(catalog.ids))
    if unknown:
        raise ConfigError(
            "offer ids in the scores",
            unknown,
            f"offers of the catalog ({', '.join(catalog.ids)}); score again with this catalog",
        )
    # a fixed cost must be the catalog's; a relative one within its floor and cap
    fixed = {o.id: o.cost for o in catalog.offers if not o.relative_cost}
    low = offered["offer_id"].map({o.id: o.cost_min for o in catalog.offers}).astype(float)
    high = offered["offer_id"].map(
        {o.id: np.inf if o.cost_max is None else o.cost_max for o in catalog.offers}
    )
    cost = offered["offer_cost"].astype(float)
    want = offered["offer_id"].map(fixed).astype(float)
    differs = np.where(
        want.notna(),
        ~np.isclose(cost, want.fillna(0.0)),
        (cost < low - 1e-9) | (cost > high.astype(float) + 1e-9),
    )
    if differs.any():
        first = offered.loc[differs].iloc[0]
        offer = catalog.offer(first["offer_id"])
        expected = (
            f"the catalog's {offer.cost:g}"
            if not offer.relative_cost
            else f"a cost within the catalog's floor {offer.cost_min:g} and cap "
            f"{offer.cost_max if offer.cost_max is not None else 'none'}"
        )
        raise ConfigError(
            f"cost of offer {first['offer_id']} in the scores",
            float(first["offer_cost"]),
            f"{expected}; the scores were made with another catalog, score again",
        )
    catalog_uplift = scores["offer_id"].map({o.id: o.uplift for o in catalog.offers})
    if "uplift" in scores.columns:  # scores name each offer's uplift (catalog or model)
        return scores.assign(uplift=scores["uplift"].where(scores["offer_id"].notna()))
    return scores.assign(uplift=catalog_uplift)
