"""BTYD models: RFM at a cutoff, parameter recovery, boundary robustness, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from features.contract.errors import ConfigError
from tests.conftest import make_tables
from training.models import btyd
from training.models.btyd import PARAM_NAMES, PREDICTION_COLUMNS, BTYDModel, fit_btyd, rfm_at

CUTOFF = pd.Timestamp("2025-06-30", tz="UTC")
START = pd.Timestamp("2022-01-01", tz="UTC")


def transactions(rows: list[dict]) -> pd.DataFrame:
    """Validated transactions for hand-made rows (customers 1..9 exist)."""
    customers = [{"customer_id": i, "signup_at": "2020-01-01"} for i in range(1, 10)]
    return make_tables(customers=customers, transactions=rows).transactions


def simulate_bgnbd(
    n: int,
    *,
    r: float,
    alpha: float,
    a: float,
    b: float,
    p: float,
    q: float,
    v: float,
    seed: int,
    first_id: int = 0,
) -> pd.DataFrame:
    """Contract transactions drawn from BG/NBD (days) with Gamma-Gamma order values.

    First purchases are uniform over the 900 days before ``CUTOFF``; then purchases
    arrive at rate ``lambda ~ Gamma(r, alpha)`` per day and the customer drops out after
    each repeat purchase with probability ``p_drop ~ Beta(a, b)``. Order values are
    ``Gamma(p, nu)``, ``nu ~ Gamma(q, v)``.
    """
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n)
    drop = rng.beta(a, b, n)
    nu = rng.gamma(q, 1 / v, n)
    horizon = (CUTOFF - START).days
    t = horizon - rng.uniform(1, 900, n)  # first purchase, days after START
    ids, times = [np.arange(n)], [t.copy()]
    alive = np.ones(n, bool)
    while alive.any():
        live = np.flatnonzero(alive)
        t[live] += rng.exponential(1 / lam[live])
        live = live[t[live] < horizon]
        alive[:] = False
        ids.append(live)
        times.append(t[live].copy())
        alive[live[rng.random(len(live)) >= drop[live]]] = True
    who, when = np.concatenate(ids), np.concatenate(times)
    return pd.DataFrame(
        {
            "customer_id": (who + first_id).astype("int64"),
            "ordered_at": (START + pd.to_timedelta(when, unit="D")).astype("datetime64[ns, UTC]"),
            "amount": rng.gamma(p, 1 / nu[who]),
            "is_refund": pd.array(np.zeros(len(who), bool), dtype="boolean"),
        }
    )


class TestRfmAt:
    ROWS = [
        {"customer_id": 1, "ordered_at": "2025-01-01T09:00:00Z", "amount": 20.0},
        {"customer_id": 1, "ordered_at": "2025-04-21T10:00:00Z", "amount": 100.0},
        {"customer_id": 1, "ordered_at": "2025-04-21T15:00:00Z", "amount": 10.0},  # same day
        {"customer_id": 1, "ordered_at": "2025-06-20T08:00:00Z", "amount": 30.0},
        {"customer_id": 1, "ordered_at": "2025-06-25T08:00", "amount": -30.0, "is_refund": True},
        {"customer_id": 1, "ordered_at": "2025-06-29T12:00", "amount": 5.0, "is_refund": True},
        {"customer_id": 1, "ordered_at": "2025-06-30T00:00:00Z", "amount": 999.0},  # at cutoff
        {"customer_id": 1, "ordered_at": "2025-07-03T00:00:00Z", "amount": 999.0},  # after
        {"customer_id": 2, "ordered_at": "2025-02-01T23:59:00Z", "amount": 40.0},
        {"customer_id": 4, "ordered_at": "2025-02-01T00:00:00Z", "amount": 40.0},  # not asked for
    ]

    def test_hand_made_timeline(self):
        rfm = rfm_at(transactions(self.ROWS), cutoff=CUTOFF, customer_ids=pd.Index([3, 1, 2]))
        expected = pd.DataFrame(
            {
                "frequency": [0.0, 2.0, 0.0],
                "recency": [0.0, 170.0, 0.0],  # 2025-01-01 -> 2025-06-20
                "T": [0.0, 180.0, 149.0],  # first purchase day -> cutoff
                "monetary_value": [0.0, (110.0 + 30.0) / 2, 0.0],
            },
            index=pd.Index([3, 1, 2], name="customer_id"),
        )
        assert_frame_equal(rfm, expected)

    def test_refunds_change_nothing(self):
        txn = transactions(self.ROWS)
        ids = pd.Index([1, 2, 3])
        without = txn.loc[~txn["is_refund"].to_numpy(dtype=bool)]
        assert_frame_equal(
            rfm_at(txn, cutoff=CUTOFF, customer_ids=ids),
            rfm_at(without, cutoff=CUTOFF, customer_ids=ids),
        )

    def test_cutoff_inside_a_day_keeps_earlier_orders_of_that_day(self):
        rows = [*self.ROWS, {"customer_id": 2, "ordered_at": "2025-06-30T06:00:00Z", "amount": 8.0}]
        cutoff = CUTOFF + pd.Timedelta(hours=12)
        c2 = rfm_at(transactions(rows), cutoff=cutoff, customer_ids=pd.Index([2])).loc[2]
        assert c2.to_dict() == {
            "frequency": 1.0,
            "recency": 149.0,
            "T": 149.5,
            "monetary_value": 8.0,
        }

    def test_duplicate_ids_are_refused(self):
        with pytest.raises(ConfigError, match="customer_ids"):
            rfm_at(transactions(self.ROWS), cutoff=CUTOFF, customer_ids=pd.Index([1, 1]))


TRUE = {"r": 0.8, "alpha": 40.0, "a": 0.8, "b": 3.0, "p": 6.0, "q": 4.0, "v": 150.0}
LOYAL, LAPSED = 100_001, 100_002


@pytest.fixture(scope="module")
def simulated():
    txn = simulate_bgnbd(4000, seed=11, **TRUE)
    # Two hand-made customers, six purchase days each from 300 days before the cutoff:
    # LOYAL's last purchase is 5 days old, LAPSED has been silent for 250 days.
    loyal = CUTOFF - pd.to_timedelta([300, 240, 180, 120, 60, 5], unit="D")
    lapsed = CUTOFF - pd.to_timedelta([300, 290, 280, 270, 260, 250], unit="D")
    extra = pd.DataFrame(
        {
            "customer_id": np.repeat([LOYAL, LAPSED], 6).astype("int64"),
            "ordered_at": loyal.append(lapsed).as_unit("ns"),
            "amount": 50.0,
            "is_refund": pd.array(np.zeros(12, bool), dtype="boolean"),
        }
    )
    txn = pd.concat([txn, extra], ignore_index=True)
    ids = pd.Index(np.r_[np.arange(4000), LOYAL, LAPSED])
    model = BTYDModel.fit(txn, cutoff=CUTOFF, customer_ids=ids)
    return model, model.predict(horizon_days=365)


class TestSimulatedBGNBD:
    def test_recovers_the_parameters(self, simulated):
        params = simulated[0].params_.as_dict()
        assert list(params) == list(PARAM_NAMES)
        for name in ("r", "alpha", "a", "b"):
            assert params[name] == pytest.approx(TRUE[name], rel=0.4), name
        # Gamma-Gamma: population mean order value p v / (q - 1) = 300
        assert params["p"] * params["v"] / (params["q"] - 1) == pytest.approx(300, rel=0.15)

    def test_long_silence_lowers_p_alive(self, simulated):
        pred = simulated[1]
        assert pred.loc[LAPSED, "p_alive"] < 0.5 * pred.loc[LOYAL, "p_alive"]
        assert pred.loc[LAPSED, "expected_orders"] < pred.loc[LOYAL, "expected_orders"]
        rfm = simulated[0].rfm_
        same = rfm["frequency"] == 3
        silence = rfm.loc[same, "T"] - rfm.loc[same, "recency"]
        assert pred.loc[same, "p_alive"].corr(silence, method="spearman") < -0.5

    def test_predictions_are_in_range(self, simulated):
        model, pred = simulated
        assert list(pred.columns) == list(PREDICTION_COLUMNS)
        assert pred.index.equals(model.rfm_.index)
        assert pred["p_alive"].between(0, 1).all()
        assert np.isfinite(pred.to_numpy()).all()
        assert (pred[["expected_orders", "expected_spend"]] >= 0).all().all()
        assert model.params_.spend_model == "gamma_gamma"
        assert pred["p_no_purchase"].between(0, 1).all()
        longer = model.predict(horizon_days=730)
        assert (longer["expected_orders"] >= pred["expected_orders"]).all()
        assert_frame_equal(longer[["p_alive"]], pred[["p_alive"]])
        assert (longer["p_no_purchase"] <= pred["p_no_purchase"] + 1e-12).all()

    def test_several_horizons_at_once_equal_one_at_a_time(self, simulated):
        model = simulated[0]
        both = model.params_.predict_horizons(model.rfm_, [90, 365])
        for horizon in (90, 365):
            assert_frame_equal(both[horizon], model.predict(horizon_days=horizon))
        with pytest.raises(ConfigError, match="horizon_days"):
            model.params_.predict_horizons(model.rfm_, [90, 0])

    def test_horizon_must_be_a_positive_integer(self, simulated):
        for bad in (0, -5, 1.5, True):
            with pytest.raises(ConfigError, match="horizon_days"):
                simulated[0].predict(horizon_days=bad)


HANDFUL = [
    {"customer_id": 1, "ordered_at": "2025-01-05", "amount": 30.0},
    {"customer_id": 1, "ordered_at": "2025-03-05", "amount": 50.0},
    {"customer_id": 1, "ordered_at": "2025-06-01", "amount": 70.0},
    {"customer_id": 2, "ordered_at": "2024-11-01", "amount": 20.0},
    {"customer_id": 2, "ordered_at": "2024-12-01", "amount": 0.0},
    {"customer_id": 3, "ordered_at": "2025-02-10", "amount": 15.0},
    {"customer_id": 4, "ordered_at": "2025-06-29", "amount": 15.0},
    {"customer_id": 5, "ordered_at": "2025-07-01", "amount": 15.0},  # after the cutoff
]


class TestRobustness:
    def test_handful_of_customers(self):
        txn = transactions(HANDFUL)
        ids = pd.Index([1, 2, 3, 4, 5])
        model = BTYDModel.fit(txn, cutoff=CUTOFF, customer_ids=ids)
        pred = model.predict(horizon_days=365)
        assert np.isnan(pred.loc[5, "p_alive"])
        assert pred.loc[5, ["expected_orders", "expected_spend"]].tolist() == [0.0, 0.0]
        known = pred.drop(index=5)
        assert known["p_alive"].between(0, 1).all()
        assert np.isfinite(known.to_numpy()).all() and (known.to_numpy() >= 0).all()
        params = model.params_.as_dict()
        assert all(np.isfinite(params[k]) for k in ("r", "alpha", "a", "b"))
        again = BTYDModel.fit(txn, cutoff=CUTOFF, customer_ids=ids)
        assert again.params_ == model.params_
        assert_frame_equal(again.predict(horizon_days=365), pred)

    def test_unusable_gamma_gamma_values_orders_at_the_pooled_mean(self, monkeypatch):
        monkeypatch.setattr(btyd, "_fit_gamma_gamma", lambda x, m: (2.0, 0.5, 1.0, "pooled_mean"))
        ids = pd.Index([1, 2, 3, 4])
        model = BTYDModel.fit(transactions(HANDFUL), cutoff=CUTOFF, customer_ids=ids)
        assert model.params_.spend_model == "pooled_mean" and model.params_.q == 0.5
        pred = model.predict(horizon_days=30)
        # repeat purchase days: customer 1 (50, 70), customer 2 (0)
        assert pred["order_value"].tolist() == [40.0] * 4
        assert_frame_equal(
            pred[["expected_spend"]],
            (40.0 * pred[["expected_orders"]]).set_axis(["expected_spend"], axis=1),
        )

    def test_all_zero_spend_predicts_zero_spend(self):
        rows = [
            {"customer_id": c, "ordered_at": f"2025-0{m}-1{c}", "amount": 0.0}
            for c in (1, 2, 3)
            for m in range(1, 2 + c)
        ]
        model = BTYDModel.fit(transactions(rows), cutoff=CUTOFF, customer_ids=pd.Index([1, 2, 3]))
        pred = model.predict(horizon_days=90)
        assert model.params_.spend_model == "none"
        assert np.isnan([model.params_.as_dict()[k] for k in ("p", "q", "v")]).all()
        assert (pred["expected_spend"] == 0).all()
        assert (pred["expected_orders"] > 0).all() and pred["p_alive"].between(0, 1).all()

    def test_nobody_repeated_yet(self):
        rows = [
            {"customer_id": c, "ordered_at": f"2025-0{c}-01", "amount": 10.0 * c}
            for c in range(1, 7)
        ]
        model = BTYDModel.fit(transactions(rows), cutoff=CUTOFF, customer_ids=pd.Index(range(1, 7)))
        pred = model.predict(horizon_days=365)
        assert (pred["p_alive"] == 1).all()  # BG/NBD: no dropout before a repeat purchase
        assert np.isfinite(pred["expected_orders"]).all() and (pred["expected_orders"] > 0).all()
        assert (pred["expected_spend"] == 0).all()

    def test_no_orders_before_the_cutoff_is_refused(self):
        rows = [{"customer_id": 1, "ordered_at": "2025-07-01", "amount": 10.0}]
        with pytest.raises(ConfigError, match="cutoff"):
            BTYDModel.fit(transactions(rows), cutoff=CUTOFF, customer_ids=pd.Index([1]))


@pytest.fixture(scope="module")
def generated_tables(tmp_path_factory):
    from features.contract.load import load_tables
    from features.synthetic import generate

    out = tmp_path_factory.mktemp("btyd_generated")
    generate(out, customers=1500, seed=3)
    return load_tables(out)


class TestGeneratedData:
    CUTOFF = pd.Timestamp("2024-12-31", tz="UTC")

    def realised_spend(self, tables, ids: pd.Index) -> pd.Series:
        """Net spend in [cutoff, cutoff + 365 d), floored at 0, currency units."""
        txn = tables.transactions
        ahead = txn["ordered_at"] - self.CUTOFF
        window = txn.loc[(ahead >= pd.Timedelta(0)) & (ahead < pd.Timedelta(days=365))]
        net = window.groupby("customer_id")["amount"].sum().reindex(ids, fill_value=0.0)
        return net.clip(lower=0.0)

    def test_expected_spend_ranks_realised_spend_and_is_deterministic(self, generated_tables):
        customers = generated_tables.customers
        ids = pd.Index(customers.loc[customers["signup_at"] < self.CUTOFF, "customer_id"])
        txn = generated_tables.transactions
        model = BTYDModel.fit(txn, cutoff=self.CUTOFF, customer_ids=ids)
        pred = model.predict(horizon_days=365)
        assert np.isfinite(pred["expected_spend"]).all() and (pred["expected_spend"] >= 0).all()
        realised = self.realised_spend(generated_tables, ids)
        assert pred["expected_spend"].corr(realised, method="spearman") > 0.5  # ~0.75 seen
        again = BTYDModel.fit(txn, cutoff=self.CUTOFF, customer_ids=ids)
        assert again.params_ == model.params_
        assert_frame_equal(again.predict(horizon_days=365), pred)


@pytest.fixture(scope="module")
def immortal():
    # Poisson buyers who never die (BG/NBD with a -> 0): the MLE of the dropout
    # runs to the boundary, as on a wholesaler's log.
    rng = np.random.default_rng(4)
    rows = []
    for c in range(1500):
        rate = rng.gamma(2.0, 1 / 60.0)  # purchases per day
        t = float(rng.uniform(0, 300))
        while t < 700:
            rows.append((c, t))
            t += rng.exponential(1 / rate)
    frame = pd.DataFrame(rows, columns=["customer_id", "day"])
    return pd.DataFrame(
        {
            "customer_id": frame["customer_id"].astype("int64"),
            "ordered_at": (START + pd.to_timedelta(frame["day"], unit="D")).astype(
                "datetime64[ns, UTC]"
            ),
            "amount": 20.0 + rng.gamma(2.0, 10.0, len(frame)),
            "is_refund": pd.array(np.zeros(len(frame), bool), dtype="boolean"),
        }
    )


class TestBoundary:
    """A log whose BG/NBD likelihood runs to the boundary: nobody ever drops out."""

    def test_fit_survives_and_p_no_purchase_is_not_constant(self, immortal):
        cutoff = START + pd.Timedelta(days=600)
        ids = pd.Index(np.arange(1500))
        model = BTYDModel.fit(immortal, cutoff=cutoff, customer_ids=ids)
        params = model.params_
        assert params.a / (params.a + params.b) < 1e-3  # dropout at the boundary
        pred = model.predict(horizon_days=60)
        known = pred.loc[model.rfm_["T"] > 0]
        assert known["p_alive"].min() > 0.99  # 1 - P(alive) is useless here ...
        assert known["p_no_purchase"].std() > 0.1  # ... P(no purchase in H) is not
        later = immortal["ordered_at"] - cutoff
        bought = immortal.loc[(later >= pd.Timedelta(0)) & (later < pd.Timedelta(days=60))]
        churned = ~known.index.isin(bought["customer_id"])
        from sklearn.metrics import roc_auc_score

        assert roc_auc_score(churned, known["p_no_purchase"]) > 0.7

    def test_fit_from_rfm_equals_fit_from_transactions(self, immortal):
        cutoff = START + pd.Timedelta(days=600)
        ids = pd.Index(np.arange(1500))
        model = BTYDModel.fit(immortal, cutoff=cutoff, customer_ids=ids)
        assert fit_btyd(model.rfm_) == model.params_
