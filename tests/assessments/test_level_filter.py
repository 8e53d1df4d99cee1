"""The `level` filter of the assessment list accepts only levels that exist: a typo is a 422, not an empty page."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI

from app.auth.permissions import Role
from app.rulesets.models import RuleSetVersion
from tests.assessments.conftest import create
from tests.conftest import Tenant

SHIPPED_LEVELS = ["low", "medium", "high", "immediate"]


def _store_ruleset(app: FastAPI, owner: str | None, status: str, levels: list[str]) -> None:
    """A rule-set row with its own levels (the filter reads only a version's status, owner and `levels`)."""
    with app.state.sessionmaker.begin() as session:
        session.add(
            RuleSetVersion(
                key=f"rules-{uuid.uuid4().hex[:8]}",
                version=1,
                owner_organisation_id=owner,
                status=status,
                document={"levels": levels},
                content_hash=uuid.uuid4().hex * 2,
                questionnaire_key="online-exposure",
                questionnaire_version=1,
            )
        )


def _refused_level(response: httpx.Response, valid: list[str]) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["type"] == "/problems/validation-error"
    [error] = body["errors"]
    assert (error["pointer"], error["location"]) == ("/level", "query")
    assert error["detail"].endswith("valid levels: " + ", ".join(valid))


async def test_a_level_no_rule_set_defines_is_422_and_comparison_is_case_sensitive(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await create(client, tenant)
    headers = tenant.headers(Role.assessor)
    _refused_level(await client.get("/v1/assessments?level=HIGH", headers=headers), SHIPPED_LEVELS)
    _refused_level(await client.get("/v1/assessments?level=extreme", headers=headers), SHIPPED_LEVELS)
    listed = await client.get("/v1/assessments?level=low", headers=headers)
    assert listed.status_code == 200
    assert len(listed.json()["items"]) == 1
    assert (await client.get("/v1/assessments?level=high", headers=headers)).json()["items"] == []


@pytest.mark.parametrize(
    ("own_status", "counts"),
    [("published", True), ("retired", True), ("draft", False)],
)
async def test_levels_come_from_the_organisations_published_and_retired_rule_sets(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, own_status: str, counts: bool
) -> None:
    _store_ruleset(app, tenant.organisation_id, own_status, ["green", "red"])
    _store_ruleset(app, other_tenant.organisation_id, "published", ["amber"])
    headers = tenant.headers(Role.assessor)
    own = await client.get("/v1/assessments?level=red", headers=headers)
    if counts:
        assert own.status_code == 200, own.text
    else:
        _refused_level(own, SHIPPED_LEVELS)
    other = await client.get("/v1/assessments?level=amber", headers=headers)
    _refused_level(other, [*SHIPPED_LEVELS, *(["green", "red"] if counts else [])])
    assert (await client.get("/v1/assessments?level=amber", headers=other_tenant.headers(Role.assessor))).is_success
