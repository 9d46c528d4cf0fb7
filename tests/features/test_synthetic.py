"""Synthetic data: deterministic, in the contract, calibrated, and carrying real signal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from features import synthetic
from features.contract import schema
from features.synthetic import SCHEMAS, TABLES, generate, generation, hazard
from features.synthetic.params import M

CUSTOMERS = 4000
SEED = 11
START = pd.Timestamp("2022-01-01", tz="UTC")
END = pd.Timestamp("2025-12-31", tz="UTC")
DAY = pd.Timedelta(days=1)

COLUMNS = {
    "customers": [
        "customer_id",
        "signup_at",
        "cancelled_at",
        "birth_date",
        "country",
        "channel",
        "plan",
        "loyalty_tier",
        "contract_type",
    ],
    "transactions": [
        "order_id",
        "customer_id",
        "ordered_at",
        "amount",
        "quantity",
        "category",
        "discount",
        "is_refund",
    ],
    "support_tickets": [
        "ticket_id",
        "customer_id",
        "opened_at",
        "resolved_at",
        "category",
        "channel",
        "escalated",
        "csat",
    ],
    "surveys": ["customer_id", "answered_at", "nps", "csat", "ces"],
    "offers": ["customer_id", "offered_at", "offer_id", "accepted", "cost"],
    "events": ["customer_id", "occurred_at", "event_type", "value", "channel"],
}
TIME_COLUMNS = {
    "transactions": "ordered_at",
    "support_tickets": "opened_at",
    "surveys": "answered_at",
    "offers": "offered_at",
    "events": "occurred_at",
}


def read_parquet_dir(folder: Path) -> dict[str, pd.DataFrame]:
    names = (*TABLES, "ground_truth")
    return {name: pq.read_table(folder / f"{name}.parquet").to_pandas() for name in names}


def read_csv_as_arrow(path: Path, schema: pa.Schema) -> pa.Table:
    """Read one generated CSV with the Parquet schema's types (timestamps parsed as UTC)."""
    types = {
        f.name: pa.timestamp("s", tz="UTC") if pa.types.is_timestamp(f.type) else f.type
        for f in schema
    }
    options = pacsv.ConvertOptions(column_types=types, strings_can_be_null=True)
    table = pacsv.read_csv(path, convert_options=options)
    return table.cast(schema)


def file_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def parquet_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("parquet")
    summary = generate(out, customers=CUSTOMERS, seed=SEED, file_format="parquet")
    return summary, read_parquet_dir(out)


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("csv")
    return generate(out, customers=CUSTOMERS, seed=SEED, file_format="csv")


@pytest.fixture(scope="module")
def frames(parquet_run) -> dict[str, pd.DataFrame]:
    return parquet_run[1]


@pytest.fixture(scope="module")
def people(frames) -> pd.DataFrame:
    """Customers joined with their ground truth."""
    truth = frames["ground_truth"].drop(columns=["customer_id"])
    return pd.concat([frames["customers"], truth], axis=1)


@pytest.fixture(scope="module")
def seed_3(tmp_path_factory) -> Path:
    """800 customers of seed 3 as CSV, generated once: what the determinism tests vary."""
    out = tmp_path_factory.mktemp("seed_3")
    generate(out, customers=800, seed=3)
    return out


class TestDeterminism:
    def test_same_seed_same_bytes(self, seed_3, tmp_path):
        generate(tmp_path / "b", customers=800, seed=3)
        assert file_bytes(seed_3) == file_bytes(tmp_path / "b")

    def test_different_seed_different_data(self, seed_3, tmp_path):
        generate(tmp_path / "b", customers=800, seed=4)
        a, b = file_bytes(seed_3), file_bytes(tmp_path / "b")
        assert all(a[name] != b[name] for name in a)

    def test_chunk_size_does_not_change_the_data(self, tmp_path):
        n = synthetic.BLOCK_CUSTOMERS + 700  # two simulation blocks
        generate(tmp_path / "small", customers=n, seed=2, chunk_customers=1)
        generate(tmp_path / "big", customers=n, seed=2)
        small, big = file_bytes(tmp_path / "small"), file_bytes(tmp_path / "big")
        assert {k: v for k, v in small.items() if k.endswith(".csv")} == {
            k: v for k, v in big.items() if k.endswith(".csv")
        }
        truth = [pq.read_table(tmp_path / d / "ground_truth.parquet") for d in ("small", "big")]
        assert truth[0].equals(truth[1])

    def test_event_rate_changes_only_the_events(self, seed_3, tmp_path):
        generate(tmp_path / "two", customers=800, seed=3, event_rate=2.0)
        one, two = file_bytes(seed_3), file_bytes(tmp_path / "two")
        assert {k: v for k, v in one.items() if k != "events.csv"} == {
            k: v for k, v in two.items() if k != "events.csv"
        }
        rows = [len(pd.read_csv(d / "events.csv")) for d in (seed_3, tmp_path / "two")]
        assert 1.7 < rows[1] / rows[0] < 2.3
        with pytest.raises(ValueError, match="event_rate"):
            generate(tmp_path / "bad", customers=10, event_rate=0)


