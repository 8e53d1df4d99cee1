"""GET /v1/assessments/{id} and POST /v1/assessments under FHIR Accept: the RiskAssessment, its ETag and 304, Vary,
`_format`, the 409 of an organisation without an identifier system, and idempotent replays in the retry's
representation (docs/fhir.md, "RiskAssessment")."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fhir.resources.R4B.riskassessment import RiskAssessment
from sqlalchemy import func, select, update

from app.assessments.models import Assessment
from app.auth.models import Organisation
from app.auth.permissions import Role
from app.fhir.media import FHIR_JSON
from app.rulesets.seed import seed_default_content
from tests.conftest import Tenant
from tests.fhir.risk_support import IDENTIFIER_SYSTEM, create_body

FHIR = {"Accept": FHIR_JSON}
V3 = "V3 financially motivated sextortion"
WALES = "Jurisdiction Wales"
UNKNOWN_AGE = "Unknown age alone"


@pytest.fixture(autouse=True)
def seeded(app: FastAPI) -> None:
    with app.state.sessionmaker.begin() as session:
        seed_default_content(session)


def set_identifier_system(app: FastAPI, tenant: Tenant, system: str | None) -> None:
    with app.state.sessionmaker.begin() as session:
        session.execute(
            update(Organisation).where(Organisation.id == tenant.organisation_id).values(fhir_identifier_system=system)
        )


@pytest.fixture
def configured(app: FastAPI, tenant: Tenant) -> Tenant:
    set_identifier_system(app, tenant, IDENTIFIER_SYSTEM)
    return tenant


def assessments_stored(app: FastAPI) -> int:
    with app.state.sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(Assessment)) or 0)


async def create(
    client: httpx.AsyncClient, tenant: Tenant, which: str = V3, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post(
        "/v1/assessments", json=create_body(which), headers={**tenant.headers(Role.assessor), **(headers or {})}
    )


async def created_id(client: httpx.AsyncClient, tenant: Tenant, which: str = V3) -> str:
    response = await create(client, tenant, which)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def read(
    client: httpx.AsyncClient, tenant: Tenant, assessment_id: str, headers: dict[str, str] | None = None, **params: Any
) -> httpx.Response:
    return await client.get(
        f"/v1/assessments/{assessment_id}",
        params=params,
        headers={**tenant.headers(Role.assessor), **(headers or {})},
    )


def parsed(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"] == FHIR_JSON, response.text
    body: dict[str, Any] = response.json()
    RiskAssessment.model_validate(body)
    return body


async def test_a_read_under_fhir_accept_is_the_risk_assessment(
    app: FastAPI, client: httpx.AsyncClient, configured: Tenant
) -> None:
    assessment_id = await created_id(client, configured)
    response = await read(client, configured, assessment_id, FHIR)
    assert response.status_code == 200
    resource = parsed(response)
    assert resource["id"] == assessment_id
    assert resource["status"] == "final"
    assert resource["subject"] == {"identifier": {"system": IDENTIFIER_SYSTEM, "value": "case-1"}}
    assert resource["basis"] == [
        {
            "reference": f"{app.state.settings.base_url}/v1/assessments/{assessment_id}/questionnaire-response",
            "type": "QuestionnaireResponse",
        }
    ]
    assert resource["prediction"][0]["qualitativeRisk"]["coding"][0]["code"] == "immediate"
    assert response.headers["vary"] == "Accept"
    assert response.headers["etag"].endswith('-fhir"')


async def test_dump(client: httpx.AsyncClient, configured: Tenant) -> None:
    import json

    assessment_id = await created_id(client, configured, UNKNOWN_AGE)
    print(json.dumps((await read(client, configured, assessment_id, FHIR)).json(), indent=1))
