"""The models a scoring run uses, loaded from the MLflow registry (alias or version).

:class:`~serving.policy.scoring.ScoringModels` holds them; this module is the one place
on the serving floor that reads the registry, so the policy and the batch engines need
no MLflow to import.
"""

from __future__ import annotations

import logging
from pathlib import Path

from serving.policy.catalog import load_catalog
from serving.policy.scoring import ScoringModels
from training.registry.registry import (
    CHAMPION,
    CHURN_MODEL,
    LTV_MODEL,
    UPLIFT_MODEL,
    LoadedModel,
    alias_version,
    load_model,
)
from training.registry.tracking import configure

log = logging.getLogger(__name__)

NO_UPLIFT_MODEL = (
    f"No '{UPLIFT_MODEL}' champion in the registry: offers use the catalog's uplift "
    "(train one from the offers history with `churn train-uplift --promote`)."
)


def load_scoring_models(
    *,
    tracking_uri: str | None = None,
    churn_ref: str = CHAMPION,
    ltv_ref: str = CHAMPION,
    offers_file: str | Path = "offers.toml",
    uplift_ref: str | None = CHAMPION,
) -> ScoringModels:
    """Load both models from the registry (alias or version), the catalog and uplift.

    ``uplift_ref`` (an alias or version of ``offer-uplift``; None: never) is loaded
    when the registry has it; when it has not (no offer history was trained on, or
    no version promoted) the offers use the catalog's uplift, and that is logged.

    Raises
    ------
    ModelRegistryError, ConfigError
    """
    return ScoringModels(
        churn=load_model(CHURN_MODEL, churn_ref, tracking_uri=tracking_uri),
        ltv=load_model(LTV_MODEL, ltv_ref, tracking_uri=tracking_uri),
        catalog=load_catalog(offers_file),
        uplift=load_uplift(uplift_ref, tracking_uri=tracking_uri),
    )


def load_uplift(ref: str | None, *, tracking_uri: str | None = None) -> LoadedModel | None:
    """The ``offer-uplift`` version ``ref`` (alias or number), or None when there is none.

    Raises
    ------
    ModelRegistryError
        When the version exists but cannot be used (e.g. its artifact digest differs).
    """
    if ref is None:
        return None
    configure(tracking_uri)
    if not ref.isdigit() and alias_version(UPLIFT_MODEL, ref) is None:
        log.info(NO_UPLIFT_MODEL)
        return None
    return load_model(UPLIFT_MODEL, ref, tracking_uri=tracking_uri)
