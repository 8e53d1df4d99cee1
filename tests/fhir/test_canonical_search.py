"""Canonical resolution: GET /v1/fhir/Questionnaire?url= and GET /v1/fhir/CodeSystem?url= (searchset Bundles), scoped
to what the caller can see."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from fhir.resources.R4B.bundle import Bundle

from app.auth.permissions import Role
from app.fhir.media import FHIR_JSON
from tests.conftest import Tenant
from tests.rulesets.factories import QUESTIONNAIRE_YAML, YAML, ruleset_yaml

SHIPPED_Q = "https://riskapi.org.uk/fhir/Questionnaire/online-exposure"


async def search(client: httpx.AsyncClient, tenant: Tenant, kind: str, **params: Any) -> dict[str, Any]:
    got = await client.get(f"/v1/fhir/{kind}", params=params, headers=tenant.headers(Role.assessor))
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == FHIR_JSON
    body: dict[str, Any] = got.json()
    Bundle.model_validate(body)
    assert body["type"] == "searchset"
    assert all(entry["search"]["mode"] == "match" for entry in body.get("entry", []))
    assert all("fullUrl" not in entry for entry in body.get("entry", []))
    return body


def found(bundle: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (e["resource"]["resourceType"], e["resource"]["url"], e["resource"]["version"]) for e in bundle.get("entry", [])
    ]


async def test_the_shipped_questionnaire_resolves_every_version_or_one(
    client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI, app: FastAPI
) -> None:
    every = await search(client, tenant, "Questionnaire", url=SHIPPED_Q)
    assert every["total"] == 2
    assert found(every) == [("Questionnaire", SHIPPED_Q, "2"), ("Questionnaire", SHIPPED_Q, "1")]
    assert every["link"][0]["url"].startswith(f"{app.state.settings.base_url.rstrip('/')}/v1/fhir/Questionnaire?url=")
    one = await search(client, tenant, "Questionnaire", url=SHIPPED_Q, version="1")
    assert one["total"] == 1
    assert found(one) == [("Questionnaire", SHIPPED_Q, "1")]
    # the same document as GET with Accept: application/fhir+json
    direct = await client.get(
        "/v1/questionnaires/online-exposure/versions/1", headers={**tenant.headers(Role.assessor), "Accept": FHIR_JSON}
    )
    assert one["entry"][0]["resource"] == direct.json()


NOTHING = [
    ("https://riskapi.org.uk/fhir/Questionnaire/no-such-key", None),
    ("https://riskapi.org.uk/fhir/Questionnaire/online-exposure", "3"),
    ("https://riskapi.org.uk/fhir/Questionnaire/online-exposure", "one"),
    ("https://riskapi.org.uk/fhir/Questionnaire/online-exposure", "99999999999"),
    ("https://riskapi.org.uk/fhir/Questionnaire/Online_Exposure", None),
    ("https://riskapi.org.uk/fhir/Questionnaire/online-exposure/extra", None),
    ("https://elsewhere.example/fhir/Questionnaire/online-exposure", None),
    ("https://riskapi.org.uk/fhir/CodeSystem/online-exposure.jurisdiction", None),
]


async def test_a_url_that_names_nothing_is_an_empty_bundle(
    client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI
) -> None:
    for url, version in NOTHING:
        params = {"url": url, **({"version": version} if version else {})}
        bundle = await search(client, tenant, "Questionnaire", **params)
        assert bundle["total"] == 0, (url, version)
        assert "entry" not in bundle


async def test_url_is_required_and_the_format_is_json(
    client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI
) -> None:
    for kind in ("Questionnaire", "CodeSystem"):
        got = await client.get(f"/v1/fhir/{kind}", headers=tenant.headers(Role.assessor))
        assert got.status_code == 400, got.text
        assert got.json()["errors"][0]["pointer"] == "/url"
        xml = await client.get(
            f"/v1/fhir/{kind}", params={"url": SHIPPED_Q, "_format": "xml"}, headers=tenant.headers(Role.assessor)
        )
        assert xml.status_code == 422, xml.text
        assert xml.json()["errors"][0]["pointer"] == "/_format"
        as_fhir_tools_ask = await search(client, tenant, kind, url=SHIPPED_Q, _format="json")
        assert as_fhir_tools_ask["type"] == "searchset"


async def test_the_codesystems_resolve(client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI) -> None:
    yes_no = await search(client, tenant, "CodeSystem", url="https://riskapi.org.uk/fhir/CodeSystem/yes-no-unknown")
    assert found(yes_no) == [("CodeSystem", "https://riskapi.org.uk/fhir/CodeSystem/yes-no-unknown", "1")]
    options_url = "https://riskapi.org.uk/fhir/CodeSystem/online-exposure.jurisdiction"
    options = await search(client, tenant, "CodeSystem", url=options_url)
    assert found(options) == [("CodeSystem", options_url, "2"), ("CodeSystem", options_url, "1")]
    assert [c["code"] for c in options["entry"][0]["resource"]["concept"]] == [
        "england",
        "wales",
        "scotland",
        "northern_ireland",
    ]
    levels_url = "https://riskapi.org.uk/fhir/CodeSystem/online-harm-england.levels"
    levels = await search(client, tenant, "CodeSystem", url=levels_url, version="2")
    assert found(levels) == [("CodeSystem", levels_url, "2")]
    assert [c["code"] for c in levels["entry"][0]["resource"]["concept"]] == ["low", "medium", "high", "immediate"]
    for nothing in (
        "https://riskapi.org.uk/fhir/CodeSystem/online-exposure.no_such_item",
        "https://riskapi.org.uk/fhir/CodeSystem/online-exposure.child_age_years",  # not a choice item
        "https://riskapi.org.uk/fhir/CodeSystem/yes-no-unknown.levels",
        "https://riskapi.org.uk/fhir/CodeSystem/online-exposure",
    ):
        assert (await search(client, tenant, "CodeSystem", url=nothing))["total"] == 0
    assert (await search(client, tenant, "CodeSystem", url=yes_no["entry"][0]["resource"]["url"], version="2"))[
        "total"
    ] == 0


async def test_an_organisations_own_content_resolves_under_its_base_and_only_for_it(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, seeded: FastAPI, app: FastAPI
) -> None:
    author = other_tenant.headers(Role.rule_author)
    created = await client.post(
        "/v1/questionnaires/check-in/versions", content=QUESTIONNAIRE_YAML, headers={**author, **YAML}
    )
    assert created.status_code == 201, created.text
    rules = await client.post(
        "/v1/rulesets/check-in-rules/versions", content=ruleset_yaml("check-in"), headers={**author, **YAML}
    )
    assert rules.status_code == 201, rules.text
    base = f"{app.state.settings.base_url.rstrip('/')}/fhir"
    questionnaire_url = f"{base}/Questionnaire/check-in"
    option_url = f"{base}/CodeSystem/check-in.screen_hours"
    levels_url = f"{base}/CodeSystem/check-in-rules.levels"

    own = await search(client, other_tenant, "Questionnaire", url=questionnaire_url)
    assert found(own) == [("Questionnaire", questionnaire_url, "1")]
    assert own["entry"][0]["resource"]["status"] == "draft"
    assert found(await search(client, other_tenant, "CodeSystem", url=option_url)) == [("CodeSystem", option_url, "1")]
    assert found(await search(client, other_tenant, "CodeSystem", url=levels_url)) == [("CodeSystem", levels_url, "1")]
    # under the shipped base the same key names nothing
    shipped_base = await search(
        client, other_tenant, "Questionnaire", url="https://riskapi.org.uk/fhir/Questionnaire/check-in"
    )
    assert shipped_base["total"] == 0

    # another organisation's drafts are not found
    for kind, url in (("Questionnaire", questionnaire_url), ("CodeSystem", option_url), ("CodeSystem", levels_url)):
        assert (await search(client, tenant, kind, url=url))["total"] == 0


async def test_a_draft_that_fails_its_checks_is_reported_not_exported(
    client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI, app: FastAPI
) -> None:
    broken = QUESTIONNAIRE_YAML.replace(
        "section: online, type: yes_no_unknown", "section: nowhere, type: yes_no_unknown", 1
    )
    created = await client.post(
        "/v1/questionnaires/check-in/versions", content=broken, headers={**tenant.headers(Role.rule_author), **YAML}
    )
    assert created.status_code == 201, created.text
    url = f"{app.state.settings.base_url.rstrip('/')}/fhir/Questionnaire/check-in"
    got = await client.get("/v1/fhir/Questionnaire", params={"url": url}, headers=tenant.headers(Role.assessor))
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["total"] == 0
    assert [e["search"]["mode"] for e in body["entry"]] == ["outcome"]
    assert "static checks" in body["entry"][0]["resource"]["issue"][0]["diagnostics"]
    direct = await client.get(
        "/v1/questionnaires/check-in/versions/1", headers={**tenant.headers(Role.assessor), "Accept": FHIR_JSON}
    )
    assert direct.status_code == 409, direct.text
