"""Two uvicorn workers against one PostgreSQL behave as one service: shared state lives in the database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session

from app.auth import service as auth_service
from app.auth.permissions import Role
from app.core.db import create_db_engine, make_sessionmaker
from tests.conftest import (
    create_postgres_database,
    drop_postgres_database,
    make_settings,
    migrate,
    rate_window,
    rate_window_with_room,
    require_postgres,
)
from tests.servers import start_server

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    admin = require_postgres()
    name = f"riskapi_scale_{uuid.uuid4().hex[:8]}"
    url = create_postgres_database(admin, name)
    migrate(url)
    yield url
    drop_postgres_database(admin, name)


def test_two_workers_share_rate_limit_counters_and_data(postgres_url: str, tmp_path: Path) -> None:
    settings = make_settings(postgres_url)
    engine = create_db_engine(settings)
    session: Session = make_sessionmaker(engine)()
    with session.begin():
        org = auth_service.create_organisation(session, "scale", "Scale test")
        key = auth_service.create_client(session, org.id, "admin", [Role.admin], secret_key=settings.secret_key).api_key
    session.close()
    engine.dispose()

    server = start_server(postgres_url, tmp_path / "server.log", workers=2, RISKAPI_RATE_LIMIT_PER_MINUTE="10")
    base = server.base
    try:
        window = rate_window_with_room(25)
        statuses = []
        for _ in range(40):  # a new connection each time, so the kernel spreads them over both workers
            with httpx.Client(base_url=base, timeout=10) as http:
                statuses.append(http.get("/v1/clients", headers={"Authorization": f"Bearer {key}"}).status_code)
        created = httpx.post(
            f"{base}/v1/clients", json={"name": "x", "roles": ["assessor"]}, headers={"Authorization": f"Bearer {key}"}
        )
        crossed = rate_window() != window
    finally:
        server.stop()
    assert not crossed, "the requests took longer than 25 s and crossed into the next rate-limit window"
    assert statuses.count(200) == 10, statuses
    assert statuses.count(429) == 30
    assert created.status_code == 429
