"""Database engine, declarative base and the per-request transaction."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar

import orjson
from fastapi import Depends, Request
from sqlalchemy import DateTime, Engine, MetaData, TypeDecorator, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import QueuePool
from starlette.concurrency import run_in_threadpool

from app.core.config import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on both databases (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


def json_serializer(value: Any) -> str:
    """JSON columns' text, via orjson (several times faster than `json.dumps` on results and answers); values it
    refuses (integers beyond 64 bits) take the standard library. Hashes never depend on this text (ADR 0003)."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)


def _sqlite_file(url: str) -> Path | None:
    path = url.split("///", 1)[1] if "///" in url else ""
    if not path or path.startswith(":memory:"):
        return None
    return Path(path.split("?", 1)[0])


def create_db_engine(settings: Settings) -> Engine:
    url = settings.database_url
    if settings.is_sqlite:
        sqlite_file = _sqlite_file(url)
        if sqlite_file is not None:
            sqlite_file.parent.mkdir(parents=True, exist_ok=True)
        # One connection per process: SQLite serialises writers anyway, and queueing in the pool instead of
        # in SQLite's busy handler keeps tail latency low (see docs/adr/0001).
        engine = create_engine(
            url,
            poolclass=QueuePool,
            pool_size=1,
            max_overflow=0,
            pool_timeout=settings.db_timeout_seconds,
            json_serializer=json_serializer,
            connect_args={"check_same_thread": False, "timeout": settings.db_timeout_seconds},
        )
        _configure_sqlite(engine, sqlite_file is not None)
        return engine
    engine = create_engine(url, **_postgresql_options(settings))
    _ping_when_idle(engine)
    return engine


# A pooled connection idle for longer than this is pinged before use (SQLAlchemy's pool_pre_ping pings every
# checkout: a round trip and ~7 % of a create's CPU, bench/results.md, write path, round 4). One busy for less
# than this was in use a moment ago; if the server went away since, that request gets a 503 and SQLAlchemy
# recycles the whole pool.
PING_AFTER_IDLE_SECONDS = 1.0


def _ping_when_idle(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool discards this connection and checks out (or opens) another
            raise DisconnectionError(f"ping failed: {type(exc).__name__}") from exc
        if not alive:
            raise DisconnectionError("ping failed")


def _postgresql_options(settings: Settings) -> dict[str, Any]:
    timeout_ms = int(settings.db_timeout_seconds * 1000)
    return {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_pool_size,
        "pool_timeout": settings.db_timeout_seconds,
        "json_serializer": json_serializer,
        "connect_args": {
            "connect_timeout": max(1, int(settings.db_timeout_seconds)),
            "options": f"-c statement_timeout={timeout_ms} -c lock_timeout={timeout_ms}",
        },
    }


_SQLITE_FUNCTIONS: dict[str, tuple[int, Callable[..., Any]]] = {}


def register_sqlite_function(name: str, arguments: int, function: Callable[..., Any]) -> None:
    """A deterministic SQL function every SQLite connection gets, for a statement whose PostgreSQL form uses a
    built-in function SQLite lacks (the statement's construct compiles to `name(...)` on SQLite)."""
    _SQLITE_FUNCTIONS[name] = (arguments, function)


def _configure_sqlite(engine: Engine, on_disk: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (pysqlite's own handling is broken)
        for name, (arguments, function) in _SQLITE_FUNCTIONS.items():
            dbapi_connection.create_function(name, arguments, function, deterministic=True)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if on_disk:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front, so a transaction never fails half-way on a lock upgrade.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


def _finish(session: Session, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One transaction per request: commit after the handler returns, roll back on any error.

    Async so that entering costs no threadpool hop (the session connects lazily, in the handler's thread), and
    so that leaving costs none either when the handler already finished the transaction itself (the create
    route commits in its endpoint's thread, before its 201). Otherwise the commit or rollback runs in the
    threadpool.
    """
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
    except BaseException:
        if session.in_transaction():
            await run_in_threadpool(_finish, session, False)
        else:
            session.close()
        raise
    if session.in_transaction():
        await run_in_threadpool(_finish, session, True)
    else:
        session.close()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
