"""The online view: state keys, the precomputed scores and their lookups, chunked scoring.

Real models (``tests.small_models``: 600 generated customers, one-thread LightGBM fits,
registered in a private SQLite store) made champions, a real snapshot, and one
:func:`load_state` for the module. The HTTP service on top is tested in
``test_service.py``.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from features.contract.errors import ModelRegistryError, SnapshotError
from features.contract.schema import CUSTOMER_ID
from features.io.snapshot import make_snapshot, snapshot_path
from serving.api.online import (
    MAX_REASONS,
    OnlineSource,
    OnlineState,
    current_key,
    customer_key,
    load_state,
    score_in_chunks,
)
from serving.policy.catalog import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, STATUS
from serving.policy.decide import decide
from serving.policy.scores import SCORE_COLUMNS
from serving.policy.scoring import score
from tests.serving.conftest import OFFERS_FILE
from tests.small_models import AS_OF, SmallModels, register_small_models
from training.registry.registry import CHAMPION, LTV_MODEL
from training.registry.tracking import configure

pytestmark = pytest.mark.usefixtures("isolated_mlflow")


@pytest.fixture(scope="module")
def small(tmp_path_factory, isolated_mlflow) -> SmallModels:
    """Both v1 models made champions; a snapshot as of the data's end in data/features."""
    small = register_small_models(tmp_path_factory.mktemp("online"))
    client = MlflowClient(small.tracking_uri, small.tracking_uri)
    for name, version in small.versions.items():
        client.set_registered_model_alias(name, CHAMPION, version)
    make_snapshot(small.tables, as_of=AS_OF, folder=small.data / "features")
    return small


@pytest.fixture(scope="module")
def source(small) -> OnlineSource:
    return OnlineSource(
        tracking_uri=small.tracking_uri,
        snapshot_dir=small.data / "features",
        offers_file=OFFERS_FILE,
    )


@pytest.fixture(scope="module")
def state(source) -> OnlineState:
    return load_state(source)


def row_of(state: OnlineState, status: str) -> int:
    """The first snapshot row whose scored status is ``status``."""
    matches = np.flatnonzero(state.scores["status"].to_numpy() == status)
    assert len(matches), f"no {status} customer in the snapshot"
    return int(matches[0])


class TestCustomerKey:
    def test_a_number_and_its_text_are_one_customer(self):
        assert customer_key(7) == customer_key("7") == customer_key(np.int64(7)) == "7"

    def test_text_ids_are_kept_as_they_are(self):
        assert customer_key("C-0007") == "C-0007" and customer_key("[/x]") == "[/x]"


