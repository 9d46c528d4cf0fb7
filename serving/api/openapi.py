"""The OpenAPI document (``/docs.json``, the Swagger page) made to tell the truth.

BentoML 1.4 generates the document from the endpoints' signatures, but it declares no
security scheme (Swagger cannot send the API key), lists only 400/404/500 with a
``detail`` string although a validation error sends a list, leaves request bodies
optional, and its only feature example lacks most features the models need.
:func:`document` rewrites BentoML's document from what the service really does:

- the ``X-API-Key`` header as a security scheme, required everywhere but the probes;
- request bodies from the strict request models (:mod:`serving.api.schemas`), required
  when they have required fields, each with an example the service accepts;
- every status an operation answers with, each with its JSON body schema
  (:class:`~serving.api.schemas.ErrorBody`, :class:`~serving.api.schemas.ValidationErrorBody`);
- when models are served, the features ``score_features`` needs, by name and kind.

:class:`OpenApiMiddleware` serves it in place of BentoML's, and the Swagger page (``/``)
too: BentoML's page loads Google Tag Manager from a third-party site whatever
``BENTOML_DO_NOT_TRACK`` says; :data:`SWAGGER_PAGE` loads only the Swagger UI files
BentoML ships (``/static_content/``), and its ``Content-Security-Policy`` lets the
browser run no script from anywhere else.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from serving.api.auth import HEADER
from serving.api.client_errors import ASGIApp, Receive, Scope, Send
from serving.api.schemas import (
    MAX_FEATURE_MAGNITUDE,
    MAX_TEXT_LENGTH,
    ErrorBody,
    ValidationErrorBody,
)

DOCS_PATH = "/docs.json"
REF = "#/components/schemas/{model}"
SCHEME = "ApiKeyHeader"
OPEN_OPERATIONS = ("/livez", "/healthz", "/readyz")
Kinds = Mapping[str, tuple[str, ...] | None]
"""``{feature: None}`` for numeric features, ``{feature: levels}`` for categorical ones."""

ERRORS: dict[int, tuple[str, type[BaseModel]]] = {
    400: ("The body is not JSON or breaks the request schema.", ValidationErrorBody),
    401: (f"The {HEADER} header is missing or wrong.", ErrorBody),
    404: ("The customer id is not in the feature snapshot.", ErrorBody),
    413: (
        "The body is larger than serving.max_body_bytes, or holds more customers than "
        "serving.max_batch.",
        ErrorBody,
    ),
    408: (
        "The headers or the body did not arrive within serving.header_timeout_seconds or "
        "serving.body_timeout_seconds.",
        ErrorBody,
    ),
    415: (
        "The body is not JSON (send Content-Type: application/json) or is compressed "
        "(send it without a Content-Encoding).",
        ErrorBody,
    ),
    422: (
        "A feature row lacks a feature the models need or gives it the wrong kind of value.",
        ErrorBody,
    ),
    500: ("A fault of the service; its log says more.", ErrorBody),
    503: (
        "The models are not loaded (the reason is given), or the service is stopping.",
        ErrorBody,
    ),
}
COMMON_ERRORS = (400, 401, 408, 413, 415, 500, 503)
SWAGGER_PATH = "/"
SWAGGER_PAGE = b"""<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <title>Churn &amp; LTV scoring API</title>
    <link rel="stylesheet" type="text/css" href="./static_content/swagger-ui.css" />
    <link rel="stylesheet" type="text/css" href="./static_content/index.css" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="./static_content/swagger-ui-bundle.js" charset="UTF-8"></script>
    <script src="./static_content/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
    <script src="./static_content/swagger-initializer.js" charset="UTF-8"></script>
  </body>
</html>
"""
"""The Swagger page: BentoML's, without its third-party tag manager and links."""
SWAGGER_POLICY = (
    b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; connect-src 'self'; frame-src 'none'; object-src 'none'"
)


def _example_value(name: str, levels: tuple[str, ...] | None) -> object:
    if levels is not None:
        return levels[0] if levels else None
    return {"days_since_last_order": 74.0, "overdue_ratio": 2.3, "nps_last": 3.0}.get(name, 0.0)


def feature_example(kinds: Kinds) -> dict[str, object]:
    """A feature row every served model accepts: each feature, a plausible value.

    Numeric features get 0 (a few telling ones a typical value), categorical ones their
    first training level; no customer's data is shown.
    """
    return {name: _example_value(name, levels) for name, levels in kinds.items()}


def _feature_schema(kinds: Kinds) -> dict[str, Any]:
    number = {
        "anyOf": [
            {"type": "number", "minimum": -MAX_FEATURE_MAGNITUDE, "maximum": MAX_FEATURE_MAGNITUDE},
            {"type": "boolean"},
            {"type": "null"},
        ]
    }

    def text(levels: tuple[str, ...]) -> dict[str, Any]:
        shown = ", ".join(levels[:10]) + (", ..." if len(levels) > 10 else "")
        return {
            "anyOf": [{"type": "string", "maxLength": MAX_TEXT_LENGTH}, {"type": "null"}],
            "description": f"Categorical; seen in training: {shown}.",
        }

    return {
        "properties": {
            name: (number if levels is None else text(levels)) for name, levels in kinds.items()
        },
        "required": list(kinds),
    }


def _json_error(status: int) -> dict[str, Any]:
    description, model = ERRORS[status]
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}},
    }


