"""Migration 0005 gives overrides written before it their review date, computed from the stored rows and rule-set
documents; `audit verify` still proves them (their record digests predate the column: ADR 0010), goes on proving the
overrides written after it, and catches an edited review date on either."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from fastapi import FastAPI
from sqlalchemy import select, update
from typer.testing import CliRunner

from app.audit import service as audit_service
from app.audit.chain import record_digest
from app.auth.caller import Caller
from app.auth.permissions import Role
from app.cli import cli
from app.core.config import get_settings
from app.core.db import UTCDateTime
from app.health.service import alembic_config
from app.main import CASE_RECORDS
from app.models_registry import Base
from tests.assessments.conftest import IMMEDIATE, LOW, MEDIUM, create
from tests.audit.test_tamper_evidence import bypassing_triggers
from tests.conftest import Tenant, backends, migrate, new_database

DAY, HOUR = timedelta(days=1), timedelta(hours=1)
OVERRIDES_BEFORE_0005 = sa.table(
    "assessment_overrides",
    *(sa.column(name) for name in ("organisation_id", "assessment_id", "level", "previous_level", "rationale")),
    *(sa.column(name) for name in ("client_id", "acting_user")),
    sa.column("created_at", UTCDateTime()),
    sa.column("id", sa.Integer()),
)


@pytest.fixture(params=backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own (the test migrates it down and up again), at the head."""
    for url in new_database(request.param, tmp_path, "reviews0005"):
        migrate(url)
        yield url


def _alembic(url: str, step: str, revision: str) -> None:
    config = alembic_config()
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["configure_logging"] = False
    getattr(command, step)(config, revision)


def _override_as_0004_wrote_it(
    app: FastAPI, tenant: Tenant, assessment_id: str, level: str, previous: str, when: datetime
) -> int:
    """The row and the audit event the override path of revision 0004 wrote: no review date, and a record digest
    of the columns the table had then."""
    caller = Caller(tenant.organisation_id, client_id="client-0004", key_id="key-0004", roles=frozenset())
    values: dict[str, Any] = {
        "organisation_id": tenant.organisation_id,
        "assessment_id": assessment_id,
        "level": level,
        "previous_level": previous,
        "rationale": "written before migration 0005",
        "client_id": caller.client_id,
        "acting_user": "lead-0004",
        "created_at": when,
    }
    with app.state.sessionmaker.begin() as session:
        values["id"] = session.execute(
            sa.insert(OVERRIDES_BEFORE_0005).values(values).returning(OVERRIDES_BEFORE_0005.c.id)
        ).scalar_one()
        audit_service.record(
            session,
            caller=caller,
            action="assessment.override",
            resource_type="assessment",
            resource_id=assessment_id,
            status=201,
            record_digest=record_digest("assessment_overrides", values),
        )
    return int(values["id"])


def _review_dates(app: FastAPI, assessment_id: str) -> list[datetime | None]:
    table = Base.metadata.tables["assessment_overrides"]
    with app.state.engine.connect() as conn:
        return list(
            conn.scalars(select(table.c.review_by).where(table.c.assessment_id == assessment_id).order_by(table.c.id))
        )


def _verify(app: FastAPI, tenant: Tenant) -> audit_service.Verification:
    with app.state.sessionmaker() as session:
        return audit_service.verify(session, tenant.organisation_id, CASE_RECORDS)


def _problems(verification: audit_service.Verification) -> dict[str, str]:
    return {p.record: p.problem for p in verification.record_problems}


async def test_existing_overrides_get_their_review_dates_and_still_verify(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    medium = await create(client, tenant, "medium", MEDIUM)  # reviewed within 42 days
    low = await create(client, tenant, "low", LOW)  # no review
    await create(client, tenant, "immediate", IMMEDIATE)
    created = datetime.fromisoformat(medium["created_at"])
    assessments = Base.metadata.tables["assessments"]
    with app.state.engine.connect() as conn:
        salts = {row.id: row.salt for row in conn.execute(select(assessments.c.id, assessments.c.salt))}
    app.state.engine.dispose()
    _alembic(database_url, "downgrade", "0004")

    _override_as_0004_wrote_it(app, tenant, medium["id"], "high", "medium", created + DAY)
    second = _override_as_0004_wrote_it(app, tenant, medium["id"], "immediate", "high", created + 2 * DAY)
    _override_as_0004_wrote_it(app, tenant, medium["id"], "high", "immediate", created + 3 * DAY)
    low_created = datetime.fromisoformat(low["created_at"])
    _override_as_0004_wrote_it(app, tenant, low["id"], "immediate", "low", low_created + HOUR)
    app.state.engine.dispose()
    _alembic(database_url, "upgrade", "head")
    app.state.engine.dispose()
    # Going below 0009 drops the salts of the rows written at head, whose record digests cover them (migration 0009
    # says so): this test is about 0005's fill-in, so the assessments get theirs back.
    with bypassing_triggers(app) as conn:
        for assessment_id, salt in salts.items():
            conn.execute(update(assessments).where(assessments.c.id == assessment_id).values(salt=salt))

    # high: 28 days, immediate: 1 day; the earlier date in force always wins
    assert _review_dates(app, medium["id"]) == [created + 29 * DAY, created + 3 * DAY, created + 3 * DAY]
    assert _review_dates(app, low["id"]) == [low_created + HOUR + DAY]
    before = _verify(app, tenant)
    assert before.ok, before
    assert (before.records_checked, before.records_legacy) == (3 + 4, 0)
    monkeypatch.setenv("RISKAPI_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        verified = CliRunner().invoke(cli, ["audit", "verify", "--org", tenant.slug])
    finally:
        get_settings.cache_clear()
    assert verified.exit_code == 0, verified.output

    # the chain of review dates goes on from the filled-in ones; responses show the date in force
    shown = (await client.get(f"/v1/assessments/{medium['id']}", headers=tenant.headers(Role.assessor))).json()
    assert datetime.fromisoformat(shown["review_by"]) == created + 3 * DAY
    new = await client.post(
        f"/v1/assessments/{medium['id']}/override",
        json={"level": "high", "rationale": "after the migration"},
        headers=tenant.headers(Role.supervisor),
    )
    assert new.status_code == 201, new.text
    assert datetime.fromisoformat(new.json()["review_by"]) == created + 3 * DAY
    after = _verify(app, tenant)
    assert after.ok, after
    assert after.records_checked == before.records_checked + 1

    # an edited review date is caught on a filled-in row and on a new one
    table = Base.metadata.tables["assessment_overrides"]
    with app.state.engine.connect() as conn:
        newest = conn.execute(select(sa.func.max(table.c.id))).scalar_one()
    for row_id in (second, newest):
        with app.state.engine.connect() as conn:
            was = conn.execute(select(table.c.review_by).where(table.c.id == row_id)).scalar_one()
        with bypassing_triggers(app) as conn:
            conn.execute(update(table).where(table.c.id == row_id).values(review_by=was + timedelta(seconds=1)))
        tampered = _verify(app, tenant)
        assert not tampered.ok
        assert f"override {row_id} of assessment {medium['id']} (review_by)" in _problems(tampered), tampered
        with bypassing_triggers(app) as conn:
            conn.execute(update(table).where(table.c.id == row_id).values(review_by=was))
        assert _verify(app, tenant).ok
