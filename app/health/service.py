"""Liveness and readiness: the database answers and its schema is at the migration head."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def alembic_config() -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    return config


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def database_revisions(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def readiness(engine: Engine, heads: set[str]) -> tuple[bool, str]:
    try:
        current = database_revisions(engine)
    except Exception as exc:  # any driver error means "not ready", never a 500
        return False, f"database unreachable ({type(exc).__name__})"
    if current != heads:
        return False, "database schema is not at the migration head; run 'riskapi db upgrade'"
    return True, "ready"
