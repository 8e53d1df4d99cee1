"""A poller never skips an event on PostgreSQL: writers commit concurrently while it pages with its cursor, and it
sees every committed event exactly once, in sequence order. And why: a sequence from a plain database sequence
can commit out of order, so a poller past it would skip an event; the event head row lock makes the next writer
wait for COMMIT."""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from app.assessments import service as assessments_service
from app.auth.permissions import Role
from app.events import service as events_service
from app.events.service import EventType
from tests.assessments.conftest import new_body
from tests.conftest import Tenant
from tests.events.conftest import feed, stored_events

pytestmark = pytest.mark.postgres
WRITERS, PER_WRITER = 6, 8


@pytest.fixture
def postgres_app(request: pytest.FixtureRequest, database_url: str) -> FastAPI:
    """The app, on PostgreSQL only (skipped before any app is made on SQLite, which runs one write at a time)."""
    if database_url.startswith("sqlite"):
        pytest.skip("concurrent writers: PostgreSQL (SQLite runs one write at a time)")
    app: FastAPI = request.getfixturevalue("app")
    return app


async def test_a_poller_sees_every_committed_event_once_in_order_while_writers_commit(
    postgres_app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    emit = events_service.emit

    def emit_slowly(*args: Any, **kwargs: Any) -> Any:
        time.sleep(random.uniform(0, 0.005))  # writers reach the head lock together
        event = emit(*args, **kwargs)
        time.sleep(random.uniform(0, 0.01))  # a sequence allocated, not yet committed, while the poller reads
        return event

    monkeypatch.setattr(assessments_service.events, "emit", emit_slowly)
    created: list[str] = []
    writing = True

    async def writer(n: int) -> None:
        for i in range(PER_WRITER):
            response = await client.post(
                "/v1/assessments", json=new_body(f"case-{n}-{i}"), headers=tenant.headers(Role.assessor)
            )
            assert response.status_code == 201, response.text
            created.append(response.json()["id"])

    async def poller() -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        cursor = None
        while True:
            still_writing = writing
            params: dict[str, Any] = {"limit": random.randint(1, 5)}
            if cursor is not None:
                params["cursor"] = cursor
            response = await feed(client, tenant, **params)
            assert response.status_code == 200, response.text
            page = response.json()
            seen.extend(page["items"])
            cursor = page["next_cursor"]
            if not page["items"] and not page["has_more"] and not still_writing:
                return seen
            await asyncio.sleep(0.001)

    async def run() -> list[dict[str, Any]]:
        nonlocal writing
        polling = asyncio.create_task(poller())
        await asyncio.gather(*(writer(n) for n in range(WRITERS)))
        writing = False
        return await polling

    seen = await run()
    total = WRITERS * PER_WRITER
    assert [item["sequence"] for item in seen] == list(range(1, total + 1))  # each once, in order, none skipped
    assert sorted(item["data"]["assessment_id"] for item in seen) == sorted(created)
    assert [item["id"] for item in seen] == [event.id for event in stored_events(postgres_app, tenant.organisation_id)]


def test_a_plain_sequence_could_skip_an_event_the_head_lock_cannot(postgres_app: FastAPI, tenant: Tenant) -> None:
    engine = postgres_app.state.engine
    table = f"plain_outbox_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {table} (sequence BIGSERIAL PRIMARY KEY)"))
    try:
        # A plain sequence: the first writer's number commits after the second writer's.
        with engine.connect() as first, engine.connect() as second, engine.connect() as poller:
            first.execute(text(f"INSERT INTO {table} DEFAULT VALUES"))  # takes 1, not committed
            second.execute(text(f"INSERT INTO {table} DEFAULT VALUES"))  # takes 2
            second.commit()
            seen = list(poller.execute(text(f"SELECT sequence FROM {table} WHERE sequence > 0")).scalars())
            poller.commit()
            first.commit()
            after_cursor = list(
                poller.execute(text(f"SELECT sequence FROM {table} WHERE sequence > {max(seen)}")).scalars()
            )
            assert seen == [2]
            assert after_cursor == []  # 1 committed behind the poller's cursor: skipped for good
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE {table}"))

    # emit(): the second writer waits on the head row until the first commits, so sequences commit in order.
    factory = postgres_app.state.sessionmaker
    org = tenant.organisation_id

    def emitted(session: Any) -> int:
        event = events_service.emit(session, organisation_id=org, type=EventType.ruleset_published, data={})
        assert event is not None
        return event.sequence

    first_session = factory()
    first_sequence = emitted(first_session)
    second_result: list[int] = []

    def second_writer() -> None:
        with factory() as session:
            second_result.append(emitted(session))
            session.commit()

    thread = threading.Thread(target=second_writer)
    thread.start()
    time.sleep(0.5)
    assert thread.is_alive()
    assert not second_result
    with factory() as poller:
        assert events_service.repository.events_after(poller, org, 0, 10) == []  # nothing committed yet
    first_session.commit()
    first_session.close()
    thread.join(timeout=10)
    assert (first_sequence, second_result) == (1, [2])
    with factory() as poller:
        assert [e.sequence for e in events_service.repository.events_after(poller, org, 0, 10)] == [1, 2]
