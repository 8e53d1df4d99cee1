from __future__ import annotations

import ipaddress
import os
import uuid
from collections.abc import Iterator

import httpx
import pytest
import redis
from limits.storage import MemoryStorage, RedisStorage, Storage
from sqlalchemy import create_engine, func, insert, select

from app.auth.permissions import Role
from app.core.errors import RateLimited
from app.core.ratelimit import (
    DatabaseStorage,
    RateLimitCounter,
    RateLimiter,
    counter_storage,
    failure_counter_id,
    source_address,
)
from app.main import create_app
from tests.conftest import make_settings, make_tenant, rate_window, rate_window_with_room

REDIS_URL = os.environ.get("RISKAPI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def require_redis() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        if os.environ.get("CI"):
            pytest.fail(f"Redis at {REDIS_URL} is unreachable")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable")
    return REDIS_URL


@pytest.fixture
def redis_storage() -> Iterator[RedisStorage]:
    """Redis counters under a key prefix of this test's own, removed afterwards."""
    storage = RedisStorage(require_redis(), key_prefix=f"riskapi-test-{uuid.uuid4().hex}")
    yield storage
    storage.reset()


@pytest.fixture
def database_storage(postgres_worker_url: str) -> Iterator[DatabaseStorage]:
    """The PostgreSQL counters (SQLite counts in memory), emptied afterwards."""
    engine = create_engine(postgres_worker_url)
    storage = DatabaseStorage(engine)
    yield storage
    storage.reset()
    engine.dispose()


@pytest.fixture(params=["memory", "redis", pytest.param("database", marks=pytest.mark.postgres)])
def storage(request: pytest.FixtureRequest) -> Storage:
    if request.param == "memory":
        return MemoryStorage()
    fixture = request.getfixturevalue(f"{request.param}_storage")
    assert isinstance(fixture, Storage)
    return fixture


def test_refuses_past_the_limit_with_retry_after(storage: Storage) -> None:
    window = rate_window_with_room(5)
    limiter = RateLimiter(2, storage)
    limiter.check("a")
    limiter.check("a")
    with pytest.raises(RateLimited) as refused:
        limiter.check("a")
    assert rate_window() == window
    assert refused.value.headers is not None
    assert 1 <= int(refused.value.headers["Retry-After"]) <= 61
    assert "2 requests per minute per client" in str(refused.value.detail)
    limiter.check("b")  # per client


def test_refuse_if_exhausted_does_not_count(storage: Storage) -> None:
    window = rate_window_with_room(5)
    limiter = RateLimiter(2, storage)
    for _ in range(5):
        limiter.refuse_if_exhausted("a")
    limiter.check("a")
    limiter.check("a")
    with pytest.raises(RateLimited):
        limiter.refuse_if_exhausted("a")
    assert rate_window() == window


def test_two_limiters_over_one_storage_count_apart(storage: Storage) -> None:
    window = rate_window_with_room(5)
    requests = RateLimiter(1, storage)
    failures = RateLimiter(1, storage, namespace="auth-failures", counted="failed authentications")
    requests.check("same-id")
    failures.check("same-id")
    with pytest.raises(RateLimited):
        failures.check("same-id")
    assert rate_window() == window


def test_zero_turns_the_limit_off() -> None:
    limiter = RateLimiter(0, MemoryStorage())
    for _ in range(1000):
        limiter.check("a")
    assert not limiter.blocking


def test_storages_that_do_io_run_off_the_event_loop(redis_storage: RedisStorage) -> None:
    assert RateLimiter(5, redis_storage).blocking
    assert not RateLimiter(5, MemoryStorage()).blocking


def test_redis_counters_are_shared_between_limiters() -> None:
    prefix = f"riskapi-test-{uuid.uuid4().hex}"
    first_storage = RedisStorage(require_redis(), key_prefix=prefix)
    second_storage = RedisStorage(REDIS_URL, key_prefix=prefix)
    first, second = RateLimiter(3, first_storage), RateLimiter(3, second_storage)
    try:
        first.check("client")
        second.check("client")
        first.check("client")
        with pytest.raises(RateLimited):
            second.refuse_if_exhausted("client")  # reads the shared count without adding to it
        with pytest.raises(RateLimited):
            second.check("client")
    finally:
        first_storage.reset()


@pytest.mark.postgres
def test_database_counters_keep_digests_and_drop_old_windows(database_storage: DatabaseStorage) -> None:
    rate_window_with_room(5)
    limiter = RateLimiter(5, database_storage)
    limiter.check("client-with-a-long-identifier-" + "x" * 40)
    with database_storage._engine.connect() as conn:
        ids = conn.execute(select(RateLimitCounter.client_id)).scalars().all()
        assert all(len(client_id) <= 36 and "client" not in client_id for client_id in ids)
        conn.execute(insert(RateLimitCounter).values(client_id="old", window=rate_window() - 5, count=1))
        conn.commit()
    limiter.check("another-client")  # its first hit in this window sweeps the windows before the previous one
    with database_storage._engine.connect() as conn:
        left = conn.execute(select(func.count()).where(RateLimitCounter.client_id == "old")).scalar_one()
    assert left == 0


async def test_the_app_counts_in_redis_when_configured(database_url: str) -> None:
    """Two applications (as two workers would be) with one Redis share each client's count."""
    settings = make_settings(database_url, redis_url=require_redis(), rate_limit_per_minute=3)
    first, second = create_app(settings), create_app(settings)
    assert isinstance(counter_storage(settings, first.state.engine), RedisStorage)
    tenant = make_tenant(first, (Role.admin,))  # a new client id: its counter is this test's alone
    statuses = []
    for app in (first, second, first, second):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/v1/clients", headers=tenant.headers(Role.admin))
            statuses.append(response.status_code)
    for app in (first, second):
        app.state.engine.dispose()
    assert statuses == [200, 200, 200, 429]
    assert response.headers["content-type"] == "application/problem+json"
    assert 1 <= int(response.headers["retry-after"]) <= 61


def test_the_counters_live_where_the_settings_say(database_url: str) -> None:
    engine = create_engine(database_url)
    expected = MemoryStorage if database_url.startswith("sqlite") else DatabaseStorage
    assert isinstance(counter_storage(make_settings(database_url, rate_limit_per_minute=5), engine), expected)
    assert counter_storage(make_settings(database_url), engine) is None  # both limits off
    engine.dispose()


PROXIES = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8::/32")]


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),  # untrusted peer: its header is ignored
        ("10.0.0.1", ["198.51.100.1"], "198.51.100.1"),
        ("10.0.0.1", ["forged, 198.51.100.1, 10.0.0.2"], "198.51.100.1"),  # right-most untrusted
        ("2001:db8::1", ["198.51.100.1", "10.9.9.9"], "198.51.100.1"),  # repeated headers read as one list
        ("10.0.0.1", ["10.0.0.3, 10.0.0.2"], "10.0.0.3"),  # every hop trusted: the first
        ("10.0.0.1", [], "10.0.0.1"),  # no header: the proxy itself
        (None, [], "unknown"),
    ],
)
def test_source_address(peer: str | None, forwarded_for: list[str], expected: str) -> None:
    assert source_address(peer, forwarded_for, PROXIES) == expected


def test_failure_counters_hide_the_address() -> None:
    address = "2001:0db8:85a3:0000:0000:8a2e:0370:7334"
    assert "2001" not in failure_counter_id(address)
    assert failure_counter_id(address) == failure_counter_id(address)
    assert failure_counter_id(address) != failure_counter_id("2001:db8::1")
