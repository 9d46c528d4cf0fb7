"""Batch scoring (local engine), the `churn score` and `churn campaign` commands."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from churn.cli import app
from features.contract.errors import ConfigError, EmptyBaseError, OutputError, SnapshotError
from features.contract.load import load_tables
from features.contract.schema import CUSTOMER_ID
from features.families.build import build_features
from features.families.population import active_customers
from features.io.snapshot import SnapshotMeta, make_snapshot, read_snapshot, write_snapshot
from serving.batch.local import score_base
from serving.batch.reader import campaign_scores, read_scores
from serving.batch.runs import META_KEY, ScoreOptions, ScoreSummary, score_schema
from serving.batch.snapshot import find_snapshot, score_snapshot
from serving.policy.scores import SCORE_COLUMNS
from tests.serving.conftest import by_id, plain

pytestmark = pytest.mark.usefixtures("isolated_mlflow")  # the CLI sets MLflow URIs
runner = CliRunner()


def leftovers(folder: Path) -> list[str]:
    """Temporary files a scoring run may have left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture(scope="module")
def scored(batch_env, tmp_path_factory):
    """One local run over the generated base, 3 partitions: (result, scores frame)."""
    out = tmp_path_factory.mktemp("scored") / "scores.parquet"
    result = score_base(
        batch_env.tables, batch_env.models, as_of=batch_env.as_of, out=out, partitions=3
    )
    return result, read_scores(out)[0]


