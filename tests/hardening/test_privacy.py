"""The logs of a full run (a real server's stdout: structlog JSON, uvicorn, errors) never carry case data:
no answer value, no subject reference, no free text, no API key."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session

from app.auth import service as auth_service
from app.auth.permissions import Role
from app.core.db import create_db_engine, make_sessionmaker
from app.rulesets.seed import seed_default_content
from tests.conftest import make_settings, migrate
from tests.hardening.support import (
    FREE_TEXT_MARKER,
    SUBJECT_MARKER,
    answers_with_free_text,
    assessment_body,
)
from tests.servers import start_server

pytestmark = pytest.mark.xdist_group("servers")

OVERRIDE_MARKER = "Override-Jr5Ns8Marker rationale"
ERROR_MARKER = "Error-Wt3Lq6Marker reason"
ACTING_USER = "nurse-Hy6Pd1Marker"


def test_a_full_run_logs_no_case_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'privacy.db'}"
    migrate(url)
    settings = make_settings(url)
    engine = create_db_engine(settings)
    session: Session = make_sessionmaker(engine)()
    with session.begin():
        seed_default_content(session)
        organisation = auth_service.create_organisation(session, "privacy", "Privacy test")
        key = auth_service.create_client(
            session, organisation.id, "all", list(Role), secret_key=settings.secret_key
        ).api_key
    session.close()
    engine.dispose()

    log = tmp_path / "server.log"
    server = start_server(url, log, RISKAPI_LOG_LEVEL="DEBUG")
    answers = answers_with_free_text()
    subject = f"{SUBJECT_MARKER}-{uuid.uuid4().hex[:4]}"
    headers = {"Authorization": f"Bearer {key}", "X-Acting-User": ACTING_USER}
    statuses: list[int] = []
    try:
        with httpx.Client(base_url=server.base, timeout=30, headers=headers) as http:

            def call(method: str, path: str, **kwargs: object) -> httpx.Response:
                response = http.request(method, path, **kwargs)  # type: ignore[arg-type]
                statuses.append(response.status_code)
                return response

            created = call("POST", "/v1/assessments", json=assessment_body(subject, answers))
            assert created.status_code == 201, created.text
            ident = created.json()["id"]
            call("GET", f"/v1/assessments/{ident}")
            call("GET", "/v1/assessments", params={"subject_ref": subject})
            call("GET", f"/v1/assessments/{ident}/report")
            call("GET", f"/v1/assessments/{ident}/replay")
            call("POST", f"/v1/assessments/{ident}/rescore", params={"ruleset_version": 1})
            amended = call("POST", f"/v1/assessments/{ident}/revisions", json={"answers": answers})
            latest = amended.json().get("id", ident)
            call(
                "POST", f"/v1/assessments/{latest}/override", json={"level": "immediate", "rationale": OVERRIDE_MARKER}
            )
            call("POST", f"/v1/assessments/{latest}/entered-in-error", json={"reason": ERROR_MARKER})
            call("POST", "/v1/rulesets/online-harm-england/versions/1/evaluate", json={"answers": answers})
            call("GET", "/v1/audit/events", params={"subject_ref": subject})
            call("GET", "/v1/audit/verify")
            # refusals and errors carry the same data back to the caller; none of it may reach the log
            bad = dict(answers, child_age_years=f"{FREE_TEXT_MARKER} not a number")
            call("POST", "/v1/assessments", json=assessment_body(subject, bad))
            call("POST", "/v1/assessments", json={**assessment_body(subject, answers), "extra": FREE_TEXT_MARKER})
            call(
                "POST",
                "/v1/assessments",
                content=f'{{"subject_ref": "{subject}", "subject_ref": 1}}',
                headers={"Content-Type": "application/json"},
            )
            call("POST", "/v1/assessments", json={"subject_ref": subject, "answers": {"a": "x" * 20_000}})
            call("GET", f"/v1/assessments/{uuid.uuid4()}", headers={"X-Acting-User": ACTING_USER})
            call("GET", "/v1/assessments", params={"subject_ref": subject}, headers={"Authorization": "Bearer nope"})
    finally:
        server.stop()

    text = log.read_text(encoding="utf-8", errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    assert sum('"event": "request"' in line for line in lines) >= len(statuses), "the access log went missing"
    structured = [json.loads(line) for line in lines if line.startswith("{")]
    assert all("request_id" in entry for entry in structured)
    secrets = [SUBJECT_MARKER, FREE_TEXT_MARKER, OVERRIDE_MARKER, ERROR_MARKER, key]
    leaks = [(secret, line) for secret in secrets for line in lines if secret in line]
    assert leaks == [], f"case data in the logs: {leaks[:3]}"
    assert set(statuses) - {200, 201, 400, 401, 404, 422} == set(), statuses
