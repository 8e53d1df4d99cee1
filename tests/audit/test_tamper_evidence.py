"""Edits, deletions (middle and tail) and reordering done directly in the database are all detected.

The append-only triggers are bypassed the way an attacker with database access would: on PostgreSQL with
`session_replication_role = replica`, on SQLite by dropping the triggers of the test's own database file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Connection, text
from typer.testing import CliRunner

from app.auth.permissions import Role
from app.cli import cli
from app.core.config import get_settings
from tests.assessments.conftest import create
from tests.conftest import Tenant

APPEND_ONLY = ("assessments", "assessment_overrides", "assessment_entered_in_error", "audit_events", "audit_event_refs")


@contextmanager
def bypassing_triggers(app: FastAPI) -> Iterator[Connection]:
    """A transaction that bypasses the append-only triggers (and, on PostgreSQL, foreign keys) as an owner can."""
    engine = app.state.engine
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            for table in APPEND_ONLY:
                for operation in ("update", "delete"):
                    conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{operation}"))
        yield conn


async def make_events(client: httpx.AsyncClient, tenant: Tenant, n: int = 5) -> None:
    for i in range(n):
        await create(client, tenant, subject_ref=f"c{i}")


async def verify(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, object]:
    response = await client.get("/v1/audit/verify", headers=tenant.headers(Role.auditor))
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


TAMPERING = {
    "edit": ["UPDATE audit_events SET acting_user = 'someone-else' WHERE organisation_id = :org AND sequence = 3"],
    "delete_middle": ["DELETE FROM audit_events WHERE organisation_id = :org AND sequence = 3"],
    "reorder": [
        "UPDATE audit_events SET sequence = -3 WHERE organisation_id = :org AND sequence = 3",
        "UPDATE audit_events SET sequence = 3 WHERE organisation_id = :org AND sequence = 4",
        "UPDATE audit_events SET sequence = 4 WHERE organisation_id = :org AND sequence = -3",
    ],
    "edit_with_rehash": [
        "UPDATE audit_events SET subject_ref = 'other', hash = prev_hash WHERE organisation_id = :org AND sequence = 3"
    ],
}


@pytest.mark.parametrize("kind", sorted(TAMPERING))
async def test_tampering_is_detected(kind: str, client: httpx.AsyncClient, tenant: Tenant, app: FastAPI) -> None:
    await make_events(client, tenant)
    assert (await verify(client, tenant))["ok"] is True
    with bypassing_triggers(app) as conn:
        for statement in TAMPERING[kind]:
            conn.execute(text(statement), {"org": tenant.organisation_id})
    result = await verify(client, tenant)
    assert result["ok"] is False
    assert result["first_broken_sequence"] == 3, result


async def test_tail_deletion_is_detected_through_the_head(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    await make_events(client, tenant)
    with bypassing_triggers(app) as conn:
        last = conn.execute(
            text("SELECT max(sequence) FROM audit_events WHERE organisation_id = :org"), {"org": tenant.organisation_id}
        ).scalar_one()
        conn.execute(
            text("DELETE FROM audit_events WHERE organisation_id = :org AND sequence = :seq"),
            {"org": tenant.organisation_id, "seq": last},
        )
    result = await verify(client, tenant)
    assert result["ok"] is False
    assert result["first_broken_sequence"] == last
    assert "head" in str(result["problem"])


async def test_other_organisations_are_unaffected(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, app: FastAPI
) -> None:
    await make_events(client, tenant)
    await make_events(client, other_tenant)
    with bypassing_triggers(app) as conn:
        conn.execute(text(TAMPERING["edit"][0]), {"org": tenant.organisation_id})
    assert (await verify(client, tenant))["ok"] is False
    assert (await verify(client, other_tenant))["ok"] is True


async def test_cli_verify_exits_non_zero_and_names_the_sequence(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_events(client, tenant)
    monkeypatch.setenv("RISKAPI_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        ok = runner.invoke(cli, ["audit", "verify", "--org", tenant.slug])
        assert ok.exit_code == 0, ok.output
        assert "ok" in ok.output
        with bypassing_triggers(app) as conn:
            conn.execute(text(TAMPERING["delete_middle"][0]), {"org": tenant.organisation_id})
        broken = runner.invoke(cli, ["audit", "verify", "--org", tenant.slug])
        assert broken.exit_code == 1
        assert "sequence 3" in broken.output
        everyone = runner.invoke(cli, ["audit", "verify"])
        assert everyone.exit_code == 1
        unknown = runner.invoke(cli, ["audit", "verify", "--org", "no-such-org"])
        assert unknown.exit_code == 1
    finally:
        get_settings.cache_clear()
