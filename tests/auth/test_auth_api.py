from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI

from app.auth.models import ApiKey
from app.auth.permissions import Role
from tests.conftest import Tenant

PROBLEM = "application/problem+json"


async def test_missing_key_is_a_401_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/clients")
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == "/problems/unauthenticated"
    assert body["request_id"] == response.headers["x-request-id"]
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_wrong_key_is_a_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/clients", headers={"Authorization": "Bearer rk_not-a-key"})
    assert response.status_code == 401
    assert response.json()["detail"] == "Unknown API key"


async def test_admin_can_list_clients_with_last_use(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get("/v1/clients", headers=tenant.headers(Role.admin))
    assert response.status_code == 200
    items = response.json()["items"]
    assert len(items) == 1 + len(Role)
    admin_client = next(i for i in items if i["name"] == "admin")
    assert admin_client["keys"][0]["last_used_at"] is not None
    assert "digest" not in str(response.json())


async def test_non_admin_is_forbidden(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get("/v1/clients", headers=tenant.headers(Role.assessor))
    assert response.status_code == 403
    assert response.json()["type"] == "/problems/forbidden"


async def test_create_rotate_and_revoke(client: httpx.AsyncClient, tenant: Tenant) -> None:
    admin = tenant.headers(Role.admin)
    created = await client.post("/v1/clients", json={"name": "cms", "roles": ["admin"]}, headers=admin)
    assert created.status_code == 201
    first_key = created.json()["api_key"]
    client_id = created.json()["client"]["id"]
    assert (await client.get("/v1/clients", headers={"Authorization": f"Bearer {first_key}"})).status_code == 200

    rotated = await client.post(f"/v1/clients/{client_id}/rotate", json={"grace_hours": 1}, headers=admin)
    assert rotated.status_code == 201
    second_key = rotated.json()["api_key"]
    for key in (first_key, second_key):  # both valid during the grace period
        assert (await client.get("/v1/clients", headers={"Authorization": f"Bearer {key}"})).status_code == 200

    revoked = await client.post(f"/v1/clients/{client_id}/revoke", headers=admin)
    assert revoked.status_code == 200
    for key in (first_key, second_key):
        response = await client.get("/v1/clients", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 401
        assert "revoked" in response.json()["detail"]


async def test_rotation_with_zero_grace_expires_the_old_key(client: httpx.AsyncClient, tenant: Tenant) -> None:
    admin = tenant.headers(Role.admin)
    created = (await client.post("/v1/clients", json={"name": "cms", "roles": ["admin"]}, headers=admin)).json()
    await client.post(f"/v1/clients/{created['client']['id']}/rotate", json={"grace_hours": 0}, headers=admin)
    response = await client.get("/v1/clients", headers={"Authorization": f"Bearer {created['api_key']}"})
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


async def test_expired_key_is_refused(client: httpx.AsyncClient, tenant: Tenant, app: FastAPI) -> None:
    admin = tenant.headers(Role.admin)
    created = (await client.post("/v1/clients", json={"name": "cms", "roles": ["admin"]}, headers=admin)).json()
    with app.state.sessionmaker.begin() as session:
        key = session.get(ApiKey, created["key_id"])
        assert key is not None
        key.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    response = await client.get("/v1/clients", headers={"Authorization": f"Bearer {created['api_key']}"})
    assert response.status_code == 401


async def test_another_organisations_client_is_a_404(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    theirs = (
        await client.post(
            "/v1/clients", json={"name": "x", "roles": ["assessor"]}, headers=other_tenant.headers(Role.admin)
        )
    ).json()
    response = await client.post(f"/v1/clients/{theirs['client']['id']}/revoke", headers=tenant.headers(Role.admin))
    assert response.status_code == 404
    assert response.json()["type"] == "/problems/not-found"


async def test_keys_are_stored_only_as_digests(client: httpx.AsyncClient, tenant: Tenant, app: FastAPI) -> None:
    created = (
        await client.post("/v1/clients", json={"name": "x", "roles": ["assessor"]}, headers=tenant.headers(Role.admin))
    ).json()
    with app.state.sessionmaker() as session:
        key = session.get(ApiKey, created["key_id"])
        assert key is not None
        assert created["api_key"] not in (key.digest, key.prefix)
        assert len(key.digest) == 64


async def test_key_operations_are_audited_with_the_acting_admin(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    from sqlalchemy import select

    from app.audit.models import AuditEvent

    admin = tenant.headers(Role.admin, acting_user="admin-7")
    created = (await client.post("/v1/clients", json={"name": "cms", "roles": ["assessor"]}, headers=admin)).json()
    await client.post(f"/v1/clients/{created['client']['id']}/revoke", headers=admin)
    with app.state.sessionmaker() as session:
        events = session.execute(
            select(AuditEvent.action, AuditEvent.acting_user, AuditEvent.client_id, AuditEvent.resource_id)
            .where(AuditEvent.organisation_id == tenant.organisation_id, AuditEvent.acting_user == "admin-7")
            .order_by(AuditEvent.sequence)
        ).all()
    assert [e.action for e in events] == ["client.create", "client.revoke"]
    assert all(e.resource_id == created["client"]["id"] and e.client_id for e in events)