class TestScoreBase:
    def test_one_row_per_active_customer(self, batch_env, scored):
        _, scores = scored
        active = active_customers(batch_env.tables, batch_env.as_of)
        assert len(scores) == len(active) > 0
        assert sorted(scores[CUSTOMER_ID]) == sorted(active[CUSTOMER_ID])
        assert list(scores.columns) == list(SCORE_COLUMNS)
        assert scores["churn_probability"].between(0, 1).all()
        assert (scores["predicted_ltv"] >= 0).all()

    def test_schema_follows_the_scoring_columns(self):
        assert tuple(score_schema(pa.int64()).names) == SCORE_COLUMNS

    def test_outputs_peers_have_horizon_orders_p_alive_next_order_date(self, batch_env, scored):
        result, scores = scored
        models = batch_env.models
        horizon = models.horizon_days
        assert horizon == int(models.churn.tags["horizon_days"]) == 90
        assert (scores["churn_horizon_days"] == horizon).all()
        field = pq.read_schema(result.path).field("churn_probability")
        assert field.metadata[b"horizon_days"] == str(horizon).encode()
        assert result.meta["churn_horizon_days"] == horizon
        # BG/NBD at the churn model's fit and horizon, for the same customers
        features = build_features(batch_env.tables, as_of=batch_env.as_of)
        rows = features.set_index(CUSTOMER_ID).loc[scores[CUSTOMER_ID]].reset_index()
        btyd = models.churn.model.btyd_
        assert btyd.horizon_days == horizon
        expected = btyd.add(rows)
        np.testing.assert_allclose(scores["p_alive"], expected["btyd_p_alive"], rtol=1e-9)
        np.testing.assert_allclose(
            scores["expected_orders"], expected["btyd_expected_orders"], rtol=1e-9
        )
        assert scores["p_alive"].between(0, 1).all() and (scores["expected_orders"] >= 0).all()
        # next order: the last order (as_of − days since it) plus the mean gap, whole days
        ahead = (rows["gap_mean_days"] - rows["days_since_last_order"]).round()
        due = batch_env.as_of + pd.to_timedelta(ahead, unit="D")
        assert str(scores["next_order_date"].dt.tz) == "UTC"
        known = rows["gap_mean_days"].notna().to_numpy()
        assert scores["next_order_date"].isna().to_numpy().tolist() == (~known).tolist()
        assert known.any() and (~known).any() and (ahead < 0).any()  # some are overdue
        got = scores.loc[known, "next_order_date"].to_numpy()
        np.testing.assert_array_equal(got, due[known].to_numpy())

    def test_metadata_records_models_as_of_and_rows(self, batch_env, scored):
        result, scores = scored
        raw = pq.read_metadata(result.path).metadata[META_KEY]
        _, meta = read_scores(result.path)
        assert meta == result.meta and raw
        assert meta["rows"] == len(scores)
        assert meta["customers_known"] == len(batch_env.tables.customers)
        assert pd.Timestamp(meta["as_of"]) == batch_env.as_of
        models = batch_env.models
        assert meta["models"] == {
            m.name: {"version": m.version, "run_id": m.run_id, "aliases": list(m.aliases)}
            for m in (models.churn, models.ltv)
        }

    def test_summary_agrees_with_the_rows(self, scored):
        result, scores = scored
        summary = result.summary
        offered = scores["offer_id"].notna()
        assert summary.rows == len(scores)
        assert summary.risk_bands == {
            band: int((scores["risk_band"] == band).sum()) for band in ("low", "medium", "high")
        }
        assert summary.offers == scores.loc[offered, "offer_id"].value_counts().to_dict()
        assert summary.expected_value == pytest.approx(scores.loc[offered, "expected_value"].sum())

    def test_partitioning_does_not_change_the_scores(self, batch_env, scored, tmp_path):
        _, scores = scored
        out = tmp_path / "one.parquet"
        score_base(batch_env.tables, batch_env.models, as_of=batch_env.as_of, out=out, partitions=1)
        pd.testing.assert_frame_equal(by_id(read_scores(out)[0]), by_id(scores))

    def test_snapshot_gives_the_same_scores(self, batch_env, scored, tmp_path):
        _, scores = scored
        path, _ = make_snapshot(batch_env.tables, as_of=batch_env.as_of, out=tmp_path / "f.parquet")
        out = tmp_path / "from_snapshot.parquet"
        result = score_snapshot(
            path,
            batch_env.models,
            as_of=batch_env.as_of,
            out=out,
            partitions=4,
            sources=batch_env.tables.sources,
        )
        assert result.meta["features"] == f"snapshot {path}"
        assert result.meta["data"] == {k: str(v) for k, v in batch_env.tables.sources.items()}
        assert result.meta["customers_known"] == scored[0].meta["customers_known"]
        pd.testing.assert_frame_equal(by_id(read_scores(out)[0]), by_id(scores))

    def test_failure_midway_leaves_no_file(self, batch_env, tmp_path):
        out = tmp_path / "scores.parquet"
        out.write_bytes(b"yesterday's scores")

        def interrupt(done: int, total: int) -> None:
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            score_base(
                batch_env.tables,
                batch_env.models,
                as_of=batch_env.as_of,
                out=out,
                partitions=3,
                on_progress=interrupt,
            )
        assert out.read_bytes() == b"yesterday's scores"
        assert leftovers(tmp_path) == []

    def test_empty_base_is_refused(self, batch_env, tmp_path):
        out = tmp_path / "scores.parquet"
        with pytest.raises(EmptyBaseError, match="none of the 3,000 customers"):
            score_base(batch_env.tables, batch_env.models, as_of="2027-06-30", out=out)
        assert list(tmp_path.iterdir()) == []

    def test_unwritable_output_is_refused_before_work(self, batch_env, tmp_path):
        (tmp_path / "blocker").write_text("a file, not a folder")
        with pytest.raises(OutputError, match="blocker"):
            score_base(
                batch_env.tables,
                batch_env.models,
                as_of=batch_env.as_of,
                out=tmp_path / "blocker" / "scores.parquet",
            )

    def test_features_the_models_lack_are_refused(self, batch_env, tmp_path):
        options = ScoreOptions(windows=(90, 365))  # the models use 30- and 180-day windows
        with pytest.raises(SnapshotError, match=r"lacks \d+ feature\(s\).*orders_30d"):
            score_base(
                batch_env.tables,
                batch_env.models,
                as_of=batch_env.as_of,
                out=tmp_path / "scores.parquet",
                options=options,
            )
        assert leftovers(tmp_path) == []


