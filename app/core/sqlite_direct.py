"""SQLite: one write transaction on the pool's DBAPI connection, without SQLAlchemy's per-statement work.

`POST /v1/assessments` writes five rows in one transaction. Through a Session each statement costs a compiled-cache
lookup, parameter processing, an execution context and a result object: together about a quarter of the request's
CPU on SQLite, where Python CPU is what limits throughput (ADR 0001, round 4). Here the same statements run on
the DBAPI cursor of the same pooled connection, with values converted by the columns' own SQLAlchemy types
(`bind_processor` of the dialect's implementation: UTC date-times, JSON through the engine's serializer), so a
row is byte-for-byte what the ORM path writes; tests/assessments/test_sqlite_direct.py compares the two. Errors
are raised as SQLAlchemy's exception classes, so the application's handlers treat them as on any other path.
Only our own table and column names reach the SQL text; every value is a bound parameter.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from app.core.db import BindProcessor, bind_processor


class _Insert:
    """`INSERT INTO table (keys) VALUES (?, ...)` and each key's bind processor."""

    def __init__(self, table: Table, keys: tuple[str, ...], dialect: Dialect) -> None:
        for column in table.c:
            if column.name not in keys and column.default is not None:
                raise ValueError(f"{table.name}.{column.name} has a Python-side default; pass its value")
        self.sql = f"INSERT INTO {table.name} ({', '.join(keys)}) VALUES ({', '.join('?' * len(keys))})"  # noqa: S608
        self.keys = keys
        self.processors = processors(table, keys, dialect)


def processors(table: Table, columns: Sequence[str], dialect: Dialect) -> tuple[BindProcessor, ...]:
    """The bind processor SQLAlchemy itself applies to each column's values on this dialect (None: as is)."""
    return tuple(bind_processor(table.c[name].type, dialect) for name in columns)


_processors: dict[tuple[Dialect, str, str], BindProcessor] = {}


def bind(table: Table, column: str, value: Any, dialect: Dialect) -> Any:
    """One value as SQLAlchemy binds it to `table.column` (the processor looked up once per dialect)."""
    key = (dialect, table.name, column)
    try:
        process = _processors[key]
    except KeyError:
        (process,) = processors(table, [column], dialect)
        _processors[key] = process
    return value if process is None else process(value)


def bound(values: Sequence[Any], processors: Sequence[BindProcessor]) -> tuple[Any, ...]:
    return tuple(
        value if process is None else process(value) for value, process in zip(values, processors, strict=True)
    )


_inserts: dict[tuple[Dialect, str, tuple[str, ...]], _Insert] = {}


class Transaction:
    """A cursor inside `BEGIN IMMEDIATE`; `commit()` ends it, anything else rolls it back (see `immediate`)."""

    def __init__(self, connection: Any, dialect: Dialect) -> None:
        self.connection = connection
        self.cursor = connection.cursor()
        self.dialect = dialect
        self.committed = False

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        try:
            return self.cursor.execute(sql, params)  # type: ignore[no-any-return]
        except sqlite3.Error as exc:
            raise _translated(sql, params, exc) from exc

    def insert(self, table: Table, values: Mapping[str, Any]) -> None:
        keys = tuple(sorted(values))
        cache_key = (self.dialect, table.name, keys)
        statement = _inserts.get(cache_key)
        if statement is None:
            statement = _inserts[cache_key] = _Insert(table, keys, self.dialect)
        self.execute(statement.sql, bound([values[key] for key in keys], statement.processors))

    def commit(self) -> None:
        self.execute("COMMIT")
        self.committed = True


def _translated(sql: str, params: Sequence[Any], exc: sqlite3.Error) -> BaseException:
    return DBAPIError.instance(sql, params, exc, sqlite3.Error, hide_parameters=True)


_FIRST_RETRY_SECONDS, _LONGEST_RETRY_SECONDS = 0.0002, 0.002


def _begin_immediate(transaction: Transaction, timeout: float) -> None:
    """BEGIN IMMEDIATE, retried every 0.2-2 ms while another process holds the write lock, up to `timeout`.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25 ... 100 ms between attempts, so with two workers a
    transaction of a few milliseconds could keep the other worker asleep for tens of milliseconds: the tail
    latency of bench/api.py's two-worker cells (ADR 0001, round 4)."""
    transaction.execute("PRAGMA busy_timeout = 0")
    try:
        deadline = time.monotonic() + timeout
        pause = _FIRST_RETRY_SECONDS
        while True:
            try:
                transaction.cursor.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() + pause > deadline:
                    raise _translated("BEGIN IMMEDIATE", (), exc) from exc
            time.sleep(pause)
            pause = min(pause * 2, _LONGEST_RETRY_SECONDS)
    finally:
        transaction.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")


@contextmanager
def immediate(engine: Engine, timeout: float) -> Iterator[Transaction]:
    """A write transaction on the engine's pooled connection (SQLite's write lock taken up front, as every
    transaction of the application takes it: app/core/db.py); rolled back unless committed. `timeout`: the
    seconds to wait for the write lock, which are also the connection's busy timeout (`db_timeout_seconds`)."""
    connection = engine.raw_connection()
    try:
        transaction = Transaction(connection, engine.dialect)
        _begin_immediate(transaction, timeout)
        try:
            yield transaction
        finally:
            if not transaction.committed:
                connection.rollback()
    finally:
        connection.close()
