"""The default catalog on businesses it was not tuned on: low churn, high churn, a planted
noise column.

Each world is generated (``churn_level`` shifts every customer's churn hazard), the
models are trained and registered in a private MLflow store, and the whole base is
scored as of the data's end with the repository's ``offers.toml``, unedited.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from features.contract.load import load_tables
from features.contract.schema import CUSTOMER_ID
from features.families.build import build_features
from features.synthetic import generate
from tests.conftest import mlflow_state_restored
from tests.serving.conftest import AS_OF, OFFERS_FILE

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class World:
    name: str
    scores: pd.DataFrame
    models: object  # ScoringModels
    result: object  # TrainResult


WORLDS = {
    # subscribers of a business that rarely loses one: about 2 % churn in 90 days
    "low churn": {"churn_level": -3.0, "subscribers_only": True},
    # everyone's hazard raised: about 40 % of the active base churns in 90 days
    "high churn": {"churn_level": 1.5, "subscribers_only": False},
}


def make_world(name: str, root, *, noise_column: bool = False) -> World:
    from features.families.population import population_in_features
    from serving.models import load_scoring_models
    from serving.policy.scoring import score
    from training.train import TrainConfig, train

    spec = WORLDS[name]
    data = root / "data"
    generate(data, customers=3000, seed=21, file_format="parquet", churn_level=spec["churn_level"])
    tables = load_tables(data)
    if spec["subscribers_only"]:
        tables = tables.of_customers(
            tables.customers.loc[tables.customers["plan"].notna(), CUSTOMER_ID]
        )
    if noise_column:  # country carries nothing: 27 levels drawn at random
        rng = np.random.default_rng(0)
        levels = np.array([f"C{i:02d}" for i in range(27)])
        country = levels[rng.integers(0, 27, len(tables.customers))]
        tables = tables.replace(customers=tables.customers.assign(country=country))
    uri = f"sqlite:///{root}/mlflow.db"
    with mlflow_state_restored():
        result = train(tables, config=TrainConfig(train_cutoffs=2), tracking_uri=uri)
        models = load_scoring_models(
            tracking_uri=uri,
            churn_ref=result.churn.version,
            ltv_ref=result.ltv.version,
            offers_file=OFFERS_FILE,
            uplift_ref=None,
        )
    features = build_features(tables, as_of=AS_OF)
    features = features.loc[population_in_features(features, active_days=models.active_days)]
    return World(name, score(features, models, reasons=0, as_of=AS_OF), models, result)


@pytest.fixture(scope="module")
def low_churn(tmp_path_factory) -> World:
    return make_world("low churn", tmp_path_factory.mktemp("low_churn"))


@pytest.fixture(scope="module")
def high_churn(tmp_path_factory) -> World:
    return make_world("high churn", tmp_path_factory.mktemp("high_churn"))


@pytest.fixture(params=["low_churn", "high_churn"])
def world(request) -> World:
    return request.getfixturevalue(request.param)


def test_the_worlds_churn_as_intended(world):
    base = world.scores["churn_probability"].mean()
    if world.name == "low churn":
        assert base < 0.05, base
    else:
        assert base > 0.3, base


def test_offers_go_to_the_riskiest_valuable_customers_in_any_world(world):
    scores = world.scores
    offered = scores["offer_id"].notna()
    p, ltv = scores["churn_probability"], scores["predicted_ltv"]
    assert offered.mean() >= 0.10, offered.mean()
    assert (scores.loc[offered, "expected_value"] > 0).all()
    assert (scores.loc[offered, "risk_band"] != "low").all()
    assert p[offered].mean() > p[~offered].mean()  # the riskiest ...
    at_risk = scores["risk_band"] != "low"
    stake = p * ltv  # what an offer can save
    if (at_risk & ~offered).any():  # ... and worth saving
        assert stake[at_risk & offered].mean() > stake[at_risk & ~offered].mean()
    # the top decile of value at stake among those at risk: nearly all offered
    at_stake = stake[at_risk]
    top = at_stake >= at_stake.quantile(0.9)
    assert offered[at_risk][top].mean() >= 0.9, scores.loc[at_risk, "no_offer_reason"][top]
    # the policy's reasons for the rest are one line each, of a known kind
    kinds = scores.loc[~offered, "no_offer_reason"].str.split(":").str[0]
    assert set(kinds) <= {"low risk", "not eligible", "none pays"}


def test_a_high_churn_business_does_not_offer_to_everyone(high_churn):
    scores = high_churn.scores
    assert scores["offer_id"].notna().mean() < 0.7
    assert (scores["no_offer_reason"].str.startswith("low risk")).mean() > 0.3


def test_bands_are_relative_to_the_base_rate(world):
    reference = world.models.population_reference
    base = reference.base_rate
    low = world.scores["churn_probability"] < base
    assert (world.scores.loc[low, "risk_band"] == "low").all()
    assert (world.scores.loc[~low, "risk_band"] != "low").all()


def test_a_random_categorical_does_not_enter_the_top_features(tmp_path):
    noisy = make_world("high churn", tmp_path, noise_column=True)
    for outcome in (noisy.result.churn, noisy.result.ltv):
        importance = outcome.validated.importance()  # total gain, descending
        rank = list(importance.index).index("country") + 1
        assert rank > 10, (outcome.name, rank, list(importance.index[:10]))
