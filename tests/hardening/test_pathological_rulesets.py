"""Rule sets built to hurt: recursion, pathological nesting, rule floods. Each is a clear 4xx and nothing is stored."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI

from app.auth.permissions import Role
from app.content import default_ruleset
from tests.conftest import Tenant
from tests.hardening.support import has_route, row_counts


def ruleset(key: str) -> dict[str, Any]:
    document = copy.deepcopy(default_ruleset())
    document["key"] = key
    return document


def nested_condition(levels: int) -> dict[str, Any]:
    condition: dict[str, Any] = {"q": "contact_unknown_person_online", "eq": "yes"}
    for _ in range(levels):
        condition = {"all": [condition]}
    return condition


@pytest.fixture
def require_content_api(app: FastAPI) -> None:
    assert has_route(app, "POST", "/v1/rulesets/validate"), "the content API is missing from the route table"


def errors_of(response: httpx.Response) -> list[dict[str, str]]:
    body = response.json()
    return list(body.get("errors") or [])


@pytest.mark.usefixtures("require_content_api")
async def test_pathological_rulesets_are_refused_with_pointers(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    headers = tenant.headers(Role.rule_author)
    before = row_counts(app.state.engine)

    # Nesting past the language's condition limit (10) but inside the JSON limit: the checker names the place.
    doc = ruleset("patho-nesting")
    doc["triggers"][0]["when"] = nested_condition(12)
    response = await client.post("/v1/rulesets/validate", json=doc, headers=headers)
    assert response.status_code in (200, 422), response.text
    assert response.json().get("valid") is not True
    assert any(e["pointer"] == "/triggers/0/when" and "limit is 10" in e["detail"] for e in errors_of(response))

    # Nesting past the JSON depth limit: refused before any parser, with the limit and the pointer.
    doc["triggers"][0]["when"] = nested_condition(40)
    for url in ("/v1/rulesets/validate", "/v1/rulesets/patho-nesting/versions"):
        response = await client.post(url, json=doc, headers=headers)
        assert response.status_code == 422, response.text
        assert "json_max_depth" in errors_of(response)[0]["detail"]
        assert errors_of(response)[0]["pointer"].startswith("/triggers/0/when/all/0/all/0")
        # the same document in YAML is refused by the same limit
        response = await client.post(
            url, content=yaml.safe_dump(doc), headers={**headers, "Content-Type": "application/yaml"}
        )
        assert response.status_code == 422, response.text
        assert "json_max_depth" in errors_of(response)[0]["detail"]

    # A score that reads itself (recursion) is named, not followed.
    doc = ruleset("patho-recursion")
    doc["scores"][0]["terms"].append({"id": "itself", "score": doc["scores"][0]["id"]})
    response = await client.post("/v1/rulesets/validate", json=doc, headers=headers)
    assert response.status_code in (200, 422), response.text
    assert response.json().get("valid") is not True
    assert any("/scores/0/terms/" in e["pointer"] for e in errors_of(response)), errors_of(response)

    # A flood of rules: more than the array limit is refused before parsing.
    doc = ruleset("patho-flood")
    doc["triggers"] = [dict(doc["triggers"][0], id=f"t{i}") for i in range(1500)]
    for url in ("/v1/rulesets/validate", "/v1/rulesets/patho-flood/versions"):
        response = await client.post(
            url, content=json.dumps(doc), headers={**headers, "Content-Type": "application/json"}
        )
        assert response.status_code == 422, response.text
        assert errors_of(response)[0]["pointer"] == "/triggers"
        assert "json_max_array_items" in errors_of(response)[0]["detail"]

    assert row_counts(app.state.engine) == before


@pytest.mark.usefixtures("require_content_api")
async def test_a_full_size_ruleset_still_validates(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """The limits leave the shipped rule set (82 items, 60+ rules, 40+ embedded tests) untouched."""
    doc = ruleset("full-size-copy")
    response = await client.post("/v1/rulesets/validate", json=doc, headers=tenant.headers(Role.rule_author))
    assert response.status_code == 200, response.text
    assert response.json()["valid"] is True, response.text[:1000]
