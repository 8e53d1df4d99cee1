"""Alembic is the only source of schema: upgrade to head, downgrade to base, and no drift from the models."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect

from app.health.service import alembic_config
from app.models_registry import Base
from tests.conftest import create_postgres_database, drop_postgres_database, require_postgres


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/migrations.db"
        return
    admin_url = require_postgres()
    name = f"riskapi_migrations_{uuid.uuid4().hex[:8]}"
    yield create_postgres_database(admin_url, name)
    drop_postgres_database(admin_url, name)


def _config(url: str):  # type: ignore[no-untyped-def]
    config = alembic_config()
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["configure_logging"] = False
    return config


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_and_no_drift(empty_database: str) -> None:
    config = _config(empty_database)
    command.upgrade(config, "head")
    assert _tables(empty_database) == set(Base.metadata.tables)
    command.check(config)  # raises when the models and the migrations disagree
    command.downgrade(config, "base")
    assert _tables(empty_database) == set()
    command.upgrade(config, "head")
    assert _tables(empty_database) == set(Base.metadata.tables)


def test_single_head() -> None:
    from alembic.script import ScriptDirectory

    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1
