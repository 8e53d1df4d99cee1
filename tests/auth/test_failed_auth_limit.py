"""Failed authentications are limited per source address (429 + Retry-After), checked before any key lookup;
behind a trusted proxy the source is the right-most untrusted X-Forwarded-For address."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from app.auth.permissions import Role
from app.main import create_app
from tests.conftest import make_settings, make_tenant, rate_window, rate_window_with_room

PROBLEM = "application/problem+json"
LIMIT = 3
UNKNOWN = {"Authorization": "Bearer rk_not-a-key"}


@pytest.fixture
def limited_app(database_url: str) -> AsyncIterator[FastAPI]:
    app = create_app(
        make_settings(database_url, auth_failures_per_minute=LIMIT, trusted_proxies="10.0.0.0/8,192.0.2.7")
    )
    yield app
    app.state.engine.dispose()


@asynccontextmanager
async def from_address(app: FastAPI, host: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(host, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield http


async def _statuses(http: httpx.AsyncClient, count: int, headers: dict[str, str]) -> list[int]:
    return [(await http.get("/v1/clients", headers=headers)).status_code for _ in range(count)]


async def test_unknown_keys_from_one_address_are_refused_before_lookup(
    limited_app: FastAPI, key_lookups: list[str]
) -> None:
    window = rate_window_with_room(5)
    async with from_address(limited_app, "198.51.100.1") as attacker:
        statuses = await _statuses(attacker, LIMIT + 2, UNKNOWN)
        refused = await attacker.get("/v1/clients", headers=UNKNOWN)
    assert rate_window() == window, "the requests crossed into the next rate-limit window"
    assert statuses == [401] * LIMIT + [429, 429]
    assert len(key_lookups) == LIMIT, "a refused address's keys must not be looked up"
    assert refused.status_code == 429
    assert refused.headers["content-type"] == PROBLEM
    assert refused.json()["type"] == "/problems/rate-limited"
    assert "failed authentications" in refused.json()["detail"]
    assert 1 <= int(refused.headers["retry-after"]) <= 61


async def test_missing_keys_count_as_failures(limited_app: FastAPI) -> None:
    window = rate_window_with_room(5)
    async with from_address(limited_app, "198.51.100.2") as anonymous:
        statuses = await _statuses(anonymous, LIMIT + 1, {})
    assert rate_window() == window
    assert statuses == [401] * LIMIT + [429]


async def test_another_address_is_unaffected(limited_app: FastAPI) -> None:
    tenant = make_tenant(limited_app, (Role.admin,))
    window = rate_window_with_room(5)
    async with from_address(limited_app, "198.51.100.3") as attacker:
        assert await _statuses(attacker, LIMIT + 1, UNKNOWN) == [401] * LIMIT + [429]
    async with from_address(limited_app, "198.51.100.4") as neighbour:
        assert await _statuses(neighbour, 1, UNKNOWN) == [401]
        assert await _statuses(neighbour, 1, tenant.headers(Role.admin)) == [200]
    assert rate_window() == window


async def test_clients_behind_a_trusted_proxy_are_counted_apart(limited_app: FastAPI) -> None:
    window = rate_window_with_room(5)
    async with from_address(limited_app, "10.1.2.3") as proxy:
        first = {**UNKNOWN, "X-Forwarded-For": "203.0.113.50, 192.0.2.7"}  # client, then a second trusted proxy
        second = {**UNKNOWN, "X-Forwarded-For": "203.0.113.51"}
        assert await _statuses(proxy, LIMIT + 1, first) == [401] * LIMIT + [429]
        assert await _statuses(proxy, LIMIT, second) == [401] * LIMIT
        # A client cannot escape its count by prepending addresses: only the right-most untrusted one counts.
        forged = {**UNKNOWN, "X-Forwarded-For": "198.51.100.99, 203.0.113.50"}
        assert await _statuses(proxy, 1, forged) == [429]
    assert rate_window() == window


async def test_an_untrusted_peers_forwarded_for_is_ignored(limited_app: FastAPI) -> None:
    window = rate_window_with_room(5)
    async with from_address(limited_app, "198.51.100.5") as peer:
        statuses = [
            (await peer.get("/v1/clients", headers={**UNKNOWN, "X-Forwarded-For": f"203.0.113.{i}"})).status_code
            for i in range(LIMIT + 1)
        ]
    assert rate_window() == window
    assert statuses == [401] * LIMIT + [429]