class TestChurnRate:
    def test_mean_monthly_churn_is_in_the_band(self, parquet_run):
        summary, _ = parquet_run
        assert 0.05 <= summary.monthly_churn_rate <= 0.08

    def test_summary_rate_matches_ground_truth(self, parquet_run, people):
        summary, _ = parquet_run
        bounds = [*pd.date_range(START, END, freq="MS"), END]
        rates = []
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            active = (people.signup_at < lo) & ~(people.churned_at < lo)
            churned = active & (people.churned_at < hi)
            rates.append(churned.sum() / active.sum())
        assert summary.monthly_churn_rate == pytest.approx(np.mean(rates), rel=1e-12)

    def test_active_base_never_runs_dry(self, people):
        for month in pd.date_range(START, END, freq="QS"):
            active = (people.signup_at < month) & ~(people.churned_at < month)
            assert active.sum() > 0.1 * CUSTOMERS


class TestContract:
    def test_tables_and_columns_cover_the_data_contract(self):
        assert tuple(schema.TABLES) == TABLES
        for name, spec in schema.TABLES.items():
            missing = {c.name for c in spec.columns} - set(SCHEMAS[name].names)
            assert not missing, f"{name} lacks contract columns {missing}"

    def test_columns_and_types(self, parquet_run, csv_run):
        summary, frames = parquet_run
        for name in (*TABLES, "ground_truth"):
            schema = pq.read_schema(summary.out_dir / f"{name}.parquet")
            assert schema.remove_metadata().equals(SCHEMAS[name]), name
        for name, columns in COLUMNS.items():
            assert list(frames[name].columns) == columns
            header = (csv_run.out_dir / f"{name}.csv").open().readline().strip()
            assert header.split(",") == columns
        assert str(frames["transactions"]["ordered_at"].dtype) == "datetime64[us, UTC]"

    def test_csv_formats(self, csv_run):
        lines = (csv_run.out_dir / "customers.csv").read_text().splitlines()
        customer_id, signup_at, _, birth_date, *_ = lines[1].split(",")
        assert customer_id == "1"
        assert pd.Timestamp(signup_at).tzname() == "UTC" and signup_at.endswith("Z")
        assert len(signup_at) == len("2024-03-05T13:22:10Z") and signup_at[10] == "T"
        assert len(birth_date) == len("1990-04-02")

    def test_ids(self, frames):
        assert frames["customers"].customer_id.tolist() == list(range(1, CUSTOMERS + 1))
        assert frames["ground_truth"].customer_id.tolist() == list(range(1, CUSTOMERS + 1))
        assert frames["customers"].signup_at.is_monotonic_increasing
        assert frames["transactions"].order_id.is_unique
        assert frames["support_tickets"].ticket_id.is_unique
        for name in TIME_COLUMNS:
            assert frames[name].customer_id.isin(frames["customers"].customer_id).all()

    def test_events_inside_window_and_lifetime(self, frames, people):
        life = people.set_index("customer_id")[["signup_at", "churned_at"]]
        for name, column in TIME_COLUMNS.items():
            events = frames[name].join(life, on="customer_id")
            t = events[column]
            assert (t >= START).all() and (t < END).all(), name
            assert (t >= events.signup_at).all(), name
            assert not (t >= events.churned_at).any(), f"{name} after churn"
        assert (people.signup_at < END).all()
        resolved = frames["support_tickets"].dropna(subset=["resolved_at"])
        assert (resolved.resolved_at > resolved.opened_at).all()
        assert (resolved.resolved_at < END).all()

    def test_subscriptions(self, people, frames):
        subs = people.contract_type == "subscription"
        assert set(people.contract_type) == {"subscription", "non_contractual"}
        assert people.cancelled_at[~subs].isna().all()
        assert people.plan[~subs].isna().all() and people.plan[subs].notna().all()
        assert (people.is_subscription == subs).all()
        churned = subs & people.churned_at.notna()
        assert (people.cancelled_at[churned] == people.churned_at[churned]).all()
        assert people.cancelled_at[subs & people.churned_at.isna()].isna().all()
        assert 0.35 <= subs.mean() <= 0.45
        fees = frames["transactions"].query("category == 'subscription_fee'")
        assert fees.customer_id.isin(people.customer_id[subs]).all()

    def test_scores_in_range(self, frames):
        surveys, tickets = frames["surveys"], frames["support_tickets"]
        assert surveys.nps.dropna().between(0, 10).all()
        assert surveys.csat.dropna().between(1, 5).all()
        assert surveys.ces.dropna().between(1, 7).all()
        assert tickets.csat.dropna().between(1, 5).all()
        assert 0 < tickets.csat.isna().mean() < 1 and 0 < surveys.nps.isna().mean() < 0.2
        assert surveys[["nps", "csat", "ces"]].notna().any(axis=1).all()

    def test_amounts_refunds_and_discounts(self, frames):
        tx = frames["transactions"]
        assert ((tx.amount < 0) == tx.is_refund).all()
        assert (tx.discount >= 0).all() and (tx.quantity >= 1).all()
        assert (tx.amount.round(2) == tx.amount).all()
        orders = (~tx.is_refund & (tx.category != "subscription_fee")).sum()
        assert 0.015 <= tx.is_refund.sum() / orders <= 0.045
        assert set(frames["offers"].offer_id) == set(synthetic.OFFER_IDS)
        assert (frames["offers"].cost >= 0).all()
        assert (frames["offers"].cost[~frames["offers"].accepted] == 0).all()

    def test_some_customers_never_order(self, frames):
        ordered = frames["customers"].customer_id.isin(frames["transactions"].customer_id)
        assert 0.01 < 1 - ordered.mean() < 0.2

    def test_loader_accepts_the_output(self, csv_run):
        from features.contract.load import load_tables

        tables = load_tables(csv_run.out_dir)
        assert len(tables.customers) == CUSTOMERS
        assert len(tables.transactions) == csv_run.rows["transactions"]
        assert not tables.warnings

    def test_parquet_and_csv_hold_the_same_data(self, parquet_run, csv_run):
        summary, _ = parquet_run
        assert csv_run.rows == summary.rows
        for name in TABLES:
            parquet = pq.read_table(summary.out_dir / f"{name}.parquet").replace_schema_metadata()
            csv = read_csv_as_arrow(csv_run.out_dir / f"{name}.csv", SCHEMAS[name])
            assert csv.equals(parquet), name
        truth = [pq.read_table(s.out_dir / "ground_truth.parquet") for s in (summary, csv_run)]
        assert truth[0].equals(truth[1])


