"""The churn & LTV scoring API: ``bentoml serve serving.api.service:ChurnService``.

At start-up the service loads the registry's ``champion`` churn and LTV models, the
latest feature snapshot of ``<data dir>/features`` and the offer catalog, and scores
every customer of the snapshot once with :func:`serving.policy.scoring.score` (the batch job's
function), so scoring by id is a lookup. A background thread reloads all of it when a
champion alias moves or a newer snapshot appears (:mod:`serving.api.hot_reload`).

Configuration comes from :func:`serving.settings.load_settings` (``churn.toml`` and
``CHURN_*`` variables): ``CHURN_DATA__DIR``, ``CHURN_SERVING__API_KEY`` (or
``CHURN_SERVING__API_KEY_FILE``), ``CHURN_SERVING__REQUIRE_API_KEY``,
``CHURN_SERVING__MAX_BATCH``, ``CHURN_SERVING__MAX_BODY_BYTES``,
``CHURN_SERVING__OFFERS_FILE``, ``CHURN_SERVING__RELOAD_SECONDS`` and
``MLFLOW_TRACKING_URI``. ``bentoml serve`` listens on 127.0.0.1 unless given ``--host``
(or ``BENTOML_HOST``).

Endpoints (POST, JSON bodies of the strict models of :mod:`serving.api.schemas`): ``/score``,
``/score_features``, ``/offer``, ``/model_info``. The probes ``/livez``, ``/healthz`` and
``/readyz`` (ready once the models are loaded) and the Swagger page stay open; the
endpoints and ``/metrics`` need the ``X-API-Key`` header unless ``require_api_key`` is
false. In front of BentoML's app, outermost first: request metrics with bounded labels
(:mod:`serving.api.http_metrics`), the key check (:mod:`serving.api.auth`), the OpenAPI document
(:mod:`serving.api.openapi`), ``/metrics``, body size and media type limits
(:mod:`serving.api.request_limits`) and the error body shape (:mod:`serving.api.client_errors`).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import bentoml
import pandas as pd
from bentoml.exceptions import InvalidArgument, NotFound, ServiceUnavailable
from threadpoolctl import threadpool_limits

from features.compute import limit_native_threads, set_threads
from serving.api.auth import OPEN_PATHS, OPEN_PREFIXES, ApiKeyMiddleware
from serving.api.client_errors import ErrorBodyMiddleware, install_log_filter
from serving.api.drain import DrainMiddleware
from serving.api.feature_rows import (
    describe,
    feature_frame,
    feature_kinds,
    row_problems,
    unknown_levels,
)
from serving.api.hot_reload import ChampionWatcher, NotReadyMiddleware, StateHolder
from serving.api.http_metrics import METRICS_PATH, MetricsEndpoint, MetricsMiddleware
from serving.api.log_safety import install_control_char_filter
from serving.api.online import OnlineSource, OnlineState
from serving.api.openapi import OpenApiMiddleware, document
from serving.api.request_limits import RequestLimitsMiddleware
from serving.api.schemas import (
    CustomerError,
    CustomerId,
    CustomerScore,
    FeatureInfo,
    FeatureRow,
    ModelCard,
    ModelInfo,
    ModelInfoRequest,
    ModelVersions,
    OfferInputs,
    OfferRequest,
    OfferResponse,
    RecommendedOffer,
    ScoreFeaturesRequest,
    ScoreRequest,
    ScoreResponse,
    SnapshotInfo,
)
from serving.api.slow_clients import set_header_timeout, use_header_timeout_protocol
from serving.policy.explain import explain
from serving.policy.scoring import learned_uplift
from serving.policy.scoring import score as score_features_frame
from serving.settings import Settings, load_settings

log = logging.getLogger(__name__)

RELOAD_ENV = "CHURN_SERVING__RELOAD_SECONDS"
FORMULA = (
    "expected_value = churn_probability × uplift × predicted_ltv − cost"
    " (uplift: the catalog's share kept, or the offer-uplift model's drop in churn"
    " probability ÷ churn_probability; see uplift_source)"
)
OFFER_REASONS = 5


class TooManyCustomers(InvalidArgument):
    """More customers in one request than ``serving.max_batch`` allows (413)."""

    error_code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class InvalidFeatureRows(InvalidArgument):
    """Feature rows that lack a feature the models need, or give it the wrong type (422)."""

    error_code = HTTPStatus.UNPROCESSABLE_ENTITY


@dataclass(frozen=True)
class ServiceConfig:
    """The service's settings, resolved once at start-up."""

    source: OnlineSource
    max_batch: int
    max_body_bytes: int
    reload_seconds: float
    api_key: str | None
    require_api_key: bool
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0
    drain_seconds: float = 20.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ServiceConfig:
        """Resolve ``settings`` (data dir, registry, catalog, limits, reload interval, key).

        Raises
        ------
        ConfigError
            When the API key file is set but unreadable or empty, or set with api_key.
        """
        serving = settings.serving
        return cls(
            source=OnlineSource(
                tracking_uri=settings.tracking_uri,
                snapshot_dir=Path(settings.data.dir) / "features",
                offers_file=Path(serving.offers_file),
            ),
            max_batch=serving.max_batch,
            max_body_bytes=serving.max_body_bytes,
            reload_seconds=serving.reload_seconds,
            api_key=serving.resolved_api_key(),
            require_api_key=serving.require_api_key,
            header_timeout_seconds=serving.header_timeout_seconds,
            body_timeout_seconds=serving.body_timeout_seconds,
            drain_seconds=serving.drain_seconds,
        )


