from __future__ import annotations

import ipaddress
import os
import uuid

import pytest

from app.core.errors import RateLimited
from app.core.ratelimit import MemoryCounters, RateLimiter, RedisCounters, failure_counter_id, source_address

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
        second.refuse_if_exhausted(client_id)  # reads the shared count without adding to it
    with pytest.raises(RateLimited):
        second.check(client_id)


def test_refuse_if_exhausted_does_not_count() -> None:
    limiter = RateLimiter(2, MemoryCounters())
    for _ in range(5):
        limiter.refuse_if_exhausted("a")
    limiter.check("a")
    limiter.check("a")
    with pytest.raises(RateLimited):
        limiter.refuse_if_exhausted("a")


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


def test_failure_counters_fit_the_counter_column_and_hide_the_address() -> None:
    counter = failure_counter_id("2001:0db8:85a3:0000:0000:8a2e:0370:7334")
    assert len(counter) <= 36
    assert "2001" not in counter
