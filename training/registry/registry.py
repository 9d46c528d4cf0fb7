"""The model registry: logging models as MLflow pyfunc, aliases, loading by alias.

Three registered models, ``churn-classifier``, ``ltv-regressor`` and (when there is an
offer history) ``offer-uplift``. A new version gets
the alias ``challenger``; only the promotion gate moves ``champion``.

Integrity: at registration the SHA-256 digest of the version's artifact files is
recorded as the model-version tag ``artifact_sha256`` (:func:`artifact_digest`).
:func:`load_model` copies the artifact, checks the copy against that tag and only then
unpickles it, so a model file changed in the artifact store after registration is
refused instead of run.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from features.contract.errors import ModelRegistryError
from training.registry.artifacts import no_progress_bar
from training.registry.tracking import configure

CHURN_MODEL = "churn-classifier"
LTV_MODEL = "ltv-regressor"
UPLIFT_MODEL = "offer-uplift"
VERSION_COLUMNS = (
    "model",
    "version",
    "aliases",
    "created",
    "validation_cutoff",
    "metric",
    "value",
    "run_id",
)
"""Columns of :func:`list_versions`, in order."""
CHAMPION = "champion"
CHALLENGER = "challenger"
OUTPUTS = {CHURN_MODEL: "churn_probability", LTV_MODEL: "predicted_ltv", UPLIFT_MODEL: "uplift"}
DIGEST_TAG = "artifact_sha256"
MISSING = "-"
"""What :func:`list_versions` shows for a value a version does not have."""
"""Model-version tag holding the SHA-256 digest of the version's artifact files."""
UNHASHED = frozenset({"registered_model_meta"})
"""Files MLflow writes into a model's artifact folder when it is loaded, not part of it."""
PIP_REQUIREMENTS = ["lightgbm", "scikit-learn", "pandas", "numpy", "pyarrow"]