class TestPopulationAll:
    """``[scoring] population = "all"``: every customer who ever ordered is scored."""

    @pytest.fixture(scope="class")
    def everyone(self, batch_env, tmp_path_factory):
        out = tmp_path_factory.mktemp("all") / "scores.parquet"
        options = dataclasses.replace(ScoreOptions(), active_days=None)
        score_base(
            batch_env.tables,
            batch_env.models,
            as_of=batch_env.as_of,
            out=out,
            partitions=2,
            options=options,
        )
        return read_scores(out)[0]

    def test_every_customer_with_an_order_is_scored(self, batch_env, everyone):
        txn = batch_env.tables.transactions
        ordered = txn.loc[
            (txn["ordered_at"] < batch_env.as_of) & ~txn["is_refund"].astype(bool),
            CUSTOMER_ID,
        ].unique()
        assert sorted(everyone[CUSTOMER_ID]) == sorted(ordered)
        active = active_customers(batch_env.tables, batch_env.as_of)[CUSTOMER_ID]
        status = everyone.set_index(CUSTOMER_ID)["status"]
        assert (status.loc[active] == "active").all()
        assert set(status) == {"active", "lapsed", "cancelled"}

    def test_cancelled_customers_are_churned_without_an_offer(self, everyone):
        cancelled = everyone.loc[everyone["status"] == "cancelled"]
        assert len(cancelled) > 0
        assert (cancelled["churn_probability"] == 1.0).all()
        assert (cancelled["risk_band"] == "high").all() and cancelled["offer_id"].isna().all()

    def test_only_lapsed_customers_get_the_win_back_offer(self, everyone):
        win_back = everyone.loc[everyone["offer_id"] == "win_back", "status"]
        assert set(win_back) <= {"lapsed"}


class TestSnapshots:
    def test_found_when_built_from_the_same_data(self, batch_env, tmp_path):
        data = shutil.copytree(batch_env.data, tmp_path / "data")  # keep the shared data clean
        tables = load_tables(data)
        path, _ = make_snapshot(tables, as_of=batch_env.as_of)
        assert path == data / "features" / "features_2025-12-31.parquet"
        assert find_snapshot(data, batch_env.as_of) == path
        assert find_snapshot(data, batch_env.as_of, tables.sources) == path
        other_day = batch_env.as_of - pd.Timedelta(days=1)
        assert find_snapshot(data, other_day) is None

    def test_ignored_when_the_data_changed(self, batch_env, tmp_path):
        frame = pd.DataFrame({CUSTOMER_ID: [1], "x": [1.0]})
        meta = SnapshotMeta(
            as_of=batch_env.as_of.isoformat(),
            rows=1,
            features=["x"],
            fingerprints={"transactions": "0" * 64},
        )
        folder = tmp_path / "features"
        path = folder / f"features_{batch_env.as_of:%Y-%m-%d}.parquet"
        write_snapshot(frame, path, meta, mkdir=True)
        assert find_snapshot(tmp_path, batch_env.as_of, batch_env.tables.sources) is None

    def test_other_as_of_is_refused(self, batch_env, tmp_path):
        day = batch_env.as_of - pd.Timedelta(days=30)
        path, _ = make_snapshot(batch_env.tables, as_of=day, out=tmp_path / "old.parquet")
        with pytest.raises(SnapshotError, match=f"is as of {day:%Y-%m-%d}"):
            score_snapshot(
                path, batch_env.models, as_of=batch_env.as_of, out=tmp_path / "scores.parquet"
            )

    def test_snapshot_of_other_data_is_scored_with_a_warning(self, batch_env, tmp_path, caplog):
        # A snapshot is point-in-time truth on its own; built from other files, it is
        # still scored (its own active customers), and the mismatch is reported.
        path, _ = make_snapshot(batch_env.tables, as_of=batch_env.as_of, out=tmp_path / "f.parquet")
        frame, meta = read_snapshot(path)
        half = frame.iloc[::2]
        write_snapshot(half, path, dataclasses.replace(meta, rows=len(half), fingerprints={}))
        out = tmp_path / "scores.parquet"
        result = score_snapshot(
            path, batch_env.models, as_of=batch_env.as_of, out=out, sources=batch_env.tables.sources
        )
        assert "was built before customers, " in caplog.text
        active = active_customers(batch_env.tables, batch_env.as_of)[CUSTOMER_ID]
        assert set(read_scores(out)[0][CUSTOMER_ID]) == set(active) & set(half[CUSTOMER_ID])
        assert result.meta["customers_known"] == len(half)

    def test_snapshot_without_the_activity_features_is_refused(self, batch_env, tmp_path):
        path, _ = make_snapshot(batch_env.tables, as_of=batch_env.as_of, out=tmp_path / "f.parquet")
        frame, meta = read_snapshot(path)
        write_snapshot(frame.drop(columns="is_cancelled"), path, meta)
        with pytest.raises(SnapshotError, match="lacks is_cancelled, needed to tell who is active"):
            score_snapshot(
                path, batch_env.models, as_of=batch_env.as_of, out=tmp_path / "scores.parquet"
            )
        assert leftovers(tmp_path) == []


