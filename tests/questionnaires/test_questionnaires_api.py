from __future__ import annotations

import httpx
import yaml
from fastapi import FastAPI

from app.auth.permissions import Role
from tests.conftest import Tenant
from tests.rulesets.factories import PROBLEM, QUESTIONNAIRE_YAML, YAML, ruleset_yaml

R = Role


async def test_shipped_questionnaire_is_listed_and_readable_as_yaml(
    client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI
) -> None:
    listed = await client.get("/v1/questionnaires", headers=tenant.headers(R.assessor))
    assert listed.status_code == 200
    assert [(i["key"], i["version"], i["status"]) for i in listed.json()["items"]] == [
        ("online-exposure", 1, "published"),
        ("online-exposure", 2, "published"),
    ]
    got = await client.get(
        "/v1/questionnaires/online-exposure/versions/1",
        headers={**tenant.headers(R.assessor), "Accept": "application/yaml"},
    )
    assert got.status_code == 200
    assert yaml.safe_load(got.text)["key"] == "online-exposure"
    missing = await client.get("/v1/questionnaires/online-exposure/versions/7", headers=tenant.headers(R.assessor))
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM


async def test_draft_replace_publish_and_immutability(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, seeded: FastAPI
) -> None:
    author = {**tenant.headers(R.rule_author), **YAML}
    created = await client.post("/v1/questionnaires/our-check/versions", content=QUESTIONNAIRE_YAML, headers=author)
    assert created.status_code == 201, created.text
    assert created.json()["document"]["key"] == "our-check"
    url = "/v1/questionnaires/our-check/versions/1"
    assert (await client.get(url, headers=other_tenant.headers(R.assessor))).status_code == 404
    wrong_key = await client.put(
        url,
        json={**yaml.safe_load(QUESTIONNAIRE_YAML), "key": "other"},
        headers={**tenant.headers(R.rule_author), "If-Match": created.headers["etag"]},
    )
    assert wrong_key.status_code == 422
    assert wrong_key.json()["errors"][0]["pointer"] == "/key"
    renamed = QUESTIONNAIRE_YAML.replace("School online-safety check-in", "Check-in")
    replaced = await client.put(url, content=renamed, headers={**author, "If-Match": created.headers["etag"]})
    assert replaced.status_code == 200
    assert replaced.json()["title"] == "Check-in"
    diff = await client.get("/v1/questionnaires/our-check/diff?from=1&to=1", headers=tenant.headers(R.rule_author))
    assert diff.json()["changes"] == []
    published = await client.post(f"{url}/publish", headers=tenant.headers(R.rule_publisher))
    assert published.status_code == 200
    immutable = await client.put(url, content=renamed, headers={**author, "If-Match": published.headers["etag"]})
    assert immutable.status_code == 409
    system = await client.post(
        "/v1/questionnaires/online-exposure/versions", content=QUESTIONNAIRE_YAML, headers=author
    )
    assert system.status_code == 409


async def test_validate_and_publish_refuse_a_broken_questionnaire(
    client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI
) -> None:
    author = {**tenant.headers(R.rule_author), **YAML}
    broken = QUESTIONNAIRE_YAML.replace(
        'section: online, type: yes_no_unknown, question: "Has',
        'section: nowhere, type: yes_no_unknown, question: "Has',
    )
    report = await client.post("/v1/questionnaires/validate", content=broken, headers=author)
    assert report.json()["valid"] is False
    assert report.json()["errors"][0]["pointer"].startswith("/items/2")
    await client.post("/v1/questionnaires/broken-check/versions", content=broken, headers=author)
    refused = await client.post(
        "/v1/questionnaires/broken-check/versions/1/publish", headers=tenant.headers(R.rule_publisher)
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["pointer"].startswith("/items/2")
    shape = await client.post(
        "/v1/questionnaires/bad-shape/versions", json={"title": 3}, headers=tenant.headers(R.rule_author)
    )
    assert shape.status_code == 422


async def test_diff_and_retirement_guard(client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI) -> None:
    author = {**tenant.headers(R.rule_author), **YAML}
    publisher = tenant.headers(R.rule_publisher)
    await client.post("/v1/questionnaires/diff-check/versions", content=QUESTIONNAIRE_YAML, headers=author)
    second = QUESTIONNAIRE_YAML.replace('{code: high, label: "Over 5"}', '{code: high, label: "More than 5 hours"}')
    second += '  - {id: gaming, section: online, type: boolean, question: "Plays online games?"}\n'
    await client.post("/v1/questionnaires/diff-check/versions", content=second, headers=author)
    diff = (await client.get("/v1/questionnaires/diff-check/diff?from=1&to=2", headers=publisher)).json()
    kinds = {(c["kind"], c["id"], c["change"]) for c in diff["changes"]}
    assert kinds == {("item", "gaming", "added"), ("option", "screen_hours/high", "changed")}
    assert len(diff["summary"]) == 2

    await client.post("/v1/questionnaires/diff-check/versions/1/publish", headers=publisher)
    await client.post("/v1/rulesets/diff-check-rules/versions", content=ruleset_yaml("diff-check"), headers=author)
    assert (await client.post("/v1/rulesets/diff-check-rules/versions/1/publish", headers=publisher)).is_success
    in_use = await client.post("/v1/questionnaires/diff-check/versions/1/retire", headers=publisher)
    assert in_use.status_code == 409
    await client.post("/v1/rulesets/diff-check-rules/versions/1/retire", headers=publisher)
    retired = await client.post("/v1/questionnaires/diff-check/versions/1/retire", headers=publisher)
    assert retired.status_code == 200
    assert retired.json()["status"] == "retired"


async def test_pagination_with_cursor(client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI) -> None:
    author = {**tenant.headers(R.rule_author), **YAML}
    for _ in range(3):
        await client.post("/v1/questionnaires/paged/versions", content=QUESTIONNAIRE_YAML, headers=author)
    seen: list[tuple[str, int]] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/questionnaires", params=params, headers=tenant.headers(R.assessor))).json()
        seen += [(i["key"], i["version"]) for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [("online-exposure", 1), ("online-exposure", 2), ("paged", 1), ("paged", 2), ("paged", 3)]
    drafts = await client.get("/v1/questionnaires/paged/versions?status=draft", headers=tenant.headers(R.assessor))
    assert len(drafts.json()["items"]) == 3
    bad = await client.get("/v1/questionnaires?cursor=!!!", headers=tenant.headers(R.assessor))
    assert bad.status_code == 422
