from __future__ import annotations

import os
import uuid

import pytest

from app.core.errors import RateLimited
from app.core.ratelimit import MemoryCounters, RateLimiter, RedisCounters

REDIS_URL = os.environ.get("RISKAPI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def test_memory_limiter_refuses_past_the_limit_with_retry_after() -> None:
    limiter = RateLimiter(2, MemoryCounters())
    limiter.check("a")
    limiter.check("a")
    with pytest.raises(RateLimited) as refused:
        limiter.check("a")
    assert 1 <= int(refused.value.headers["Retry-After"]) <= 61
    limiter.check("b")  # per client


def test_zero_turns_the_limit_off() -> None:
    limiter = RateLimiter(0, MemoryCounters())
    for _ in range(1000):
        limiter.check("a")


def test_redis_counters_are_shared_between_limiters() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        if os.environ.get("CI"):
            pytest.fail(f"Redis at {REDIS_URL} is unreachable")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable")
    client_id = uuid.uuid4().hex
    first, second = RateLimiter(3, RedisCounters(REDIS_URL)), RateLimiter(3, RedisCounters(REDIS_URL))
    first.check(client_id)
    second.check(client_id)
    first.check(client_id)
    with pytest.raises(RateLimited):
        second.check(client_id)