class ScoringModel(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc wrapper around a fitted :class:`ChurnModel`, :class:`LTVModel` or
    :class:`UpliftModel`.

    ``predict`` takes a feature frame (one row per customer) and returns a frame with
    one column, ``churn_probability`` or ``predicted_ltv``, or for the uplift model one
    column ``uplift_<offer id>`` per offer (churn-probability reduction). ``model`` is the model to
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
        elif self.output == OUTPUTS[UPLIFT_MODEL]:
            return self.model.predict_frame(frame)
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

    The version is created with every tag at once (``tags`` and the artifact digest,
    :data:`DIGEST_TAG`), so a process killed during registration leaves either no
    version or a whole one; the ``challenger`` alias then moves to it. ``validated``
    (see :class:`ScoringModel`) is stored beside the model.
    """
    wrapper = ScoringModel(model, OUTPUTS[name], validated)
    example = example[model.input_names].head(5).reset_index(drop=True)
    signature = infer_signature(example, wrapper.predict(None, example))
    with _without_pickle_warning():
        info = mlflow.pyfunc.log_model(
            name=name,
            python_model=wrapper,
            signature=signature,
            input_example=example,
            pip_requirements=PIP_REQUIREMENTS,
        )
    with tempfile.TemporaryDirectory(prefix="churn-model-") as tmp, no_progress_bar():
        folder = mlflow.artifacts.download_artifacts(info.model_uri, dst_path=tmp)
        digest = artifact_digest(folder)
    all_tags = {**{k: str(v) for k, v in tags.items()}, DIGEST_TAG: digest}
    mv = mlflow.register_model(info.model_uri, name, tags=all_tags)
    version = str(mv.version)
    MlflowClient().set_registered_model_alias(name, CHALLENGER, version)
    return version


class _PickleWarning(logging.Filter):
    """MLflow's warning that a ``python_model`` is stored with CloudPickle."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "serialized using CloudPickle" not in record.getMessage()


@contextlib.contextmanager
def _without_pickle_warning() -> Iterator[None]:
    """Log a model without MLflow's CloudPickle warning, once per model otherwise: the
    pickle is ours, and its digest (:data:`DIGEST_TAG`) is checked at every load."""
    logger = logging.getLogger("mlflow.pyfunc")
    quiet = _PickleWarning()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def artifact_digest(folder: str | Path) -> str:
    """SHA-256 hex digest of a model's artifact folder: every file's path and bytes.

    Files are taken in sorted relative-path order; :data:`UNHASHED` files (written by
    MLflow when a model is loaded) are left out, so loading never changes the digest.
    """
    folder = Path(folder)
    total = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if relative in UNHASHED:
            continue
        with path.open("rb") as f:
            content = hashlib.file_digest(f, "sha256").hexdigest()
        total.update(f"{relative}\0{content}\n".encode())
    return total.hexdigest()


def _download(name: str, version: str, folder: str) -> Path:
    with no_progress_bar():
        uri = f"models:/{name}/{version}"
        return Path(mlflow.artifacts.download_artifacts(uri, dst_path=folder))


def record_digest(name: str, version: str, *, tracking_uri: str | None = None) -> str:
    """Compute the artifact digest of ``name`` version ``version`` and record it as a tag.

    :func:`log_and_register` records it with the version; call this only for a
    version registered another way, after checking its artifact is the one you trust.

    Parameters
    ----------
    name, version : str
    tracking_uri : str, optional
        The registry; default the one MLflow points at now.

    Returns
    -------
    str
        The digest recorded (:data:`DIGEST_TAG`).
    """
    if tracking_uri is not None:
        configure(tracking_uri)
    client = MlflowClient()
    with tempfile.TemporaryDirectory(prefix="churn-model-") as tmp:
        digest = artifact_digest(_download(name, version, tmp))
    client.set_model_version_tag(name, version, DIGEST_TAG, digest)
    return digest


def check_digest(mv, folder: str | Path) -> None:
    """Refuse a model artifact whose digest is not the one recorded at registration.

    Parameters
    ----------
    mv : ModelVersion
        The registry's record of the version (its tags hold :data:`DIGEST_TAG`).
    folder : path
        The downloaded artifact folder about to be loaded.

    Raises
    ------
    ModelRegistryError
        When the version has no recorded digest or the files do not match it.
    """
    expected = (mv.tags or {}).get(DIGEST_TAG)
    where = f"registered model '{mv.name}' version {mv.version}"
    if not expected:
        raise ModelRegistryError(
            f"The {where} has no recorded artifact digest (tag '{DIGEST_TAG}'), so its "
            "files cannot be checked before they are unpickled; register it again with "
            "`churn train`, or record the digest of an artifact you have checked with "
            "training.registry.registry.record_digest."
        )
    found = artifact_digest(folder)
    if not hmac.compare_digest(found, expected):
        raise ModelRegistryError(
            f"The artifact files of the {where} (source {mv.source}) changed after "
            f"registration: SHA-256 {found[:12]}… instead of the recorded {expected[:12]}…. "
            "Refusing to unpickle it; restore the artifact or register a new version."
        )


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
    """Load a registered model version by alias or number, its artifact digest checked first.

    The artifact is copied to a temporary folder, checked against the digest recorded
    at registration (:func:`check_digest`) and unpickled from that same copy.

    Raises
    ------
    ModelRegistryError
        When the model, alias or version does not exist, or its artifact files do not
        match the digest recorded at registration (or none was recorded).
    """
    configure(tracking_uri)
    client = MlflowClient()
    mv = resolve_version(name, ref, client=client)
    with tempfile.TemporaryDirectory(prefix="churn-model-") as tmp:
        folder = _download(name, str(mv.version), tmp)
        check_digest(mv, folder)
        pyfunc = mlflow.pyfunc.load_model(str(folder))
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
    """Every version of the registered models with aliases and headline metrics.

    A value a version does not have (no alias; no gate tags on a version registered
    before tags came with the version, or by hand) is :data:`MISSING`, never blank.
    """
    configure(tracking_uri)
    client = MlflowClient()
    rows = []
    for name in (CHURN_MODEL, LTV_MODEL, UPLIFT_MODEL):
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
                    "aliases": ",".join(sorted(by_version.get(str(mv.version), []))) or MISSING,
                    "created": pd.Timestamp(mv.creation_timestamp, unit="ms", tz="UTC").strftime(
                        "%Y-%m-%d %H:%M"
                    ),
                    "validation_cutoff": mv.tags.get("validation_cutoff") or MISSING,
                    "metric": mv.tags.get("gate_metric") or MISSING,
                    "value": mv.tags.get("gate_value") or MISSING,
                    "run_id": mv.run_id,
                }
            )
    return pd.DataFrame(rows, columns=list(VERSION_COLUMNS)).sort_values(
        ["model", "version"], ignore_index=True
    )
