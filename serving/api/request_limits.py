"""Limits on what a request may send, checked before BentoML parses anything.

:class:`RequestLimitsMiddleware` refuses, with the service's JSON error body:

- a body larger than ``serving.max_body_bytes`` (413), whether it announces its length
  or streams it in chunks: at most that many bytes are ever held;
- a body to an endpoint that is not JSON (415): the endpoints read JSON only, and
  BentoML would otherwise hand form and multipart bodies to its form parser, which
  fails with a 500 on a multipart request without a boundary; a body with a
  ``Content-Encoding`` (gzip or other) is refused the same way, not read as JSON;
- a body that does not arrive whole within ``serving.body_timeout_seconds`` (408, the
  connection closed), so a client that trickles bytes holds no request slot for long.
  The headers have their own limit (:mod:`serving.api.slow_clients`).
"""

from __future__ import annotations

import logging
from collections.abc import Collection

import anyio

from serving.api.client_errors import ASGIApp, Message, Receive, Scope, Send, send_error

log = logging.getLogger(__name__)

JSON = "application/json"


def media_type(scope: Scope) -> str | None:
    """The request's media type (``Content-Type`` without parameters, lower case)."""
    for key, value in scope.get("headers", ()):
        if key == b"content-type":
            return value.decode("latin-1").split(";", 1)[0].strip().lower()
    return None


def content_encoding(scope: Scope) -> str | None:
    """The request's ``Content-Encoding`` (lower case), None when absent."""
    for key, value in scope.get("headers", ()):
        if key == b"content-encoding":
            return value.decode("latin-1").strip().lower()
    return None


def declared_length(scope: Scope) -> int | None:
    """The ``Content-Length`` header as an int; None when absent or not a number."""
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class RequestLimitsMiddleware:
    """Refuse over-large bodies (413) and non-JSON bodies to the endpoints (415).

    Parameters
    ----------
    app : ASGI app
    max_body_bytes : int
        Largest body accepted on any path, bytes.
    json_paths : collection of str
        The endpoints; a request to one of them with a ``Content-Type`` other than
        ``application/json`` is refused (no ``Content-Type`` is read as JSON).
    body_timeout_seconds : float, default 30
        Seconds the whole body may take to arrive; then 408 and the connection closed.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        json_paths: Collection[str],
        body_timeout_seconds: float = 30.0,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.json_paths = frozenset(json_paths)
        self.body_timeout_seconds = body_timeout_seconds

    def _too_large(self) -> str:
        return (
            f"Request body too large: the limit is {self.max_body_bytes} bytes "
            "(serving.max_body_bytes). Split the request."
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope.get("path") in self.json_paths and media_type(scope) not in (None, JSON):
            await send_error(
                send,
                415,
                f"Unsupported Content-Type {media_type(scope)[:100]!r}: the endpoints read "
                f"JSON only; send the body as {JSON}.",
            )
            return
        encoding = content_encoding(scope)
        if scope.get("path") in self.json_paths and encoding not in (None, "identity"):
            await send_error(
                send,
                415,
                f"Unsupported Content-Encoding {encoding[:100]!r}: the endpoints read "
                "uncompressed JSON only; send the body without a Content-Encoding.",
                headers=[(b"accept-encoding", b"identity")],
            )
            return
        length = declared_length(scope)
        if length is not None and length > self.max_body_bytes:
            await send_error(send, 413, self._too_large())
            return
        body = b""
        with anyio.move_on_after(self.body_timeout_seconds) as timer:
            body = await self._read_body(receive)
        if timer.cancelled_caught:
            log.info(
                "Refused %s %s with 408: body not received in %g s.",
                scope.get("method"),
                scope.get("path", "")[:200],
                self.body_timeout_seconds,
            )
            await send_error(
                send,
                408,
                f"Request body not received within {self.body_timeout_seconds:g} s "
                "(serving.body_timeout_seconds); the connection is closed.",
                headers=[(b"connection", b"close")],
            )
            return
        if body is None:
            await send_error(send, 413, self._too_large())
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole request body, or None once it passes :attr:`max_body_bytes`."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` in one message, then defers to ``receive``."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
