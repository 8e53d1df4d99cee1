"""Two overrides of one assessment racing each other: the second reads the review date in force only after the first
has committed (the state-change lock), so every override's `review_by` is right, on PostgreSQL (READ COMMITTED) and
SQLite alike.

The interleaving is forced as in tests/assessments/test_state_races.py, with the two requests told apart by arrival:
the first to reach the seam reads and writes first and is then held before its commit (on PostgreSQL by the test's
lock on the audit chain head); the second reads while the first's override is written but not committed. The first
sets `immediate` (reviewed within a day), the second `high` (28 days): had the second read the review date before
the first, it would store a date 28 days off instead of keeping the first's."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, event

from app.auth.permissions import Role
from app.core.config import Settings
from tests.assessments.conftest import MEDIUM, create
from tests.assessments.test_state_races import DEADLINE_SECONDS, OVERRIDE, ChainHeadHold, wait_for
from tests.conftest import Tenant, make_settings

DAYS = {"medium": 42, "high": 28, "immediate": 1}


@dataclass
class ByArrival:
    """The test's `state_read_seam` for two overrides: the first to arrive waits for the second, then reads the state
    and writes; the second waits until the first is held after its write."""

    first_is_held: Callable[[], bool] = lambda: False
    armed: bool = False
    first_arrived: threading.Event = field(default_factory=threading.Event)
    second_arrived: threading.Event = field(default_factory=threading.Event)
    first_thread: int | None = None
    first_began: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    missed: list[str] = field(default_factory=list)

    def seam(self, operation: str, assessment_id: str) -> None:
        if operation != OVERRIDE or not self.armed:
            return
        with self.lock:
            first = not self.first_arrived.is_set()
            if first:
                self.first_thread = threading.get_ident()
                self.first_arrived.set()
            else:
                self.second_arrived.set()
        try:
            if first:
                wait_for(self.second_arrived.is_set, "the second override reached the seam")
            else:
                wait_for(self.first_is_held, "the first override is held after its state read")
        except AssertionError as exc:
            self.missed.append(str(exc))
            raise

    def on_begin(self, _connection: Any) -> None:
        """SQLite: runs once BEGIN IMMEDIATE holds the database."""
        if threading.get_ident() == self.first_thread:
            self.first_began.set()


@pytest.fixture
def arrivals() -> ByArrival:
    return ByArrival()


@pytest.fixture
def settings(database_url: str, arrivals: ByArrival) -> Settings:
    return make_settings(database_url, state_read_seam=arrivals.seam, db_timeout_seconds=DEADLINE_SECONDS)


@pytest.fixture
def watched_engine(app: FastAPI, arrivals: ByArrival) -> Iterator[Engine]:
    engine: Engine = app.state.engine
    event.listen(engine, "begin", arrivals.on_begin)
    yield engine
    event.remove(engine, "begin", arrivals.on_begin)


def _override(client: httpx.AsyncClient, tenant: Tenant, assessment_id: str, level: str) -> Any:
    return client.post(
        f"/v1/assessments/{assessment_id}/override",
        json={"level": level, "rationale": "judgement"},
        headers=tenant.headers(Role.supervisor),
    )


async def test_two_overrides_racing_each_store_the_right_review_date(
    client: httpx.AsyncClient,
    tenant: Tenant,
    database_url: str,
    arrivals: ByArrival,
    watched_engine: Engine,
) -> None:
    raced = await create(client, tenant, which=MEDIUM)
    hold = ChainHeadHold(database_url, tenant.organisation_id) if database_url.startswith("postgresql") else None
    arrivals.first_is_held = hold.blocks_a_request if hold else arrivals.first_began.is_set
    arrivals.armed = True
    try:
        first = asyncio.create_task(_override(client, tenant, raced["id"], "immediate"))
        await asyncio.to_thread(wait_for, arrivals.first_arrived.is_set, "the first override reached the seam")
        releasing = [asyncio.to_thread(hold.release_when_both_wait)] if hold else []
        second, *_ = await asyncio.gather(_override(client, tenant, raced["id"], "high"), *releasing)
        first_response = await first
    finally:
        if hold:
            hold.close()
    assert arrivals.missed == []
    assert (first_response.status_code, second.status_code) == (201, 201), [first_response.text, second.text]

    shown = (await client.get(f"/v1/assessments/{raced['id']}", headers=tenant.headers(Role.auditor))).json()
    overrides = shown["overrides"]
    assert [o["level"] for o in overrides] == ["immediate", "high"]
    in_force = datetime.fromisoformat(raced["review_by"])
    for o in overrides:  # the rule, walked along the stored chain
        in_force = min(in_force, datetime.fromisoformat(o["created_at"]) + timedelta(days=DAYS[o["level"]]))
        assert datetime.fromisoformat(o["review_by"]) == in_force, overrides
    assert overrides[1]["review_by"] == overrides[0]["review_by"]  # the high override kept the earlier date
    assert [o["previous_level"] for o in overrides] == ["medium", "immediate"]
    assert shown["review_by"] == overrides[0]["review_by"]
    verified = (await client.get("/v1/audit/verify", headers=tenant.headers(Role.auditor))).json()
    assert verified["ok"] is True, verified
