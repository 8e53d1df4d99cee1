"""How the worker waits for work: NOTIFY riskapi_events on PostgreSQL (sent at the COMMIT of every event insert and
by a redelivery), a plain sleep on SQLite.

The PostgreSQL listener is one dedicated psycopg connection opened from the database URL, outside SQLAlchemy's pool
(autocommit, `LISTEN riskapi_events`). When it drops, the worker polls every `worker_poll_seconds` while it
reconnects with exponential backoff."""

from __future__ import annotations

import contextlib
import threading
import time

import psycopg
import structlog
from sqlalchemy import make_url

log = structlog.get_logger("riskapi.worker")

CHANNEL = "riskapi_events"
APPLICATION_NAME = "riskapi-worker-listener"
BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0
# Longest single wait on the socket, so that a stop request is seen promptly.
WAIT_SLICE_SECONDS = 0.5


def libpq_url(database_url: str) -> str:
    """The SQLAlchemy URL (postgresql+psycopg://...) as a libpq connection URL."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class Sleeper:
    """SQLite: wait for the timeout (or a stop)."""

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop

    @property
    def listening(self) -> bool:
        return False

    def wait(self, timeout: float) -> bool:
        self._stop.wait(max(0.0, timeout))
        return False

    def close(self) -> None:
        return None


class Listener:
    """PostgreSQL: LISTEN on a dedicated connection; `wait` returns True when a notification came."""

    def __init__(self, database_url: str, stop: threading.Event, poll_seconds: float) -> None:
        self._conninfo = libpq_url(database_url)
        self._stop = stop
        self._poll_seconds = poll_seconds
        self._connection: psycopg.Connection[tuple[object, ...]] | None = None
        self._backoff = BACKOFF_FIRST_SECONDS
        self._next_connect = 0.0
        self.reconnects = 0

    @property
    def listening(self) -> bool:
        return self._connection is not None

    def _connect(self) -> None:
        if time.monotonic() < self._next_connect:
            return
        try:
            connection = psycopg.connect(
                self._conninfo, autocommit=True, application_name=APPLICATION_NAME, connect_timeout=5
            )
            connection.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            self._next_connect = time.monotonic() + self._backoff
            log.warning("worker.listen_failed", error=type(exc).__name__, retry_in_seconds=self._backoff)
            self._backoff = min(self._backoff * 2, BACKOFF_MAX_SECONDS)
            return
        if self.reconnects or self._backoff > BACKOFF_FIRST_SECONDS:
            log.info("worker.listening_again")
        self._connection = connection
        self._backoff = BACKOFF_FIRST_SECONDS

    def _drop(self, exc: Exception) -> None:
        log.warning("worker.listen_lost", error=type(exc).__name__)
        if self._connection is not None:
            with contextlib.suppress(psycopg.Error):
                self._connection.close()
        self._connection = None
        self.reconnects += 1
        self._next_connect = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, BACKOFF_MAX_SECONDS)

    def wait(self, timeout: float) -> bool:
        """Until a notification, the timeout or a stop; without a connection, at most the polling interval."""
        deadline = time.monotonic() + max(0.0, timeout)
        while not self._stop.is_set():
            if self._connection is None:
                self._connect()
                if self._connection is not None:
                    return True  # notifications sent while not listening are lost: look now
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self._connection is None:
                self._stop.wait(min(remaining, self._poll_seconds))
                return False
            try:
                notified = any(
                    True for _ in self._connection.notifies(timeout=min(remaining, WAIT_SLICE_SECONDS), stop_after=1)
                )
                if notified:
                    self._drain()
                    return True
            except psycopg.Error as exc:
                self._drop(exc)
                return False
        return False

    def _drain(self) -> None:
        """Swallow notifications already queued: the round that follows serves them all."""
        assert self._connection is not None
        for _ in self._connection.notifies(timeout=0):
            pass

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(psycopg.Error):
                self._connection.close()
            self._connection = None
