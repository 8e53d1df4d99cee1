from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from typer.testing import CliRunner

from app.audit.models import AuditEvent
from app.auth import service as auth_service
from app.auth.permissions import Role
from app.cli import DEMO_ORG_SLUG, cli
from app.content import default_documents
from app.core.config import get_settings
from app.rulesets.models import RuleSetVersion
from app.rulesets.seed import ShippedContentError, seed_default_content
from app.rulesets.service import resolve_ruleset
from tests.conftest import Tenant, make_tenant

QUESTIONNAIRE_KEY = "online-exposure"
RULESET_KEY = "online-harm-england"


def _latest_shipped() -> dict[str, Any]:
    rulesets = [d for kind, d in default_documents() if kind == "ruleset" and d["key"] == RULESET_KEY]
    return max(rulesets, key=lambda document: int(document["version"]))


LATEST = _latest_shipped()  # the version in effect for an organisation without a choice, once seeded
IN_EFFECT, NEW = int(LATEST["version"]), int(LATEST["version"]) + 1


def test_seed_is_idempotent_and_resolves_by_default(app: FastAPI, tenant: Tenant) -> None:
    with app.state.sessionmaker.begin() as session:
        first = seed_default_content(session)
    with app.state.sessionmaker.begin() as session:
        second = seed_default_content(session)
        resolved = resolve_ruleset(session, tenant.organisation_id, questionnaire_key="online-exposure")
    assert all("published" in line for line in first)
    assert all("already present" in line for line in second)
    # the newest shipped version, for an organisation without a choice
    assert (resolved.ruleset_key, resolved.ruleset_version, resolved.status) == (RULESET_KEY, IN_EFFECT, "published")
    result = resolved.compiled.evaluate(resolved.compiled.ruleset.tests[0].answers)
    assert result["ruleset"]["content_hash"] == resolved.ruleset_hash
    assert result["questionnaire"]["content_hash"] == resolved.questionnaire_hash


def test_seed_refuses_shipped_content_changed_without_a_version_bump(app: FastAPI) -> None:
    with app.state.sessionmaker.begin() as session:
        seed_default_content(session)
    with app.state.sessionmaker.begin() as session:
        row = session.scalar(select(RuleSetVersion).where(RuleSetVersion.key == "online-harm-england"))
        assert row is not None
        row.content_hash = "0" * 64
    with app.state.sessionmaker() as session, pytest.raises(ShippedContentError, match="without a version bump"):
        seed_default_content(session)


# --- a new shipped version keeps existing organisations on the rule set they use (ADR 0014) ----------------------


def shipped_with_a_new_version() -> list[tuple[str, dict[str, Any]]]:
    """The shipped content plus a fake next version of its rule set (the latest's rules under a new number)."""
    return [*default_documents(), ("ruleset", {**copy.deepcopy(LATEST), "version": NEW, "title": "The next one"})]


def seed_with(app: FastAPI, documents: list[tuple[str, dict[str, Any]]] | None = None) -> list[str]:
    with app.state.sessionmaker.begin() as session:
        return seed_default_content(session, documents)


async def current(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    response = await client.get("/v1/organisation/current-rulesets", headers=tenant.headers(Role.assessor))
    assert response.status_code == 200, response.text
    found: dict[str, Any] = next(i for i in response.json()["items"] if i["questionnaire_key"] == QUESTIONNAIRE_KEY)
    return found


async def version_used(client: httpx.AsyncClient, tenant: Tenant) -> int:
    """The rule-set version a new assessment that names no rule set is scored with."""
    body = {
        "questionnaire": {"key": QUESTIONNAIRE_KEY},
        "subject_ref": "case-seed",
        "answers": copy.deepcopy(LATEST["tests"][0]["answers"]),
    }
    response = await client.post("/v1/assessments", json=body, headers=tenant.headers(Role.assessor))
    assert response.status_code == 201, response.text
    version: int = response.json()["ruleset"]["version"]
    return version


def choice_events(app: FastAPI, organisation_id: str) -> list[AuditEvent]:
    with app.state.sessionmaker() as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.organisation_id == organisation_id, AuditEvent.action == "ruleset.current_set")
                .order_by(AuditEvent.sequence)
            )
        )


async def test_a_new_shipped_version_keeps_existing_organisations_on_the_one_they_use(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    seed_with(app)
    chose = await client.put(
        "/v1/organisation/current-rulesets",
        json={"ruleset": {"key": RULESET_KEY, "version": IN_EFFECT}},
        headers=other_tenant.headers(Role.rule_publisher, acting_user="lead-4"),
    )
    assert chose.status_code == 200, chose.text
    assert (await current(client, tenant))["source"] == "default"
    assert await version_used(client, tenant) == IN_EFFECT

    lines = seed_with(app, shipped_with_a_new_version())
    assert f"rule set {RULESET_KEY} v{NEW}: published" in lines[-1]
    assert (
        f"current rule set for questionnaire {QUESTIONNAIRE_KEY}: 1 organisation without a choice kept on "
        f"{RULESET_KEY} v{IN_EFFECT} before {RULESET_KEY} v{NEW} is published" in lines
    )

    # the organisation without a choice now has one, made by the system and audited like a make-current
    kept = await current(client, tenant)
    assert (kept["ruleset"], kept["source"], kept["updated_by"]) == (
        {"key": RULESET_KEY, "version": IN_EFFECT},
        "organisation",
        "system",
    )
    assert await version_used(client, tenant) == IN_EFFECT
    [event] = choice_events(app, tenant.organisation_id)
    assert (event.client_id, event.acting_user, event.resource_type, event.resource_id) == (
        "system",
        None,
        "current_ruleset",
        QUESTIONNAIRE_KEY,
    )
    assert event.details == {
        "questionnaire_key": QUESTIONNAIRE_KEY,
        "ruleset": {"key": RULESET_KEY, "version": IN_EFFECT},
        "previous": None,
        "before_shipping": {"key": RULESET_KEY, "version": NEW},
    }

    # the organisation that had chosen keeps its own choice, untouched
    theirs = await current(client, other_tenant)
    assert (theirs["updated_by"], theirs["updated_at"]) == ("lead-4", chose.json()["updated_at"])
    assert [e.acting_user for e in choice_events(app, other_tenant.organisation_id)] == ["lead-4"]

    # an organisation created afterwards gets the new default
    newcomer = make_tenant(app, (Role.assessor,))
    assert (await current(client, newcomer))["source"] == "default"
    assert (await current(client, newcomer))["ruleset"] == {"key": RULESET_KEY, "version": NEW}
    assert await version_used(client, newcomer) == NEW

    # seeding again changes nothing
    again = seed_with(app, shipped_with_a_new_version())
    assert all("already present" in line for line in again), again
    assert (await current(client, tenant)) == kept
    assert (await current(client, newcomer))["source"] == "default"
    assert len(choice_events(app, tenant.organisation_id)) == 1
    assert choice_events(app, newcomer.organisation_id) == []

    # only a publisher moves it
    moved = await client.put(
        "/v1/organisation/current-rulesets",
        json={"ruleset": {"key": RULESET_KEY, "version": NEW}},
        headers=tenant.headers(Role.rule_publisher),
    )
    assert moved.status_code == 200, moved.text
    assert await version_used(client, tenant) == NEW


async def test_a_first_seed_of_several_versions_keeps_no_one_back(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    """On an empty database (a fresh `make run`) nothing was in effect: every organisation gets the latest."""
    lines = seed_with(app, shipped_with_a_new_version())
    assert not any("kept on" in line for line in lines), lines
    assert (await current(client, tenant))["source"] == "default"
    assert await version_used(client, tenant) == NEW
    assert choice_events(app, tenant.organisation_id) == []


def test_dev_setup_gives_a_fresh_demo_organisation_the_latest_version(
    app: FastAPI, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.rulesets.seed.default_documents", shipped_with_a_new_version)
    monkeypatch.setenv("RISKAPI_DATABASE_URL", database_url)
    monkeypatch.setenv("RISKAPI_ENVIRONMENT", "test")
    monkeypatch.setenv("RISKAPI_DEV_KEY_PATH", str(tmp_path / "dev-key"))
    monkeypatch.setenv("RISKAPI_DEV_LOG_KEY_PATH", str(tmp_path / "dev-log-signing-key"))
    get_settings.cache_clear()
    try:
        for _ in range(2):  # the second run finds everything in place
            result = CliRunner().invoke(cli, ["dev-setup"])
            assert result.exit_code == 0, result.output
            assert "kept on" not in result.output
    finally:
        get_settings.cache_clear()
    with app.state.sessionmaker() as session:
        [(demo, _slug)] = auth_service.organisations(session, DEMO_ORG_SLUG)
        resolved = resolve_ruleset(session, demo, questionnaire_key=QUESTIONNAIRE_KEY)
    assert (resolved.ruleset_key, resolved.ruleset_version) == (RULESET_KEY, NEW)
    assert choice_events(app, demo) == []
