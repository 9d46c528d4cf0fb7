"""The endpoints' answers, built from the served view: scores, offers and model cards.

:mod:`serving.api.service` declares the endpoints and imports this module when one is
called. Here pandas, the scoring core and the offer policy come in (with LightGBM,
scikit-learn and SciPy: ~8 s to import), so BentoML's arbiter, which imports the service
only to read its settings, never loads them; the worker has them loaded by its first
request (its first poll loads the models).
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus

import pandas as pd
from bentoml.exceptions import InvalidArgument, NotFound
from threadpoolctl import threadpool_limits

from serving.api.feature_rows import (
    describe,
    feature_frame,
    feature_kinds,
    row_problems,
    unknown_levels,
)
from serving.api.online import OnlineState
from serving.api.schemas import (
    CustomerError,
    CustomerId,
    CustomerScore,
    FeatureInfo,
    FeatureRow,
    ModelCard,
    ModelInfo,
    ModelVersions,
    OfferInputs,
    OfferResponse,
    RecommendedOffer,
    ScoreResponse,
    SnapshotInfo,
)
from serving.policy.explain import explain
from serving.policy.scoring import learned_uplift
from serving.policy.scoring import score as score_features_frame

FORMULA = (
    "expected_value = churn_probability × uplift × predicted_ltv − cost"
    " (uplift: the catalog's share kept, or the offer-uplift model's drop in churn"
    " probability ÷ churn_probability; see uplift_source)"
)
OFFER_REASONS = 5


class InvalidFeatureRows(InvalidArgument):
    """Feature rows that lack a feature the models need, or give it the wrong type (422)."""

    error_code = HTTPStatus.UNPROCESSABLE_ENTITY


def score_ids(
    state: OnlineState, customer_ids: Sequence[CustomerId], reasons: int
) -> ScoreResponse:
    """Customers of the snapshot by id; unknown ids and customers outside the population
    get an error entry of their own."""
    as_of = state.snapshot_meta.as_of
    results: list[CustomerScore | CustomerError] = []
    for customer_id, row in zip(customer_ids, state.rows(customer_ids), strict=True):
        if row is None:
            results.append(
                CustomerError(
                    customer_id=customer_id,
                    error=f"unknown customer id: not in the feature snapshot as of {as_of}",
                )
            )
        elif outside := state.outside_population(row):
            results.append(CustomerError(customer_id=customer_id, error=outside))
        else:
            results.append(_customer_score(customer_id, state.score_record(row, reasons=reasons)))
    return _response(results, state, snapshot=True)


def score_rows(state: OnlineState, rows: Sequence[FeatureRow], reasons: int) -> ScoreResponse:
    """Feature rows sent by the caller, scored in request order.

    Raises
    ------
    InvalidFeatureRows
        When a row lacks a feature the models need or gives one the wrong type.
    """
    kinds = feature_kinds(state.models)
    if problems := row_problems(rows, kinds):
        raise InvalidFeatureRows(describe(problems, len(rows)))
    frame = feature_frame(rows, kinds)
    with threadpool_limits(limits=1, user_api="openmp"):  # small inputs: threads cost more
        scored = score_features_frame(frame, state.models, reasons=reasons)
    results = [
        _customer_score(row.customer_id, record, warnings=unknown_levels(row, kinds))
        for row, record in zip(rows, scored.to_dict("records"), strict=True)
    ]
    return _response(results, state, snapshot=False)


def offer_for(state: OnlineState, customer_id: CustomerId) -> OfferResponse:
    """One customer's score with every offer's expected value and eligibility.

    Raises
    ------
    NotFound
        When the id is not in the snapshot, or the customer is outside the population.
    """
    row = state.rows([customer_id])[0]
    if row is None:
        raise NotFound(
            f"Unknown customer id {customer_id!r}: not in the feature snapshot "
            f"as of {state.snapshot_meta.as_of}."
        )
    if outside := state.outside_population(row):
        raise NotFound(f"Customer {customer_id!r}: {outside}")
    inputs = state.offer_inputs(row)
    return OfferResponse(
        customer=_customer_score(customer_id, state.score_record(row, reasons=OFFER_REASONS)),
        inputs=OfferInputs(**inputs),
        formula=FORMULA,
        options=explain(
            inputs,
            state.models.catalog,
            uplift=learned_uplift(state.features.iloc[[row]], state.models),
            population=state.models.population_reference,
        ),
        models=_versions(state, snapshot=True),
    )


def model_info(state: OnlineState, *, reload_seconds: float, max_batch: int) -> ModelInfo:
    """The served model versions, snapshot, limits and the features score_features needs."""
    meta = state.snapshot_meta
    return ModelInfo(
        churn=_card(state.models.churn),
        ltv=_card(state.models.ltv),
        snapshot=SnapshotInfo(
            path=state.key.snapshot,
            as_of=meta.as_of,
            customers=state.customers,
            contract_version=meta.contract_version,
        ),
        loaded_at=state.loaded_at.isoformat(),
        load_seconds=round(state.load_seconds, 3),
        reload_seconds=reload_seconds,
        max_batch=max_batch,
        features=_feature_info(state),
    )


def _customer_score(
    customer_id: object, record: dict, *, warnings: list[str] | None = None
) -> CustomerScore:
    offer_id = record["offer_id"]
    offer = None
    if isinstance(offer_id, str):
        offer = RecommendedOffer(
            offer_id=offer_id,
            offer_name=record["offer_name"],
            cost=float(record["offer_cost"]),
            expected_value=float(record["expected_value"]),
            uplift=float(record["uplift"]),
        )
    return CustomerScore(
        customer_id=customer_id,
        status=str(record["status"]),
        churn_probability=float(record["churn_probability"]),
        churn_horizon_days=int(record["churn_horizon_days"]),
        risk_band=str(record["risk_band"]),
        predicted_ltv=float(record["predicted_ltv"]),
        value_segment=str(record["value_segment"]),
        expected_orders=_number(record["expected_orders"]),
        p_alive=_number(record["p_alive"]),
        next_order_date=_day(record["next_order_date"]),
        reasons=list(record["reasons"]),
        offer=offer,
        no_offer_reason=None if offer else _text(record["no_offer_reason"]),
        uplift_source=str(record["uplift_source"]),
        churn_model_version=str(record["churn_model_version"]),
        ltv_model_version=str(record["ltv_model_version"]),
        warnings=warnings or [],
    )


def _number(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _day(value: object) -> str | None:
    return None if value is None or pd.isna(value) else f"{pd.Timestamp(value):%Y-%m-%d}"


def _text(value: object) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


def _versions(state: OnlineState, *, snapshot: bool) -> ModelVersions:
    churn, ltv = state.models.churn, state.models.ltv
    return ModelVersions(
        churn_model=churn.name,
        churn_version=churn.version,
        ltv_model=ltv.name,
        ltv_version=ltv.version,
        snapshot_as_of=state.snapshot_meta.as_of if snapshot else None,
    )


def _response(results: list, state: OnlineState, *, snapshot: bool) -> ScoreResponse:
    failed = sum(isinstance(r, CustomerError) for r in results)
    return ScoreResponse(
        results=results,
        scored=len(results) - failed,
        failed=failed,
        models=_versions(state, snapshot=snapshot),
    )


def _card(model) -> ModelCard:
    tags = {k: v for k, v in model.tags.items() if k != "features"}  # listed in ModelInfo
    return ModelCard(
        name=model.name,
        version=model.version,
        run_id=model.run_id,
        aliases=sorted(model.aliases),
        tags=tags,
    )


def _feature_info(state: OnlineState) -> list[FeatureInfo]:
    return [
        FeatureInfo(
            name=name,
            kind="numeric" if levels is None else "categorical",
            levels=None if levels is None else list(levels),
        )
        for name, levels in feature_kinds(state.models).items()
    ]
