"""Fixed-window rate limits from the `limits` library: requests per client, and failed authentications per source
address. Counters live in Redis when configured, else in the database for PostgreSQL (shared by every worker and
replica), else in memory (SQLite: each worker process counts on its own, so N workers allow N times the limit;
README, "Limits"). `limits` has no SQL storage: `DatabaseStorage` is this project's (ADR 0005, "Rate limiting")."""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import Engine, Integer, String, bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column

from app.core.config import Settings
from app.core.db import Base
from app.core.errors import RateLimited

WINDOW_SECONDS = 60
REDIS_KEY_PREFIX = "riskapi"
REDIS_TIMEOUT_SECONDS = 2


class RateLimitCounter(Base):
    __tablename__ = "rate_limit_counters"

    client_id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the digest of a `limits` key
    window: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


# Built once: building it per request cost about 0.5 ms of CPU (bench/results.md, "Issue 14: CPU hot spots").
_NEW_COUNTER = insert(RateLimitCounter).values(
    client_id=bindparam("client_id"), window=bindparam("window"), count=bindparam("amount")
)
_INCREMENT = _NEW_COUNTER.on_conflict_do_update(
    index_elements=[RateLimitCounter.client_id, RateLimitCounter.window],
    set_={"count": RateLimitCounter.count + _NEW_COUNTER.excluded["count"]},
).returning(RateLimitCounter.count)
_DROP_OLD_WINDOWS = delete(RateLimitCounter).where(RateLimitCounter.window < bindparam("oldest_kept"))


class DatabaseStorage(Storage):
    """PostgreSQL counters for the fixed-window strategy: one row per key and clock-aligned window, each increment
    an upsert in its own short autocommit transaction, never in the request's. Rows hold a digest of the key (a
    `limits` key is longer than the column and may carry a source address)."""

    def __init__(self, engine: Engine, window_seconds: int = WINDOW_SECONDS) -> None:
        super().__init__()
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._window_seconds = window_seconds

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        if expiry != self._window_seconds:
            raise ValueError(f"this storage counts windows of {self._window_seconds} s, not {expiry} s")
        window = self._window()
        with self._engine.connect() as conn:
            params = {"client_id": _digest(key), "window": window, "amount": amount}
            count = conn.execute(_INCREMENT, params).scalar_one()
            if count == amount:  # the key's first hit in this window: drop the windows before the previous one
                conn.execute(_DROP_OLD_WINDOWS, {"oldest_kept": window - 1})
        return int(count)

    def get(self, key: str) -> int:
        with self._engine.connect() as conn:
            count = conn.execute(
                select(RateLimitCounter.count).where(
                    RateLimitCounter.client_id == _digest(key), RateLimitCounter.window == self._window()
                )
            ).scalar_one_or_none()
        return int(count or 0)

    def get_expiry(self, key: str) -> float:
        return float((self._window() + 1) * self._window_seconds)

    def check(self) -> bool:
        try:
            with self._engine.connect() as conn:
                conn.execute(select(1))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with self._engine.connect() as conn:
            return conn.execute(delete(RateLimitCounter)).rowcount

    def clear(self, key: str) -> None:
        with self._engine.connect() as conn:
            conn.execute(delete(RateLimitCounter).where(RateLimitCounter.client_id == _digest(key)))

    def _window(self) -> int:
        return int(time.time() // self._window_seconds)


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=16).hexdigest()


class RateLimiter:
    """`limit_per_minute` hits per identifier in each fixed window (0 or no storage: no limit)."""

    def __init__(
        self,
        limit_per_minute: int,
        storage: Storage | None,
        *,
        namespace: str = "requests",
        counted: str = "requests per minute per client",
    ) -> None:
        self.limit = limit_per_minute
        self.counted = counted
        self._item = RateLimitItemPerMinute(max(limit_per_minute, 1), namespace=namespace)
        self._strategy = FixedWindowRateLimiter(storage) if storage is not None and limit_per_minute > 0 else None
        # whether a check does I/O (then it runs in the threadpool, off the event loop)
        self.blocking = self._strategy is not None and not isinstance(storage, MemoryStorage)

    def check(self, identifier: str) -> None:
        """Counts one more for `identifier`; refuses (429) once the window's count passes the limit."""
        if self._strategy is not None and not self._strategy.hit(self._item, identifier):
            self._refuse(self._strategy, identifier)

    def refuse_if_exhausted(self, identifier: str) -> None:
        """Refuses (429) when `identifier` has used up the window's limit, without counting this request."""
        if self._strategy is not None and not self._strategy.test(self._item, identifier):
            self._refuse(self._strategy, identifier)

    def _refuse(self, strategy: FixedWindowRateLimiter, identifier: str) -> None:
        reset_at = strategy.get_window_stats(self._item, identifier).reset_time
        retry_after = max(1, math.ceil(reset_at - time.time()))
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
    """What an address's failed authentications are counted under: a digest, which keeps addresses out of the
    counters in Redis and the database."""
    return _digest(address)


def counter_storage(settings: Settings, engine: Engine) -> Storage | None:
    """Where the counters live: Redis when configured, else memory on SQLite, else the PostgreSQL database."""
    if settings.rate_limit_per_minute <= 0 and settings.auth_failures_per_minute <= 0:
        return None
    if settings.redis_url:
        return RedisStorage(
            settings.redis_url,
            key_prefix=REDIS_KEY_PREFIX,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
    if settings.is_sqlite:
        return MemoryStorage()
    return DatabaseStorage(engine)


def build_rate_limiters(settings: Settings, engine: Engine) -> tuple[RateLimiter, RateLimiter]:
    """(requests per client, failed authentications per source address), over one counter storage."""
    storage = counter_storage(settings, engine)
    return (
        RateLimiter(settings.rate_limit_per_minute, storage),
        RateLimiter(
            settings.auth_failures_per_minute,
            storage,
            namespace="auth-failures",
            counted="failed authentications per minute per address",
        ),
    )
