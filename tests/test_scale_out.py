"""Two uvicorn workers against one PostgreSQL behave as one service: shared state lives in the database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session

from app.auth import service as auth_service
from app.auth.permissions import Role
from app.core.db import create_db_engine, make_sessionmaker
from tests.conftest import create_postgres_database, drop_postgres_database, make_settings, migrate, require_postgres

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def postgres_url() -> Iterator[str]:
    admin = require_postgres()
    name = f"riskapi_scale_{uuid.uuid4().hex[:8]}"
    url = create_postgres_database(admin, name)
    migrate(url)
    yield url
    drop_postgres_database(admin, name)


def start_server(url: str, workers: int, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    environment = {
        **os.environ,
        "RISKAPI_DATABASE_URL": url,
        "RISKAPI_ENVIRONMENT": "test",
        "RISKAPI_LOG_LEVEL": "WARNING",
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", str(workers)],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError("server did not become ready")


def test_two_workers_share_rate_limit_counters_and_data(postgres_url: str) -> None:
    engine = create_db_engine(make_settings(postgres_url))
    session: Session = make_sessionmaker(engine)()
    with session.begin():
        org = auth_service.create_organisation(session, "scale", "Scale test")
        key = auth_service.create_client(session, org.id, "admin", [Role.admin]).api_key
    session.close()
    engine.dispose()

    process, base = start_server(postgres_url, workers=2, RISKAPI_RATE_LIMIT_PER_MINUTE="10")
    try:
        statuses = []
        for _ in range(40):  # a new connection each time, so the kernel spreads them over both workers
            with httpx.Client(base_url=base, timeout=10) as http:
                statuses.append(http.get("/v1/clients", headers={"Authorization": f"Bearer {key}"}).status_code)
        created = httpx.post(
            f"{base}/v1/clients", json={"name": "x", "roles": ["assessor"]}, headers={"Authorization": f"Bearer {key}"}
        )
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert statuses.count(200) == 10, statuses
    assert statuses.count(429) == 30
    assert created.status_code == 429
