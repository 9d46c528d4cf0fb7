"""Slow clients: a request's headers must arrive within ``serving.header_timeout_seconds``.

Uvicorn (under BentoML's worker) waits for a request's headers for as long as the client
keeps the connection open, so a client that sends a header line now and then holds a
connection for good, and enough of them hold them all. The ASGI app never sees such a
request (it starts once the headers are in), so the limit lives in the HTTP protocol:
:class:`HeaderTimeoutProtocol` is uvicorn's h11 protocol with a timer that runs from the
moment the connection opens, or the first byte of a next request on a kept-alive
connection, until the headers are complete; when it fires the client gets a JSON 408
with ``Connection: close`` and the connection is closed. The body has its own limit,
``serving.body_timeout_seconds``, in :mod:`serving.api.request_limits`.

BentoML builds the uvicorn configuration itself, with ``http="auto"``;
:func:`use_header_timeout_protocol` points ``"auto"`` at this protocol before the
worker's server starts, and :func:`set_header_timeout` sets the limit from the settings.
It can go when BentoML passes such a timeout to uvicorn.
"""

from __future__ import annotations

import asyncio
import json

from uvicorn.protocols.http.h11_impl import H11Protocol


def timeout_response(message: str) -> bytes:
    """A complete HTTP/1.1 408 with the JSON body ``{"error": message}``, connection closed."""
    body = json.dumps({"error": message}).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class HeaderTimeoutProtocol(H11Protocol):
    """Uvicorn's h11 protocol; a request whose headers take over :attr:`header_timeout`
    seconds is answered 408 and its connection closed."""

    header_timeout: float = 10.0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def _awaiting_headers(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._awaiting_headers():
            self._arm()
        super().data_received(data)
        if not self._awaiting_headers():
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _headers_late(self) -> None:
        self._header_timer = None
        if not self._awaiting_headers() or self.transport.is_closing():
            return
        self.logger.info(
            "Closed a connection from %s: request headers not received in %g s "
            "(serving.header_timeout_seconds).",
            f"{self.client[0]}:{self.client[1]}" if self.client else "?",
            self.header_timeout,
        )
        message = (
            f"Request headers not received within {self.header_timeout:g} s "
            "(serving.header_timeout_seconds); the connection is closed."
        )
        self.transport.write(timeout_response(message))
        self.transport.close()


def use_header_timeout_protocol() -> None:
    """Make uvicorn's ``http="auto"`` resolve to :class:`HeaderTimeoutProtocol`.

    Must run before the worker's uvicorn server loads its configuration, i.e. when the
    service module is imported (BentoML builds the ASGI middlewares later, at the
    lifespan startup); a registration like BentoML's own ``add_asgi_middleware``.
    """
    from uvicorn import config

    config.HTTP_PROTOCOLS["auto"] = f"{__name__}:HeaderTimeoutProtocol"


def set_header_timeout(seconds: float) -> None:
    """The header timeout of every connection made from now on, seconds."""
    HeaderTimeoutProtocol.header_timeout = seconds