class TestSignal:
    """Directional checks: the latent truth shows up in what a model can observe."""

    CUTOFFS = pd.date_range("2023-01-01", "2025-07-01", freq="2MS", tz="UTC")

    def test_detractors_churn_more(self, frames, people):
        surveys = frames["surveys"].dropna(subset=["nps"]).sort_values("answered_at")
        churners, stayers = [], []
        for cutoff in self.CUTOFFS:
            alive = people[(people.signup_at < cutoff) & ~(people.churned_at < cutoff)]
            recent = surveys[surveys.answered_at.between(cutoff - 180 * DAY, cutoff, "left")]
            last_nps = recent.groupby("customer_id").nps.last()
            nps = alive.customer_id.map(last_nps)
            churns = alive.churned_at < cutoff + 90 * DAY
            churners.append(nps[churns].dropna())
            stayers.append(nps[~churns].dropna())
        churn_nps, stay_nps = pd.concat(churners), pd.concat(stayers)
        assert len(churn_nps) > 100
        assert churn_nps.mean() < stay_nps.mean() - 0.3

    def test_churners_slow_down_before_leaving(self, frames, people):
        dead = people[people.churned_at.notna() & (people.contract_type == "non_contractual")]
        dead = dead[(dead.churned_at - dead.signup_at > 200 * DAY)]
        dead = dead[dead.churned_at - 180 * DAY > START]
        tx = (
            frames["transactions"]
            .query("~is_refund")
            .join(dead.set_index("customer_id").churned_at, on="customer_id", how="inner")
        )
        before = tx.churned_at - tx.ordered_at
        last = (before < 90 * DAY).sum()
        previous = ((before >= 90 * DAY) & (before < 180 * DAY)).sum()
        assert last < 0.95 * previous

    def test_logins_fade_weeks_before_a_cancellation(self, frames, people):
        """Subscribers log in less in the month before cancelling than two months before."""
        gone = people[people.cancelled_at.notna()]
        gone = gone[(gone.cancelled_at - gone.signup_at > 120 * DAY)]
        logins = (
            frames["events"]
            .query("event_type == 'login'")
            .join(gone.set_index("customer_id").cancelled_at, on="customer_id", how="inner")
        )
        before = logins.cancelled_at - logins.occurred_at
        last = (before < 30 * DAY).sum()
        earlier = ((before >= 60 * DAY) & (before < 90 * DAY)).sum()
        assert last < 0.6 * earlier
        assert set(frames["events"].event_type) <= set(schema.EVENT_FAMILIES)
        reviews = frames["events"].query("event_type == 'review'")
        assert reviews.value.between(1, 5).all() and len(reviews)
        assert frames["events"].query("event_type != 'review'").value.isna().all()

    def test_higher_latent_hazard_churns_sooner(self, people):
        cutoff = pd.Timestamp("2024-01-01", tz="UTC")
        alive = people[(people.signup_at < cutoff) & ~(people.churned_at < cutoff)]
        churns = alive.churned_at < cutoff + 180 * DAY
        high = alive.base_monthly_hazard > alive.base_monthly_hazard.median()
        assert churns[high].mean() > 1.3 * churns[~high].mean()

    def test_bad_support_precedes_churn(self, frames, people):
        tickets = frames["support_tickets"]
        hours = (tickets.resolved_at.fillna(END) - tickets.opened_at) / pd.Timedelta(hours=1)
        bad = tickets[tickets.escalated | (hours > 72) | (tickets.csat <= 2)]
        churned = {True: [], False: []}
        for cutoff in self.CUTOFFS:
            alive = people[(people.signup_at < cutoff) & ~(people.churned_at < cutoff)]
            recent = bad[bad.opened_at.between(cutoff - 90 * DAY, cutoff, "left")]
            badly_served = alive.customer_id.isin(recent.customer_id)
            churns = alive.churned_at < cutoff + 90 * DAY
            for flag in (True, False):
                churned[flag].append(churns[badly_served == flag])
        assert len(pd.concat(churned[True])) > 200
        assert pd.concat(churned[True]).mean() > 1.1 * pd.concat(churned[False]).mean()

    def test_tier_reflects_value_at_signup(self, people):
        expected = people.purchase_rate_per_day * people.mean_order_value
        by_tier = expected.groupby(people.loyalty_tier).median()
        assert by_tier["bronze"] < by_tier["silver"] < by_tier["gold"] < by_tier["platinum"]


