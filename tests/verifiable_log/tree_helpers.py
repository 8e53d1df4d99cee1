"""Helpers of the tree, verify and tamper tests: audit events written directly, the worker's step run in place,
and `audit verify` read through the API."""

from __future__ import annotations

from datetime import datetime

import httpx
from fastapi import FastAPI

from app.audit import service as audit_service
from app.auth.permissions import Role
from app.core.db import utcnow
from app.verifiable_log import service as log_service
from app.verifiable_log.keys import new_signer_key
from app.verifiable_log.models import AuditCheckpoint
from app.verifiable_log.service import Extended
from tests.conftest import Tenant

SIGNER_KEY = new_signer_key("riskapi-test-log")


def add_events(app: FastAPI, organisation_id: str, count: int) -> None:
    """`count` audit events appended to the organisation's chain, as a background process records them."""
    with app.state.sessionmaker.begin() as session:
        for _ in range(count):
            audit_service.record_system(
                session, organisation_id=organisation_id, acting_user="test", action="test.event", resource_type="test"
            )


def advance(app: FastAPI, organisation_id: str, now: datetime | None = None) -> tuple[Extended, int | None]:
    """What a worker round does for one organisation; the size of the checkpoint signed, if one was."""
    with app.state.sessionmaker.begin() as session:
        extended, checkpoint = log_service.advance(session, organisation_id, app.state.log_keys, now or utcnow())
        return extended, None if checkpoint is None else checkpoint.tree_size


def latest_checkpoint(app: FastAPI, organisation_id: str) -> AuditCheckpoint:
    with app.state.sessionmaker() as session:
        return log_service.latest_checkpoint(session, organisation_id)


async def verify(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, object]:
    response = await client.get("/v1/audit/verify", headers=tenant.headers(Role.auditor))
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def log_problems(result: dict[str, object]) -> list[str]:
    """Each verifiable log problem as `where: problem`."""
    problems = result["log_problems"]
    assert isinstance(problems, list)
    return [f"{p['where']}: {p['problem']}" for p in problems]
