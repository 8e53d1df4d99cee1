"""The database goes away mid-run: clear 503s with Retry-After, bounded waits, liveness up, and self-recovery."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from app.auth import service as auth_service
from app.auth.permissions import Role
from app.core.db import create_db_engine, make_sessionmaker
from app.rulesets.seed import seed_default_content
from tests.conftest import make_settings, migrate
from tests.hardening.support import SOAK, ThrowawayPostgres, assessment_body
from tests.servers import start_server

pytestmark = [pytest.mark.postgres, pytest.mark.xdist_group("servers")]

DB_TIMEOUT = 2.0
# A limit, not a stopwatch: no answer may take longer than the configured database timeout plus a margin.
CLIENT_TIMEOUT = DB_TIMEOUT + 3.0
PROBLEM = "application/problem+json"


@pytest.fixture
def throwaway() -> Iterator[ThrowawayPostgres]:
    try:
        postgres = ThrowawayPostgres()
    except (FileNotFoundError, OSError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"cannot start a throwaway PostgreSQL: {exc}")
        pytest.skip(f"cannot start a throwaway PostgreSQL: {exc}")
    try:
        postgres.start()
        engine = create_engine(postgres.url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("CREATE DATABASE riskapi"))
        engine.dispose()
        postgres.url = postgres.url.rsplit("/", 1)[0] + "/riskapi"
        migrate(postgres.url)
        yield postgres
    finally:
        postgres.destroy()


def seed_and_key(url: str) -> str:
    settings = make_settings(url)
    engine = create_db_engine(settings)
    session: Session = make_sessionmaker(engine)()
    with session.begin():
        seed_default_content(session)
        organisation = auth_service.create_organisation(session, "outage", "Outage test")
        key = auth_service.create_client(
            session, organisation.id, "all", list(Role), secret_key=settings.secret_key
        ).api_key
    session.close()
    engine.dispose()
    return key


def assert_unavailable(response: httpx.Response, where: str) -> None:
    assert response.status_code == 503, f"{where}: {response.status_code} {response.text[:300]}"
    assert response.headers["content-type"] == PROBLEM, where
    assert int(response.headers["retry-after"]) >= 1, where
    assert response.json()["type"] == "/problems/service-unavailable", where


def test_outage_answers_503_with_retry_after_and_recovers_by_itself(
    throwaway: ThrowawayPostgres, tmp_path: Path
) -> None:
    outages_and_recoveries(throwaway, tmp_path, rounds=1)


@pytest.mark.slow
@pytest.mark.skipif(not SOAK, reason="a soak variant: run by `make soak`")
def test_soak_repeated_outages(throwaway: ThrowawayPostgres, tmp_path: Path) -> None:
    outages_and_recoveries(throwaway, tmp_path, rounds=10)


def outages_and_recoveries(throwaway: ThrowawayPostgres, tmp_path: Path, rounds: int) -> None:
    key = seed_and_key(throwaway.url)
    headers = {"Authorization": f"Bearer {key}", "X-Acting-User": "outage-tester"}
    server = start_server(
        throwaway.url, tmp_path / "server.log", RISKAPI_DB_TIMEOUT_SECONDS=str(DB_TIMEOUT), RISKAPI_DB_POOL_SIZE="4"
    )
    figures = {"requests": 0, "503": 0, "outages": 0}
    try:
        with httpx.Client(base_url=server.base, timeout=CLIENT_TIMEOUT, headers=headers) as http:
            for _ in range(rounds):
                created = http.post("/v1/assessments", json=assessment_body("case-before-outage"))
                assert created.status_code == 201, created.text

                # In-flight load when the database stops: every answer is a success or a 503, never a 500 or a hang.
                def one(i: int) -> int:
                    with httpx.Client(base_url=server.base, timeout=CLIENT_TIMEOUT, headers=headers) as own:
                        return own.post("/v1/assessments", json=assessment_body(f"case-during-{i}")).status_code

                with ThreadPoolExecutor(8) as pool:
                    futures = [pool.submit(one, i) for i in range(40)]
                    time.sleep(0.05)
                    throwaway.stop("immediate")
                    figures["outages"] += 1
                    statuses = [f.result() for f in futures]  # a hang would raise httpx.ReadTimeout here
                figures["requests"] += len(statuses) + 1
                assert set(statuses) <= {201, 503}, statuses

                for method, url, body in [
                    ("POST", "/v1/assessments", assessment_body("case-in-outage")),
                    ("GET", "/v1/assessments", None),
                    ("GET", "/v1/clients", None),
                    ("GET", "/v1/rulesets", None),
                    ("GET", f"/v1/assessments/{created.json()['id']}", None),
                ]:
                    response = http.request(method, url, json=body)
                    assert_unavailable(response, f"{method} {url}")
                    figures["requests"] += 1
                    figures["503"] += 1
                ready = http.get("/readyz")
                assert_unavailable(ready, "/readyz")
                assert http.get("/healthz").status_code == 200

                throwaway.start()
                deadline = time.monotonic() + 30
                while True:  # the service reconnects by itself: no restart, no operator
                    response = http.get(f"/v1/assessments/{created.json()['id']}")
                    figures["requests"] += 1
                    if response.status_code == 200:
                        break
                    assert response.status_code == 503, response.text
                    assert time.monotonic() < deadline, "the service did not recover within 30 s"
                    time.sleep(0.5)
                assert http.get("/readyz").status_code == 200
                again = http.post("/v1/assessments", json=assessment_body("case-after-outage"))
                assert again.status_code == 201, again.text
                figures["requests"] += 2
    finally:
        server.stop()
    log = server.log()
    assert '"status": 500' not in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    print(f"\nDB OUTAGE FIGURES: {figures}")