class TestChurnDrivers:
    """The churn process is non-linear: renewals, thresholds, kinks and interactions."""

    PRICES = {"basic": 9.99, "standard": 19.99, "premium": 34.99}

    @staticmethod
    def months_after_signup(frame: pd.DataFrame, column: str) -> pd.Series:
        t, signup = frame[column], frame.signup_at
        return (t.dt.year - signup.dt.year) * 12 + t.dt.month - signup.dt.month

    def test_billing_terms(self, people, frames):
        subs = people.is_subscription
        assert not people.annual_billing[~subs].any()
        assert 0.2 <= people.annual_billing[subs].mean() <= 0.45
        fees = frames["transactions"].query("category == 'subscription_fee'")
        fees = fees.join(
            people.set_index("customer_id")[["annual_billing", "plan", "signup_at"]],
            on="customer_id",
        )
        months = (fees.amount / fees.plan.map(self.PRICES)).round(2)
        annual = fees.annual_billing
        assert set(months[~annual]) <= {0.0, 1.0}  # monthly, or a free month
        assert set(months[annual]) <= {9.0, 10.0}  # ten months up front, less a free one
        assert months[annual].eq(10.0).mean() > 0.95
        assert (self.months_after_signup(fees[annual], "ordered_at") % 12 == 0).all()
        per_year = fees[annual].groupby(["customer_id", fees.ordered_at.dt.year]).size()
        assert per_year.max() == 1

    def test_annual_subscribers_cancel_only_at_renewal(self, people):
        annual = people[people.annual_billing & people.churned_at.notna()]
        assert len(annual) > 100
        months = self.months_after_signup(annual, "churned_at")
        assert (months >= 12).all() and (months % 12 == 0).all()
        renewal = [
            s + pd.DateOffset(months=int(m)) for s, m in zip(annual.signup_at, months, strict=True)
        ]
        assert (abs(annual.churned_at - pd.Series(renewal, index=annual.index)) < DAY).all()
        # monthly subscribers leave at any point of the year
        monthly = people[
            people.is_subscription & ~people.annual_billing & people.churned_at.notna()
        ]
        assert (self.months_after_signup(monthly, "churned_at") % 12).nunique() == 12

    def test_new_customers_leave_early(self, people):
        """L-shaped tenure: a high hazard in the first three months, far lower after a year."""
        new = people[~people.annual_billing & (people.signup_at >= START)]
        life = (new.churned_at.fillna(END) - new.signup_at) / (30.44 * DAY)
        churned = new.churned_at.notna()
        early = (churned & (life < 3)).sum() / np.minimum(life, 3).sum()
        late = (churned & (life >= 12)).sum() / np.clip(life - 12, 0, None).sum()
        assert early > 2.5 * late

    def test_detractors_are_a_step_not_a_slope(self, frames, people):
        """NPS 0-4 answerers are far riskier; among 7-10 the score barely matters."""
        surveys = frames["surveys"].dropna(subset=["nps"]).sort_values("answered_at")
        parts = []
        for cutoff in TestSignal.CUTOFFS:
            alive = people[(people.signup_at < cutoff) & ~(people.churned_at < cutoff)]
            recent = surveys[surveys.answered_at.between(cutoff - 180 * DAY, cutoff, "left")]
            nps = alive.customer_id.map(recent.groupby("customer_id").nps.last())
            churns = alive.churned_at < cutoff + 90 * DAY
            parts.append(pd.DataFrame({"nps": nps, "churns": churns}).dropna())
        answers = pd.concat(parts)
        band = pd.cut(answers.nps, [-1, 4, 6, 8, 10], labels=["0-4", "5-6", "7-8", "9-10"])
        rate = answers.groupby(band, observed=True).churns.mean()
        assert answers.nps.le(4).sum() > 100
        assert rate["0-4"] > 1.6 * rate["9-10"]
        assert rate["0-4"] > rate["5-6"] > rate["9-10"]
        assert abs(rate["7-8"] - rate["9-10"]) < 0.4 * (rate["0-4"] - rate["9-10"])

    def test_hazard_terms_have_thresholds_and_interactions(self):
        m = M
        bad = np.array([0.0, 0.15, 1.0, 1.85])  # nothing, a fine ticket, one bad, two bad
        ordinary = hazard.support(bad, np.full(4, m.bad_threshold), np.ones(4))
        tolerant = hazard.support(bad, np.full(4, m.bad_threshold_high_tier), np.ones(4))
        assert ordinary[:2].max() < 0.1 and ordinary[2:].min() > 0.8
        assert tolerant[:3].max() < 0.1 and tolerant[3] > 0.8
        drift = hazard.drift(np.array([-1.5, -0.5, 0.5, 1.5]))
        # falling below the own rhythm hurts, rising above it barely helps
        assert (drift[0] - drift[1]) > 3 * (drift[2] - drift[3]) > 0
        detractor = hazard.detractor(np.array([-2.5, -1.8, -0.5, 0.0, 1.5]))
        assert detractor[:2].min() > 0.8 * m.detractor_effect
        assert detractor[2:].max() < 0.05 * m.detractor_effect
        # premium with hardly any orders is a bad fit, premium in use or basic are not
        plan = np.array([2, 2, 0, 0, -1])
        usage = np.array([0.05, 1.0, 0.05, 1.0, 0.0])
        fit = hazard.plan_fit(plan, usage)
        assert fit[0] > 0.8 * m.plan_fit_effect
        assert fit[1:].max() < 0.25 * m.plan_fit_effect and fit[4] == 0


