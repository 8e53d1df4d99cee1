"""Shared fixtures: every API test runs on SQLite and, when RISKAPI_TEST_POSTGRES_URL is set, on PostgreSQL.

Each test gets a freshly migrated schema: SQLite copies a migrated template file; PostgreSQL migrates one database
per test worker once and truncates every table after each test (but the ones migrations fill: alembic_version
and event_log_start).
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from alembic import command
from fastapi import FastAPI
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from app.auth import service as auth_service
from app.auth.permissions import Role
from app.core.config import Environment, Settings
from app.core.ratelimit import WINDOW_SECONDS
from app.health.service import alembic_config
from app.main import create_app

POSTGRES_URL_ENV = "RISKAPI_TEST_POSTGRES_URL"


def migrate(url: str, revision: str = "head") -> None:
    config = alembic_config()
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["configure_logging"] = False
    command.upgrade(config, revision)


def postgres_admin_url() -> str | None:
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {POSTGRES_URL_ENV} is not: the PostgreSQL half of the suite must run")
        return None
    return url


def require_postgres() -> str:
    url = postgres_admin_url()
    if url is None:
        pytest.skip(f"set {POSTGRES_URL_ENV} to run this test on PostgreSQL")
    try:
        engine = create_engine(url)
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:
        message = f"PostgreSQL at {POSTGRES_URL_ENV} is unreachable: {type(exc).__name__}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return url


def create_postgres_database(admin_url: str, name: str) -> str:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(admin_url: str, name: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def new_database(backend: str, tmp_path: Path, prefix: str) -> Iterator[str]:
    """An empty database's URL for a test parametrised over `sqlite` and `postgres`; a PostgreSQL one is dropped
    afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / f'{prefix}.db'}"
        return
    admin_url = require_postgres()
    name = f"riskapi_{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        yield create_postgres_database(admin_url, name)
    finally:
        drop_postgres_database(admin_url, name)


def truncate_all(engine: Engine) -> None:
    with engine.begin() as conn:
        tables = [
            r[0]
            for r in conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename NOT IN ('alembic_version', 'event_log_start')"
                )
            )
        ]
        if tables:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_worker_url() -> Iterator[str]:
    admin_url = require_postgres()
    name = f"riskapi_test_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"
    url = create_postgres_database(admin_url, name)
    migrate(url)
    yield url
    drop_postgres_database(admin_url, name)


def backends() -> list[object]:
    return ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "riskapi.db"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    url: str = request.getfixturevalue("postgres_worker_url")
    yield url
    engine = create_engine(url)
    truncate_all(engine)
    engine.dispose()


def rate_window() -> int:
    """The number of the rate limiter's current fixed window."""
    return int(time.time() // WINDOW_SECONDS)


def rate_window_with_room(seconds_needed: float) -> int:
    """The current window, entered afresh when fewer than `seconds_needed` remain in the one before, so a test's
    requests all count in one window."""
    remaining = WINDOW_SECONDS - time.time() % WINDOW_SECONDS
    if remaining < seconds_needed:
        time.sleep(remaining + 0.05)
    return rate_window()


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": Environment.test,
        "database_url": database_url,
        "rate_limit_per_minute": 0,
        "auth_failures_per_minute": 0,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    application = create_app(settings)
    yield application
    application.state.engine.dispose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@dataclass
class Tenant:
    """An organisation with one API key per role set the test asked for."""

    organisation_id: str
    slug: str
    keys: dict[str, str] = field(default_factory=dict)

    def headers(self, *roles: Role | str, acting_user: str | None = "user-1") -> dict[str, str]:
        name = ",".join(sorted(str(r) for r in roles)) if roles else "all"
        headers = {"Authorization": f"Bearer {self.keys[name]}"}
        if acting_user is not None:
            headers["X-Acting-User"] = acting_user
        return headers


def make_tenant(app: FastAPI, *role_sets: tuple[Role, ...]) -> Tenant:
    secret_key = app.state.settings.secret_key
    session: Session = app.state.sessionmaker()
    with session.begin():
        slug = f"org-{uuid.uuid4().hex[:10]}"
        organisation = auth_service.create_organisation(session, slug, f"Organisation {slug}")
        tenant = Tenant(organisation.id, slug)
        tenant.keys["all"] = auth_service.create_client(
            session, organisation.id, "all roles", list(Role), secret_key=secret_key
        ).api_key
        for roles in role_sets:
            name = ",".join(sorted(str(r) for r in roles))
            tenant.keys[name] = auth_service.create_client(
                session, organisation.id, name, list(roles), secret_key=secret_key
            ).api_key
    session.close()
    return tenant


SINGLE_ROLES = tuple((role,) for role in Role)


@pytest.fixture
def tenant(app: FastAPI) -> Tenant:
    return make_tenant(app, *SINGLE_ROLES)


@pytest.fixture
def other_tenant(app: FastAPI) -> Tenant:
    return make_tenant(app, *SINGLE_ROLES)
