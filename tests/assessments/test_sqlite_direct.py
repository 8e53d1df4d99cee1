"""SQLite's create on the DBAPI cursor (app/core/sqlite_direct.py): the same rows as the Session path, nothing
else, and nothing at all when it stops half-way."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from app.assessments import service
from app.audit import repository as audit_repository
from app.auth.permissions import Role
from tests.assessments.conftest import new_body
from tests.assessments.test_idempotency import count_assessments
from tests.conftest import Tenant

TABLES = ("assessments", "idempotency_records", "audit_events", "audit_chain_heads")


@pytest.fixture(autouse=True)
def sqlite_only(app: FastAPI) -> None:
    if app.state.async_engine is not None:
        pytest.skip("SQLite only: PostgreSQL's create is one statement (test_idempotency.py)")


def sqlite_file(app: FastAPI) -> str:
    database = app.state.engine.url.database
    assert database
    return str(database)


def stored(app: FastAPI, table: str, where: str, value: str) -> dict[str, tuple[str, Any]]:
    """Every column of one row as SQLite keeps it: (storage class, value)."""
    with sqlite3.connect(sqlite_file(app)) as connection:
        columns = [row[1] for row in connection.execute(f"PRAGMA table_info({table})")]
        select = ", ".join(f"typeof({c}), {c}" for c in columns)
        row = connection.execute(f"SELECT {select} FROM {table} WHERE {where} = ?", (value,)).fetchone()
    assert row is not None, (table, value)
    return {c: (row[2 * i], row[2 * i + 1]) for i, c in enumerate(columns)}


async def post(client: httpx.AsyncClient, tenant: Tenant, key: str, subject_ref: str = "case-1") -> httpx.Response:
    headers = {**tenant.headers(Role.assessor), "Idempotency-Key": key}
    return await client.post("/v1/assessments", json=new_body(subject_ref), headers=headers)


def statements(app: FastAPI) -> tuple[list[str], Any]:
    seen: list[str] = []

    def before_cursor_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement.split()[0])

    event.listen(app.state.engine, "before_cursor_execute", before_cursor_execute)
    return seen, before_cursor_execute


async def test_a_create_takes_no_session_statement_and_stores_what_the_session_path_stores(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await post(client, tenant, "first")).status_code == 201  # the organisation's first event: Session
    seen, listener = statements(app)
    try:
        direct = await post(client, tenant, "direct")
    finally:
        event.remove(app.state.engine, "before_cursor_execute", listener)
    assert direct.status_code == 201
    assert seen == []  # nothing went through SQLAlchemy's execution

    monkeypatch.setattr(service, "create_directly_on_sqlite", lambda *args: None)
    via_session = await post(client, tenant, "session")
    assert via_session.status_code == 201
    assert count_assessments(app) == 3

    ids = [response.json()["id"] for response in (direct, via_session)]
    rows = [
        {
            "assessments": stored(app, "assessments", "id", assessment_id),
            "idempotency_records": stored(app, "idempotency_records", "key", key),
            "audit_events": stored(app, "audit_events", "resource_id", assessment_id),
        }
        for assessment_id, key in zip(ids, ("direct", "session"), strict=True)
    ]
    differ = {  # values that are not the same for two creates; their storage class and shape must be
        "assessments": {"id", "created_at", "review_by"},
        "idempotency_records": {"key", "body", "location", "created_at", "expires_at"},
        "audit_events": {"sequence", "occurred_at", "resource_id", "digest", "record_digest", "prev_hash", "hash"},
    }
    timestamp = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")
    for table, columns in rows[0].items():
        other = rows[1][table]
        assert columns.keys() == other.keys()
        for column, (storage, value) in columns.items():
            assert storage == other[column][0], (table, column)
            if column in differ[table]:
                if column.endswith(("_at", "_by")) and storage == "text":
                    assert timestamp.fullmatch(value), (table, column)
                    assert timestamp.fullmatch(other[column][1]), (table, column)
            else:
                assert value == other[column][1], (table, column)
    assert rows[0]["assessments"]["result"][0] == "text"
    assert rows[0]["audit_events"]["resources"] == ("text", "null")  # JSON's null, as SQLAlchemy's JSON type binds None

    head = stored(app, "audit_chain_heads", "organisation_id", tenant.organisation_id)
    assert head["sequence"] == ("integer", rows[1]["audit_events"]["sequence"][1])
    assert timestamp.fullmatch(head["updated_at"][1])
    verified = await client.get("/v1/audit/verify", headers=tenant.headers(Role.auditor))
    assert verified.status_code == 200
    assert verified.json()["ok"] is True


async def test_a_failure_half_way_writes_nothing_and_releases_the_lock(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await post(client, tenant, "first")).status_code == 201
    before = {table: count(app, table) for table in TABLES}
    real_insert = audit_repository.sqlite_direct.Transaction.insert
    calls = 0

    def insert_then_fail(self: Any, table: Any, values: Any) -> None:
        nonlocal calls
        calls += 1
        real_insert(self, table, values)
        if calls == 2:  # the assessment and its idempotency record are in; the event is not
            raise RuntimeError("crash between two statements")

    monkeypatch.setattr(audit_repository.sqlite_direct.Transaction, "insert", insert_then_fail)
    response = await post(client, tenant, "broken")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert {table: count(app, table) for table in TABLES} == before

    monkeypatch.setattr(audit_repository.sqlite_direct.Transaction, "insert", real_insert)
    retried = await post(client, tenant, "broken")  # the key was not taken and the write lock is free
    assert retried.status_code == 201
    assert count_assessments(app) == 2


async def test_a_locked_database_is_a_503_and_a_stored_key_replays(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await post(client, tenant, "k")
    assert first.status_code == 201
    replay = await post(client, tenant, "k")  # the direct path finds the key and leaves it to the Session path
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.content == first.content

    monkeypatch.setattr(app.state, "settings", app.state.settings.model_copy(update={"db_timeout_seconds": 0.3}))
    holder = sqlite3.connect(sqlite_file(app), timeout=0, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's writer holds the lock past the timeout
    try:
        locked = await post(client, tenant, "while-locked")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert locked.status_code == 503, locked.text
    assert locked.headers["content-type"] == "application/problem+json"
    assert (await post(client, tenant, "while-locked")).status_code == 201


def count(app: FastAPI, table: str) -> int:
    with sqlite3.connect(sqlite_file(app)) as connection:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