class TestPopulationShift:
    def test_zero_shift_is_the_default_data(self, tmp_path):
        generate(tmp_path / "default", customers=600, seed=1)
        generate(tmp_path / "zero", customers=600, seed=1, population_shift=0.0)
        assert file_bytes(tmp_path / "default") == file_bytes(tmp_path / "zero")

    def test_shift_changes_who_signs_up(self, tmp_path, frames, people):
        generate(
            tmp_path, customers=CUSTOMERS, seed=SEED, file_format="parquet", population_shift=1.0
        )
        shifted = read_parquet_dir(tmp_path)
        moved = pd.concat(
            [shifted["customers"], shifted["ground_truth"].drop(columns="customer_id")], axis=1
        )
        late = people.signup_at >= START + (END - START) / 2
        late_moved = moved.signup_at >= START + (END - START) / 2
        assert (late == late_moved).all()  # same customers, same signup times
        base, drift = people[late], moved[late_moved]
        assert drift.base_monthly_hazard.mean() > 1.3 * base.base_monthly_hazard.mean()
        assert (drift.channel == "partner").mean() > (base.channel == "partner").mean() + 0.15
        born = [pd.to_datetime(frame.birth_date).mean() for frame in (base, drift)]
        assert born[1] > born[0] + pd.Timedelta(days=5 * 365)  # younger
        assert drift.mean_order_value.mean() < 0.9 * base.mean_order_value.mean()
        assert (drift.shift_strength == 1.0).all() and (base.shift_strength == 0.0).all()
        # the initial base keeps its traits (histories share random streams with the block)
        before = people.signup_at < START
        traits = [c for c in people.columns if c not in ("cancelled_at", "churned_at")]
        pd.testing.assert_frame_equal(moved.loc[before, traits], people.loc[before, traits])


