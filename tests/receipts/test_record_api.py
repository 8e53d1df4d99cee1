"""GET /v1/assessments/{id}/record: the stored rows of one assessment with their salts, exactly what its events'
record digests and salted commitments were computed from (each recomputed here from the record alone); only for
those who may read answers; another organisation's assessment invisible; rows from before receipts 409; audited."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from app.audit import chain
from app.auth.permissions import Role
from app.receipts import commitments
from tests.assessments.conftest import MEDIUM, create, new_body
from tests.audit.test_tamper_evidence import bypassing_triggers
from tests.conftest import Tenant
from tests.receipts.receipt_support import (
    PROBLEM,
    audit_events,
    get_receipt,
    get_record,
    mark_in_error,
    override,
)


def with_salt_bytes(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "salt": bytes.fromhex(row["salt"])}


async def test_the_record_is_what_every_event_committed_to(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post("/v1/assessments", json=new_body(which=MEDIUM), headers=tenant.headers("assessor"))
    assert response.status_code == 201, response.text
    created, etag = response.json(), response.headers["ETag"].strip('"')
    await override(client, tenant, created["id"])
    await override(client, tenant, created["id"], level="immediate")
    await mark_in_error(client, tenant, created["id"])

    record = await get_record(client, tenant, created["id"])
    receipt = await get_receipt(client, tenant, created["id"])

    assert record["format"] == "riskapi.assessment-record.v1"
    assert record["assessment_id"] == created["id"]
    tables = [row["table"] for row in record["rows"]]
    assert tables == ["assessments", "assessment_overrides", "assessment_overrides", "assessment_entered_in_error"]
    assert [row["row"]["id"] for row in record["rows"][1:3]] == sorted(row["row"]["id"] for row in record["rows"][1:3])
    assert len(record["rows"]) == len(receipt["entries"])
    for stored, entry in zip(record["rows"], receipt["entries"], strict=True):
        row = with_salt_bytes(stored["row"])
        assert len(stored["row"]["salt"]) == 64
        body = entry["body"]
        assert chain.record_digest(stored["table"], row) == body["record_digest"], stored["table"]
        salt = row["salt"]
        if stored["table"] == "assessments":
            assert body["details"]["commitments"] == commitments.assessment_commitments(salt, row)
            assert body["details"]["commitments"]["inputs"] == commitments.inputs_commitment(salt, row)
            assert body["details"]["commitments"]["result"] == commitments.result_commitment(salt, row["result"])
            assert body["digest"] == commitments.response_commitment(salt, etag)
        else:
            form = chain.record_form(stored["table"], row)
            assert body["details"]["commitments"] == commitments.row_commitments(salt, stored["table"], form)
    assessment = record["rows"][0]["row"]
    assert assessment["answers"] == new_body(which=MEDIUM)["answers"]
    assert assessment["created_at"].endswith("Z")


async def test_a_changed_record_no_longer_matches(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """The comparison above can fail: one answer changed, or another salt, and nothing recomputes."""
    created = await create(client, tenant)
    stored = (await get_record(client, tenant, created["id"]))["rows"][0]["row"]
    event = (await get_receipt(client, tenant, created["id"]))["entries"][0]["body"]
    item = next(iter(stored["answers"]))
    changed = {**stored, "answers": {**stored["answers"], item: "yes" if stored["answers"][item] != "yes" else "no"}}
    assert chain.record_digest("assessments", with_salt_bytes(changed)) != event["record_digest"]
    other_salt = with_salt_bytes({**stored, "salt": "00" * 32})
    assert commitments.inputs_commitment(other_salt["salt"], other_salt) != event["details"]["commitments"]["inputs"]


async def test_an_amended_revision_has_its_own_record(client: httpx.AsyncClient, tenant: Tenant) -> None:
    original = await create(client, tenant)
    amended = await client.post(
        f"/v1/assessments/{original['id']}/revisions",
        json={"answers": new_body(which=MEDIUM)["answers"]},
        headers=tenant.headers(Role.assessor),
    )
    assert amended.status_code == 201, amended.text
    record = await get_record(client, tenant, amended.json()["id"])
    assert [(r["table"], r["row"]["supersedes"]) for r in record["rows"]] == [("assessments", original["id"])]
    event = (await get_receipt(client, tenant, amended.json()["id"]))["entries"][0]["body"]
    assert event["action"] == "assessment.amend"
    assert chain.record_digest("assessments", with_salt_bytes(record["rows"][0]["row"])) == event["record_digest"]


@pytest.mark.parametrize("role", [Role.assessor, Role.supervisor])
async def test_readers_of_answers_get_the_record(client: httpx.AsyncClient, tenant: Tenant, role: Role) -> None:
    created = await create(client, tenant)
    assert (await get_record(client, tenant, created["id"], role))["assessment_id"] == created["id"]


@pytest.mark.parametrize("role", [Role.auditor, Role.monitor, Role.admin])
async def test_others_are_refused_and_the_refusal_audited(
    client: httpx.AsyncClient, tenant: Tenant, role: Role
) -> None:
    created = await create(client, tenant)
    refused = await client.get(f"/v1/assessments/{created['id']}/record", headers=tenant.headers(role))
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"] == PROBLEM
    assert "read_answers" in refused.json()["detail"]
    events = await audit_events(client, tenant, "refused.get_assessment_record")
    assert [(e["status"], e["resource_id"]) for e in events] == [(403, created["id"])]


async def test_the_acting_user_is_required(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await create(client, tenant)
    response = await client.get(
        f"/v1/assessments/{created['id']}/record", headers=tenant.headers(Role.assessor, acting_user=None)
    )
    assert response.status_code == 400, response.text
    assert response.json()["type"] == "/problems/bad-request"


async def test_another_organisations_assessment_is_not_found(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    created = await create(client, tenant)
    theirs = await client.get(f"/v1/assessments/{created['id']}/record", headers=other_tenant.headers(Role.assessor))
    assert theirs.status_code == 404, theirs.text
    assert theirs.json()["type"] == "/problems/not-found"
    missing = await client.get("/v1/assessments/no-such-assessment/record", headers=tenant.headers(Role.assessor))
    assert missing.status_code == 404, missing.text
    assert [e["status"] for e in await audit_events(client, other_tenant, "refused.get_assessment_record")] == [404]


@pytest.mark.parametrize("table", ["assessments", "assessment_overrides"])
async def test_rows_stored_before_receipts_have_no_record(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, table: str
) -> None:
    created = await create(client, tenant)
    await override(client, tenant, created["id"])
    key = "id" if table == "assessments" else "assessment_id"
    with bypassing_triggers(app) as conn:
        conn.execute(text(f"UPDATE {table} SET salt = NULL WHERE {key} = :id"), {"id": created["id"]})
    response = await client.get(f"/v1/assessments/{created['id']}/record", headers=tenant.headers(Role.assessor))
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == "/problems/receipt-unavailable"
    assert table in problem["detail"]
    assert not await audit_events(client, tenant, "assessment.read_record")


async def test_the_record_read_is_audited_with_its_digest(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await create(client, tenant)
    record = await get_record(client, tenant, created["id"], Role.supervisor)
    events = await audit_events(client, tenant, "assessment.read_record")
    assert [(e["resource_id"], e["subject_ref"], e["acting_user"], e["status"]) for e in events] == [
        (created["id"], created["subject_ref"], "user-1", 200)
    ]
    assert events[0]["digest"] == chain.digest(record)
    assert events[0]["details"] is None  # no answers, no salts in the event
