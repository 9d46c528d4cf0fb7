"""Request metrics with a bounded label set, and ``/metrics`` behind the API key.

BentoML's own request metrics label every series with the raw request path, so each
path a client invents adds series for good: memory in the worker, bytes in the
Prometheus multiprocess files and time in every scrape (3,000 random paths made one
scrape take seconds). The service switches them off (``metrics={"enabled": False}`` in
its BentoML config) and records its own here, under the same names
(``bentoml_service_request_total``, ``bentoml_service_request_duration_seconds``), with
an ``endpoint`` label that is the path for the service's own routes and ``other`` for
every other path: the series are bounded by routes × status codes.

:class:`MetricsMiddleware` records, outermost, every request including refused ones;
:class:`MetricsEndpoint` answers ``GET /metrics`` and sits behind the API key check.
``prometheus_client`` is imported at the first request, after BentoML has set
``PROMETHEUS_MULTIPROC_DIR`` in the worker.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Iterable

from serving.api.client_errors import ASGIApp, Message, Receive, Scope, Send, send_error

METRICS_PATH = "/metrics"
OTHER = "other"
"""The ``endpoint`` label of every path that is not one of the service's routes."""
NAMESPACE = "bentoml_service"
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def endpoint_label(path: str, routes: Collection[str], prefixes: Iterable[str] = ()) -> str:
    """``path`` when it is a route, the prefix for static assets, else :data:`OTHER`."""
    if path in routes:
        return path
    return next((p for p in prefixes if path.startswith(p)), OTHER)


class _Instruments:
    """The counter and histogram, created once per process at first use."""

    def __init__(self, service_name: str) -> None:
        from prometheus_client import Counter, Histogram

        labels = ("endpoint", "service_name", "http_response_code")
        self.service_name = service_name
        self.total = Counter(f"{NAMESPACE}_request_total", "Total number of HTTP requests", labels)
        self.duration = Histogram(
            f"{NAMESPACE}_request_duration_seconds",
            "HTTP request duration in seconds",
            labels,
            buckets=DURATION_BUCKETS,
        )

    def record(self, endpoint: str, status: int, seconds: float) -> None:
        labels = {
            "endpoint": endpoint,
            "service_name": self.service_name,
            "http_response_code": str(status),
        }
        self.total.labels(**labels).inc()
        self.duration.labels(**labels).observe(seconds)


_instruments: _Instruments | None = None


def instruments(service_name: str) -> _Instruments:
    """The process's instruments, made at first use (a metric is registered once)."""
    global _instruments
    if _instruments is None:
        _instruments = _Instruments(service_name)
    return _instruments


class MetricsMiddleware:
    """Count and time every HTTP request under a bounded ``endpoint`` label.

    Parameters
    ----------
    app : ASGI app
    routes : collection of str
        Paths recorded under their own label; every other path is :data:`OTHER`.
    prefixes : iterable of str
        Path prefixes (static assets) recorded under the prefix.
    service_name : str
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: Collection[str],
        prefixes: Iterable[str] = (),
        service_name: str = "churn_ltv",
    ) -> None:
        self.app = app
        self.routes = frozenset(routes)
        self.prefixes = tuple(prefixes)
        self.service_name = service_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") == METRICS_PATH:
            await self.app(scope, receive, send)
            return
        endpoint = endpoint_label(scope.get("path", ""), self.routes, self.prefixes)
        start = time.perf_counter()
        status = 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                seconds = time.perf_counter() - start
                instruments(self.service_name).record(endpoint, status, seconds)

        await self.app(scope, receive, observe)


def exposition() -> tuple[bytes, str]:
    """The Prometheus text of every metric of the service's processes, and its media type."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
    from prometheus_client.core import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST


class MetricsEndpoint:
    """Answer ``GET /metrics`` with :func:`exposition`; pass every other request on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != METRICS_PATH:
            await self.app(scope, receive, send)
            return
        if scope.get("method") not in ("GET", "HEAD"):
            await send_error(send, 405, "Method Not Allowed", headers=[(b"allow", b"GET")])
            return
        import anyio.to_thread

        body, content_type = await anyio.to_thread.run_sync(exposition)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", content_type.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )
