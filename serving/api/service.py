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

BentoML's process manager imports this module only to read the service's settings, so
it imports no MLflow, LightGBM, scikit-learn or pandas (a test checks): the endpoints'
work is in :mod:`serving.api.answers` and the loading in :mod:`serving.api.online`, which
only the worker imports (at its first poll). That took 9 s off every server start here.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bentoml
from bentoml.exceptions import InvalidArgument, ServiceUnavailable

from features.compute import limit_native_threads, set_threads
from serving.api.auth import OPEN_PATHS, OPEN_PREFIXES, ApiKeyMiddleware
from serving.api.client_errors import ErrorBodyMiddleware, install_log_filter
from serving.api.drain import DrainMiddleware
from serving.api.hot_reload import ChampionWatcher, NotReadyMiddleware, StateHolder
from serving.api.http_metrics import METRICS_PATH, MetricsEndpoint, MetricsMiddleware
from serving.api.log_safety import install_control_char_filter
from serving.api.openapi import OpenApiMiddleware, document
from serving.api.request_limits import RequestLimitsMiddleware
from serving.api.schemas import (
    CustomerId,
    FeatureRow,
    ModelInfo,
    ModelInfoRequest,
    OfferRequest,
    OfferResponse,
    ScoreFeaturesRequest,
    ScoreRequest,
    ScoreResponse,
)
from serving.api.slow_clients import set_header_timeout, use_header_timeout_protocol
from serving.settings import Settings, load_settings

if TYPE_CHECKING:  # the scoring stack, imported by the worker only (serving.api.answers)
    from serving.api.online import OnlineSource, OnlineState

log = logging.getLogger(__name__)

RELOAD_ENV = "CHURN_SERVING__RELOAD_SECONDS"


class TooManyCustomers(InvalidArgument):
    """More customers in one request than ``serving.max_batch`` allows (413)."""

    error_code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


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
        from serving.api.online import OnlineSource

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
        from serving.api.answers import score_ids  # the scoring stack: see the module's notes

        state = self._state()
        self._check_batch(len(customer_ids))
        return score_ids(state, customer_ids, reasons)

    @bentoml.api(input_spec=ScoreFeaturesRequest)
    def score_features(self, rows: list[FeatureRow], reasons: int = 3) -> ScoreResponse:
        """Score feature rows sent by the caller (for tools that keep their own features).

        Every feature listed by ``model_info`` must be given (null when unknown); a
        category value the models do not know is scored as missing, with a warning.
        """
        from serving.api.answers import score_rows

        state = self._state()
        self._check_batch(len(rows))
        return score_rows(state, rows, reasons)

    @bentoml.api(input_spec=OfferRequest)
    def offer(self, customer_id: CustomerId) -> OfferResponse:
        """One customer's score with every offer's expected value and eligibility."""
        from serving.api.answers import offer_for

        return offer_for(self._state(), customer_id)

    @bentoml.api(input_spec=ModelInfoRequest)
    async def model_info(self) -> ModelInfo:
        """The served model versions, snapshot, limits and the features score_features needs."""
        from serving.api.answers import model_info

        return model_info(
            self._state(),
            reload_seconds=self.config.reload_seconds,
            max_batch=self.config.max_batch,
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
    from serving.api.feature_rows import feature_kinds

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
