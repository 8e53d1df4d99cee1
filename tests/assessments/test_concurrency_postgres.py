"""Real concurrency on PostgreSQL: a uvicorn server subprocess with two workers and many parallel clients."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from app.assessments.models import Assessment
from app.audit import service as audit_service
from app.auth import service as auth_service
from app.auth.permissions import Role
from app.rulesets.seed import seed_default_content
from tests.assessments.conftest import new_body
from tests.conftest import create_postgres_database, drop_postgres_database, make_settings, migrate, require_postgres
from tests.servers import start_server

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
CLIENTS, PER_CLIENT = 16, 50


@pytest.fixture(autouse=True)
def seeded() -> None:
    """This module runs its own server and database: no per-test app to seed."""


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, str, str, str]]:
    admin_url = require_postgres()
    name = f"riskapi_concurrency_{os.getpid()}"
    url = create_postgres_database(admin_url, name)
    try:
        migrate(url)
        engine = create_engine(url)
        with Session(engine) as session, session.begin():
            seed_default_content(session)
            org = auth_service.create_organisation(session, f"conc-{uuid.uuid4().hex[:8]}", "Concurrency")
            key = auth_service.create_client(
                session, org.id, "load", [Role.assessor], secret_key=make_settings(url).secret_key
            ).api_key
            org_id = org.id
        engine.dispose()
        server = start_server(url, Path(tempfile.mkdtemp()) / "server.log", workers=2, RISKAPI_LOG_LEVEL="WARNING")
        try:
            yield server.base, key, url, org_id
        finally:
            server.stop()
    finally:  # also when the server never became ready: the database is dropped either way
        drop_postgres_database(admin_url, name)


def _count_and_verify(url: str, org_id: str, ids: list[str] | None = None) -> tuple[int, bool, list[str]]:
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            stored = list(session.scalars(select(Assessment.id).where(Assessment.organisation_id == org_id)))
            verification = audit_service.verify(session, org_id)
            total = int(session.scalar(select(func.count()).select_from(Assessment)) or 0)
        return total, verification.ok, stored
    finally:
        engine.dispose()


def test_parallel_clients_every_acknowledged_id_once_and_the_chain_verifies(
    server: tuple[str, str, str, str],
) -> None:
    base, key, url, org_id = server
    headers = {"Authorization": f"Bearer {key}", "X-Acting-User": "load"}

    async def one_client(http: httpx.AsyncClient, n: int) -> list[str]:
        acknowledged = []
        for i in range(PER_CLIENT):
            response = await http.post(
                "/v1/assessments",
                json=new_body(f"case-{n}-{i}"),
                headers={**headers, "Idempotency-Key": f"c{n}-{i}"},
            )
            assert response.status_code == 201, response.text
            acknowledged.append(response.json()["id"])
        return acknowledged

    async def run() -> list[str]:
        limits = httpx.Limits(max_connections=CLIENTS)
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
            results = await asyncio.gather(*(one_client(http, n) for n in range(CLIENTS)))
        return [i for r in results for i in r]

    acknowledged = asyncio.run(run())
    assert len(acknowledged) == CLIENTS * PER_CLIENT
    total, chain_ok, stored = _count_and_verify(url, org_id)
    assert sorted(stored) == sorted(acknowledged)  # each exactly once, nothing extra
    assert len(set(stored)) == len(stored) == total
    assert chain_ok


def test_concurrent_retries_with_one_key_create_exactly_one(server: tuple[str, str, str, str]) -> None:
    base, key, url, org_id = server
    headers = {"Authorization": f"Bearer {key}", "X-Acting-User": "load", "Idempotency-Key": f"same-{uuid.uuid4()}"}
    before = len(_count_and_verify(url, org_id)[2])
    body = new_body("case-retry")

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            return await asyncio.gather(*(http.post("/v1/assessments", json=body, headers=headers) for _ in range(16)))

    responses = asyncio.run(run())
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 409}, statuses
    assert {r.json()["id"] for r in responses if r.status_code == 201}
    assert len({r.json()["id"] for r in responses if r.status_code == 201}) == 1
    assert all(r.headers.get("retry-after") for r in responses if r.status_code == 409)
    _, chain_ok, stored = _count_and_verify(url, org_id)
    assert len(stored) == before + 1
    assert chain_ok
