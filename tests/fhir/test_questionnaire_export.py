"""A questionnaire version as a FHIR R4 Questionnaire: GET with Accept: application/fhir+json (or _format)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from app.auth.permissions import Role
from app.fhir.media import FHIR_JSON
from tests.conftest import Tenant

SHIPPED = "/v1/questionnaires/online-exposure/versions/2"
FHIR = {"Accept": FHIR_JSON}


async def test_the_shipped_questionnaire_as_fhir(client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI) -> None:
    got = await client.get(SHIPPED, headers={**tenant.headers(Role.assessor), **FHIR})
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == FHIR_JSON
    assert got.headers["vary"] == "Accept"
    body = got.json()
    assert body["resourceType"] == "Questionnaire"
    assert body["url"] == "https://riskapi.org.uk/fhir/Questionnaire/online-exposure"
    assert body["version"] == "2"
    assert body["status"] == "active"
