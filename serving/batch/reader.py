"""Reading a scores file (or the Spark engine's folder) with its record; preparing a campaign."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.errors import ConfigError
from serving.batch.campaign import CANDIDATE_COLUMNS
from serving.policy.catalog import OfferCatalog
from serving.policy.decide import require_columns

if TYPE_CHECKING:  # serving.policy.scoring imports MLflow: only scoring needs it, not campaigns
    pass
from serving.batch.runs import (
    META_KEY,
    META_SIDECAR,
)

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
        ``scores`` with an ``uplift`` column (0–1; NaN where no offer is recommended).

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
    cost = offered["offer_id"].map({o.id: o.cost for o in catalog.offers})
    differs = ~np.isclose(offered["offer_cost"].astype(float), cost.astype(float))
    if differs.any():
        first = offered.loc[differs].iloc[0]
        raise ConfigError(
            f"cost of offer {first['offer_id']} in the scores",
            float(first["offer_cost"]),
            f"the catalog's {catalog.offer(first['offer_id']).cost:g}; the scores were made "
            "with another catalog, score again",
        )
    return scores.assign(uplift=scores["offer_id"].map({o.id: o.uplift for o in catalog.offers}))
