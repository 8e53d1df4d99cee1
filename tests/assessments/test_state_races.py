"""Concurrent state changes on one assessment end as if they had run one after the other.

Each test forces one interleaving of two state changes through `Settings.state_read_seam` (app/core/seams.py) and
compares the outcome with the same two requests sent one after the other on another assessment:

1. The first request waits in the seam until the second has reached its own seam, then reads the state and
   writes its change. It is then held before it commits: on PostgreSQL the test holds the organisation's audit
   chain head (every state change appends its audit event there, after its state read); on SQLite it holds the
   database once its transaction has begun (BEGIN IMMEDIATE, the pool's only connection).
2. The second request waits in the seam until the first is held there: blocked on the test's lock on PostgreSQL
   (`wait_event_type = 'Lock'` in `pg_stat_activity`), inside its transaction on SQLite. Then it reads the state
   while the first's change is written but not committed.
3. On PostgreSQL the test lets go of the chain head once both requests are blocked on a lock: the first on the
   test, the second on the first (the assessment's row lock) or, without that lock, on the chain head too.

Every wait polls a condition in small steps; the deadline only turns a hang into a failure.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Connection, Engine, create_engine, event, text

from app.auth.permissions import Role
from app.core.config import Settings
from tests.assessments.conftest import MEDIUM, answers, create
from tests.conftest import Tenant, make_settings

AMEND, OVERRIDE, ENTERED_IN_ERROR = "assessment.amend", "assessment.override", "assessment.entered_in_error"
DEADLINE_SECONDS = 30.0
POLL_SECONDS = 0.002


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(POLL_SECONDS)


@dataclass
class Interleaving:
    """The test's `state_read_seam`: `first` reads the state and writes before `second` reads it."""

    first: str = ""
    second: str = ""
    first_is_held: Callable[[], bool] = lambda: False
    arrived: dict[str, threading.Event] = field(default_factory=dict)
    first_thread: int | None = None
    first_began: threading.Event = field(default_factory=threading.Event)
    missed: list[str] = field(default_factory=list)

    def order(self, first: str, second: str, first_is_held: Callable[[], bool]) -> None:
        self.first, self.second, self.first_is_held = first, second, first_is_held
        self.arrived = {first: threading.Event(), second: threading.Event()}

    def seam(self, operation: str, assessment_id: str) -> None:
        if operation not in self.arrived:
            return  # the sequential requests that give the expected outcome
        if operation == self.first:
            self.first_thread = threading.get_ident()
        self.arrived[operation].set()
        try:
            if operation == self.first:
                wait_for(self.arrived[self.second].is_set, f"{self.second} reached the seam")
            else:
                wait_for(self.first_is_held, f"{self.first} is held after its state read")
        except AssertionError as exc:
            self.missed.append(str(exc))
            raise

    def on_begin(self, _connection: Connection) -> None:
        """SQLite: registered after the app's own listener, so it runs once BEGIN IMMEDIATE holds the database."""
        if threading.get_ident() == self.first_thread:
            self.first_began.set()


class ChainHeadHold:
    """PostgreSQL: the organisation's audit chain head locked from the test's own connection."""

    def __init__(self, url: str, organisation_id: str) -> None:
        self.probe = create_engine(url, isolation_level="AUTOCOMMIT")  # every probe sees pg_stat_activity afresh
        self.holder = create_engine(url).connect()
        self.holder.execute(
            text("SELECT 1 FROM audit_chain_heads WHERE organisation_id = :org FOR UPDATE"), {"org": organisation_id}
        )
        self.holder_pid = int(self.holder.execute(text("SELECT pg_backend_pid()")).scalar_one())

    def _waiting(self, blocked_by_holder: bool) -> int:
        sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        if blocked_by_holder:
            sql += " AND :holder = ANY(pg_blocking_pids(pid))"
        with self.probe.connect() as conn:
            return int(conn.execute(text(sql), {"holder": self.holder_pid}).scalar_one())

    def blocks_a_request(self) -> bool:
        return self._waiting(blocked_by_holder=True) >= 1

    def release_when_both_wait(self) -> None:
        try:
            wait_for(lambda: self._waiting(blocked_by_holder=False) == 2, "both requests wait on a lock")
        finally:
            self.close()

    def close(self) -> None:
        if not self.holder.closed:
            self.holder.rollback()
            self.holder.close()
            self.holder.engine.dispose()
            self.probe.dispose()


@pytest.fixture
def interleaving() -> Interleaving:
    return Interleaving()


