from __future__ import annotations

import httpx
from fastapi import FastAPI

from app.auth.permissions import Role
from tests.conftest import Tenant
from tests.rulesets.factories import QUESTIONNAIRE_YAML, YAML, ruleset_yaml


async def test_choices_are_per_organisation(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, seeded: FastAPI
) -> None:
    author = {**tenant.headers(Role.rule_author), **YAML}
    publisher = tenant.headers(Role.rule_publisher)
    await client.post("/v1/questionnaires/org-check/versions", content=QUESTIONNAIRE_YAML, headers=author)
    await client.post("/v1/questionnaires/org-check/versions/1/publish", headers=publisher)
    await client.post("/v1/rulesets/org-rules/versions", content=ruleset_yaml("org-check"), headers=author)
    await client.post("/v1/rulesets/org-rules/versions/1/publish", headers=publisher)
    adopted = await client.put(
        "/v1/organisation/current-rulesets", json={"ruleset": {"key": "org-rules", "version": 1}}, headers=publisher
    )
    assert adopted.status_code == 200
    assert adopted.json()["source"] == "organisation"
    assert adopted.json()["updated_by"] == "user-1"

    mine = (await client.get("/v1/organisation/current-rulesets", headers=tenant.headers(Role.assessor))).json()
    theirs = (await client.get("/v1/organisation/current-rulesets", headers=other_tenant.headers(Role.assessor))).json()
    assert {i["questionnaire_key"] for i in mine["items"]} == {"online-exposure", "org-check"}
    assert {i["questionnaire_key"] for i in theirs["items"]} == {"online-exposure"}

    invisible = await client.put(
        "/v1/organisation/current-rulesets",
        json={"ruleset": {"key": "org-rules", "version": 1}},
        headers=other_tenant.headers(Role.rule_publisher),
    )
    assert invisible.status_code == 404
    extra = await client.put(
        "/v1/organisation/current-rulesets",
        json={"ruleset": {"key": "org-rules", "version": 1}, "questionnaire_key": "x"},
        headers=publisher,
    )
    assert extra.status_code == 422