class TestCampaignScores:
    def test_uplift_comes_from_the_catalog(self, batch_env, scored):
        _, scores = scored
        ready = campaign_scores(scores, batch_env.models.catalog)
        uplift = {o.id: o.uplift for o in batch_env.models.catalog.offers}
        offered = ready["offer_id"].notna()
        assert ready.loc[offered, "uplift"].tolist() == [
            uplift[o] for o in ready.loc[offered, "offer_id"]
        ]
        assert ready.loc[~offered, "uplift"].isna().all()

    def test_missing_columns_are_named(self, batch_env, scored):
        _, scores = scored
        with pytest.raises(ConfigError, match="expected_value"):
            campaign_scores(scores.drop(columns="expected_value"), batch_env.models.catalog)

    def test_offers_of_another_catalog_are_refused(self, batch_env, scored):
        _, scores = scored
        changed = scores.copy()
        first = changed["offer_id"].first_valid_index()
        changed.loc[first, "offer_id"] = "gold_watch"
        with pytest.raises(ConfigError, match="gold_watch"):
            campaign_scores(changed, batch_env.models.catalog)
        # a cost outside what the catalog allows: a capped relative cost, a fixed one
        catalog = batch_env.models.catalog
        offer = catalog.offer(scores.loc[first, "offer_id"])
        for rule in (
            {"cost_max": 1e-6},
            {"cost": 1e6, "cost_pct_of_order": 0.0, "cost_pct_of_ltv": 0.0},
        ):
            other = catalog.model_copy(
                update={
                    "offers": tuple(
                        o.model_copy(update=rule) if o.id == offer.id else o for o in catalog.offers
                    )
                }
            )
            with pytest.raises(ConfigError, match="another catalog"):
                campaign_scores(scores, other)

    def test_summary_of_no_rows(self):
        assert ScoreSummary.of_groups([]).rows == 0

    def test_summary_counts_active_lapsed_and_cancelled_and_why_no_offer(self):
        scores = pd.DataFrame(
            {
                "status": ["active", "active", "lapsed", "cancelled", "lapsed"],
                "risk_band": ["high", "low", "medium", "high", "high"],
                "offer_id": ["coupon", None, None, None, "win_back"],
                "expected_value": [3.0, 0.0, 0.0, 0.0, 2.5],
                "no_offer_reason": [
                    None,
                    "low risk: churn probability 0.010 is below the medium band (from 0.050)",
                    "none pays: best is win_back at -1.00 (...)",
                    "cancelled: cancelled before the cutoff: churned",
                    None,
                ],
            }
        )
        half = [ScoreSummary.groups(scores.iloc[:2]), ScoreSummary.groups(scores.iloc[2:])]
        summary = ScoreSummary.of_groups(half)
        as_of = pd.Timestamp("2025-12-31", tz="UTC")
        assert summary.describe(as_of) == (
            "5 customers scored as of 2025-12-31: 2 active, 2 lapsed, 1 cancelled."
        )
        assert summary.describe_no_offer() == "1 low risk · 1 none pays · 1 cancelled"
        assert summary.offers == {"coupon": 1, "win_back": 1}
        assert summary.expected_value == pytest.approx(5.5)


