"""The total size of a request's header names and values is limited in the application (431 problem+json)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from app.auth.permissions import Role
from tests.conftest import Tenant, make_settings

PROBLEM = "application/problem+json"


async def test_an_8_mib_header_is_a_431_problem(client: httpx.AsyncClient, tenant: Tenant) -> None:
    headers = {**tenant.headers(Role.admin), "X-Padding": "a" * (8 * 1024 * 1024)}
    response = await client.get("/v1/clients", headers=headers)
    assert response.status_code == 431
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == "/problems/headers-too-large"
    assert body["status"] == 431
    assert body["request_id"] == response.headers["x-request-id"]


async def test_many_small_headers_count_together(client: httpx.AsyncClient, app: FastAPI) -> None:
    limit = app.state.settings.max_header_bytes
    headers = [(f"x-h{i}", "v" * 1000) for i in range(limit // 1000 + 1)]
    response = await client.get("/healthz", headers=headers)
    assert response.status_code == 431


async def test_headers_just_within_the_limit_pass(database_url: str) -> None:
    from app.main import create_app

    app = create_app(make_settings(database_url, max_header_bytes=4096))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        sent = http.build_request("GET", "/healthz").headers
        used = sum(len(k.encode()) + len(v.encode()) for k, v in sent.items())
        padding = 4096 - used - len(b"x-padding")
        assert (await http.get("/healthz", headers={"X-Padding": "a" * padding})).status_code == 200
        assert (await http.get("/healthz", headers={"X-Padding": "a" * (padding + 1)})).status_code == 431
    app.state.engine.dispose()
