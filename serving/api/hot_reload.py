"""Hot reload: watch the champion aliases and the snapshot folder, swap in a new online view.

A daemon thread asks every ``interval_seconds`` which models the registry's champion
aliases point at and which snapshot is the latest (:func:`serving.api.online.current_key`).
When that differs from what is served, it builds the new :class:`~serving.api.online.OnlineState`
beside the old one — models, snapshot and every customer's score — and then replaces
the one reference requests read. A request reads that reference once and works with
that state to the end, so requests in flight finish on the old view and later ones see
the new one; none fails and none mixes the two.

A failed load (a model that cannot be read, a snapshot that lacks a feature) is logged
and the old view keeps serving. Loading the same models and snapshot is tried again
after ``retry_seconds`` (a load scores every customer, so it is not repeated at every
poll); anything new in the registry or the folder is tried at the next poll.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection
from typing import TYPE_CHECKING

from features.contract.errors import ChurnError
from serving.api.client_errors import ASGIApp, Receive, Scope, Send, send_error

if TYPE_CHECKING:  # the scoring stack: the worker imports it at its first poll (see poll)
    from serving.api.online import OnlineSource, OnlineState, StateKey

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 30.0
DEFAULT_RETRY_SECONDS = 300.0


class StateHolder:
    """The one reference to the served :class:`OnlineState`, and why it is missing if so.

    Readers take :attr:`state` once per request; only :meth:`swap` replaces it (a single
    attribute assignment, atomic in CPython).
    """

    def __init__(self) -> None:
        self._state: OnlineState | None = None
        self.last_error: str | None = None

    @property
    def state(self) -> OnlineState | None:
        """The served state, None until the first load succeeds."""
        return self._state

    def swap(self, state: OnlineState) -> None:
        """Serve ``state`` from now on."""
        self._state = state
        self.last_error = None


class ChampionWatcher:
    """Polls the champion aliases and the snapshot folder; reloads the holder on change.

    Parameters
    ----------
    source : OnlineSource
    holder : StateHolder
    interval_seconds : float, default 30
        Seconds between polls.
    retry_seconds : float, default 300
        Seconds before loading models and a snapshot that failed to load is tried again.
    """

    def __init__(
        self,
        source: OnlineSource,
        holder: StateHolder,
        *,
        interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
    ) -> None:
        self.source = source
        self.holder = holder
        self.interval_seconds = interval_seconds
        self.retry_seconds = retry_seconds
        self._failed: tuple[StateKey, float] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = None

    def poll(self) -> bool:
        """Check once and reload when the registry or the snapshot moved.

        Returns
        -------
        bool
            True when a new state is now served.
        """
        # imported here: MLflow, LightGBM, scikit-learn, SciPy and pandas take ~8 s to
        # import, and BentoML's arbiter imports the service (so this module) only to
        # read its settings; the worker imports them once, at its first poll
        from serving.api.online import current_key, load_state

        key: StateKey | None = None
        try:
            self._client = self._client or self.source.client()
            key = current_key(self.source, client=self._client)
            served = self.holder.state
            if (served is not None and served.key == key) or self._recently_failed(key):
                return False
            state = load_state(self.source, key)
        except ChurnError as e:
            self._report_failure(str(e), key)
            return False
        except Exception as e:  # keep serving the old view whatever went wrong
            log.exception("Reload failed; still serving the previous models.")
            self._report_failure(f"{type(e).__name__}: {e}", key)
            return False
        self._failed = None
        self._announce(served.key if served else None, key)
        self.holder.swap(state)
        return True

    def _recently_failed(self, key: StateKey) -> bool:
        return (
            self._failed is not None
            and self._failed[0] == key
            and time.monotonic() - self._failed[1] < self.retry_seconds
        )

    def _report_failure(self, message: str, key: StateKey | None) -> None:
        if key is not None:
            self._failed = (key, time.monotonic())
        served = self.holder.state
        self.holder.last_error = message
        if served is None:
            log.error("Cannot load the online view: %s", message)
        else:
            log.warning("Reload failed, still serving %s: %s", served.key.describe(), message)

    @staticmethod
    def _announce(old: StateKey | None, new: StateKey) -> None:
        if old is None:
            log.info("Serving %s.", new.describe())
        else:
            log.info("Hot reload: %s -> %s.", old.describe(), new.describe())

    def start(self) -> None:
        """Poll in a daemon thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="champion-watcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling; wait up to ``timeout`` seconds for a reload in progress."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            self.poll()


class NotReadyMiddleware:
    """Answer the endpoints with 503 and the reason while no view is served.

    ``{"error": "The models are not loaded: <why>"}`` with ``Retry-After``: the reason
    the last load failed (a missing champion, a snapshot that does not fit), one line,
    no traceback per request. The probes and the Swagger page pass.

    Parameters
    ----------
    app : ASGI app
    holder : StateHolder
    paths : collection of str
        The endpoints that need a loaded view.
    """

    def __init__(self, app: ASGIApp, *, holder: StateHolder, paths: Collection[str]) -> None:
        self.app = app
        self.holder = holder
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("path") not in self.paths
            or self.holder.state is not None
        ):
            await self.app(scope, receive, send)
            return
        why = self.holder.last_error or "still loading"
        await send_error(
            send,
            503,
            f"The models are not loaded: {why}",
            headers=[(b"retry-after", b"30")],
        )