class TestCommands:
    @pytest.fixture
    def cli(self, batch_env, tmp_path, monkeypatch):
        """Run `churn` with a settings file for the generated data and models."""
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
        config = batch_env.config(tmp_path)

        def run(*args: str):
            return runner.invoke(app, [*args, "--config", str(config)])

        return run

    def test_score_then_campaign(self, batch_env, cli, tmp_path):
        scores = tmp_path / "scores.parquet"
        result = cli("score", "--as-of", f"{batch_env.as_of:%Y-%m-%d}", "--out", str(scores))
        assert result.exit_code == 0, result.output
        n = len(active_customers(batch_env.tables, batch_env.as_of))
        headline = f"{n:,} customers scored as of 2025-12-31: {n:,} active, 0 lapsed, 0 cancelled."
        assert headline in plain(result.output)
        assert "no offer" in plain(result.output)
        assert re.search(r"risk bands\s+low \d", result.output)
        assert len(read_scores(scores)[0]) == n

        targets = tmp_path / "campaign.csv"
        result = cli("campaign", "--scores", str(scores), "--budget", "300", "--out", str(targets))
        assert result.exit_code == 0, result.output
        assert "expected customers saved" in plain(result.output)
        frame = pd.read_csv(targets)
        assert len(frame) > 0 and frame["offer_cost"].sum() <= 300
        assert f"{len(frame):,} of {n:,} customers targeted" in plain(result.output)

    def test_named_versions(self, batch_env, cli, tmp_path):
        out = tmp_path / "scores.parquet"
        version = batch_env.models.churn.version
        result = cli(
            "score",
            "--as-of",
            "2025-12-31",
            "--out",
            str(out),
            "--churn-version",
            version,
            "--ltv-version",
            batch_env.models.ltv.version,
            "--reasons",
            "0",
        )
        assert result.exit_code == 0, result.output
        assert read_scores(out)[1]["models"]["churn-classifier"]["version"] == version

    def test_treeshap_reasons_on_request(self, batch_env, cli, scored, tmp_path):
        out = tmp_path / "scores.parquet"
        args = ["score", "--as-of", "2025-12-31", "--out", str(out), "--reasons-from", "shap"]
        result = cli(*args)
        assert result.exit_code == 0, result.output
        frame, meta = read_scores(out)
        assert meta["options"]["attribution"] == "shap"
        _, path_scores = scored
        both = frame.merge(path_scores, on=CUSTOMER_ID, suffixes=("", "_path"), validate="1:1")
        assert len(both) == len(frame) == len(path_scores)
        np.testing.assert_allclose(both["churn_probability"], both["churn_probability_path"])
        assert both["reasons"].map(len).gt(0).mean() > 0.5
        # the same features rank high, if not always in the same order
        same = [
            bool(set(a) & set(b))
            for a, b in zip(both["reasons"], both["reasons_path"], strict=True)
            if len(a) and len(b)
        ]
        assert np.mean(same) > 0.8

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--churn-version", "99"], "No version '99' of registered model 'churn-classifier'"),
            (["--as-of", "2027-06-30"], "No active customer to score as of 2027-06-30"),
            (["--as-of", "yesterday-ish"], "Invalid --as-of"),
        ],
    )
    def test_score_refusals(self, cli, tmp_path, args, message):
        out = tmp_path / "scores.parquet"
        base = {"--as-of": "2025-12-31", "--out": str(out)}
        base.update(dict(zip(args[::2], args[1::2], strict=True)))
        result = cli("score", *[x for kv in base.items() for x in kv])
        assert result.exit_code == 2, result.output
        assert message in plain(result.output)
        assert not out.exists() and leftovers(tmp_path) == []

    def test_population_other_than_the_models_is_refused(self, cli, tmp_path, monkeypatch):
        monkeypatch.setenv("CHURN_SCORING__POPULATION", "all")
        out = tmp_path / "scores.parquet"
        result = cli("score", "--as-of", "2025-12-31", "--out", str(out))
        assert result.exit_code == 2, result.output
        assert "trained on ('active')" in plain(result.output) and not out.exists()

    def test_unwritable_output(self, cli, tmp_path):
        (tmp_path / "blocker").write_text("a file")
        result = cli("score", "--as-of", "2025-12-31", "--out", str(tmp_path / "blocker" / "s.pq"))
        assert result.exit_code == 2, result.output
        assert "Cannot write" in plain(result.output)

    def test_a_snapshot_is_scored_without_the_tables(self, batch_env, cli, scored, tmp_path):
        path, _ = make_snapshot(batch_env.tables, as_of=batch_env.as_of, out=tmp_path / "f.parquet")
        empty = tmp_path / "no-tables"
        empty.mkdir()
        out = tmp_path / "scores.parquet"
        args = ["--as-of", "2025-12-31", "--out", str(out), "--snapshot", str(path)]
        result = cli("score", "--data", str(empty), *args)
        assert result.exit_code == 0, result.output
        frame, meta = read_scores(out)
        assert meta["features"] == f"snapshot {path}" and meta["data"] == {}
        pd.testing.assert_frame_equal(by_id(frame), by_id(scored[1]))

    def test_snapshot_older_than_the_models(self, batch_env, cli, tmp_path):
        path, _ = make_snapshot(batch_env.tables, as_of=batch_env.as_of, out=tmp_path / "f.parquet")
        frame, meta = read_snapshot(path)
        dropped = batch_env.models.feature_names[0]
        write_snapshot(frame.drop(columns=dropped), path, meta)
        out = tmp_path / "scores.parquet"
        result = cli("score", "--as-of", "2025-12-31", "--out", str(out), "--snapshot", str(path))
        assert result.exit_code == 2, result.output
        assert "lacks 1 feature(s)" in plain(result.output) and dropped in plain(result.output)
        assert not out.exists() and leftovers(tmp_path) == []

    def test_campaign_with_missing_columns(self, cli, scored, tmp_path):
        _, scores = scored
        bad = tmp_path / "bad.parquet"
        scores.drop(columns=["offer_cost", "predicted_ltv"]).to_parquet(bad)
        out = tmp_path / "campaign.csv"
        result = cli("campaign", "--scores", str(bad), "--budget", "100", "--out", str(out))
        assert result.exit_code == 2, result.output
        assert "offer_cost" in plain(result.output) and "predicted_ltv" in plain(result.output)
        assert not out.exists()

    def test_campaign_without_scores(self, cli, tmp_path):
        result = cli("campaign", "--scores", str(tmp_path / "nope.parquet"), "--budget", "10")
        assert result.exit_code == 2, result.output
        assert "Invalid scores file" in plain(result.output)


