"""PostgreSQL: one autocommit statement awaited on the pool's psycopg connection, without SQLAlchemy's
per-statement work.

`POST /v1/assessments` is, in its common case, one statement (ADR 0001). Awaited through an AsyncSession it
paid for the session, a greenlet hop per await, the compiled-cache lookup, parameter processing, an execution
context and a result object: about a third of the request's CPU, which is what limits throughput with two
workers (ADR 0001, round 5). Here the statement is compiled once per dialect, its values go through the bound
parameters' own SQLAlchemy types (`bind_processor` of the dialect's implementation: JSON through the engine's
serializer), and it runs on the psycopg connection checked out of the same pool, in autocommit, so it is
committed when it returns. Errors are raised as SQLAlchemy's exception classes, so the application's handlers
treat them as on any other path; a connection the error left broken is invalidated, not returned to the pool.
Only our own SQL reaches the statement; every value is a bound parameter.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from typing import Any

import psycopg
from sqlalchemy import TextClause
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import greenlet_spawn

from app.core.db import bind_processor


class _Compiled:
    def __init__(self, statement: TextClause, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.processors: dict[str, Callable[[Any], Any]] = {}
        for name, bind in compiled.binds.items():
            process = bind_processor(bind.type, dialect)
            if process is not None:
                self.processors[name] = process


_compiled: weakref.WeakKeyDictionary[Dialect, dict[TextClause, _Compiled]] = weakref.WeakKeyDictionary()


async def fetch_one(engine: AsyncEngine, statement: TextClause, params: Mapping[str, Any]) -> dict[str, Any]:
    """Run `statement` alone in autocommit and return its one row by column name."""
    dialect = engine.dialect
    statements = _compiled.get(dialect)
    if statements is None:
        statements = _compiled[dialect] = {}
    compiled = statements.get(statement)
    if compiled is None:
        compiled = statements[statement] = _Compiled(statement, dialect)
    values = dict(params)
    for name, process in compiled.processors.items():
        values[name] = process(values[name])
    # Checking out and returning may open, ping or reset a connection: SQLAlchemy's async pool awaits those
    # inside a greenlet. The statement itself is awaited on the event loop.
    try:
        pooled = await greenlet_spawn(engine.sync_engine.pool.connect)
    except psycopg.Error as exc:  # the pool raises the driver's own errors (the server is down, say)
        raise DBAPIError.instance(None, None, exc, psycopg.Error, hide_parameters=True) from exc
    try:
        connection: psycopg.AsyncConnection[Any] = pooled.driver_connection  # type: ignore[assignment]
        await connection.set_autocommit(True)
        try:
            cursor = connection.cursor()
            await cursor.execute(compiled.sql, values)
            row = await cursor.fetchone()
            assert row is not None
            assert cursor.description is not None
            return {column.name: value for column, value in zip(cursor.description, row, strict=True)}
        finally:
            if not connection.broken:
                await connection.set_autocommit(False)
    except psycopg.Error as exc:
        if connection.broken:
            await greenlet_spawn(pooled.invalidate, exc)
        raise DBAPIError.instance(compiled.sql, values, exc, psycopg.Error, hide_parameters=True) from exc
    finally:
        await greenlet_spawn(pooled.close)
