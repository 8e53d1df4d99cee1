"""GET /v1/assessments/{id}/receipt: a receipt that the pure verifiers accept (the note opens with the published
keys under the receipt's origin, each entry's leaf, recomputed from its fields, is in the tree), signed on demand
when no checkpoint covers the events yet; later overrides and marks in later receipts; an amended revision's own
receipt; who may ask; another organisation's assessment invisible; rows from before receipts 409; audited."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from app.audit import chain
from app.auth.permissions import Role
from app.core.canonical_json import canonical
from app.main import create_app
from app.rulesets.seed import seed_default_content
from tests.assessments.conftest import MEDIUM, create, new_body
from tests.audit.test_tamper_evidence import bypassing_triggers
from tests.conftest import Tenant, make_settings, make_tenant
from tests.receipts.receipt_support import (
    PROBLEM,
    actions,
    audit_events,
    get_receipt,
    mark_in_error,
    override,
    verify_receipt,
)
from tests.verifiable_log.log_support import advance, keys_document


def assert_problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{kind}"
    return body


async def test_a_receipt_signs_a_checkpoint_when_none_covers_it_and_verifies(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await create(client, tenant, which=MEDIUM)
    no_checkpoint = await client.get("/v1/audit/checkpoint", headers=tenant.headers(Role.auditor, acting_user=None))
    assert no_checkpoint.status_code == 404  # no worker ran

    receipt = await get_receipt(client, tenant, created["id"])

    keys = await keys_document(client)
    verify_receipt(receipt, keys)
    assert receipt["assessment_id"] == created["id"]
    assert receipt["origin"] == f"{keys.origin_prefix}/{tenant.slug}"
    assert actions(receipt) == ["assessment.create"]
    body = receipt["entries"][0]["body"]
    assert body["resource_id"] == created["id"]
    commitments = body["details"]["commitments"]
    assert commitments["form"] == "riskapi.commitments.v1"
    assert commitments["ruleset"] == {
        "key": created["ruleset"]["key"],
        "version": created["ruleset"]["version"],
        "content_hash": commitments["ruleset"]["content_hash"],
    }
    assert commitments["engine_version"] == created["engine_version"]
    signed = await client.get("/v1/audit/checkpoint", headers=tenant.headers(Role.auditor, acting_user=None))
    assert signed.status_code == 200, signed.text
    assert (signed.json()["tree_size"], signed.json()["note"]) == (receipt["tree_size"], receipt["checkpoint"])


async def test_a_receipt_uses_the_latest_checkpoint_when_it_covers_the_events(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await create(client, tenant)
    await create(client, tenant, subject_ref="case-2")
    size = advance(app, tenant.organisation_id)
    receipt = await get_receipt(client, tenant, created["id"])
    assert receipt["tree_size"] == size
    verify_receipt(receipt, await keys_document(client))


async def test_overrides_and_marks_appear_in_later_receipts(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await create(client, tenant)
    before = await get_receipt(client, tenant, created["id"])
    await override(client, tenant, created["id"])
    await override(client, tenant, created["id"], level="immediate")
    after_overrides = await get_receipt(client, tenant, created["id"])
    await mark_in_error(client, tenant, created["id"])
    after_mark = await get_receipt(client, tenant, created["id"])

    keys = await keys_document(client)
    for receipt in (before, after_overrides, after_mark):
        verify_receipt(receipt, keys)
    assert actions(before) == ["assessment.create"]
    assert actions(after_overrides) == ["assessment.create", "assessment.override", "assessment.override"]
    assert actions(after_mark) == [*actions(after_overrides), "assessment.entered_in_error"]
    assert [e["hash"] for e in after_mark["entries"][:3]] == [e["hash"] for e in after_overrides["entries"]]
    assert before["tree_size"] < after_overrides["tree_size"] < after_mark["tree_size"]
    tables = [entry["body"]["details"]["commitments"]["table"] for entry in after_mark["entries"][1:]]
    assert tables == ["assessment_overrides", "assessment_overrides", "assessment_entered_in_error"]


async def test_an_amended_revision_has_its_own_receipt(client: httpx.AsyncClient, tenant: Tenant) -> None:
    original = await create(client, tenant)
    amended = await client.post(
        f"/v1/assessments/{original['id']}/revisions",
        json={"answers": new_body(which=MEDIUM)["answers"]},
        headers=tenant.headers(Role.assessor),
    )
    assert amended.status_code == 201, amended.text
    await override(client, tenant, amended.json()["id"])

    of_original = await get_receipt(client, tenant, original["id"])
    of_amended = await get_receipt(client, tenant, amended.json()["id"])
    keys = await keys_document(client)
    verify_receipt(of_original, keys)
    verify_receipt(of_amended, keys)
    assert actions(of_original) == ["assessment.create"]
    assert actions(of_amended) == ["assessment.amend", "assessment.override"]
    assert {e["body"]["resource_id"] for e in of_amended["entries"]} == {amended.json()["id"]}


@pytest.mark.parametrize("role", [Role.assessor, Role.supervisor, Role.auditor])
async def test_every_reader_of_assessments_gets_a_receipt(
    client: httpx.AsyncClient, tenant: Tenant, role: Role
) -> None:
    created = await create(client, tenant)
    verify_receipt(await get_receipt(client, tenant, created["id"], role), await keys_document(client))


@pytest.mark.parametrize("role", [Role.monitor, Role.admin])
async def test_roles_without_read_assessments_are_refused_and_the_refusal_audited(
    client: httpx.AsyncClient, tenant: Tenant, role: Role
) -> None:
    created = await create(client, tenant)
    refused = await client.get(f"/v1/assessments/{created['id']}/receipt", headers=tenant.headers(role))
    assert_problem(refused, 403, "forbidden")
    events = await audit_events(client, tenant, "refused.get_assessment_receipt")
    assert [(e["status"], e["resource_id"]) for e in events] == [(403, created["id"])]


async def test_the_acting_user_is_required(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await create(client, tenant)
    response = await client.get(
        f"/v1/assessments/{created['id']}/receipt", headers=tenant.headers(Role.auditor, acting_user=None)
    )
    assert_problem(response, 400, "bad-request")


async def test_another_organisations_assessment_is_not_found(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    created = await create(client, tenant)
    theirs = await client.get(f"/v1/assessments/{created['id']}/receipt", headers=other_tenant.headers(Role.auditor))
    assert_problem(theirs, 404, "not-found")
    missing = await client.get("/v1/assessments/no-such-assessment/receipt", headers=tenant.headers(Role.auditor))
    assert_problem(missing, 404, "not-found")
    assert [e["status"] for e in await audit_events(client, other_tenant, "refused.get_assessment_receipt")] == [404]


async def test_an_assessment_stored_before_receipts_has_none(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await create(client, tenant)
    with bypassing_triggers(app) as conn:
        conn.execute(text("UPDATE assessments SET salt = NULL WHERE id = :id"), {"id": created["id"]})
    response = await client.get(f"/v1/assessments/{created['id']}/receipt", headers=tenant.headers(Role.auditor))
    problem = assert_problem(response, 409, "receipt-unavailable")
    assert "before receipts existed" in problem["detail"]
    page = await client.get("/problems/receipt-unavailable")
    assert page.status_code == 200
    assert not await audit_events(client, tenant, "assessment.receipt")


async def test_events_without_commitments_give_no_receipt(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    """A salted row whose create event carries no commitments (as a row written in the migration's window could)."""
    created = await create(client, tenant)
    with bypassing_triggers(app) as conn:
        conn.execute(
            text("UPDATE audit_events SET details = NULL WHERE resource_id = :id AND action = 'assessment.create'"),
            {"id": created["id"]},
        )
    response = await client.get(f"/v1/assessments/{created['id']}/receipt", headers=tenant.headers(Role.auditor))
    assert "no commitments" in assert_problem(response, 409, "receipt-unavailable")["detail"]


async def test_without_a_signing_key_no_receipt_can_be_made(database_url: str) -> None:
    application = create_app(make_settings(database_url))
    try:
        with application.state.sessionmaker.begin() as session:
            seed_default_content(session)
        tenant = make_tenant(application, (Role.assessor,), (Role.auditor,))
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            created = await create(client, tenant)
            response = await client.get(
                f"/v1/assessments/{created['id']}/receipt", headers=tenant.headers(Role.auditor)
            )
            assert "checkpoint" in assert_problem(response, 409, "receipt-unavailable")["detail"]
    finally:
        application.state.engine.dispose()


async def test_the_receipt_is_audited_with_its_digest(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await create(client, tenant)
    receipt = await get_receipt(client, tenant, created["id"])
    events = await audit_events(client, tenant, "assessment.receipt")
    assert [(e["resource_id"], e["subject_ref"], e["acting_user"], e["status"]) for e in events] == [
        (created["id"], created["subject_ref"], "user-1", 200)
    ]
    assert events[0]["digest"] == chain.digest(receipt)


async def test_the_receipt_reveals_no_unsalted_hash_of_the_row(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """What someone holding the receipt could compare guesses against: none of it appears in the receipt."""
    response = await client.post("/v1/assessments", json=new_body(which=MEDIUM), headers=tenant.headers("assessor"))
    assert response.status_code == 201, response.text
    created, etag = response.json(), response.headers["ETag"]
    receipt_text = json.dumps(await get_receipt(client, tenant, created["id"]))
    stored = await get_record_row(client, tenant, created["id"])
    unsalted = {
        "record digest, version 1": chain.digest(chain.record_form("assessments", {**stored, "salt": None})),
        "response digest": etag.strip('"'),
        "answers": hashlib.sha256(canonical(stored["answers"])).hexdigest(),
        "result": hashlib.sha256(canonical(stored["result"])).hexdigest(),
    }
    for name, value in unsalted.items():
        assert value not in receipt_text, name


async def get_record_row(client: httpx.AsyncClient, tenant: Tenant, assessment_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/assessments/{assessment_id}/record", headers=tenant.headers(Role.assessor))
    assert response.status_code == 200, response.text
    row: dict[str, Any] = response.json()["rows"][0]["row"]
    return row
