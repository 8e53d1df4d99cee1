"""app/core/sqlite_direct.py on its own: SQLAlchemy's exception classes, rollback unless committed, the pool."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, select
from sqlalchemy.exc import IntegrityError, OperationalError

from app.core import sqlite_direct
from app.core.config import Environment, Settings
from app.core.db import UTCDateTime, create_db_engine, json_serializer

METADATA = MetaData()
THINGS = Table(
    "things",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", String(10), nullable=False),
    Column("at", UTCDateTime()),
    Column("doc", JSON()),
)
WITH_DEFAULT = Table("defaulted", METADATA, Column("id", Integer, primary_key=True), Column("n", Integer, default=1))


@pytest.fixture
def engine(tmp_path: Path) -> Any:
    engine = create_db_engine(Settings(database_url=f"sqlite:///{tmp_path}/t.db", environment=Environment.test))
    METADATA.create_all(engine)
    yield engine
    engine.dispose()


def rows(engine: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(THINGS).order_by(THINGS.c.id))]


def test_committed_rows_read_back_through_sqlalchemy_with_their_types(engine: Any) -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    with sqlite_direct.immediate(engine, 5) as transaction:
        transaction.insert(THINGS, {"id": 1, "name": "a", "at": at, "doc": {"k": [1, "x"]}})
        transaction.commit()
    assert rows(engine) == [(1, "a", at, {"k": [1, "x"]})]
    assert sqlite_direct.bind(THINGS, "doc", {"b": 1, "a": None}, engine.dialect) == json_serializer(
        {"b": 1, "a": None}
    )


def test_anything_but_commit_rolls_back(engine: Any) -> None:
    with sqlite_direct.immediate(engine, 5) as transaction:
        transaction.insert(THINGS, {"id": 1, "name": "a", "at": None, "doc": None})
    with pytest.raises(RuntimeError, match="half-way"):
        fail_half_way(engine)
    assert rows(engine) == []
    with sqlite_direct.immediate(engine, 5) as transaction:  # the pool's one connection is back and unlocked
        transaction.insert(THINGS, {"id": 3, "name": "c", "at": None, "doc": None})
        transaction.commit()
    assert [row[0] for row in rows(engine)] == [3]


def fail_half_way(engine: Any) -> None:
    with sqlite_direct.immediate(engine, 5) as transaction:
        transaction.insert(THINGS, {"id": 2, "name": "b", "at": None, "doc": None})
        raise RuntimeError("half-way")


def test_errors_are_sqlalchemys(engine: Any) -> None:
    with sqlite_direct.immediate(engine, 5) as transaction:
        transaction.insert(THINGS, {"id": 1, "name": "a", "at": None, "doc": None})
        with pytest.raises(IntegrityError):
            transaction.insert(THINGS, {"id": 1, "name": "again", "at": None, "doc": None})
        with pytest.raises(OperationalError):
            transaction.execute("SELECT nothing FROM nowhere")


def test_a_column_with_a_python_default_must_be_given(engine: Any) -> None:
    with sqlite_direct.immediate(engine, 5) as transaction, pytest.raises(ValueError, match=r"defaulted\.n"):
        transaction.insert(WITH_DEFAULT, {"id": 1})
