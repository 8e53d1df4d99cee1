"""Liveness and readiness: the database answers and its schema is at the migration head."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

SOURCE_ROOT = Path(__file__).resolve().parents[2]


def _migrations_root() -> Path:
    """The source checkout in development; the working directory in an installed image (see Dockerfile)."""
    for root in (SOURCE_ROOT, Path.cwd()):
        if (root / "alembic.ini").is_file() and (root / "migrations").is_dir():
            return root
    raise FileNotFoundError("alembic.ini and migrations/ not found next to the package or in the working directory")


def alembic_config() -> Config:
    root = _migrations_root()
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root / "migrations"))
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
