"""The organisation's FHIR identifier system: PUT/GET /v1/organisation/fhir, audited; the CLI; refusals."""

from __future__ import annotations

import httpx
import pytest
from typer.testing import CliRunner

from app.auth.permissions import Role
from app.cli import cli
from app.core.config import get_settings
from tests.conftest import Tenant
from tests.fhir.conftest import CASE_SYSTEM, set_system

REFUSED = {
    "relative": "Id/case-reference",
    "no scheme": "trust.example.org/Id/case",
    "http without host": "https:///Id/case",
    "with a space": "https://trust.example.org/Id/case ref",
    "too long": "https://trust.example.org/" + "a" * 2030,
    "nhs number": "https://fhir.nhs.uk/Id/nhs-number",
    "nhs number over http": "http://fhir.nhs.uk/Id/nhs-number",
    "nhs number with a trailing slash": "https://fhir.nhs.uk/Id/nhs-number/",
    "nhs number in capitals": "HTTPS://FHIR.NHS.UK/Id/NHS-Number",
    "nhs number, old system": "http://fhir.nhs.net/Id/nhs-number",
    "nhs number's oid": "urn:oid:2.16.840.1.113883.2.1.4.1",
    "us social security number": "http://hl7.org/fhir/sid/us-ssn",
}


async def test_admin_sets_and_everyone_reads_the_identifier_system(client: httpx.AsyncClient, tenant: Tenant) -> None:
    before = await client.get("/v1/organisation/fhir", headers=tenant.headers(Role.assessor))
    assert before.status_code == 200
    assert before.json() == {"identifier_system": None}
    response = await set_system(client, tenant)
    assert response.status_code == 200, response.text
    assert response.json() == {"identifier_system": CASE_SYSTEM}
    after = await client.get("/v1/organisation/fhir", headers=tenant.headers(Role.assessor))
    assert after.json() == {"identifier_system": CASE_SYSTEM}
    [event] = [
        e
        for e in (await client.get("/v1/audit/events", headers=tenant.headers(Role.auditor, acting_user="dpo"))).json()[
            "items"
        ]
        if e["action"] == "organisation.fhir_identifier_system_set"
    ]
    assert event["acting_user"] == "user-1"
    assert event["resource_id"] == tenant.organisation_id


async def test_only_an_admin_sets_it(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for role in (Role.assessor, Role.supervisor, Role.rule_publisher, Role.auditor):
        response = await client.put(
            "/v1/organisation/fhir", json={"identifier_system": CASE_SYSTEM}, headers=tenant.headers(role)
        )
        assert response.status_code == 403, role


async def test_one_organisations_system_is_its_own(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    await set_system(client, tenant)
    theirs = await client.get("/v1/organisation/fhir", headers=other_tenant.headers(Role.assessor))
    assert theirs.json() == {"identifier_system": None}


@pytest.mark.parametrize("system", REFUSED.values(), ids=REFUSED.keys())
async def test_refused_systems_are_a_422_naming_the_field(
    client: httpx.AsyncClient, tenant: Tenant, system: str
) -> None:
    response = await set_system(client, tenant, system)
    assert response.status_code == 422, response.text
    assert [error["pointer"] for error in response.json()["errors"]] == ["/identifier_system"]
    unchanged = await client.get("/v1/organisation/fhir", headers=tenant.headers(Role.assessor))
    assert unchanged.json() == {"identifier_system": None}


async def test_the_body_is_strict(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for body in ({}, {"identifier_system": 5}, {"identifier_system": CASE_SYSTEM, "other": 1}):
        response = await client.put("/v1/organisation/fhir", json=body, headers=tenant.headers(Role.admin))
        assert response.status_code == 422, body


async def test_cli_sets_the_system_audited(
    client: httpx.AsyncClient, tenant: Tenant, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKAPI_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        result = runner.invoke(cli, ["org", "set-identifier-system", "--org", tenant.slug, CASE_SYSTEM])
        refused = runner.invoke(
            cli, ["org", "set-identifier-system", "--org", tenant.slug, "https://fhir.nhs.uk/Id/nhs-number"]
        )
        missing = runner.invoke(cli, ["org", "set-identifier-system", "--org", "no-such-org", CASE_SYSTEM])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    read = await client.get("/v1/organisation/fhir", headers=tenant.headers(Role.assessor))
    assert read.json() == {"identifier_system": CASE_SYSTEM}
    assert refused.exit_code == 1
    assert "national patient-number system" in refused.output
    assert missing.exit_code == 1
    items = (await client.get("/v1/audit/events", headers=tenant.headers(Role.auditor, acting_user="dpo"))).json()[
        "items"
    ]
    assert [e["acting_user"] for e in items if e["action"] == "organisation.fhir_identifier_system_set"] == [
        "riskapi-cli"
    ]
