"""Model integrity: a registered version's artifact is checked against its digest before use.

The session's trained models are logged again into a private registry (no training),
so tampering with an artifact there cannot touch the models other tests serve.
"""

from __future__ import annotations

import pytest

from features.contract.errors import ModelRegistryError
from features.families.build import build_features
from tests.conftest import mlflow_state_restored
from tests.serving.conftest import OFFERS_FILE


@pytest.fixture(scope="module")
def registry(batch_env, tmp_path_factory):
    """Both session models logged and registered (v1, champions) in a fresh SQLite store."""
    import mlflow
    from mlflow import MlflowClient

    from training.registry.registry import CHAMPION, CHURN_MODEL, LTV_MODEL, log_and_register
    from training.registry.tracking import configure

    uri = f"sqlite:///{tmp_path_factory.mktemp('integrity') / 'mlflow.db'}"
    example = build_features(batch_env.tables, as_of=batch_env.as_of).head(5)
    with mlflow_state_restored():
        configure(uri)
        client = MlflowClient()
        with mlflow.start_run():
            for name, loaded in (
                (CHURN_MODEL, batch_env.models.churn),
                (LTV_MODEL, batch_env.models.ltv),
            ):
                version = log_and_register(loaded.model, name=name, example=example, tags={})
                client.set_registered_model_alias(name, CHAMPION, version)
    return uri


def _artifact_file(uri: str, name: str, version: str, file: str):
    """The stored (not downloaded) artifact file of a registered version."""
    from pathlib import Path

    import mlflow

    with mlflow_state_restored():
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        folder = mlflow.artifacts.download_artifacts(f"models:/{name}/{version}")
    return Path(folder) / file


def test_registration_records_the_digest_and_loading_checks_it(registry):
    from mlflow import MlflowClient

    from training.registry.registry import CHURN_MODEL, DIGEST_TAG, artifact_digest, load_model

    with mlflow_state_restored():
        model = load_model(CHURN_MODEL, "1", tracking_uri=registry)
        recorded = MlflowClient(registry, registry).get_model_version(CHURN_MODEL, "1").tags
    assert model.version == "1" and len(recorded[DIGEST_TAG]) == 64
    folder = _artifact_file(registry, CHURN_MODEL, "1", "MLmodel").parent
    assert artifact_digest(folder) == recorded[DIGEST_TAG]


def test_tampered_artifact_is_refused_by_service_and_batch_loads(registry):
    """Change one byte of the stored pickle: every loader refuses it before unpickling."""
    from serving.models import load_scoring_models
    from training.registry.registry import CHURN_MODEL, load_model

    pickle = _artifact_file(registry, CHURN_MODEL, "1", "python_model.pkl")
    original = pickle.read_bytes()
    pickle.write_bytes(original[:-1] + bytes([original[-1] ^ 0xFF]))
    try:
        with mlflow_state_restored():
            with pytest.raises(ModelRegistryError, match="changed after registration"):
                load_model(CHURN_MODEL, "champion", tracking_uri=registry)
            with pytest.raises(ModelRegistryError, match="version 1 .*changed after registration"):
                load_scoring_models(tracking_uri=registry, offers_file=OFFERS_FILE)
    finally:
        pickle.write_bytes(original)
    with mlflow_state_restored():
        assert load_model(CHURN_MODEL, "1", tracking_uri=registry).version == "1"


def test_version_without_a_digest_is_refused(registry):
    from mlflow import MlflowClient

    from training.registry.registry import CHURN_MODEL, DIGEST_TAG, load_model, record_digest
    from training.registry.tracking import configure

    with mlflow_state_restored():
        configure(registry)
        client = MlflowClient()
        source = client.get_model_version(CHURN_MODEL, "1")
        copy = client.create_model_version(CHURN_MODEL, source=source.source, run_id=source.run_id)
        version = str(copy.version)
        assert DIGEST_TAG not in copy.tags
        with pytest.raises(ModelRegistryError, match="no recorded artifact digest"):
            load_model(CHURN_MODEL, version, tracking_uri=registry)
        record_digest(CHURN_MODEL, version, tracking_uri=registry)
        assert load_model(CHURN_MODEL, version, tracking_uri=registry).version == version
