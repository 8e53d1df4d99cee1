from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import rfc8785
from fastapi import FastAPI

from app.auth.models import ApiKey
from app.auth.permissions import Role
from tests.assessments.conftest import IMMEDIATE, create, events, new_body
from tests.conftest import Tenant


async def test_every_case_data_operation_is_chained(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await create(client, tenant, subject_ref="child-a", which=IMMEDIATE)
    aid = created["id"]
    supervisor = tenant.headers(Role.supervisor, acting_user="lead")
    await client.get(f"/v1/assessments/{aid}", headers=tenant.headers(Role.assessor))
    await client.get("/v1/assessments", headers=tenant.headers(Role.assessor))
    await client.post(
        f"/v1/assessments/{aid}/override", json={"level": "immediate", "rationale": "x"}, headers=supervisor
    )
    await client.post(f"/v1/assessments/{aid}/rescore", params={"ruleset_version": 1}, headers=supervisor)
    await client.get(f"/v1/assessments/{aid}/replay", headers=supervisor)
    await client.get(f"/v1/assessments/{aid}/report", headers=supervisor)
    amended = await client.post(
        f"/v1/assessments/{aid}/revisions", json={"answers": new_body()["answers"]}, headers=supervisor
    )
    await client.post(
        f"/v1/assessments/{amended.json()['id']}/entered-in-error", json={"reason": "dup"}, headers=supervisor
    )

    chained = await events(client, tenant)
    assert [e["action"] for e in chained] == [
        "assessment.create",
        "assessment.read",
        "assessment.list",
        "assessment.override",
        "assessment.rescore",
        "assessment.replay",
        "assessment.report",
        "assessment.amend",
        "assessment.entered_in_error",
    ]
    first = chained[0]
    assert first["resource_id"] == aid
    assert first["subject_ref"] == "child-a"
    assert first["acting_user"] == "user-1"
    assert first["status"] == 201
    assert first["client_id"]
    assert len(first["digest"]) == 64
    assert first["occurred_at"].endswith("Z")
    assert len(first["occurred_at"].split(".")[1]) == 7
    sequences = [e["sequence"] for e in chained]
    assert sequences == sorted(sequences)
    # the digest is the SHA-256 of the RFC 8785 form of what was returned, and the response's ETag
    read = await client.get(f"/v1/assessments/{aid}", headers=tenant.headers(Role.assessor))
    last_read = (await events(client, tenant, action="assessment.read"))[-1]
    assert last_read["digest"] == hashlib.sha256(rfc8785.dumps(read.json())).hexdigest()
    assert read.headers["etag"] == f'"{last_read["digest"]}"'
    verified = await client.get("/v1/audit/verify", headers=tenant.headers(Role.auditor))
    assert verified.json()["ok"] is True, verified.text


async def test_a_list_names_every_id_it_returned(client: httpx.AsyncClient, tenant: Tenant) -> None:
    a = await create(client, tenant, subject_ref="child-a")
    b = await create(client, tenant, subject_ref="child-b")
    await client.get("/v1/assessments", headers=tenant.headers(Role.assessor, acting_user="teacher-9"))
    listed = (await events(client, tenant, action="assessment.list"))[-1]
    assert {(r["id"], r["subject_ref"]) for r in listed["resources"]} == {(a["id"], "child-a"), (b["id"], "child-b")}
    # "who saw this child's record?" is one call, lists included
    seen = await events(client, tenant, subject_ref="child-b")
    assert [(e["action"], e["acting_user"]) for e in seen] == [
        ("assessment.create", "user-1"),
        ("assessment.list", "teacher-9"),
    ]
    by_resource = await events(client, tenant, resource_id=a["id"])
    assert [e["action"] for e in by_resource] == ["assessment.create", "assessment.list"]


async def test_refusals_are_audited(client: httpx.AsyncClient, tenant: Tenant, app: FastAPI) -> None:
    created = await create(client, tenant)
    forbidden = await client.post(
        f"/v1/assessments/{created['id']}/override",
        json={"level": "high", "rationale": "x"},
        headers=tenant.headers(Role.assessor, acting_user="nosy"),
    )
    assert forbidden.status_code == 403
    missing = await client.get(
        "/v1/assessments/does-not-exist", headers=tenant.headers(Role.assessor, acting_user="nosy")
    )
    assert missing.status_code == 404
    # a revoked key still names its organisation: audited as a 401
    admin = tenant.headers(Role.admin)
    issued = (await client.post("/v1/clients", json={"name": "old", "roles": ["assessor"]}, headers=admin)).json()
    await client.post(f"/v1/clients/{issued['client']['id']}/revoke", headers=admin)
    revoked = await client.get(
        f"/v1/assessments/{created['id']}",
        headers={"Authorization": f"Bearer {issued['api_key']}", "X-Acting-User": "nosy"},
    )
    assert revoked.status_code == 401
    # an unknown key has no organisation: not chained
    unknown = await client.get("/v1/assessments", headers={"Authorization": "Bearer rk_unknown", "X-Acting-User": "x"})
    assert unknown.status_code == 401

    refused = await events(client, tenant, acting_user="nosy")
    assert [(e["action"], e["status"], e["resource_id"]) for e in refused] == [
        ("refused.override_assessment", 403, created["id"]),
        ("refused.get_assessment", 404, "does-not-exist"),
        ("refused.get_assessment", 401, created["id"]),
    ]
    assert refused[2]["client_id"] == issued["client"]["id"]
    verified = await client.get("/v1/audit/verify", headers=tenant.headers(Role.auditor))
    assert verified.json()["ok"] is True


async def test_expired_key_refusal_is_audited(client: httpx.AsyncClient, tenant: Tenant, app: FastAPI) -> None:
    admin = tenant.headers(Role.admin)
    issued = (await client.post("/v1/clients", json={"name": "exp", "roles": ["assessor"]}, headers=admin)).json()
    with app.state.sessionmaker.begin() as session:
        key = session.get(ApiKey, issued["key_id"])
        assert key is not None
        key.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    response = await client.get(
        "/v1/assessments", headers={"Authorization": f"Bearer {issued['api_key']}", "X-Acting-User": "u"}
    )
    assert response.status_code == 401
    refused = await events(client, tenant, client_id=issued["client"]["id"])
    assert [(e["action"], e["status"]) for e in refused] == [("refused.list_assessments", 401)]


async def test_admin_key_operations_are_chained(client: httpx.AsyncClient, tenant: Tenant) -> None:
    admin = tenant.headers(Role.admin)
    issued = (await client.post("/v1/clients", json={"name": "cms", "roles": ["assessor"]}, headers=admin)).json()
    await client.post(f"/v1/clients/{issued['client']['id']}/rotate", json={"grace_hours": 0}, headers=admin)
    await client.post(f"/v1/clients/{issued['client']['id']}/revoke", headers=admin)
    response = await client.get(
        "/v1/audit/events",
        params={"resource_id": issued["client"]["id"]},
        headers=tenant.headers(Role.auditor, acting_user="dpo"),
    )
    actions = [e["action"] for e in response.json()["items"] if e["action"].startswith("client.")]
    assert actions == ["client.create", "client.rotate_key", "client.revoke"]


async def test_audit_roles_filters_and_pagination(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    for i in range(5):
        await create(client, tenant, subject_ref=f"c{i}")
    await create(client, other_tenant, subject_ref="theirs")
    assert (await client.get("/v1/audit/events", headers=tenant.headers(Role.assessor))).status_code == 403
    assert (await client.get("/v1/audit/events", headers=tenant.headers(Role.admin))).status_code == 200
    assert (
        await client.get("/v1/audit/events", headers=tenant.headers(Role.auditor, acting_user=None))
    ).status_code == 400
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, "action": "assessment.create"}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/audit/events", params=params, headers=tenant.headers(Role.auditor))).json()
        seen += [e["sequence"] for e in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 5
    assert seen == sorted(seen)
    assert all(e["subject_ref"] != "theirs" for e in await events(client, tenant))
    future = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    assert await events(client, tenant, since=future) == []
    assert len(await events(client, tenant, until=future, action="assessment.create")) == 5