@pytest.fixture
def settings(database_url: str, interleaving: Interleaving) -> Settings:
    return make_settings(database_url, state_read_seam=interleaving.seam, db_timeout_seconds=DEADLINE_SECONDS)


@pytest.fixture
def watched_engine(app: FastAPI, interleaving: Interleaving) -> Iterator[Engine]:
    engine: Engine = app.state.engine
    event.listen(engine, "begin", interleaving.on_begin)
    yield engine
    event.remove(engine, "begin", interleaving.on_begin)


def _send(client: httpx.AsyncClient, tenant: Tenant, operation: str, assessment_id: str) -> Any:
    base = f"/v1/assessments/{assessment_id}"
    if operation == AMEND:
        return client.post(
            f"{base}/revisions", json={"answers": answers(MEDIUM)}, headers=tenant.headers(Role.assessor)
        )
    if operation == OVERRIDE:
        body = {"level": "high", "rationale": "judgement"}
        return client.post(f"{base}/override", json=body, headers=tenant.headers(Role.supervisor))
    return client.post(
        f"{base}/entered-in-error", json={"reason": "wrong case"}, headers=tenant.headers(Role.supervisor)
    )


def _outcome(response: httpx.Response, assessment_id: str, revision_id: str | None) -> tuple[Any, ...]:
    """What a response says about the state its request read, with this run's ids as placeholders."""
    body = response.json()
    if response.status_code != 201:
        detail = str(body.get("detail", "")).replace(assessment_id, "{assessment}")
        if revision_id is not None:
            detail = detail.replace(revision_id, "{revision}")
        return (response.status_code, response.headers["content-type"], detail)
    return (201, len(body["overrides"]), body["superseded_by"] is not None, body["entered_in_error"] is not None)


async def _state(client: httpx.AsyncClient, tenant: Tenant, assessment_id: str) -> tuple[Any, ...]:
    body = (await client.get(f"/v1/assessments/{assessment_id}", headers=tenant.headers(Role.auditor))).json()
    return (
        [o["level"] for o in body["overrides"]],
        body["superseded_by"] is not None,
        body["entered_in_error"] is not None,
    )


async def _summary(
    client: httpx.AsyncClient, tenant: Tenant, assessment_id: str, ops: tuple[str, str], responses: list[httpx.Response]
) -> dict[str, Any]:
    revision_id = next(
        (r.json()["id"] for op, r in zip(ops, responses, strict=True) if op == AMEND and r.status_code == 201), None
    )
    return {
        "first": _outcome(responses[0], assessment_id, revision_id),
        "second": _outcome(responses[1], assessment_id, revision_id),
        "stored": await _state(client, tenant, assessment_id),
    }


ORDERS = [
    (ENTERED_IN_ERROR, OVERRIDE),
    (OVERRIDE, ENTERED_IN_ERROR),
    (AMEND, OVERRIDE),
    (OVERRIDE, AMEND),
    (ENTERED_IN_ERROR, AMEND),
    (AMEND, ENTERED_IN_ERROR),
]


@pytest.mark.parametrize(("first", "second"), ORDERS, ids=[f"{a[11:]}-then-{b[11:]}" for a, b in ORDERS])
async def test_a_state_change_racing_another_ends_as_if_they_ran_one_after_the_other(
    client: httpx.AsyncClient,
    tenant: Tenant,
    database_url: str,
    interleaving: Interleaving,
    watched_engine: Engine,
    first: str,
    second: str,
) -> None:
    ops = (first, second)
    one_after_the_other = (await create(client, tenant))["id"]
    responses = [await _send(client, tenant, op, one_after_the_other) for op in ops]
    expected = await _summary(client, tenant, one_after_the_other, ops, responses)

    raced = (await create(client, tenant))["id"]
    hold = ChainHeadHold(database_url, tenant.organisation_id) if database_url.startswith("postgresql") else None
    interleaving.order(first, second, hold.blocks_a_request if hold else interleaving.first_began.is_set)
    try:
        releasing = [asyncio.to_thread(hold.release_when_both_wait)] if hold else []
        gathered = await asyncio.gather(*(_send(client, tenant, op, raced) for op in ops), *releasing)
    finally:
        if hold:
            hold.close()
    assert interleaving.missed == []
    assert all(arrived.is_set() for arrived in interleaving.arrived.values())
    responses = list(gathered[:2])
    summary = await _summary(client, tenant, raced, ops, responses)
    assert summary == expected, [r.text for r in responses]
