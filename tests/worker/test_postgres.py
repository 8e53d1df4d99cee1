"""PostgreSQL: two workers share the queue (SKIP LOCKED), NOTIFY wakes a worker at once, and the listener comes back
after its connection is killed."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.webhooks.models import WebhookDelivery
from app.worker.listener import APPLICATION_NAME
from app.worker.main import Worker
from tests.worker.conftest import Receiver, add_endpoint, emit_assessment_event, start, wait_for

pytestmark = pytest.mark.postgres

EVENTS = 30
# While listening, a worker without a notification waits this long: a delivery sooner than it came from NOTIFY.
IDLE = 30.0


@pytest.fixture
def database_url(postgres_worker_url: str) -> object:
    """PostgreSQL only (the shared per-worker database, emptied afterwards)."""
    from tests.conftest import truncate_all

    yield postgres_worker_url
    engine = create_engine(postgres_worker_url)
    truncate_all(engine)
    engine.dispose()


def _delivered(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(
            session.execute(
                select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status == "delivered")
            ).scalar_one()
        )


def test_two_workers_share_the_queue_and_send_each_delivery_once(
    settings: Settings,
    sessions: sessionmaker[Session],
    organisation_id: str,
    receiver: Receiver,
    make_worker: Callable[..., Worker],
) -> None:
    def slow_ok(_r: object) -> int:
        time.sleep(0.02)
        return 200

    receiver.respond = slow_ok
    add_endpoint(sessions, settings, organisation_id, receiver.url)
    add_endpoint(sessions, settings, organisation_id, receiver.url.replace("/hooks", "/second"))
    events = [emit_assessment_event(sessions, settings, organisation_id) for _ in range(EVENTS)]
    workers = [start(make_worker(settings)), start(make_worker(settings))]
    try:
        wait_for(lambda: _delivered(sessions) == 2 * EVENTS, timeout=20, message="every delivery")
    finally:
        for running in workers:
            running.stop()
    by_endpoint_and_id: dict[tuple[str, str], int] = {}
    for item in receiver.received:
        key = (item.path.split("?")[0], item.headers["webhook-id"])
        by_endpoint_and_id[key] = by_endpoint_and_id.get(key, 0) + 1
    assert set(by_endpoint_and_id) == {(path, e.id) for path in ("/hooks", "/second") for e in events}
    assert set(by_endpoint_and_id.values()) == {1}  # no double send in normal operation
    done = [running.worker.outcomes["delivered"] for running in workers]
    assert sum(done) == 2 * EVENTS
    assert all(count > 0 for count in done), done


def test_notify_wakes_the_worker_at_once_and_the_listener_reconnects(
    settings: Settings,
    sessions: sessionmaker[Session],
    organisation_id: str,
    receiver: Receiver,
    make_worker: Callable[..., Worker],
) -> None:
    add_endpoint(sessions, settings, organisation_id, receiver.url)
    worker = make_worker(settings, listen_idle_seconds=IDLE)
    running = start(worker)
    try:
        wait_for(lambda: worker.waiter.listening, message="the listener")
        time.sleep(0.3)  # the worker is now idle, waiting on its connection

        def delivered_within(seconds: float, expected: int) -> float:
            emitted = time.monotonic()
            emit_assessment_event(sessions, settings, organisation_id)
            wait_for(lambda: len(receiver.received) == expected, timeout=seconds, message="the delivery")
            return receiver.received[-1].at - emitted

        assert delivered_within(3.0, 1) < 1.5

        engine = create_engine(settings.database_url)
        with engine.begin() as connection:
            killed = connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :name AND datname = current_database()"
                ),
                {"name": APPLICATION_NAME},
            ).all()
        engine.dispose()
        assert len(killed) == 1
        wait_for(lambda: worker.waiter.reconnects >= 1 and worker.waiter.listening, message="listening again")
        time.sleep(0.3)
        assert delivered_within(3.0, 2) < 1.5
    finally:
        running.stop()
