"""Per-client fixed-window rate limit. Counters live in Redis when configured, else in the database for
PostgreSQL (shared by every worker and replica), else in memory (the embedded SQLite default: one process)."""

from __future__ import annotations

import threading
import time
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


class RateLimiter:
    def __init__(self, limit_per_minute: int, store: CounterStore | None) -> None:
        self.limit = limit_per_minute
        self.store = store

    @property
    def blocking(self) -> bool:
        return self.limit > 0 and self.store is not None and self.store.blocking

    def check(self, client_id: str) -> None:
        if self.limit <= 0 or self.store is None:
            return
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        if self.store.increment(client_id, window) > self.limit:
            retry_after = max(1, int((window + 1) * WINDOW_SECONDS - now) + 1)
            raise RateLimited(
                f"Limit is {self.limit} requests per minute per client",
                headers={"Retry-After": str(retry_after)},
            )


def build_rate_limiter(settings: Settings, engine: Engine) -> RateLimiter:
    if settings.rate_limit_per_minute <= 0:
        return RateLimiter(0, None)
    store: CounterStore
    if settings.redis_url:
        store = RedisCounters(settings.redis_url)
    elif settings.is_sqlite:
        store = MemoryCounters()
    else:
        store = DatabaseCounters(engine)
    return RateLimiter(settings.rate_limit_per_minute, store)
