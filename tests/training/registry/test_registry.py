"""The model registry on a real SQLite MLflow store: register, resolve, load, list, digest.

Tampering with a stored artifact and versions without a digest are covered by
``tests/serving/test_model_integrity.py``; here: the round trip, aliases and version
numbers, the listing, and :func:`artifact_digest` / :func:`check_digest` on their own.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

from features.contract.errors import ModelRegistryError
from tests.small_models import PARAMS, SmallModels, register_small_models
from training.models.ltv import LTVModel
from training.registry.registry import (
    CHALLENGER,
    CHAMPION,
    CHURN_MODEL,
    DIGEST_TAG,
    LTV_MODEL,
    MISSING,
    VERSION_COLUMNS,
    ScoringModel,
    alias_version,
    artifact_digest,
    check_digest,
    list_versions,
    load_model,
    log_and_register,
    resolve_version,
)
from training.registry.tracking import configure

pytestmark = pytest.mark.usefixtures("isolated_mlflow")


@pytest.fixture(scope="module")
def registry(tmp_path_factory, isolated_mlflow) -> SmallModels:
    """churn v1 (challenger, champion); ltv v1 and v2 (challenger), v2 fit with another seed."""
    import mlflow

    small = register_small_models(tmp_path_factory.mktemp("registry"))
    configure(small.tracking_uri)
    rows = small.rows
    other = LTVModel(params=PARAMS, seed=8).fit(rows, rows["ltv"].to_numpy())
    with mlflow.start_run():
        version = log_and_register(
            other, name=LTV_MODEL, example=rows, tags={"gate_value": 0.5}, validated=small.ltv
        )
    assert version == "2"
    MlflowClient().set_registered_model_alias(CHURN_MODEL, CHAMPION, "1")
    return small


@pytest.fixture
def client(registry) -> MlflowClient:
    configure(registry.tracking_uri)
    return MlflowClient()


class TestLogAndRegister:
    def test_first_versions_are_one(self, registry):
        assert registry.versions == {CHURN_MODEL: "1", LTV_MODEL: "1"}

    def test_the_newest_version_is_the_challenger(self, client):
        assert alias_version(LTV_MODEL, CHALLENGER, client=client) == "2"
        assert alias_version(CHURN_MODEL, CHALLENGER, client=client) == "1"

    def test_tags_are_stored_as_text_with_the_digest(self, client):
        v2 = client.get_model_version(LTV_MODEL, "2")
        assert v2.tags["gate_value"] == "0.5"
        assert re.fullmatch(r"[0-9a-f]{64}", v2.tags[DIGEST_TAG])
        assert client.get_model_version(CHURN_MODEL, "1").tags["population"] == "active"


class TestScoringModel:
    def test_ltv_output_column_keeps_the_index(self, registry):
        frame = registry.rows.head(4).set_axis([7, 3, 9, 1])
        out = ScoringModel(registry.ltv, "predicted_ltv").predict(None, frame)
        assert list(out.columns) == ["predicted_ltv"] and list(out.index) == [7, 3, 9, 1]
        np.testing.assert_array_equal(out["predicted_ltv"], registry.ltv.predict(frame))

    def test_churn_output_is_the_probability(self, registry):
        frame = registry.rows.head(4)
        out = ScoringModel(registry.churn, "churn_probability").predict(None, frame)
        np.testing.assert_array_equal(out["churn_probability"], registry.churn.predict_proba(frame))


class TestLoadModel:
    def test_by_version_predicts_like_the_model_in_memory(self, registry):
        rows = registry.rows
        ltv = load_model(LTV_MODEL, "1", tracking_uri=registry.tracking_uri)
        churn = load_model(CHURN_MODEL, "1", tracking_uri=registry.tracking_uri)
        np.testing.assert_array_equal(ltv.model.predict(rows), registry.ltv.predict(rows))
        np.testing.assert_array_equal(
            churn.model.predict_proba(rows), registry.churn.predict_proba(rows)
        )

    def test_by_alias_is_that_version(self, registry, client):
        loaded = load_model(LTV_MODEL, CHALLENGER, tracking_uri=registry.tracking_uri)
        assert (loaded.name, loaded.version, loaded.aliases) == (LTV_MODEL, "2", (CHALLENGER,))
        assert loaded.run_id == client.get_model_version(LTV_MODEL, "2").run_id
        assert loaded.tags["gate_value"] == "0.5"

    def test_default_ref_is_the_champion(self, registry):
        loaded = load_model(CHURN_MODEL, tracking_uri=registry.tracking_uri)
        assert loaded.version == "1" and set(loaded.aliases) == {CHAMPION, CHALLENGER}

    def test_validated_model_is_stored_beside_the_deployed_one(self, registry):
        rows = registry.rows
        v2 = load_model(LTV_MODEL, "2", tracking_uri=registry.tracking_uri)
        np.testing.assert_array_equal(v2.validated.predict(rows), registry.ltv.predict(rows))
        assert not np.array_equal(v2.model.predict(rows), v2.validated.predict(rows))
        v1 = load_model(LTV_MODEL, "1", tracking_uri=registry.tracking_uri)
        assert v1.validated is v1.model  # none given: the gate judges the model itself

    def test_no_champion_is_a_registry_error(self, registry):
        with pytest.raises(ModelRegistryError, match=r"No version 'champion' of .*'ltv-regressor'"):
            load_model(LTV_MODEL, tracking_uri=registry.tracking_uri)


class TestResolveVersion:
    def test_a_number(self, client):
        mv = resolve_version(LTV_MODEL, "1", client=client)
        assert (mv.name, str(mv.version)) == (LTV_MODEL, "1")

    def test_an_alias(self, client):
        assert str(resolve_version(LTV_MODEL, CHALLENGER, client=client).version) == "2"

    @pytest.mark.parametrize(
        ("name", "ref"),
        [(LTV_MODEL, "7"), (LTV_MODEL, "nope"), ("no-such-model", "1"), ("no-such-model", "x")],
    )
    def test_unknown_names_the_model_the_ref_and_the_store(self, registry, client, name, ref):
        with pytest.raises(ModelRegistryError) as err:
            resolve_version(name, ref, client=client)
        message = str(err.value)
        assert f"No version '{ref}' of registered model '{name}' in " in message
        assert registry.tracking_uri in message and "churn models" in message


class TestAliasVersion:
    def test_set_alias(self, client):
        assert alias_version(CHURN_MODEL, CHAMPION, client=client) == "1"

    def test_unset_alias_is_none(self, client):
        assert alias_version(LTV_MODEL, CHAMPION, client=client) is None

    def test_unknown_model_is_none(self, client):
        assert alias_version("no-such-model", CHAMPION, client=client) is None


class TestListVersions:
    def test_every_version_with_aliases_and_tags(self, registry, client):
        listed = list_versions(tracking_uri=registry.tracking_uri)
        assert list(listed.columns) == list(VERSION_COLUMNS)
        assert listed[["model", "version", "aliases"]].to_dict("records") == [
            {"model": CHURN_MODEL, "version": 1, "aliases": "challenger,champion"},
            {"model": LTV_MODEL, "version": 1, "aliases": MISSING},
            {"model": LTV_MODEL, "version": 2, "aliases": "challenger"},
        ]
        assert listed["value"].tolist() == [MISSING, MISSING, "0.5"]  # never blank
        assert listed["run_id"].tolist() == [
            client.get_model_version(m, str(v)).run_id
            for m, v in zip(listed["model"], listed["version"], strict=True)
        ]
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", c) for c in listed["created"])

    def test_empty_store_gives_the_columns_and_no_rows(self, tmp_path):
        listed = list_versions(tracking_uri=f"sqlite:///{tmp_path / 'empty.db'}")
        assert list(listed.columns) == list(VERSION_COLUMNS) and listed.empty


def write_files(folder, files: dict[str, bytes]):
    for relative, content in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return folder


FILES = {"MLmodel": b"flavors: {}\n", "python_model.pkl": b"\x80\x04pickle", "env/conda.yaml": b"x"}


class TestArtifactDigest:
    def test_stable_and_independent_of_creation_order(self, tmp_path):
        one = write_files(tmp_path / "one", FILES)
        two = write_files(tmp_path / "two", dict(reversed(FILES.items())))
        assert artifact_digest(one) == artifact_digest(one) == artifact_digest(two)
        assert re.fullmatch(r"[0-9a-f]{64}", artifact_digest(one))

    @pytest.mark.parametrize(
        "change",
        [
            {"python_model.pkl": b"\x80\x04pickle!"},
            {"env/conda.yaml": b"y"},
            {"extra.txt": b""},
        ],
        ids=["changed-bytes", "changed-nested-file", "added-file"],
    )
    def test_changes_when_a_file_changes(self, tmp_path, change):
        before = artifact_digest(write_files(tmp_path / "a", FILES))
        assert artifact_digest(write_files(tmp_path / "b", {**FILES, **change})) != before

    def test_a_renamed_file_changes_it(self, tmp_path):
        folder = write_files(tmp_path / "a", FILES)
        before = artifact_digest(folder)
        (folder / "env" / "conda.yaml").rename(folder / "env" / "python_env.yaml")
        assert artifact_digest(folder) != before

    def test_the_meta_file_mlflow_writes_on_load_is_left_out(self, tmp_path):
        folder = write_files(tmp_path / "a", FILES)
        before = artifact_digest(folder)
        (folder / "registered_model_meta").write_text("model_name: x\n")
        assert artifact_digest(folder) == before


class TestCheckDigest:
    @pytest.fixture
    def downloaded(self, registry, client, tmp_path):
        """(ModelVersion, a private copy of its artifact folder) of ltv-regressor v1."""
        import mlflow

        folder = mlflow.artifacts.download_artifacts(
            f"models:/{LTV_MODEL}/1", dst_path=str(tmp_path)
        )
        return client.get_model_version(LTV_MODEL, "1"), Path(folder)

    def test_the_registered_files_pass(self, downloaded):
        mv, folder = downloaded
        assert check_digest(mv, folder) is None

    def test_an_added_file_is_refused_naming_version_source_and_digests(self, downloaded):
        mv, folder = downloaded
        expected = mv.tags[DIGEST_TAG]
        (folder / "sitecustomize.py").write_text("import os\n")
        with pytest.raises(ModelRegistryError) as err:
            check_digest(mv, folder)
        message = str(err.value)
        assert "registered model 'ltv-regressor' version 1" in message
        assert f"(source {mv.source})" in message and "changed after registration" in message
        assert f"instead of the recorded {expected[:12]}" in message
        assert f"SHA-256 {artifact_digest(folder)[:12]}" in message

    def test_a_removed_file_is_refused(self, downloaded):
        mv, folder = downloaded
        (folder / "MLmodel").unlink()
        with pytest.raises(ModelRegistryError, match="changed after registration"):
            check_digest(mv, folder)

    def test_another_versions_files_are_refused(self, registry, client, downloaded):
        _, folder = downloaded
        v2 = client.get_model_version(LTV_MODEL, "2")
        with pytest.raises(ModelRegistryError, match="version 2 .*changed after registration"):
            check_digest(v2, folder)
