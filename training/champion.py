"""Train both models, gate them, and (optionally) make them champions whatever the gate says.

The set-up every test fixture and benchmark needs before it can score: a churn and an
LTV model in the registry under the alias ``champion``. The promotion gate
(:func:`training.registry.promotion.promote`) decides first; on a small generated data
set a model may not beat its baselines, so with ``force`` the alias is then set
directly on the version this run registered, and every caller gets champions.
"""

from __future__ import annotations

from pathlib import Path

from mlflow import MlflowClient

from features.contract.tables import Tables
from features.io.partitioned import CustomerPartitions
from training.registry.promotion import promote
from training.registry.registry import CHAMPION, alias_version
from training.registry.tracking import resolve_uri
from training.train import TrainConfig, TrainResult, train


def train_and_promote(
    data: Tables | CustomerPartitions,
    *,
    config: TrainConfig | None = None,
    tracking_uri: str | Path | None = None,
    force: bool = True,
) -> tuple[TrainResult, dict[str, str]]:
    """Train and register both models, run the promotion gate, and force champions.

    Parameters
    ----------
    data : Tables or CustomerPartitions
        What :func:`training.train.train` takes.
    config : TrainConfig, optional
        The training settings (default: ``TrainConfig()``).
    tracking_uri : str, optional
        The MLflow store (default: :func:`training.registry.tracking.resolve_uri`).
    force : bool, default=True
        When the gate leaves a model without a champion, point ``champion`` at the
        version this run registered. A champion the gate kept stays.

    Returns
    -------
    (TrainResult, dict)
        The training result and ``{registered model name: champion version}`` (a model
        is missing from the dict only when it has no champion, i.e. without ``force``).
    """
    uri = resolve_uri(str(tracking_uri) if tracking_uri is not None else None)
    result = train(data, config=config or TrainConfig(), tracking_uri=uri)
    outcomes = (result.churn, result.ltv)
    promote({o.name: o.validation for o in outcomes}, tracking_uri=uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    champions: dict[str, str] = {}
    for outcome in outcomes:
        version = alias_version(outcome.name, CHAMPION, client=client)
        if version is None and force:
            client.set_registered_model_alias(outcome.name, CHAMPION, outcome.version)
            version = str(outcome.version)
        if version is not None:
            champions[outcome.name] = version
    return result, champions
