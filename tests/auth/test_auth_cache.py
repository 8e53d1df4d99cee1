"""Valid keys are cached in-process for AUTH_CACHE_SECONDS; the settings a key operation uses are the app's."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cachetools import TTLCache
from fastapi import FastAPI

from app.auth import service as auth_service
from app.auth.models import ApiKey
from app.auth.permissions import Role
from app.main import create_app
from tests.conftest import Tenant, make_settings, make_tenant


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The key cache, as configured, on a clock the test moves."""
    clock = Clock()
    configured = auth_service._auth_cache
    monkeypatch.setattr(auth_service, "_auth_cache", TTLCache(configured.maxsize, configured.ttl, timer=clock))
    return clock


async def test_a_key_is_looked_up_again_once_its_cache_entry_expires(
    client: httpx.AsyncClient, tenant: Tenant, clock: Clock, key_lookups: list[str]
) -> None:
    async def status() -> int:
        return (await client.get("/v1/clients", headers=tenant.headers(Role.admin))).status_code

    assert await status() == 200
    assert len(key_lookups) == 1
    clock.now += auth_service.AUTH_CACHE_SECONDS - 0.1
    assert await status() == 200
    assert len(key_lookups) == 1, "a key authenticated less than AUTH_CACHE_SECONDS ago is not looked up"
    clock.now += 0.2
    assert await status() == 200
    assert len(key_lookups) == 2


async def test_expiry_is_checked_on_every_request_even_when_cached(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI, key_lookups: list[str]
) -> None:
    admin = tenant.headers(Role.admin)
    created = (await client.post("/v1/clients", json={"name": "cms", "roles": ["admin"]}, headers=admin)).json()
    headers = {"Authorization": f"Bearer {created['api_key']}"}
    assert (await client.get("/v1/clients", headers=headers)).status_code == 200
    with app.state.sessionmaker.begin() as session:
        key = session.get(ApiKey, created["key_id"])
        assert key is not None
        key.expires_at = datetime.now(UTC) + timedelta(milliseconds=300)
    auth_service.invalidate_auth_cache()
    assert (await client.get("/v1/clients", headers=headers)).status_code == 200  # cached with its expiry
    lookups = len(key_lookups)
    await asyncio.sleep(0.4)  # well within the cache's lifetime
    response = await client.get("/v1/clients", headers=headers)
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]
    assert len(key_lookups) == lookups, "refused from the cache entry, without a lookup"


async def test_rotation_grace_and_key_digests_come_from_the_apps_settings(database_url: str) -> None:
    app = create_app(make_settings(database_url, key_rotation_grace_hours=3, secret_key="a-secret-of-this-app-only"))
    tenant = make_tenant(app, (Role.admin,))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        admin = tenant.headers(Role.admin)
        created = (await http.post("/v1/clients", json={"name": "cms", "roles": ["admin"]}, headers=admin)).json()
        rotated = await http.post(f"/v1/clients/{created['client']['id']}/rotate", headers=admin)
        assert rotated.status_code == 201
        # the key works with this app's secret: its digest was computed with it
        new_key = {"Authorization": f"Bearer {rotated.json()['api_key']}"}
        assert (await http.get("/v1/clients", headers=new_key)).status_code == 200
    old = next(k for k in rotated.json()["client"]["keys"] if k["id"] == created["key_id"])
    grace = datetime.fromisoformat(old["expires_at"]) - datetime.now(UTC)
    assert timedelta(hours=2, minutes=59) < grace <= timedelta(hours=3)
    other = create_app(make_settings(database_url))  # the same database, the default secret
    transport = httpx.ASGITransport(app=other, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        auth_service.invalidate_auth_cache()
        assert (await http.get("/v1/clients", headers=new_key)).status_code == 401
    for application in (app, other):
        application.state.engine.dispose()
