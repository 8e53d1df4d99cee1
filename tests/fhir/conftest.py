"""Fixtures of the FHIR tests: shipped content seeded, an organisation with an identifier system, and
QuestionnaireResponses made from the shipped rule sets' embedded tests."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.auth.permissions import Role
from app.content import default_documents
from app.fhir.canonical import SHIPPED_CANONICAL_BASE
from app.fhir.response import response_from_answers
from app.rulesets.seed import seed_default_content
from app.scoring.models import Questionnaire
from tests.conftest import Tenant

CASE_SYSTEM = "https://trust.example.org/Id/case-reference"
FHIR = "application/fhir+json"
AUTHORED = datetime(2026, 5, 14, 9, 30, tzinfo=UTC)


def shipped_questionnaires() -> dict[int, Questionnaire]:
    return {
        document["version"]: Questionnaire.model_validate(document)
        for kind, document in default_documents()
        if kind == "questionnaire" and document["key"] == "online-exposure"
    }


QUESTIONNAIRES = shipped_questionnaires()
# (rule-set version, test) for every embedded test of every shipped rule set
SHIPPED_TESTS: list[tuple[dict[str, Any], dict[str, Any]]] = [
    (document, test) for kind, document in default_documents() if kind == "ruleset" for test in document["tests"]
]


def shipped_test(name_prefix: str, questionnaire_version: int = 1) -> dict[str, Any]:
    for ruleset, test in SHIPPED_TESTS:
        if ruleset["questionnaire"]["version"] == questionnaire_version and test["name"].startswith(name_prefix):
            return copy.deepcopy(test)
    raise KeyError(name_prefix)


def questionnaire_response(
    answers: dict[str, Any], *, version: int = 1, subject_ref: str = "case-1", system: str = CASE_SYSTEM
) -> dict[str, Any]:
    return response_from_answers(
        QUESTIONNAIRES[version],
        answers,
        base=SHIPPED_CANONICAL_BASE,
        identifier_system=system,
        subject_ref=subject_ref,
        authored=AUTHORED,
    )


def fhir_headers(tenant: Tenant, *roles: Role | str, accept: str | None = None) -> dict[str, str]:
    headers = {**tenant.headers(*(roles or (Role.assessor,))), "Content-Type": FHIR}
    if accept is not None:
        headers["Accept"] = accept
    return headers


@pytest.fixture
def seeded(app: FastAPI) -> FastAPI:
    """The shipped content; the tests that need no database (no `app`) stay on none."""
    with app.state.sessionmaker.begin() as session:
        seed_default_content(session)
    return app


async def set_system(client: httpx.AsyncClient, tenant: Tenant, system: str = CASE_SYSTEM) -> httpx.Response:
    return await client.put(
        "/v1/organisation/fhir", json={"identifier_system": system}, headers=tenant.headers(Role.admin)
    )


@pytest.fixture
async def configured(client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI) -> Tenant:
    response = await set_system(client, tenant)
    assert response.status_code == 200, response.text
    return tenant


async def use_ruleset(client: httpx.AsyncClient, tenant: Tenant, version: int) -> None:
    response = await client.put(
        "/v1/organisation/current-rulesets",
        json={"ruleset": {"key": "online-harm-england", "version": version}},
        headers=tenant.headers(Role.rule_publisher),
    )
    assert response.status_code == 200, response.text
