"""A database written by the code before the one write path (commit 46a7696: its direct SQLite create path and its
Session paths; tests/audit/fixtures/make_pre_write_path_db.py made the file) still verifies with today's code, and
its chain goes on."""

from __future__ import annotations

import copy
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.audit import service as audit_service
from app.auth import service as auth_service
from app.auth.models import Organisation
from app.auth.permissions import Role
from app.content import default_documents
from app.main import CASE_RECORDS, create_app
from app.models_registry import Base
from tests.conftest import make_settings, migrate

FIXTURE = Path(__file__).parent / "fixtures" / "pre_write_path.db"


def first_body() -> dict[str, Any]:
    """The body of the fixture's first create, which it sent with Idempotency-Key `fixture-0`."""
    for kind, document in default_documents():
        if kind == "ruleset":
            return {
                "questionnaire": {"key": "online-exposure", "version": 1},
                "ruleset": {"key": "online-harm-england", "version": 1},
                "subject_ref": "case-0",
                "answers": copy.deepcopy(document["tests"][0]["answers"]),
            }
    raise AssertionError("no shipped rule set")


@pytest.fixture(autouse=True)
def seeded() -> None:
    """The fixture file holds its own content: nothing seeded (and no second database to run on)."""


@pytest.fixture
def old_app(tmp_path: Path) -> FastAPI:
    path = tmp_path / "old.db"
    shutil.copyfile(FIXTURE, path)
    url = f"sqlite:///{path}"
    migrate(url)
    return create_app(make_settings(url))


@pytest.fixture
async def old_client(old_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=old_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
    old_app.state.engine.dispose()


def verify_every_organisation(app: FastAPI) -> list[audit_service.Verification]:
    with app.state.sessionmaker() as session:
        organisations = list(session.scalars(select(Organisation.id)))
        return [audit_service.verify(session, organisation, CASE_RECORDS) for organisation in organisations]


async def test_rows_written_before_the_one_write_path_verify_and_the_chain_goes_on(
    old_app: FastAPI, old_client: httpx.AsyncClient
) -> None:
    (before,) = verify_every_organisation(old_app)
    assert before.ok, before
    assert before.records_checked == 7  # 5 assessments (4 created, 1 amendment), 1 override, 1 entered-in-error
    assert (before.records_legacy, before.record_problems) == (0, ())

    with old_app.state.sessionmaker.begin() as session:
        key = auth_service.create_client(
            session, before.organisation_id, "today", list(Role), secret_key=old_app.state.settings.secret_key
        ).api_key
    headers = {"Authorization": f"Bearer {key}", "X-Acting-User": "today-user"}
    created = await old_client.post("/v1/assessments", json={**first_body(), "subject_ref": "new"}, headers=headers)
    assert created.status_code == 201, created.text

    (after,) = verify_every_organisation(old_app)
    assert after.ok, after
    assert after.events == before.events + 2  # the new client's key and the new assessment, chained on
    assert after.records_checked == before.records_checked + 1


def test_its_override_gets_its_review_date_from_migration_0005(old_app: FastAPI) -> None:
    """Its one override raised a low assessment (no review) to immediate (reviewed within 1 day)."""
    overrides = Base.metadata.tables["assessment_overrides"]
    with old_app.state.engine.connect() as conn:
        (row,) = conn.execute(select(overrides.c.level, overrides.c.created_at, overrides.c.review_by)).all()
    assert (row.level, row.review_by) == ("immediate", row.created_at + timedelta(days=1))
