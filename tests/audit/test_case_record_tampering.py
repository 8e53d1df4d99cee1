"""`audit verify` covers the case records: every column of every case table edited, case rows deleted, and the
chain's events and head deleted, each done as a database owner with the append-only triggers bypassed, are
reported with the row (and, for derived columns, the column) that broke. Replay compares the stored derived
columns too.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text, update
from typer.testing import CliRunner

from app.assessments import repository as assessments_repository
from app.audit import service as audit_service
from app.auth.caller import Caller
from app.auth.permissions import Role
from app.cli import cli
from app.core.config import get_settings
from app.models_registry import Base
from tests.assessments.conftest import MEDIUM, answers, create
from tests.audit.test_tamper_evidence import bypassing_triggers
from tests.conftest import Tenant


async def verify(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    response = await client.get("/v1/audit/verify", headers=tenant.headers(Role.auditor))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def reported(result: dict[str, Any]) -> str:
    return "\n".join(f"{p['record']}: {p['problem']}" for p in result["record_problems"])


async def case_records(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, str]:
    """An assessment, an amended one and its revision, an overridden one and one marked in error."""
    plain = await create(client, tenant, subject_ref="plain")
    amended = await create(client, tenant, subject_ref="amended")
    revision = await client.post(
        f"/v1/assessments/{amended['id']}/revisions",
        json={"answers": answers(MEDIUM)},
        headers=tenant.headers(Role.assessor),
    )
    assert revision.status_code == 201, revision.text
    overridden = await create(client, tenant, subject_ref="overridden")
    for level in ("high", "immediate"):
        response = await client.post(
            f"/v1/assessments/{overridden['id']}/override",
            json={"level": level, "rationale": "seen by the supervisor"},
            headers=tenant.headers(Role.supervisor),
        )
        assert response.status_code == 201, response.text
    in_error = await create(client, tenant, subject_ref="in-error")
    response = await client.post(
        f"/v1/assessments/{in_error['id']}/entered-in-error",
        json={"reason": "wrong child"},
        headers=tenant.headers(Role.supervisor),
    )
    assert response.status_code == 201, response.text
    result = await verify(client, tenant)
    assert result["ok"] is True, result
    assert (result["records_checked"], result["records_legacy"]) == (5 + 2 + 1, 0)
    return {
        "plain": plain["id"],
        "amended": amended["id"],
        "revision": revision.json()["id"],
        "overridden": overridden["id"],
        "in_error": in_error["id"],
    }


def _tampered(column: str, value: Any, ids: dict[str, str], other_org: str) -> Any:
    """A different, well-formed value for the column, as an owner would write it."""
    if column == "organisation_id":
        return other_org
    if column in ("supersedes", "assessment_id") or (column == "id" and isinstance(value, str)):
        return ids["plain"] if value != ids["plain"] else ids["in_error"]
    if isinstance(value, dt.datetime):
        return value + dt.timedelta(seconds=1)
    if value is None:
        return dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    if isinstance(value, bytes):
        return value[:-1] + bytes([value[-1] ^ 1])
    if isinstance(value, dict):
        return {**value, next(iter(value)): "tampered"}
    if isinstance(value, int):
        return value + 1000
    if column.endswith("level"):
        return "immediate" if value != "immediate" else "low"
    return value[:-1] + ("0" if value[-1] != "0" else "1")


EDITS: dict[str, str] = {
    # table: which case record's row is edited (the latest, for overrides)
    "assessments": "plain",
    "assessment_overrides": "overridden",
    "assessment_entered_in_error": "in_error",
}
DERIVED = {"computed_level", "review_by"}  # derived from the result: verify names the column as well


@pytest.mark.parametrize("table_name", sorted(EDITS))
async def test_every_column_of_every_case_table_edited_is_reported(
    table_name: str, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, app: FastAPI
) -> None:
    ids = await case_records(client, tenant)
    table = Base.metadata.tables[table_name]
    owner = ids[EDITS[table_name]]
    of_assessment = table.c.id if table_name == "assessments" else table.c.assessment_id
    key = table.primary_key.columns.values()[0]
    with app.state.engine.connect() as conn:
        original = dict(
            conn.execute(select(table).where(of_assessment == owner).order_by(key.desc())).mappings().first() or {}
        )
    assert original
    for column in table.columns:
        if column.name == "id" and table_name == "assessments":
            continue  # tested below: a changed id is a deleted row and a new one
        new = _tampered(column.name, original[column.name], ids, other_tenant.organisation_id)
        with bypassing_triggers(app) as conn:
            conn.execute(update(table).where(key == original[key.name]).values({column.name: new}))
        try:
            result = await verify(client, tenant)
            assert result["ok"] is False, f"{table_name}.{column.name} edited and verify said ok"
            assert owner in reported(result) or str(new) in reported(result), (column.name, reported(result))
            if column.name in DERIVED:
                assert f"assessment {owner} ({column.name})" in reported(result), reported(result)
        finally:
            now_at = new if column.name == key.name else original[key.name]
            with bypassing_triggers(app) as conn:
                conn.execute(update(table).where(key == now_at).values({column.name: original[column.name]}))
        assert (await verify(client, tenant))["ok"] is True, f"{table_name}.{column.name} restored"


DELETIONS = {
    "assessment": ("DELETE FROM assessments WHERE id = :plain", "plain"),
    "assessment id changed": (
        "UPDATE assessments SET id = 'f0000000-0000-4000-8000-000000000000' WHERE id = :plain",
        "plain",
    ),
    "latest override": (
        "DELETE FROM assessment_overrides WHERE id = (SELECT max(id) FROM assessment_overrides "
        "WHERE assessment_id = :overridden)",
        "overridden",
    ),
    "first override": (
        "DELETE FROM assessment_overrides WHERE id = (SELECT min(id) FROM assessment_overrides "
        "WHERE assessment_id = :overridden)",
        "overridden",
    ),
    "entered-in-error mark": ("DELETE FROM assessment_entered_in_error WHERE assessment_id = :in_error", "in_error"),
}


@pytest.mark.parametrize("kind", sorted(DELETIONS))
async def test_deleted_case_rows_are_reported(
    kind: str, client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    ids = await case_records(client, tenant)
    statement, which = DELETIONS[kind]
    with bypassing_triggers(app) as conn:
        conn.execute(text(statement), ids)
    result = await verify(client, tenant)
    assert result["ok"] is False
    assert f"assessment {ids[which]}" in reported(result), reported(result)
    assert "missing" in reported(result), reported(result)


CHAIN_DELETIONS = {
    "every event and the head": [
        "DELETE FROM audit_event_refs WHERE organisation_id = :org",
        "DELETE FROM audit_events WHERE organisation_id = :org",
        "DELETE FROM audit_chain_heads WHERE organisation_id = :org",
    ],
    "every event, the head kept": ["DELETE FROM audit_events WHERE organisation_id = :org"],
    "the tail cut and the head moved back": [
        "DELETE FROM audit_events WHERE organisation_id = :org AND sequence > 3",
        "UPDATE audit_chain_heads SET sequence = 3, hash = (SELECT hash FROM audit_events "
        "WHERE organisation_id = :org AND sequence = 3) WHERE organisation_id = :org",
    ],
}


@pytest.mark.parametrize("kind", sorted(CHAIN_DELETIONS))
async def test_a_missing_or_shortened_chain_with_case_rows_is_reported(
    kind: str, client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    ids = await case_records(client, tenant)
    with bypassing_triggers(app) as conn:
        for statement in CHAIN_DELETIONS[kind]:
            conn.execute(text(statement), {"org": tenant.organisation_id})
    result = await verify(client, tenant)
    assert result["ok"] is False
    assert f"assessment {ids['in_error']}" in reported(result), reported(result)
    assert "no create or amend event" in reported(result), reported(result)


@pytest.mark.parametrize("column", ["computed_level", "review_by"])
async def test_replay_compares_the_stored_derived_columns(
    column: str, client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    created = await create(client, tenant)
    table = Base.metadata.tables["assessments"]
    new = "immediate" if column == "computed_level" else dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    with bypassing_triggers(app) as conn:
        conn.execute(update(table).where(table.c.id == created["id"]).values({column: new}))
    response = await client.get(f"/v1/assessments/{created['id']}/replay", headers=tenant.headers(Role.assessor))
    assert response.status_code == 200, response.text
    replay = response.json()
    assert replay["identical"] is False
    assert {"where": "row", "pointer": f"/{column}"}.items() <= replay["differences"][0].items(), replay
    assert replay["differences"][0]["stored"] != replay["differences"][0]["replayed"]


async def test_unreadable_values_are_reported_not_a_server_error(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    ids = await case_records(client, tenant)
    # PostgreSQL checks types, so an owner can write only well-formed values of the wrong shape there.
    column, garbage = ("result", "null") if app.state.engine.dialect.name == "postgresql" else ("created_at", "x")
    with bypassing_triggers(app) as conn:
        conn.execute(text(f"UPDATE assessments SET {column} = :garbage WHERE id = :plain"), {**ids, "garbage": garbage})
    result = await verify(client, tenant)
    assert result["ok"] is False
    assert "assessment" in reported(result), reported(result)


async def test_rows_written_before_record_digests_are_counted_and_checked_for_existence(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, app: FastAPI
) -> None:
    template = await create(client, tenant, subject_ref="template")
    fresh = other_tenant
    caller = Caller(fresh.organisation_id, client_id="legacy-writer", key_id="legacy", roles=frozenset())
    table = Base.metadata.tables["assessments"]
    with app.state.engine.connect() as conn:
        row = dict(conn.execute(select(table).where(table.c.id == template["id"])).mappings().one())
    row.update(id="e0000000-0000-4000-8000-000000000001", organisation_id=fresh.organisation_id)
    with app.state.sessionmaker.begin() as session:  # as the code before record digests wrote it
        assessments_repository.add_assessment(session, row)
        audit_service.record(
            session,
            caller=caller,
            action="assessment.create",
            resource_type="assessment",
            resource_id=row["id"],
            status=201,
        )
    await create(client, fresh)
    result = await verify(client, fresh)
    assert result["ok"] is True, result
    assert (result["records_checked"], result["records_legacy"]) == (1, 1)
    with bypassing_triggers(app) as conn:
        conn.execute(text("DELETE FROM assessments WHERE id = :id"), row)
    result = await verify(client, fresh)
    assert result["ok"] is False
    assert f"assessment {row['id']}" in reported(result)


async def test_cli_verify_names_the_case_record(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = await case_records(client, tenant)
    with bypassing_triggers(app) as conn:
        conn.execute(text("UPDATE assessments SET computed_level = 'immediate' WHERE id = :plain"), ids)
    monkeypatch.setenv("RISKAPI_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        broken = CliRunner().invoke(cli, ["audit", "verify", "--org", tenant.slug])
    finally:
        get_settings.cache_clear()
    assert broken.exit_code == 1
    assert f"assessment {ids['plain']} (computed_level)" in broken.output
