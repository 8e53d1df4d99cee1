"""Fixed-window rate limits: requests per client, and failed authentications per source address. Counters live in
Redis when configured, else in the database for PostgreSQL (shared by every worker and replica), else in memory
(SQLite: each worker process counts on its own, so N workers allow N times the limit; README, "Limits")."""

from __future__ import annotations

import hashlib
import ipaddress
import threading
import time
from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network
from typing import Protocol

from sqlalchemy import Engine, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.config import Settings
from app.core.db import Base
from app.core.errors import RateLimited

WINDOW_SECONDS = 60


class RateLimitCounter(Base):
    __tablename__ = "rate_limit_counters"

    client_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    window: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class CounterStore(Protocol):
    blocking: bool  # whether increment() does I/O (then it runs in the threadpool, off the event loop)

    def increment(self, client_id: str, window: int) -> int: ...

    def count(self, client_id: str, window: int) -> int: ...


class MemoryCounters:
    blocking = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, int], int] = {}

    def increment(self, client_id: str, window: int) -> int:
        with self._lock:
            if len(self._counts) > 10_000:
                self._counts = {k: v for k, v in self._counts.items() if k[1] >= window}
            key = (client_id, window)
            self._counts[key] = self._counts.get(key, 0) + 1
            return self._counts[key]

    def count(self, client_id: str, window: int) -> int:
        with self._lock:
            return self._counts.get((client_id, window), 0)


class RedisCounters:
    blocking = True

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def increment(self, client_id: str, window: int) -> int:
        key = f"riskapi:rl:{client_id}:{window}"
        pipe = self._redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, WINDOW_SECONDS * 2)
        count, _ = pipe.execute()
        return int(count)

    def count(self, client_id: str, window: int) -> int:
        value = self._redis.get(f"riskapi:rl:{client_id}:{window}")
        return int(value) if value is not None else 0


class DatabaseCounters:
    """PostgreSQL: an upsert in its own short autocommit transaction, never in the request's."""

    blocking = True

    def __init__(self, engine: Engine) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")

    def increment(self, client_id: str, window: int) -> int:
        with self._engine.connect() as conn:
            count = conn.execute(
                text(
                    'INSERT INTO rate_limit_counters (client_id, "window", count) VALUES (:c, :w, 1) '
                    'ON CONFLICT (client_id, "window") DO UPDATE SET count = rate_limit_counters.count + 1 '
                    "RETURNING count"
                ),
                {"c": client_id, "w": window},
            ).scalar_one()
            if count == 1:
                conn.execute(text('DELETE FROM rate_limit_counters WHERE "window" < :w'), {"w": window - 1})
            return int(count)

    def count(self, client_id: str, window: int) -> int:
        with self._engine.connect() as conn:
            count = conn.execute(
                text('SELECT count FROM rate_limit_counters WHERE client_id = :c AND "window" = :w'),
                {"c": client_id, "w": window},
            ).scalar_one_or_none()
            return int(count or 0)


class RateLimiter:
    def __init__(
        self, limit_per_minute: int, store: CounterStore | None, counted: str = "requests per minute per client"
    ) -> None:
        self.limit = limit_per_minute
        self.store = store
        self.counted = counted

    @property
    def blocking(self) -> bool:
        return self.limit > 0 and self.store is not None and self.store.blocking

    def check(self, client_id: str) -> None:
        """Counts one more for `client_id`; refuses (429) once the window's count passes the limit."""
        if self.limit <= 0 or self.store is None:
            return
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        if self.store.increment(client_id, window) > self.limit:
            self._refuse(now, window)

    def refuse_if_exhausted(self, client_id: str) -> None:
        """Refuses (429) when `client_id` has used up the window's limit, without counting this request."""
        if self.limit <= 0 or self.store is None:
            return
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        if self.store.count(client_id, window) >= self.limit:
            self._refuse(now, window)

    def _refuse(self, now: float, window: int) -> None:
        retry_after = max(1, int((window + 1) * WINDOW_SECONDS - now) + 1)
        raise RateLimited(f"Limit is {self.limit} {self.counted}", headers={"Retry-After": str(retry_after)})


TrustedProxies = Sequence[IPv4Network | IPv6Network]


def source_address(peer: str | None, forwarded_for: Sequence[str], trusted_proxies: TrustedProxies) -> str:
    """The address a request came from: the peer, unless the peer is a trusted proxy; then the right-most address
    of X-Forwarded-For that is not a trusted proxy (each trusted proxy appends its own peer, so everything right of
    that entry was written by a proxy we trust; anything left of it may be forged)."""
    if peer is None or not _is_trusted(peer, trusted_proxies):
        return peer or "unknown"
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted_proxies):
            return hop
    return hops[0] if hops else peer


def _is_trusted(address: str, trusted_proxies: TrustedProxies) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted_proxies)


def failure_counter_id(address: str) -> str:
    """The counter row of an address's failed authentications: a digest (fits the 36-character client_id column,
    never collides with a client's UUID, and keeps addresses out of the database and Redis)."""
    return "af:" + hashlib.blake2b(address.encode("utf-8", "replace"), digest_size=16).hexdigest()


def build_rate_limiters(settings: Settings, engine: Engine) -> tuple[RateLimiter, RateLimiter]:
    """(requests per client, failed authentications per source address), over one counter store."""
    store: CounterStore | None = None
    if settings.rate_limit_per_minute > 0 or settings.auth_failures_per_minute > 0:
        if settings.redis_url:
            store = RedisCounters(settings.redis_url)
        elif settings.is_sqlite:
            store = MemoryCounters()
        else:
            store = DatabaseCounters(engine)
    return (
        RateLimiter(settings.rate_limit_per_minute, store),
        RateLimiter(settings.auth_failures_per_minute, store, "failed authentications per minute per address"),
    )