@functools.cache
def worker_config() -> ServiceConfig:
    """The worker's :class:`ServiceConfig`, read once (the service and its middlewares).

    Also sets the worker's thread budget (:mod:`features.compute`).
    """
    settings = load_settings()
    set_threads(settings.compute.threads)
    limit_native_threads()
    return ServiceConfig.from_settings(settings)


STATE = StateHolder()
"""The worker's served view. Module level because BentoML builds the ASGI middlewares
(the OpenAPI document lists the served models' features) before the service instance."""


@bentoml.service(
    name="churn_ltv",
    traffic={"timeout": 60},
    metrics={"enabled": False},  # per-path series grow without bound: serving.api.http_metrics
    http={"host": "127.0.0.1"},  # loopback unless `bentoml serve --host` says otherwise
)
class ChurnService:
    """Churn risk, lifetime value, reasons and the retention offer to make, per customer.

    None of the endpoints uses BentoML's adaptive batching (``batchable=True``): ``score``
    reads scores computed when the models and the snapshot were loaded, so there is no
    model call to merge and batching would only add queueing delay; ``score_features``
    already receives its batch in one request (up to ``max_batch`` rows), must refuse
    a request over that limit with a 413 of its own and answer in request order with the
    model versions, none of which a merged cross-request batch can do.
    """

    def __init__(self) -> None:
        logging.getLogger("serving").setLevel(logging.INFO)  # BentoML's root level is WARNING
        install_log_filter()
        install_control_char_filter("bentoml", "uvicorn.error", "circus")
        self.config = worker_config()
        self.holder = STATE
        self.watcher = ChampionWatcher(
            self.config.source, self.holder, interval_seconds=self.config.reload_seconds
        )
        self.watcher.poll()
        self.watcher.start()
        log.info(
            "Checking for a new champion every %g s; at most %d customers per request; API key %s.",
            self.config.reload_seconds,
            self.config.max_batch,
            "required" if self.config.require_api_key else "NOT required",
        )

    def __is_ready__(self) -> bool:
        """Ready once the models and the snapshot are loaded (``/readyz``)."""
        return self.holder.state is not None

    @bentoml.on_shutdown
    def stop_watching(self) -> None:
        """Stop the reload thread."""
        self.watcher.stop()

    def _state(self) -> OnlineState:
        state = self.holder.state
        if state is None:
            raise ServiceUnavailable(f"The models are not loaded yet: {self.holder.last_error}")
        return state

    def _check_batch(self, n: int) -> None:
        if n > self.config.max_batch:
            raise TooManyCustomers(
                f"Too many customers in one request: {n}; the limit is "
                f"{self.config.max_batch} (serving.max_batch). Split the request."
            )

    @bentoml.api(input_spec=ScoreRequest)
    async def score(self, customer_ids: list[CustomerId], reasons: int = 3) -> ScoreResponse:
        """Score customers of the feature snapshot by id.

        Unknown ids get an error entry of their own; the others are scored.
        """
        state = self._state()
        self._check_batch(len(customer_ids))
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
                results.append(
                    _customer_score(customer_id, state.score_record(row, reasons=reasons))
                )
        return _response(results, state, snapshot=True)

    @bentoml.api(input_spec=ScoreFeaturesRequest)
    def score_features(self, rows: list[FeatureRow], reasons: int = 3) -> ScoreResponse:
        """Score feature rows sent by the caller (for tools that keep their own features).

        Every feature listed by ``model_info`` must be given (null when unknown); a
        category value the models do not know is scored as missing, with a warning.
        """
        state = self._state()
        self._check_batch(len(rows))
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

    @bentoml.api(input_spec=OfferRequest)
    def offer(self, customer_id: CustomerId) -> OfferResponse:
        """One customer's score with every offer's expected value and eligibility."""
        state = self._state()
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

    @bentoml.api(input_spec=ModelInfoRequest)
    async def model_info(self) -> ModelInfo:
        """The served model versions, snapshot, limits and the features score_features needs."""
        state = self._state()
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
            reload_seconds=self.config.reload_seconds,
            max_batch=self.config.max_batch,
            features=_feature_info(state),
        )


