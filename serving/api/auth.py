"""API key check for the HTTP service: an ASGI middleware in front of every endpoint.

Every request must carry the key in the ``X-API-Key`` header, except the open paths
(health and readiness probes, the Swagger page and its assets); ``/metrics`` needs the
key too. The key is compared in constant time (:func:`hmac.compare_digest`) and never
logged or echoed.
"""

from __future__ import annotations

import hmac
import logging

from features.contract.errors import ConfigError
from serving.api.client_errors import ASGIApp, Receive, Scope, Send, send_error

log = logging.getLogger(__name__)

HEADER = "X-API-Key"
OPEN_PATHS = frozenset({"/", "/livez", "/healthz", "/readyz", "/docs.json", "/schema.json"})
OPEN_PREFIXES = ("/static_content/", "/assets/")


def is_open(path: str) -> bool:
    """Whether ``path`` may be called without a key (probes, Swagger page and its assets)."""
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


class ApiKeyMiddleware:
    """Refuse requests without the right ``X-API-Key`` header with 401.

    Parameters
    ----------
    app : ASGI app
    api_key : str or None
        The expected key; None together with ``required=False`` lets every request in.
    required : bool, default True
        False switches the check off (local trials only).

    Raises
    ------
    ConfigError
        When a key is required but none is given.
    """

    def __init__(self, app: ASGIApp, *, api_key: str | None, required: bool = True) -> None:
        if required and not api_key:
            raise ConfigError(
                "serving.api_key",
                None,
                "a key (set CHURN_SERVING__API_KEY or serving.api_key_file), or "
                "serving.require_api_key = false for local trials only",
            )
        self.app = app
        self.required = required
        self._key = api_key.encode() if api_key else b""

    def accepts(self, given: bytes | None) -> bool:
        """Whether the header value ``given`` is the key (constant-time comparison)."""
        return given is not None and hmac.compare_digest(given, self._key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.required or scope["type"] != "http" or is_open(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope.get("headers", ()) if k == b"x-api-key"), None)
        if self.accepts(given):
            await self.app(scope, receive, send)
            return
        message = (
            f"Missing API key: send it in the {HEADER} header."
            if given is None
            else f"Invalid API key in the {HEADER} header."
        )
        log.info("Refused %s %s: %s", scope.get("method"), scope.get("path")[:200], message)
        await send_error(send, 401, message, headers=[(b"www-authenticate", HEADER.encode())])
