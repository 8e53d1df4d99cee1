"""The database itself refuses UPDATE and DELETE on assessments, overrides, marks and audit events."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.auth.permissions import Role
from tests.assessments.conftest import MEDIUM, create
from tests.conftest import Tenant

STATEMENTS = [
    "UPDATE assessments SET computed_level = 'low'",
    "DELETE FROM assessments",
    "UPDATE assessment_overrides SET level = 'low'",
    "DELETE FROM assessment_overrides",
    "UPDATE assessment_entered_in_error SET reason = 'x'",
    "DELETE FROM assessment_entered_in_error",
    "UPDATE audit_events SET acting_user = 'x'",
    "DELETE FROM audit_events",
    "UPDATE audit_event_refs SET subject_ref = 'x'",
    "DELETE FROM audit_event_refs",
]


@pytest.mark.parametrize("statement", STATEMENTS)
async def test_update_and_delete_are_refused(
    statement: str, client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    created = await create(client, tenant, which=MEDIUM)
    supervisor = tenant.headers(Role.supervisor)
    await client.post(
        f"/v1/assessments/{created['id']}/override", json={"level": "high", "rationale": "x"}, headers=supervisor
    )
    await client.post(f"/v1/assessments/{created['id']}/entered-in-error", json={"reason": "x"}, headers=supervisor)
    await client.get("/v1/assessments?include_entered_in_error=true", headers=supervisor)
    table = statement.split()[2] if statement.startswith("DELETE") else statement.split()[1]
    with app.state.engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() >= 1
    with pytest.raises(DBAPIError, match="append-only"), app.state.engine.begin() as conn:
        conn.execute(text(statement))
    with app.state.engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() >= 1
