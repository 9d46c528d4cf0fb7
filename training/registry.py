"""The model registry: logging models as MLflow pyfunc, aliases, loading by alias.

Two registered models, ``churn-classifier`` and ``ltv-regressor``. A new version gets
the alias ``challenger``; only the promotion gate moves ``champion``.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from features.errors import ModelRegistryError
from training.tracking import configure

CHURN_MODEL = "churn-classifier"
LTV_MODEL = "ltv-regressor"
CHAMPION = "champion"
CHALLENGER = "challenger"
OUTPUTS = {CHURN_MODEL: "churn_probability", LTV_MODEL: "predicted_ltv"}
PIP_REQUIREMENTS = ["lightgbm", "scikit-learn", "pandas", "numpy", "pyarrow"]


class ScoringModel(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc wrapper around a fitted :class:`ChurnModel` or :class:`LTVModel`.

    ``predict`` takes a feature frame (one row per customer) and returns a frame with
    one column, ``churn_probability`` or ``predicted_ltv``. ``model`` is the model to
    deploy (refit up to the newest complete cutoff); ``validated`` the model of the same
    settings fit before the validation cutoff, the one the promotion gate judges.
    """

    def __init__(self, model, output: str, validated=None):
        self.model = model
        self.output = output
        self.validated = validated

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        frame = pd.DataFrame(model_input)
        if self.output == OUTPUTS[CHURN_MODEL]:
            values = self.model.predict_proba(frame)
        else:
            values = self.model.predict(frame)
        return pd.DataFrame({self.output: values}, index=frame.index)


@dataclass(frozen=True)
class LoadedModel:
    """A registered model version loaded for scoring."""

    name: str
    version: str
    run_id: str
    model: object
    aliases: tuple[str, ...]
    tags: dict[str, str]
    validated: object = None
    """The model the gate judges on the validation cutoff (``model`` for older versions)."""


def log_and_register(
    model, *, name: str, example: pd.DataFrame, tags: dict[str, str], validated=None
) -> str:
    """Log ``model`` as pyfunc in the active run, register it under ``name``; return the version.

    The new version gets the ``challenger`` alias and ``tags``; ``validated`` (see
    :class:`ScoringModel`) is stored beside the model.
    """
    wrapper = ScoringModel(model, OUTPUTS[name], validated)
    example = example[model.input_names].head(5).reset_index(drop=True)
    signature = infer_signature(example, wrapper.predict(None, example))
    info = mlflow.pyfunc.log_model(
        name=name,
        python_model=wrapper,
        signature=signature,
        input_example=example,
        registered_model_name=name,
        pip_requirements=PIP_REQUIREMENTS,
    )
    version = str(info.registered_model_version)
    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, str(value))
    client.set_registered_model_alias(name, CHALLENGER, version)
    return version


def resolve_version(name: str, ref: str, *, client: MlflowClient | None = None):
    """The ModelVersion for ``ref`` — an alias (``champion``) or a version number."""
    client = client or MlflowClient()
    try:
        if ref.isdigit():
            return client.get_model_version(name, ref)
        return client.get_model_version_by_alias(name, ref)
    except MlflowException as e:
        raise ModelRegistryError(
            f"No version '{ref}' of registered model '{name}' in {mlflow.get_tracking_uri()}; "
            "train one with `churn train` (and promote it) or list them with `churn models`."
        ) from e


def load_model(name: str, ref: str = CHAMPION, *, tracking_uri: str | None = None) -> LoadedModel:
    """Load a registered model version by alias or number.

    Raises
    ------
    ModelRegistryError
        When the model, alias or version does not exist.
    """
    configure(tracking_uri)
    client = MlflowClient()
    mv = resolve_version(name, ref, client=client)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{name}/{mv.version}")
    wrapper = pyfunc.unwrap_python_model()
    return LoadedModel(
        name=name,
        version=str(mv.version),
        run_id=mv.run_id,
        model=wrapper.model,
        aliases=tuple(mv.aliases),
        tags=dict(mv.tags),
        validated=getattr(wrapper, "validated", None) or wrapper.model,
    )


def alias_version(name: str, alias: str, *, client: MlflowClient | None = None) -> str | None:
    """The version number an alias points at, or None when unset."""
    client = client or MlflowClient()
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def list_versions(*, tracking_uri: str | None = None) -> pd.DataFrame:
    """Every version of both registered models with aliases and headline metrics."""
    configure(tracking_uri)
    client = MlflowClient()
    rows = []
    for name in (CHURN_MODEL, LTV_MODEL):
        try:
            by_version: dict[str, list[str]] = {}
            for alias, version in client.get_registered_model(name).aliases.items():
                by_version.setdefault(str(version), []).append(alias)
        except MlflowException:
            continue
        for mv in client.search_model_versions(f"name='{name}'"):
            rows.append(
                {
                    "model": name,
                    "version": int(mv.version),
                    "aliases": ",".join(sorted(by_version.get(str(mv.version), []))),
                    "created": pd.Timestamp(mv.creation_timestamp, unit="ms", tz="UTC").strftime(
                        "%Y-%m-%d %H:%M"
                    ),
                    "validation_cutoff": mv.tags.get("validation_cutoff", ""),
                    "metric": mv.tags.get("gate_metric", ""),
                    "value": mv.tags.get("gate_value", ""),
                    "run_id": mv.run_id,
                }
            )
    columns = [
        "model",
        "version",
        "aliases",
        "created",
        "validation_cutoff",
        "metric",
        "value",
        "run_id",
    ]
    return pd.DataFrame(rows, columns=columns).sort_values(["model", "version"], ignore_index=True)