class TestUpliftSource:
    def test_without_an_uplift_model_every_row_says_catalog(self, batch_env, scored):
        result, scores = scored
        assert batch_env.models.uplift is None
        assert set(scores["uplift_source"]) == {"catalog"}
        assert result.meta["uplift_source"] == "catalog"

    @pytest.mark.slow
    def test_with_an_uplift_champion_rows_say_model_and_version(self, batch_env, tmp_path):
        from mlflow import MlflowClient

        from features.families.build import build_features
        from features.families.population import active_in_features
        from serving.models import load_scoring_models
        from serving.policy.scoring import score
        from tests.conftest import mlflow_state_restored
        from tests.serving.conftest import OFFERS_FILE
        from training.registry.registry import CHAMPION, UPLIFT_MODEL
        from training.uplift_train import UpliftConfig, train_uplift

        shutil.copy(batch_env.root / "mlflow.db", tmp_path / "mlflow.db")  # a private registry
        uri = f"sqlite:///{tmp_path}/mlflow.db"
        config = UpliftConfig(max_cutoffs=4, holdout=1, min_treated_rows=1, min_overlap_share=0)
        with mlflow_state_restored():
            result = train_uplift(batch_env.tables, config=config, tracking_uri=uri)
            MlflowClient().set_registered_model_alias(UPLIFT_MODEL, CHAMPION, result.version)
            models = load_scoring_models(tracking_uri=uri, offers_file=OFFERS_FILE)
        source = f"model:{result.version}"
        assert models.uplift_source == source
        features = build_features(batch_env.tables, as_of=batch_env.as_of)
        features = features[active_in_features(features)].head(300)
        out = score(features, models, reasons=0)
        learned = out["offer_id"].isin(models.uplift.model.offers_)
        assert (out.loc[learned, "uplift_source"] == source).all()
        assert (out.loc[out["offer_id"].isna(), "uplift_source"] == source).all()
        assert set(out["uplift_source"]) <= {source, "catalog"}


class TestFeatureNames:
    def test_engagement_features_only_with_an_events_table(self):
        from features.families.build import DEFAULT_WINDOWS
        from features.families.engagement import engagement_feature_names
        from serving.batch.runs import feature_names

        plain_names = feature_names(ScoreOptions())
        with_events = feature_names(ScoreOptions(), events=True)
        engagement = engagement_feature_names(DEFAULT_WINDOWS)
        assert not set(engagement) & set(plain_names)
        assert with_events == [*plain_names, *engagement]
