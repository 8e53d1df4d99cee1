from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from app.auth.dependencies import PUBLIC
from app.auth.permissions import Role
from app.core.config import Settings
from app.main import create_app
from tests.conftest import Tenant, make_settings

PROBLEM = "application/problem+json"


async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "/problems/not-found"


async def test_wrong_method_is_a_405_problem(client: httpx.AsyncClient) -> None:
    response = await client.delete("/healthz")
    assert response.status_code == 405
    assert response.json()["type"] == "/problems/method-not-allowed"


async def test_request_id_is_echoed_and_generated(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert generated.headers["x-request-id"] != "bad id with spaces"
    assert len(generated.headers["x-request-id"]) == 32


async def test_body_over_the_limit_is_413_before_parsing(client: httpx.AsyncClient, tenant: Tenant) -> None:
    body = b'{"name": "' + b"x" * (1024 * 1024) + b'", "roles": ["admin"]}'
    response = await client.post(
        "/v1/clients", content=body, headers={**tenant.headers(Role.admin), "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM


async def test_chunked_body_over_the_limit_is_413(client: httpx.AsyncClient, tenant: Tenant) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(20):
            yield b"x" * 65536

    response = await client.post(
        "/v1/clients", content=chunks(), headers={**tenant.headers(Role.admin), "Content-Type": "application/json"}
    )
    assert response.status_code == 413


async def test_wrong_content_type_is_415(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        "/v1/clients", content=b"name=x", headers={**tenant.headers(Role.admin), "Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.json()["type"] == "/problems/unsupported-media-type"


async def test_malformed_json_is_400(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        "/v1/clients", content=b'{"name": ', headers={**tenant.headers(Role.admin), "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["type"] == "/problems/bad-request"


async def test_422_names_every_invalid_field_with_a_pointer(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        "/v1/clients", json={"name": "", "roles": ["wizard"], "extra": 1}, headers=tenant.headers(Role.admin)
    )
    assert response.status_code == 422
    body = response.json()
    assert body["type"] == "/problems/validation-error"
    pointers = {e["pointer"] for e in body["errors"]}
    assert {"/name", "/roles/0", "/extra"} <= pointers


async def test_problem_types_are_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/problems/validation-error")
    assert response.status_code == 200
    assert "invalid field" in response.text
    assert (await client.get("/problems/no-such-kind")).status_code == 404


def _failing_app(settings: Settings) -> FastAPI:
    app = create_app(settings)
    router = APIRouter()

    @router.get("/boom", dependencies=[PUBLIC])
    def boom() -> None:
        raise RuntimeError("secret internal detail 4242")

    app.include_router(router)
    return app


async def test_unexpected_error_is_a_500_problem_without_internals(database_url: str) -> None:
    app = _failing_app(make_settings(database_url))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    assert "4242" not in response.text
    assert response.json()["request_id"] == response.headers["x-request-id"]


async def test_health_ready_and_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json()["status"] == "ok"
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    metrics = await client.get("/metrics")
    assert "riskapi_http_requests_total" in metrics.text
    assert 'route="/readyz"' in metrics.text


async def test_readyz_fails_when_the_schema_is_behind(tmp_path: pytest.TempPathFactory) -> None:
    app = create_app(make_settings(f"sqlite:///{tmp_path}/empty.db"))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert (await http.get("/healthz")).status_code == 200
        ready = await http.get("/readyz")
    assert ready.status_code == 503
    assert ready.headers["retry-after"]
    assert "riskapi db upgrade" in ready.json()["detail"]


async def test_rate_limit_answers_429_with_retry_after(database_url: str) -> None:
    from tests.conftest import make_tenant, rate_window, rate_window_with_room

    app = create_app(make_settings(database_url, rate_limit_per_minute=3))
    tenant = make_tenant(app, (Role.admin,))
    window = rate_window_with_room(5)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        statuses = [(await http.get("/v1/clients", headers=tenant.headers(Role.admin))).status_code for _ in range(5)]
        last = await http.get("/v1/clients", headers=tenant.headers(Role.admin))
    assert rate_window() == window, "the requests crossed into the next rate-limit window"
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3:] == [429, 429]
    assert int(last.headers["retry-after"]) >= 1
    assert last.json()["type"] == "/problems/rate-limited"
    app.state.engine.dispose()
