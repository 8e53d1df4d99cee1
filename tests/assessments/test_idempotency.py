from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from app.assessments.models import Assessment, IdempotencyRecord
from app.auth.permissions import Role
from tests.assessments.conftest import new_body
from tests.conftest import Tenant


def count_assessments(app: FastAPI) -> int:
    with app.state.sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(Assessment)) or 0)


async def test_a_retry_replays_the_first_response(client: httpx.AsyncClient, tenant: Tenant, app: FastAPI) -> None:
    headers = {**tenant.headers(Role.assessor), "Idempotency-Key": "k-1"}
    first = await client.post("/v1/assessments", json=new_body(), headers=headers)
    assert first.status_code == 201
    second = await client.post("/v1/assessments", json=new_body(), headers=headers)
    assert second.status_code == 201
    assert second.content == first.content
    assert second.headers["location"] == first.headers["location"]
    assert second.headers["idempotent-replayed"] == "true"
    assert count_assessments(app) == 1


async def test_the_key_is_scoped_per_client(client: httpx.AsyncClient, tenant: Tenant, app: FastAPI) -> None:
    first = await client.post(
        "/v1/assessments", json=new_body(), headers={**tenant.headers(Role.assessor), "Idempotency-Key": "shared"}
    )
    second = await client.post(
        "/v1/assessments", json=new_body(), headers={**tenant.headers(Role.supervisor), "Idempotency-Key": "shared"}
    )
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert count_assessments(app) == 2


async def test_another_body_with_the_same_key_is_a_422(client: httpx.AsyncClient, tenant: Tenant, app: FastAPI) -> None:
    headers = {**tenant.headers(Role.assessor), "Idempotency-Key": "k-2"}
    assert (await client.post("/v1/assessments", json=new_body("case-a"), headers=headers)).status_code == 201
    other = await client.post("/v1/assessments", json=new_body("case-b"), headers=headers)
    assert other.status_code == 422
    assert "Idempotency-Key" in other.json()["detail"]
    assert count_assessments(app) == 1
    # the refusal did not replace the stored response
    again = await client.post("/v1/assessments", json=new_body("case-a"), headers=headers)
    assert again.status_code == 201


async def test_a_client_error_is_stored_and_replayed(client: httpx.AsyncClient, tenant: Tenant, app: FastAPI) -> None:
    headers = {**tenant.headers(Role.assessor), "Idempotency-Key": "k-3"}
    bad = new_body()
    bad["answers"]["child_age_years"] = 99
    first = await client.post("/v1/assessments", json=bad, headers=headers)
    assert first.status_code == 422
    replay = await client.post("/v1/assessments", json=bad, headers=headers)
    assert replay.status_code == 422
    assert replay.content == first.content
    assert replay.headers["content-type"] == "application/problem+json"
    fixed = await client.post("/v1/assessments", json=new_body(), headers=headers)
    assert fixed.status_code == 422  # same key, another body
    with app.state.sessionmaker() as session:
        record = session.scalar(select(IdempotencyRecord))
        assert record is not None
        assert record.status_code == 422
        assert (record.expires_at - record.created_at).total_seconds() >= 24 * 3600
    assert count_assessments(app) == 0


async def test_a_body_shape_error_is_stored_too(client: httpx.AsyncClient, tenant: Tenant) -> None:
    headers = {**tenant.headers(Role.assessor), "Idempotency-Key": "k-4"}
    first = await client.post("/v1/assessments", json={"answers": {}}, headers=headers)
    assert first.status_code == 422
    second = await client.post("/v1/assessments", json={"answers": {}}, headers=headers)
    assert second.status_code == 422


async def test_concurrent_retries_create_exactly_one(client: httpx.AsyncClient, tenant: Tenant, app: FastAPI) -> None:
    headers = {**tenant.headers(Role.assessor), "Idempotency-Key": "k-concurrent"}
    responses = await asyncio.gather(
        *(client.post("/v1/assessments", json=new_body(), headers=headers) for _ in range(8))
    )
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 409}, statuses
    created = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(created) == 1
    for r in responses:
        if r.status_code == 409:
            assert r.headers["retry-after"]
    assert count_assessments(app) == 1


async def test_bad_key_header(client: httpx.AsyncClient, tenant: Tenant) -> None:
    headers = {**tenant.headers(Role.assessor), "Idempotency-Key": "x" * 300}
    assert (await client.post("/v1/assessments", json=new_body(), headers=headers)).status_code == 400
