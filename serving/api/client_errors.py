"""How client errors (4xx) look: one JSON body shape and one log line, never a traceback.

Every refusal is a JSON object with an ``error`` string (:class:`serving.api.schemas.ErrorBody`);
a request body that breaks the request schema also gets ``detail``, one entry per
problem with its location, message and type (:class:`serving.api.schemas.ValidationErrorBody`).

BentoML 1.4 renders a 4xx raised as a ``BentoMLException`` as a one-element JSON list,
``[{"error": "..."}]``, and its validation errors as ``{"error": "1 validation error
for Input", "detail": [...]}`` whose entries carry a documentation URL; it also logs every
refused request as an ERROR with a traceback. :class:`ErrorBodyMiddleware` rewrites both
bodies into the shapes above; :class:`ClientErrorLogFilter` turns those log records into
one INFO line, so ERROR means a fault of the service. Both can go when BentoML does this
itself. :func:`send_error` is how the service's own middlewares refuse a request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from http import HTTPStatus
from typing import Any

from bentoml.exceptions import BentoMLException
from pydantic import ValidationError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

BENTOML_REQUEST_LOGGER = "bentoml._internal.server.http_app"
"""The logger BentoML reports exceptions of API calls on."""
ISSUE_KEYS = ("loc", "msg", "type")
"""What each ``detail`` entry of a validation error keeps (no input, no URL)."""


async def send_error(
    send: Send, status: int, message: str, *, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """Answer with ``status`` and the JSON body ``{"error": message}``."""
    payload = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def summary(count: int, issues: Sequence[dict]) -> str:
    """``2 validation error(s), first: customer_ids.0: Input should be ...``."""
    first = issues[0] if issues else {}
    where = ".".join(str(p) for p in first.get("loc", ())) or "body"
    return f"{count} validation error(s), first: {where}: {first.get('msg', 'invalid')}"


class ErrorBodyMiddleware:
    """Rewrite BentoML's 4xx JSON bodies into ``{"error": ...[, "detail": [...]]}``, and
    every error that is not JSON (Starlette's plain-text 404 and 405) into ``{"error": ...}``.

    Parameters
    ----------
    app : ASGI app
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def relay(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                status = message["status"]
                if status >= 400 and (status < 500 or not _is_json(message)):
                    start = message
                    return
                await send(message)
            elif start is not None and message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    await _flush(send, start, b"".join(chunks), head=scope["method"] == "HEAD")
            else:
                await send(message)

        await self.app(scope, receive, relay)


def _is_json(start: Message) -> bool:
    return any(
        k.lower() == b"content-type" and v.startswith(b"application/json")
        for k, v in start.get("headers", ())
    )


def unwrap(body: bytes) -> bytes:
    """A 4xx body of BentoML's in the service's shape; any other body unchanged.

    ``[{"error": ...}]`` becomes ``{"error": ...}``; a validation error's ``detail``
    entries keep only :data:`ISSUE_KEYS` and ``error`` says how many and the first.
    """
    try:
        parsed = json.loads(body)
    except ValueError:
        return body
    if (
        isinstance(parsed, list)
        and len(parsed) == 1
        and isinstance(parsed[0], dict)
        and "error" in parsed[0]
    ):
        return json.dumps(parsed[0]).encode()
    if (
        isinstance(parsed, dict)
        and isinstance(parsed.get("detail"), list)
        and all(isinstance(d, dict) and "msg" in d for d in parsed["detail"])
    ):
        issues = [{k: d[k] for k in ISSUE_KEYS if k in d} for d in parsed["detail"]]
        return json.dumps({"error": summary(len(issues), issues), "detail": issues}).encode()
    return body


def as_json_error(status: int, body: bytes) -> bytes:
    """A plain-text error body (Starlette's 404 and 405) as ``{"error": text}``."""
    text = body.decode("utf-8", "replace").strip()[:500]
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return json.dumps({"error": text or phrase}).encode()


async def _flush(send: Send, start: Message, body: bytes, *, head: bool = False) -> None:
    dropped = {b"content-length"}
    if _is_json(start):
        body = unwrap(body)
    else:
        body = as_json_error(start["status"], body)
        dropped.add(b"content-type")
    headers = [(k, v) for k, v in start.get("headers", ()) if k.lower() not in dropped]
    if b"content-type" in dropped:
        headers.append((b"content-type", b"application/json"))
    headers.append((b"content-length", str(len(body)).encode()))
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


def client_error(exc: BaseException | None) -> tuple[int, str] | None:
    """``(status, one-line reason)`` when ``exc`` is a client error, else None.

    Validation errors give their count and the first field and message, never the input.
    """
    if isinstance(exc, ValidationError):
        issues = exc.errors(include_input=False, include_url=False)
        return 400, summary(exc.error_count(), issues)
    if isinstance(exc, BentoMLException) and 400 <= int(exc.error_code) < 500:
        return int(exc.error_code), str(exc)
    return None


class ClientErrorLogFilter(logging.Filter):
    """Log BentoML's ``Exception on <path>`` records of client errors as one INFO line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info or not str(record.msg).startswith("Exception on "):
            return True
        found = client_error(record.exc_info[1])
        if found is not None:
            status, reason = found
            record.msg = f"Refused %s [%s] with {status}: %s"
            record.args = (*(record.args or ())[:2], reason)
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def install_log_filter() -> None:
    """Attach :class:`ClientErrorLogFilter` to BentoML's request logger (once)."""
    logger = logging.getLogger(BENTOML_REQUEST_LOGGER)
    if not any(isinstance(f, ClientErrorLogFilter) for f in logger.filters):
        logger.addFilter(ClientErrorLogFilter())