class TestArguments:
    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"customers": 0}, r"customers: 0; expected an integer >= 1"),
            ({"customers": 2.5}, r"customers: 2\.5"),
            ({"customers": True}, r"customers: True"),
            ({"seed": -1}, r"seed: -1; expected an integer >= 0"),
            ({"start": "not a date"}, r"start: 'not a date'"),
            ({"end": "2025-13-45"}, r"end: '2025-13-45'"),
            ({"start": "2025-01-01", "end": "2024-01-01"}, r"start/end: '2025-01-01' to "),
            ({"start": "2024-01-01", "end": "2024-01-01"}, r"expected start before end"),
            ({"file_format": "xlsx"}, r"file_format: 'xlsx'; expected one of \('csv', 'parquet'\)"),
            ({"population_shift": 1.5}, r"population_shift: 1\.5; expected a number from 0 to 1"),
            ({"population_shift": -0.1}, r"population_shift: -0\.1"),
            ({"population_shift": float("nan")}, r"population_shift: nan"),
            ({"chunk_customers": 0}, r"chunk_customers: 0"),
        ],
    )
    def test_bad_arguments_raise_value_error(self, tmp_path, kwargs, message):
        with pytest.raises(ValueError, match=message):
            generate(tmp_path, **{"customers": 10, **kwargs})
        assert not any(tmp_path.iterdir())


class TestFiles:
    def test_interrupted_run_leaves_no_partial_files(self, tmp_path, monkeypatch):
        real = generation.simulate_block  # the name generate() calls
        calls = []

        def fail_on_second_block(*args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                raise RuntimeError("interrupted")
            return real(*args, **kwargs)

        monkeypatch.setattr(generation, "simulate_block", fail_on_second_block)
        with pytest.raises(RuntimeError, match="interrupted"):
            generate(tmp_path, customers=synthetic.BLOCK_CUSTOMERS + 10, chunk_customers=1)
        assert len(calls) == 2  # the patch took effect
        assert list(tmp_path.iterdir()) == []

    def test_rerun_in_other_format_replaces_the_tables(self, tmp_path):
        generate(tmp_path, customers=50, file_format="parquet")
        summary = generate(tmp_path, customers=50, file_format="csv")
        written = sorted(p.name for p in tmp_path.iterdir())
        assert written == sorted(p.name for p in summary.files)
        assert "ground_truth.parquet" in written and "customers.parquet" not in written

    def test_tiny_and_short_runs(self, tmp_path):
        summary = generate(tmp_path, customers=1, start="2024-01-15", end="2024-03-01T12:00:00")
        assert summary.rows["customers"] == 1
        tx = pd.read_csv(tmp_path / "transactions.csv")
        stamps = pd.to_datetime(tx.ordered_at, utc=True)
        assert (stamps < pd.Timestamp("2024-03-01T12:00:00", tz="UTC")).all()
