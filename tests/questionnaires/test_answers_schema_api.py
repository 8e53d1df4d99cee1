"""GET /v1/questionnaires/{key}/versions/{version}/answers-schema: which rule set, which problems, caching, roles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from jsonschema import Draft202012Validator, FormatChecker

from app.auth.permissions import Role
from app.questionnaires.router import ANSWERS_SCHEMA_EXAMPLE
from tests.conftest import Tenant
from tests.rulesets.factories import PROBLEM, QUESTIONNAIRE_YAML, YAML, ruleset_yaml

R = Role
ROOT = Path(__file__).resolve().parents[2]
SHIPPED = "/v1/questionnaires/online-exposure/versions/1/answers-schema"
EXAMPLE_ANSWERS: dict[str, Any] = json.loads((ROOT / "docs/examples/assessment-request.json").read_text())["answers"]


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def query_error(response: httpx.Response, status: int, pointer: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["errors"] == [{"pointer": pointer, "detail": body["detail"], "location": "query"}]
    return str(body["detail"])


async def publish(client: httpx.AsyncClient, tenant: Tenant, kind: str, key: str, text: str) -> int:
    created = await client.post(
        f"/v1/{kind}/{key}/versions", content=text, headers={**tenant.headers(R.rule_author), **YAML}
    )
    assert created.status_code == 201, created.text
    version = int(created.json()["version"])
    published = await client.post(
        f"/v1/{kind}/{key}/versions/{version}/publish", headers=tenant.headers(R.rule_publisher)
    )
    assert published.status_code == 200, published.text
    return version


async def test_the_default_is_the_shipped_rule_set_and_accepts_the_example_request(
    client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI
) -> None:
    got = await client.get(SHIPPED, headers=tenant.headers(R.assessor))
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/schema+json"
    schema = got.json()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["x-riskapi-questionnaire"]["key"] == "online-exposure"
    assert {k: v for k, v in schema["x-riskapi-ruleset"].items() if k != "content_hash"} == {
        "key": "online-harm-england",
        "version": 1,
    }
    assert "Under rule set 'online-harm-england' version 1" in schema["description"]
    check = validator(schema)
    assert check.is_valid(EXAMPLE_ANSWERS)
    assert not check.is_valid({**EXAMPLE_ANSWERS, "image_recipient": "adult"})  # not asked
    assert not check.is_valid({**EXAMPLE_ANSWERS, "child_age_years": 18})
    assert got.headers["cache-control"] == "no-store"
    again = await client.get(
        SHIPPED + "?ruleset_key=online-harm-england&ruleset_version=1", headers=tenant.headers(R.assessor)
    )
    assert again.content == got.content
    assert again.headers["etag"] == got.headers["etag"]
    # without a version the latest is named, and version 2 scores questionnaire version 2
    latest = await client.get(SHIPPED + "?ruleset_key=online-harm-england", headers=tenant.headers(R.assessor))
    assert latest.status_code == 422, latest.text


async def test_the_openapi_example_is_an_excerpt_of_the_real_schema(
    client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI
) -> None:
    schema = (await client.get(SHIPPED, headers=tenant.headers(R.assessor))).json()
    example = ANSWERS_SCHEMA_EXAMPLE
    for name, excerpt in example["properties"].items():
        assert {key: schema["properties"][name][key] for key in excerpt} == excerpt, name
    assert set(example["required"]) <= set(schema["required"])
    assert all(rule in schema["allOf"] or _narrowed(rule, schema["allOf"]) for rule in example["allOf"])
    assert example["x-riskapi-inexact-presence"] == schema["x-riskapi-inexact-presence"]
    for document in ("x-riskapi-questionnaire", "x-riskapi-ruleset"):
        assert {**example[document], "content_hash": schema[document]["content_hash"]} == schema[document]
    for key in ("$schema", "title", "type", "additionalProperties"):
        assert schema[key] == example[key], key


def _narrowed(rule: dict[str, Any], rules: list[dict[str, Any]]) -> bool:
    """`rule` is one of `rules` with fewer of the items it names."""
    for candidate in rules:
        if candidate.get("if") == rule["if"] and set(rule["then"]["required"]) <= set(candidate["then"]["required"]):
            return set(rule["else"]["properties"]) <= set(candidate["else"]["properties"])
    return False


async def test_if_none_match_answers_304(client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI) -> None:
    first = await client.get(SHIPPED, headers=tenant.headers(R.assessor))
    etag = first.headers["etag"]
    cached = await client.get(SHIPPED, headers={**tenant.headers(R.assessor), "If-None-Match": f'"other", {etag}'})
    assert cached.status_code == 304
    assert cached.headers["etag"] == etag
    assert cached.content == b""
    weak_or_any = [f"W/{etag}", "*"]
    for tag in weak_or_any:
        again = await client.get(SHIPPED, headers={**tenant.headers(R.assessor), "If-None-Match": tag})
        assert again.status_code == 304, tag
    stale = await client.get(SHIPPED, headers={**tenant.headers(R.assessor), "If-None-Match": '"other"'})
    assert stale.status_code == 200


@pytest.mark.parametrize("role", list(Role))
async def test_every_role_but_monitor_may_read_it(
    client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI, role: Role
) -> None:
    got = await client.get(SHIPPED, headers=tenant.headers(role, acting_user=None))
    assert got.status_code == (403 if role is Role.monitor else 200)


async def test_without_a_key_401(client: httpx.AsyncClient, seeded: FastAPI) -> None:
    refused = await client.get(SHIPPED)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == PROBLEM


async def test_unknown_questionnaire_rule_set_and_parameters(
    client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI
) -> None:
    headers = tenant.headers(R.assessor)
    for url in (
        "/v1/questionnaires/no-such-thing/versions/1/answers-schema",
        "/v1/questionnaires/online-exposure/versions/3/answers-schema",
    ):
        missing = await client.get(url, headers=headers)
        assert missing.status_code == 404
        assert "No questionnaire" in missing.json()["detail"]
    unknown = await client.get(SHIPPED + "?ruleset_key=no-such-rules", headers=headers)
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "No published version of rule set 'no-such-rules' (ruleset_key)"
    unknown = await client.get(SHIPPED + "?ruleset_key=online-harm-england&ruleset_version=9", headers=headers)
    assert unknown.status_code == 404
    assert "(ruleset_key, ruleset_version)" in unknown.json()["detail"]
    alone = await client.get(SHIPPED + "?ruleset_version=1", headers=headers)
    assert "needs ruleset_key" in query_error(alone, 422, "/ruleset_version")
    bad = await client.get(SHIPPED + "?ruleset_version=0", headers=headers)
    assert bad.status_code == 422
    stray = await client.get(SHIPPED + "?rules=online-harm-england", headers=headers)
    assert stray.status_code == 400
    assert stray.json()["errors"][0]["pointer"] == "/rules"


async def test_a_rule_set_of_another_questionnaire_or_version_is_refused_naming_the_parameter(
    client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI
) -> None:
    await publish(client, tenant, "questionnaires", "our-check", QUESTIONNAIRE_YAML)
    await publish(client, tenant, "questionnaires", "our-check", QUESTIONNAIRE_YAML.replace("Child's age", "Age"))
    await publish(client, tenant, "rulesets", "our-rules", ruleset_yaml("our-check"))
    v2_rules = ruleset_yaml("our-check").replace("version: 1}", "version: 2}")
    await publish(client, tenant, "rulesets", "our-rules", v2_rules)
    headers = tenant.headers(R.assessor)
    other = await client.get(SHIPPED + "?ruleset_key=our-rules", headers=headers)
    detail = query_error(other, 422, "/ruleset_key")
    assert detail == (
        "rule set 'our-rules' version 2 scores questionnaire 'our-check' version 2, "
        "not questionnaire 'online-exposure' version 1"
    )
    v1 = "/v1/questionnaires/our-check/versions/1/answers-schema"
    wrong_version = await client.get(v1 + "?ruleset_key=our-rules&ruleset_version=2", headers=headers)
    query_error(wrong_version, 422, "/ruleset_version")
    latest_is_for_v2 = await client.get(v1 + "?ruleset_key=our-rules", headers=headers)
    query_error(latest_is_for_v2, 422, "/ruleset_key")
    named = await client.get(v1 + "?ruleset_key=our-rules&ruleset_version=1", headers=headers)
    assert named.status_code == 200, named.text
    assert named.json()["x-riskapi-ruleset"]["version"] == 1
    # no current rule set for our-check yet, and no shipped one scores it
    none_current = await client.get(v1, headers=headers)
    assert "no rule set is current" in query_error(none_current, 422, "/ruleset_key")
    adopted = await client.put(
        "/v1/organisation/current-rulesets",
        json={"ruleset": {"key": "our-rules", "version": 2}},
        headers=tenant.headers(R.rule_publisher),
    )
    assert adopted.status_code == 200, adopted.text
    v2 = await client.get("/v1/questionnaires/our-check/versions/2/answers-schema", headers=headers)
    assert v2.status_code == 200
    assert v2.json()["x-riskapi-ruleset"]["version"] == 2
    current_for_v2 = await client.get(v1, headers=headers)
    assert "scores version 2" in query_error(current_for_v2, 422, "/ruleset_key")


async def test_a_draft_rule_set_may_be_named_and_one_that_fails_its_checks_is_409(
    client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI
) -> None:
    await publish(client, tenant, "questionnaires", "our-check", QUESTIONNAIRE_YAML)
    author = {**tenant.headers(R.rule_author), **YAML}
    draft = await client.post("/v1/rulesets/draft-rules/versions", content=ruleset_yaml("our-check"), headers=author)
    assert draft.status_code == 201
    broken = ruleset_yaml("our-check").replace("level: high, reason", "level: severe, reason")
    assert (await client.post("/v1/rulesets/draft-rules/versions", content=broken, headers=author)).status_code == 201
    url = "/v1/questionnaires/our-check/versions/1/answers-schema?ruleset_key=draft-rules&ruleset_version="
    got = await client.get(url + "1", headers=tenant.headers(R.assessor))
    assert got.status_code == 200
    schema = got.json()
    assert schema["required"] == ["child_age_years", "contact_stranger", "shared_images"]
    assert schema["properties"]["shared_images"]["x-riskapi-presence"] == {
        "required_by_rules": "trigger 'young_images' reads it"
    }
    refused = await client.get(url + "2", headers=tenant.headers(R.assessor))
    assert refused.status_code == 409
    assert "does not pass its static checks" in refused.json()["detail"]


OWN_RULES: dict[str, Any] = {
    "title": "Our online rules",
    "questionnaire": {"key": "online-exposure", "version": 1},
    "levels": ["low", "high"],
    "disclaimer": "This result supports, and does not replace, professional judgement.",
    "triggers": [
        {
            "id": "young_image",
            "when": {"all": [{"q": "child_age_years", "lt": 13}, {"q": "image_created_self", "eq": "yes"}]},
            "level": "high",
            "reason": "A child under 13 made an image",
            "source": "S1",
        }
    ],
    "tests": [{"name": "example", "answers": EXAMPLE_ANSWERS, "expect": {"level": "low"}}],
}


async def test_the_default_follows_the_organisations_current_rule_set(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, seeded: FastAPI
) -> None:
    publisher = tenant.headers(R.rule_publisher)
    created = await client.post(
        "/v1/rulesets/own-rules/versions", json=OWN_RULES, headers=tenant.headers(R.rule_author)
    )
    assert created.status_code == 201, created.text
    published = await client.post(
        "/v1/rulesets/own-rules/versions/1/publish", json={"make_current": True}, headers=publisher
    )
    assert published.status_code == 200, published.text
    ours = (await client.get(SHIPPED, headers=tenant.headers(R.assessor))).json()
    assert ours["x-riskapi-ruleset"]["key"] == "own-rules"
    presence = ours["properties"]["child_age_years"]["x-riskapi-presence"]
    assert presence == {"required": True, "required_by_rules": "trigger 'young_image' reads it"}
    assert "required_by_rules" not in ours["properties"]["contact_adult_involved"]["x-riskapi-presence"]
    theirs = (await client.get(SHIPPED, headers=other_tenant.headers(R.assessor))).json()
    assert theirs["x-riskapi-ruleset"]["key"] == "online-harm-england"
    shipped = await client.get(
        SHIPPED + "?ruleset_key=online-harm-england&ruleset_version=1", headers=tenant.headers(R.assessor)
    )
    assert shipped.json()["x-riskapi-ruleset"]["key"] == "online-harm-england"
    assert ours != shipped.json()
    hidden = await client.get(SHIPPED + "?ruleset_key=own-rules", headers=other_tenant.headers(R.assessor))
    assert hidden.status_code == 404
