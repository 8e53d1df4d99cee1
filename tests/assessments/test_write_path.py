"""The one write path of `POST /v1/assessments`: its statements, its transaction, and what it returns."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import rfc8785
from fastapi import FastAPI
from sqlalchemy import event, select

from app.assessments import service
from app.assessments.models import Assessment
from app.auth.permissions import Role
from tests.assessments.conftest import new_body
from tests.conftest import Tenant


async def post(client: httpx.AsyncClient, tenant: Tenant, key: str | None = None) -> httpx.Response:
    headers = tenant.headers(Role.assessor)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.post("/v1/assessments", json=new_body(), headers=headers)


@contextmanager
def statements(app: FastAPI) -> Iterator[list[str]]:
    """The SQL statements the app sends while the block runs (the first word of each)."""
    sent: list[str] = []

    def before_cursor_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement.split()[0].upper())

    event.listen(app.state.engine, "before_cursor_execute", before_cursor_execute)
    try:
        yield sent
    finally:
        event.remove(app.state.engine, "before_cursor_execute", before_cursor_execute)


async def test_a_create_is_few_statements_then_commit(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the rule set's resolution cached: the key's claim (with a key), the assessment with the key's response,
    the audit event (chained in the statement that reads the head) and the head move, then the outbox event
    (numbered by its organisation's event head); then COMMIT. On PostgreSQL the assessment and its response are one
    statement, the audit event and its head move another, the outbox event and its head move a third."""
    monkeypatch.setattr(service, "PURGE_PROBABILITY", 0.0)  # one create in 1,000 purges expired keys first
    assert (await post(client, tenant, "warm")).status_code == 201  # caches the resolution, creates the head
    with statements(app) as with_key:
        assert (await post(client, tenant, "k")).status_code == 201
    with statements(app) as without_key:
        assert (await post(client, tenant)).status_code == 201
    if app.state.settings.is_sqlite:
        assert with_key == ["BEGIN", "SELECT", "INSERT", "INSERT", "INSERT", "UPDATE", "UPDATE", "INSERT"]
        assert without_key == ["BEGIN", "INSERT", "INSERT", "UPDATE", "UPDATE", "INSERT"]
    else:  # psycopg sends BEGIN itself; COMMIT follows
        assert with_key == ["SELECT", "WITH", "WITH", "WITH"]
        assert without_key == ["INSERT", "WITH", "WITH"]


async def test_a_replay_is_the_first_response_byte_for_byte(client: httpx.AsyncClient, tenant: Tenant) -> None:
    first = await post(client, tenant, "same")
    replay = await post(client, tenant, "same")
    assert first.status_code == replay.status_code == 201
    assert replay.content == first.content
    assert replay.headers["content-type"] == first.headers["content-type"] == "application/json"
    assert replay.headers["location"] == first.headers["location"]
    assert replay.headers["idempotent-replayed"] == "true"


async def test_the_create_event_holds_the_etag_salted_and_a_read_event_the_etag(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    created = await post(client, tenant)
    read = await client.get(created.headers["location"], headers=tenant.headers(Role.assessor))
    events = await client.get(
        "/v1/audit/events",
        params={"resource_id": created.json()["id"]},
        headers=tenant.headers(Role.auditor),
    )
    digests = {e["action"]: e["digest"] for e in events.json()["items"]}
    canonical_digest = hashlib.sha256(rfc8785.dumps(read.json())).hexdigest()
    with app.state.sessionmaker() as session:
        salt = session.scalar(select(Assessment.salt).where(Assessment.id == created.json()["id"]))
    assert salt is not None
    assert len(salt) == 32
    assert read.headers["etag"] == created.headers["etag"] == f'"{canonical_digest}"'
    assert digests["assessment.read"] == canonical_digest
    # The write's event commits to the response with the row's salt: the unsalted digest is not in the chain.
    assert digests["assessment.create"] == hashlib.sha256(salt + bytes.fromhex(canonical_digest)).hexdigest()


def _sqlite_file(app: FastAPI) -> str:
    url = str(app.state.settings.database_url)
    if not url.startswith("sqlite"):
        pytest.skip("SQLite only: its one writer at a time is the database's own lock")
    return url.split("///", 1)[1]


def _hold_write_lock(path: str, seconds: float, taken: threading.Event) -> None:
    holder = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process's writer
        taken.set()
        time.sleep(seconds)
        holder.execute("ROLLBACK")
    finally:
        holder.close()


async def test_on_sqlite_a_create_waits_for_another_writer(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    path = _sqlite_file(app)
    assert (await post(client, tenant, "warm")).status_code == 201
    taken = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(path, 0.5, taken))
    holder.start()
    try:
        assert taken.wait(5)
        started = time.monotonic()
        waited = await post(client, tenant, "waits")
        elapsed = time.monotonic() - started
    finally:
        holder.join()
    assert waited.status_code == 201, waited.text
    assert elapsed >= 0.3  # it waited for the lock rather than failing


async def test_on_sqlite_a_lock_held_past_the_timeout_is_a_503_and_nothing_is_taken(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _sqlite_file(app)
    assert (await post(client, tenant, "warm")).status_code == 201
    with app.state.engine.connect() as connection:  # the pool's one connection: a shorter busy timeout
        connection.exec_driver_sql("PRAGMA busy_timeout = 300")
    taken = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(path, 1.5, taken))
    holder.start()
    try:
        assert taken.wait(5)
        locked = await post(client, tenant, "while-locked")
    finally:
        holder.join()
    assert locked.status_code == 503, locked.text
    assert locked.headers["content-type"] == "application/problem+json"
    assert (await post(client, tenant, "while-locked")).status_code == 201  # the key was not taken
