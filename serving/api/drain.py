"""Graceful stop of a worker: requests in flight finish, new ones get a JSON 503.

Uvicorn, on SIGTERM or SIGINT, stops accepting at once and closes idle kept-alive
connections; requests that arrive meanwhile, on a new connection or a kept-alive one,
are lost with no response, and a request that never ends holds the stop for good.
:class:`DrainMiddleware` runs the stop in three steps instead:

1. On the signal the worker starts *draining*: every new request is answered at once
   with 503 ``{"error": "The service is stopping ..."}``, ``Connection: close`` and
   ``Retry-After``, and ``/readyz`` fails, so a client or a load balancer goes
   elsewhere; requests already in flight go on.
2. When none is left in flight, or after ``serving.drain_seconds``, the worker stops
   taking connections without dropping one it was handed: new connection attempts are
   dropped by a socket filter (the client retries and is refused: nothing was taken),
   those the kernel had queued are answered, then the listening socket is shut.
3. Then uvicorn's own handler gets the signal and the worker exits as usual.

The handler is installed when the app starts (the ASGI lifespan startup), in the
worker's main thread, over the one uvicorn installed; a second signal goes straight to
uvicorn's handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable

from serving.api.client_errors import ASGIApp, Message, Receive, Scope, Send, send_error

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
STOPPING = "The service is stopping; send the request again (another instance will answer)."


SO_ATTACH_FILTER = 26
"""Linux ``setsockopt`` option: a classic BPF program run on every packet the socket gets."""
QUEUE_GRACE_SECONDS = 0.3
"""Between refusing new connections and closing the listening socket: time for the
worker to take, and answer, the connections the kernel had already queued for it."""


def _listening_sockets() -> list[socket.socket]:
    """Duplicates of every listening TCP socket of this process (the caller closes them)."""
    found = []
    for name in _open_fds():
        try:
            probe = socket.socket(fileno=os.dup(name))
        except OSError:
            continue  # not a socket, or gone
        try:
            if probe.type == socket.SOCK_STREAM and probe.getsockopt(
                socket.SOL_SOCKET, socket.SO_ACCEPTCONN
            ):
                found.append(probe)
                continue
        except OSError:
            pass
        probe.close()
    return found


def refuse_new_connections() -> int:
    """Drop every new connection attempt on this process's listening sockets (Linux).

    A BPF filter that drops every packet is attached to each listening socket: SYNs
    are dropped, so a client retries and then finds the socket closed (connection
    refused: nothing taken, nothing lost), while the connections already queued stay
    and are taken as usual. Returns how many sockets got the filter (0 elsewhere).
    """
    import ctypes
    import struct

    program = ctypes.create_string_buffer(struct.pack("HBBI", 0x06, 0, 0, 0))  # ret #0
    fprog = struct.pack("HL", 1, ctypes.addressof(program))  # struct sock_fprog
    done = 0
    for probe in _listening_sockets():
        with contextlib.closing(probe), contextlib.suppress(OSError):
            probe.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
            done += 1
    return done


def stop_listening() -> int:
    """Shut every listening TCP socket of this process; return how many were shut.

    A socket shared with another process (BentoML's arbiter holds the one its workers
    accept on) stops listening for all of them: new connections are refused at once.
    """
    shut = 0
    for probe in _listening_sockets():
        with contextlib.closing(probe), contextlib.suppress(OSError):
            probe.shutdown(socket.SHUT_RD)
            shut += 1
    return shut


def _open_fds() -> list[int]:
    for folder in ("/proc/self/fd", "/dev/fd"):
        with contextlib.suppress(OSError):
            return [int(n) for n in os.listdir(folder) if n.isdigit()]
    return []


class DrainMiddleware:
    """Count requests in flight; after a stop signal, refuse new ones and stop when done.

    Parameters
    ----------
    app : ASGI app
    drain_seconds : float
        Longest wait for the requests in flight after the signal, seconds.
    """

    def __init__(self, app: ASGIApp, *, drain_seconds: float) -> None:
        self.app = app
        self.drain_seconds = drain_seconds
        self.in_flight = 0
        self.stopping_since: float | None = None
        self._previous: dict[int, Callable] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._on_startup(receive), send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.stopping_since is not None:
            await send_error(
                send,
                503,
                STOPPING,
                headers=[(b"connection", b"close"), (b"retry-after", b"1")],
            )
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    def _on_startup(self, receive: Receive) -> Receive:
        async def wrapped() -> Message:
            message = await receive()
            if message.get("type") == "lifespan.startup":
                self.install()
            return message

        return wrapped

    def install(self) -> None:
        """Put :meth:`_on_signal` in front of the current SIGTERM and SIGINT handlers."""
        try:
            self._loop = asyncio.get_running_loop()
            for signum in STOP_SIGNALS:
                previous = signal.getsignal(signum)
                if callable(previous):
                    self._previous[signum] = previous
                    signal.signal(signum, self._on_signal)
        except ValueError:  # not the main thread: uvicorn's own handling stays
            log.warning("Cannot install the drain handler outside the main thread.")

    def _on_signal(self, signum: int, frame: object) -> None:
        if self.stopping_since is not None or self._loop is None:
            self._previous[signum](signum, frame)  # asked twice: uvicorn stops now
            return
        self.stopping_since = time.monotonic()
        self._loop.call_soon_threadsafe(self._start_drain, signum)

    def _start_drain(self, signum: int) -> None:
        log.info(
            "Stopping (%s): %d request(s) in flight get up to %g s; new ones get 503.",
            signal.Signals(signum).name,
            self.in_flight,
            self.drain_seconds,
        )
        self._task = asyncio.ensure_future(self._drain(signum))

    async def _drain(self, signum: int) -> None:
        deadline = (self.stopping_since or time.monotonic()) + self.drain_seconds
        while self.in_flight > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.in_flight:
            log.warning("Drain time over with %d request(s) still in flight.", self.in_flight)
        if refuse_new_connections():
            await asyncio.sleep(QUEUE_GRACE_SECONDS)  # answer what the kernel queued
        stop_listening()
        self._previous[signum](signum, None)
