"""Fixtures of the worker tests: fast settings, an organisation, endpoints inserted directly, a receiver on
127.0.0.1 and workers run round by round or in threads."""

from __future__ import annotations

import io
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import structlog
from sqlalchemy.orm import Session, sessionmaker

from app.auth import service as auth_service
from app.core.config import Settings
from app.core.db import create_db_engine, make_sessionmaker, new_id, utcnow
from app.core.logging import configure_logging
from app.events.models import Event
from app.events.service import EventType, assessment_data, emit
from app.webhooks import secrets
from app.webhooks.models import WebhookEndpoint
from app.worker.main import Worker
from tests.conftest import make_settings

FAST = {
    "webhook_retry_schedule_seconds": [0.05, 0.05],
    "webhook_retry_jitter": 0.0,
    "worker_poll_seconds": 0.05,
    "review_due_scan_seconds": 3600.0,
    "webhook_connect_timeout_seconds": 2.0,
    "webhook_read_timeout_seconds": 2.0,
}


def fast_settings(database_url: str, **overrides: Any) -> Settings:
    return make_settings(database_url, **{**FAST, **overrides})


@pytest.fixture
def settings(database_url: str) -> Settings:
    return fast_settings(database_url)


@pytest.fixture
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = create_db_engine(settings)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def organisation_id(sessions: sessionmaker[Session]) -> str:
    with sessions.begin() as session:
        slug = f"org-{uuid.uuid4().hex[:10]}"
        return auth_service.create_organisation(session, slug, f"Organisation {slug}").id


def add_endpoint(
    sessions: sessionmaker[Session],
    settings: Settings,
    organisation_id: str,
    url: str,
    event_types: list[str] | None = None,
    *,
    min_levels: list[dict[str, str]] | None = None,
    previous_secret: bool = False,
    enabled: bool = True,
) -> tuple[str, list[str]]:
    """An endpoint row (as the subscriptions API would write it); returns its id and its secrets, current first."""
    endpoint_id = new_id()
    current = secrets.new_secret()
    values: dict[str, Any] = {
        "id": endpoint_id,
        "organisation_id": organisation_id,
        "url": url,
        "event_types": event_types or [t.value for t in EventType],
        "min_levels": min_levels or [],
        "enabled": enabled,
        "secret_ciphertext": secrets.encrypt(current, endpoint_id=endpoint_id, settings=settings),
    }
    found = [current]
    if previous_secret:
        previous = secrets.new_secret()
        values["previous_secret_ciphertext"] = secrets.encrypt(
            previous, endpoint_id=endpoint_id, slot="previous", settings=settings
        )
        values["previous_secret_expires_at"] = utcnow() + timedelta(hours=1)
        found.append(previous)
    with sessions.begin() as session:
        session.add(WebhookEndpoint(**values))
    return endpoint_id, found


def emit_assessment_event(
    sessions: sessionmaker[Session],
    settings: Settings,
    organisation_id: str,
    *,
    subject_ref: str = "case-worker-1",
    level: str = "high",
    type: EventType = EventType.assessment_created,
    occurred_at: datetime | None = None,
) -> Event:
    assessment_id = new_id()
    with sessions.begin() as session:
        event = emit(
            session,
            organisation_id=organisation_id,
            type=type,
            data=assessment_data(
                base_url=settings.base_url,
                assessment_id=assessment_id,
                computed_level=level,
                level=level,
                ruleset_key="online-harm-england",
                ruleset_version=2,
            ),
            assessment_id=assessment_id,
            subject_ref=subject_ref,
            occurred_at=occurred_at,
        )
    assert event is not None
    return event


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: records every request; `respond` gives each one's status (200 unless set)."""

    url: str
    received: list[Received] = field(default_factory=list)
    respond: Callable[[Received], int] = lambda _r: 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies_by_id(self) -> dict[str, list[bytes]]:
        found: dict[str, list[bytes]] = {}
        with self.lock:
            for item in self.received:
                found.setdefault(item.headers["webhook-id"], []).append(item.body)
        return found


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            item = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length), 0.0)
            item.at = time.monotonic()
            box = state["receiver"]
            with box.lock:
                box.received.append(item)
            status = box.respond(item)
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state["receiver"] = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks?token=sekrit-token")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state["receiver"]
    server.shutdown()
    server.server_close()


@pytest.fixture
def captured_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """The service's logging (structlog JSON and the standard library's) written to a buffer for the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stdout", buffer)
    configure_logging("INFO")
    yield buffer
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


def rounds_until(worker: Worker, done: Callable[[], bool], timeout: float = 10.0) -> None:
    """Run the worker's rounds (in this thread) until `done()`; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the worker did not get there in time"
        if not worker.run_round():
            time.sleep(0.02)


@pytest.fixture
def make_worker() -> Iterator[Callable[..., Worker]]:
    made: list[Worker] = []

    def _make(settings: Settings, **options: Any) -> Worker:
        worker = Worker(settings, **options)
        made.append(worker)
        return worker

    yield _make
    for worker in made:
        worker.stop.set()
        worker.close()


@dataclass
class Running:
    worker: Worker
    thread: threading.Thread

    def stop(self) -> None:
        self.worker.stop.set()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive()


def start(worker: Worker) -> Running:
    """The worker's loop in a thread (as `riskapi worker` runs it)."""
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    return Running(worker, thread)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {message}"
        time.sleep(0.02)