def _request_body(model: type[BaseModel], example: object) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=REF)
    return {
        "required": bool(schema.get("required")),
        "content": {
            "application/json": {
                "schema": {"$ref": REF.format(model=model.__name__)},
                "example": example,
            }
        },
    }


def document(
    spec: dict[str, Any],
    *,
    requests: Mapping[str, tuple[type[BaseModel], object]],
    errors: Mapping[str, tuple[int, ...]],
    api_key_required: bool,
    max_batch: int,
    kinds: Kinds | None = None,
) -> dict[str, Any]:
    """BentoML's OpenAPI document ``spec`` rewritten to say what the service does.

    Parameters
    ----------
    spec : dict
        BentoML's document (``Service.openapi_spec.asdict()``); not modified.
    requests : mapping
        Endpoint path → (request model, example body).
    errors : mapping
        Endpoint path → statuses it answers besides :data:`COMMON_ERRORS`.
    api_key_required : bool
        Whether the endpoints and ``/metrics`` need the ``X-API-Key`` header.
    max_batch : int
        Most customers or rows per request (``maxItems`` of the lists).
    kinds : mapping, optional
        The served models' features (see :func:`serving.api.feature_rows.feature_kinds`);
        None before models are loaded.

    Returns
    -------
    dict
        The document, OpenAPI 3.1 (its schemas are pydantic's JSON Schema 2020-12).
    """
    doc = copy.deepcopy(spec)
    doc["openapi"] = "3.1.0"
    doc["info"]["description"] = (
        "Churn risk, lifetime value, reasons and the retention offer to make, per customer."
    )
    doc["info"].pop("contact", None)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in ("InvalidArgument", "NotFound", "InternalServerError", "TaskStatusResponse"):
        schemas.pop(name, None)
    models = [m for m, _ in requests.values()] + [ErrorBody, ValidationErrorBody]
    _, defs = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    schemas.update(defs["$defs"])
    for name in list(schemas):
        if name.endswith("__Input"):
            del schemas[name]
    if kinds is not None and "FeatureRow" in schemas:
        features = schemas["FeatureRow"]["properties"]["features"]
        features.update(_feature_schema(kinds))
        features["examples"] = [feature_example(kinds)]
    if "ScoreFeaturesRequest" in schemas:
        schemas["ScoreFeaturesRequest"]["properties"]["rows"]["maxItems"] = max_batch
    if "ScoreRequest" in schemas:
        schemas["ScoreRequest"]["properties"]["customer_ids"]["maxItems"] = max_batch

    if api_key_required:
        doc["components"]["securitySchemes"] = {
            SCHEME: {
                "type": "apiKey",
                "in": "header",
                "name": HEADER,
                "description": "The service's API key (serving.api_key).",
            }
        }
        doc["security"] = [{SCHEME: []}]
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            _operation(path, method, operation, requests, errors, api_key_required, kinds)
    return doc


def _operation(
    path: str,
    method: str,
    operation: dict[str, Any],
    requests: Mapping[str, tuple[type[BaseModel], object]],
    errors: Mapping[str, tuple[int, ...]],
    api_key_required: bool,
    kinds: Kinds | None,
) -> None:
    responses = operation["responses"]
    if path in requests:
        model, example = requests[path]
        if path == "/score_features" and kinds is not None:
            example = {
                "rows": [{"customer_id": 17, "features": feature_example(kinds)}],
                "reasons": 3,
            }
        operation["requestBody"] = _request_body(model, example)
        for status in list(responses):
            if int(status) >= 400:
                del responses[status]
        statuses = sorted({*COMMON_ERRORS, *errors.get(path, ())})
        if not api_key_required:
            statuses.remove(401)
        responses.update({str(s): _json_error(s) for s in statuses})
        return
    if path in OPEN_OPERATIONS:
        operation["security"] = []
        responses["200"] = {"description": "Alive.", "content": {"text/plain": {}}}
        if path == "/readyz":
            responses["200"]["description"] = "Ready: the models and the snapshot are loaded."
            responses["503"] = {
                "description": "Not ready yet: the models are still loading or failed to load.",
                "content": {"text/plain": {}},
            }
        return
    if path == "/metrics":
        operation["description"] = (
            "Prometheus metrics of the service: request counts and durations by endpoint "
            "(every path that is not a route counts as 'other') and status code."
        )
        responses["200"] = {"description": "Prometheus text format.", "content": {"text/plain": {}}}
        if api_key_required:
            responses["401"] = _json_error(401)


class OpenApiMiddleware:
    """Answer ``GET /docs.json`` with the document ``make_document()`` returns, and
    ``GET /`` with :data:`SWAGGER_PAGE`.

    Parameters
    ----------
    app : ASGI app
    make_document : callable
        Builds the document (it may cache); called per request.
    """

    def __init__(self, app: ASGIApp, *, make_document: Callable[[], dict[str, Any]]) -> None:
        self.app = app
        self.make_document = make_document

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path")
        if (
            scope["type"] != "http"
            or path not in (DOCS_PATH, SWAGGER_PATH)
            or scope.get("method") not in ("GET", "HEAD")
        ):
            await self.app(scope, receive, send)
            return
        if path == SWAGGER_PATH:
            body = SWAGGER_PAGE
            headers = [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-security-policy", SWAGGER_POLICY),
            ]
        else:
            body = json.dumps(self.make_document()).encode()
            headers = [(b"content-type", b"application/json")]
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*headers, (b"content-length", str(len(body)).encode())],
            }
        )
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )
