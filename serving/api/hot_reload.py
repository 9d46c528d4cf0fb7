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

from features.errors import ChurnError
from serving.api.online import OnlineSource, OnlineState, StateKey, current_key, load_state

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