REQUESTS = {
    "/score": (ScoreRequest, {"customer_ids": [17, 42], "reasons": 3}),
    "/score_features": (
        ScoreFeaturesRequest,
        {"rows": [{"customer_id": 17, "features": {"days_since_last_order": 74.0}}]},
    ),
    "/offer": (OfferRequest, {"customer_id": 17}),
    "/model_info": (ModelInfoRequest, {}),
}
"""Each endpoint's request model and the example its OpenAPI document shows."""
ERRORS = {"/offer": (404,), "/score_features": (422,)}
"""Statuses an endpoint answers with besides :data:`serving.api.openapi.COMMON_ERRORS`."""


def _api_paths() -> list[str]:
    return [api.route for api in ChurnService.apis.values()]


@functools.cache
def _document(churn_version: str | None, ltv_version: str | None) -> dict[str, Any]:
    state = STATE.state
    config = worker_config()
    return document(
        ChurnService.openapi_spec.asdict(),
        requests=REQUESTS,
        errors=ERRORS,
        api_key_required=config.require_api_key,
        max_batch=config.max_batch,
        kinds=feature_kinds(state.models) if state is not None else None,
    )


def openapi_document() -> dict[str, Any]:
    """The service's OpenAPI document for the models served now (cached per versions)."""
    state = STATE.state
    if state is None:
        return _document(None, None)
    return _document(state.models.churn.version, state.models.ltv.version)


def _metrics(app):
    return MetricsMiddleware(
        app, routes={*_api_paths(), *OPEN_PATHS, METRICS_PATH}, prefixes=OPEN_PREFIXES
    )


def _api_key(app):
    config = worker_config()
    return ApiKeyMiddleware(app, api_key=config.api_key, required=config.require_api_key)


def _openapi(app):
    return OpenApiMiddleware(app, make_document=openapi_document)


def _not_ready(app):
    return NotReadyMiddleware(app, holder=STATE, paths=_api_paths())


def _drain(app):
    return DrainMiddleware(app, drain_seconds=worker_config().drain_seconds)


def _limits(app):
    config = worker_config()
    set_header_timeout(config.header_timeout_seconds)  # before the first connection
    return RequestLimitsMiddleware(
        app,
        max_body_bytes=config.max_body_bytes,
        json_paths=_api_paths(),
        body_timeout_seconds=config.body_timeout_seconds,
    )


# Outermost first; each is built from the settings when BentoML builds the app.
for _middleware in (
    _metrics,
    _drain,
    _api_key,
    _openapi,
    MetricsEndpoint,
    _limits,
    _not_ready,
    ErrorBodyMiddleware,
):
    ChurnService.add_asgi_middleware(_middleware)
use_header_timeout_protocol()  # uvicorn resolves its protocol before the middlewares exist


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