class TestCurrentKey:
    @pytest.fixture
    def copied(self, source, tmp_path) -> OnlineSource:
        """The source with its snapshot folder and offer catalog copied to ``tmp_path``."""
        folder = tmp_path / "features"
        shutil.copytree(source.snapshot_dir, folder)
        offers = tmp_path / "offers.toml"
        shutil.copy(source.offers_file, offers)
        return dataclasses.replace(source, snapshot_dir=folder, offers_file=offers)

    def test_names_the_champions_and_the_latest_snapshot(self, source, small):
        key = current_key(source)
        snapshot = snapshot_path(source.snapshot_dir, AS_OF)
        assert (key.churn_version, key.ltv_version) == ("1", "1")
        assert key.snapshot == str(snapshot)
        assert key.snapshot_mtime_ns == snapshot.stat().st_mtime_ns
        assert key.offers_mtime_ns == OFFERS_FILE.stat().st_mtime_ns
        assert key.describe() == (
            "churn-classifier v1, ltv-regressor v1, snapshot features_2025-12-31.parquet"
        )

    def test_same_files_same_key(self, copied):
        assert current_key(copied) == current_key(copied)

    def test_a_rewritten_snapshot_changes_it(self, copied):
        before = current_key(copied)
        path = Path(before.snapshot)
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        after = current_key(copied)
        assert after != before and after.snapshot == before.snapshot

    def test_a_newer_snapshot_changes_it(self, copied):
        before = current_key(copied)
        newer = snapshot_path(copied.snapshot_dir, AS_OF + pd.Timedelta(days=1))
        shutil.copy(before.snapshot, newer)
        after = current_key(copied)
        assert after != before and after.snapshot == str(newer)

    def test_an_edited_offer_catalog_changes_it(self, copied):
        before = current_key(copied)
        stat = Path(copied.offers_file).stat()
        os.utime(copied.offers_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        assert current_key(copied) != before

    def test_a_moved_champion_alias_changes_it(self, source, small):
        before = current_key(source)
        configure(small.tracking_uri)  # create_model_version reads the global registry
        client = MlflowClient()
        v1 = client.get_model_version(LTV_MODEL, "1")
        copy = client.create_model_version(LTV_MODEL, source=v1.source, run_id=v1.run_id)
        client.set_registered_model_alias(LTV_MODEL, CHAMPION, copy.version)
        try:
            after = current_key(source)
        finally:
            client.set_registered_model_alias(LTV_MODEL, CHAMPION, "1")
        assert after != before
        assert (after.churn_version, after.ltv_version) == ("1", str(copy.version))
        assert current_key(source) == before

    def test_no_version_under_the_alias_is_a_registry_error(self, source):
        other = dataclasses.replace(source, alias="gold")
        with pytest.raises(
            ModelRegistryError, match=r"'churn-classifier' has no 'gold' version in sqlite:"
        ):
            current_key(other)

    def test_no_snapshot_is_a_snapshot_error(self, source, tmp_path):
        with pytest.raises(SnapshotError, match=r"No feature snapshot .*run `churn features`"):
            current_key(dataclasses.replace(source, snapshot_dir=tmp_path))


class TestOnlineState:
    def test_every_snapshot_customer_scored_in_row_order(self, state):
        assert state.customers == len(state.features) == len(state.scores) > 100
        assert list(state.scores.columns) == list(SCORE_COLUMNS)
        assert state.scores[CUSTOMER_ID].tolist() == state.features[CUSTOMER_ID].tolist()
        assert state.key.describe().startswith("churn-classifier v1, ltv-regressor v1")

    def test_scores_are_the_chunked_scores_of_the_snapshot(self, state):
        as_of = state.snapshot_meta.as_of  # the next order's date counts from it
        chunked = score_in_chunks(state.features, state.models, as_of=as_of)
        pd.testing.assert_frame_equal(state.scores, chunked)

    def test_rows_by_id_number_or_text_and_none_when_unknown(self, state):
        ids = state.features[CUSTOMER_ID].tolist()
        assert state.rows([ids[5], str(ids[5]), ids[0]]) == [5, 5, 0]
        assert state.rows(["no-such-customer", -1, None]) == [None, None, None]
        assert state.rows([]) == []


class TestScoreRecord:
    def test_fields_are_the_score_columns_as_plain_values(self, state):
        record = state.score_record(row_of(state, "active"))
        assert list(record) == list(SCORE_COLUMNS)
        for column, value in record.items():
            assert value is None or type(value) in (int, float, str, list), (column, value)
        assert 0.0 <= record["churn_probability"] <= 1.0 and record["predicted_ltv"] >= 0.0
        assert record["churn_model_version"] == record["ltv_model_version"] == "1"

    def test_says_what_scoring_that_row_alone_says(self, state):
        row = row_of(state, "active")
        alone = score(state.features.iloc[[row]], state.models, reasons=3).iloc[0]
        record = state.score_record(row)
        for column in ("churn_probability", "predicted_ltv", "expected_value"):
            assert record[column] == pytest.approx(alone[column], rel=1e-12), column
        for column in ("status", "risk_band", "value_segment", "offer_id"):
            assert record[column] == (None if pd.isna(alone[column]) else alone[column]), column
        assert record["reasons"] == list(alone["reasons"])

    def test_reasons_are_cut_to_the_number_asked(self, state):
        row = row_of(state, "active")
        full = state.score_record(row, reasons=MAX_REASONS)["reasons"]
        assert 1 <= len(full) <= MAX_REASONS and all(isinstance(r, str) for r in full)
        for k in (0, 1, 2):
            assert state.score_record(row, reasons=k)["reasons"] == full[:k]

    def test_no_offer_is_none_not_nan(self, state):
        rows = np.flatnonzero(state.scores["offer_id"].isna().to_numpy())
        assert len(rows), "every customer got an offer: nothing to check"
        record = state.score_record(int(rows[0]))
        assert record["offer_id"] is None and record["offer_name"] is None

    def test_cancelled_customer_is_churned_with_its_reason(self, state):
        record = state.score_record(row_of(state, "cancelled"))
        assert record["churn_probability"] == 1.0 and record["predicted_ltv"] == 0.0
        assert record["offer_id"] is None
        assert record["reasons"] == ["cancelled before the cutoff: churned"]


class TestOutsidePopulation:
    def test_lapsed_customer_of_an_active_population_model(self, state):
        assert state.models.population == "active"
        why = state.outside_population(row_of(state, "lapsed"))
        assert why is not None and "lapsed customer" in why
        assert 'population = "all"' in why

    @pytest.mark.parametrize("status", ["active", "cancelled"])
    def test_active_and_cancelled_customers_are_answered(self, state, status):
        assert state.outside_population(row_of(state, status)) is None

    def test_a_model_trained_on_everyone_answers_lapsed_customers(self, state):
        churn = dataclasses.replace(state.models.churn, tags={"population": "all"})
        everyone = dataclasses.replace(state, models=dataclasses.replace(state.models, churn=churn))
        assert everyone.outside_population(row_of(state, "lapsed")) is None


class TestOfferInputs:
    def test_keys_are_what_the_offer_policy_reads(self, state):
        inputs = state.offer_inputs(row_of(state, "active"))
        policy = {*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, STATUS} - {CUSTOMER_ID}
        assert set(inputs) == policy and "order_value" in inputs

    def test_values_are_the_scores_and_the_snapshot_features(self, state):
        row = row_of(state, "active")
        inputs, record = state.offer_inputs(row), state.score_record(row)
        for column in ("churn_probability", "predicted_ltv", "status"):
            assert inputs[column] == record[column]
        for column in set(OPTIONAL_COLUMNS) - {"order_value"}:
            value = state.features[column].iat[row]
            assert inputs[column] == (None if pd.isna(value) else value), column
        aov = state.features["aov_365d"].iat[row]
        if pd.isna(aov):
            aov = state.features["aov_total"].iat[row]
        assert inputs["order_value"] == (None if pd.isna(aov) else aov)

    def test_the_policy_decides_on_them_as_scoring_did(self, state):
        rows = [row_of(state, s) for s in ("active", "lapsed", "cancelled")]
        frame = pd.DataFrame(
            [{CUSTOMER_ID: i, **state.offer_inputs(r)} for i, r in enumerate(rows)]
        )
        decided = decide(frame, state.models.catalog, population=state.models.population_reference)
        expected = [state.score_record(r)["offer_id"] for r in rows]
        assert [None if pd.isna(o) else o for o in decided["offer_id"]] == expected

    def test_a_feature_absent_from_the_snapshot_is_none(self, state):
        column = OPTIONAL_COLUMNS[0]
        without = dataclasses.replace(state, features=state.features.drop(columns=column))
        assert without.offer_inputs(row_of(state, "active"))[column] is None


class TestScoreInChunks:
    @pytest.fixture(scope="class")
    def features(self, state) -> pd.DataFrame:
        """60 snapshot rows under a shuffled, non-default index."""
        frame = state.features.head(60)
        return frame.set_axis(np.random.default_rng(0).permutation(np.arange(500, 560)))

    @pytest.mark.parametrize("chunk_rows", [7, 60, 10_000])
    def test_equals_scoring_at_once(self, state, features, chunk_rows):
        chunked = score_in_chunks(features, state.models, chunk_rows=chunk_rows)
        at_once = score(features, state.models, reasons=MAX_REASONS)
        pd.testing.assert_frame_equal(chunked, at_once.reset_index(drop=True))
        assert chunked.index.equals(pd.RangeIndex(60))

    def test_no_rows_gives_the_columns(self, state):
        out = score_in_chunks(state.features.iloc[:0], state.models)
        assert list(out.columns) == list(SCORE_COLUMNS) and out.empty
