"""Rule sets built to hurt: recursion, pathological nesting, rule floods. Each is a clear 4xx and nothing is stored."""

from __future__ import annotations

import copy
import json
import resource
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI

from app.auth.permissions import Role
from app.content import default_ruleset
from app.core.config import Settings
from tests.conftest import Tenant
from tests.hardening.support import has_route, row_counts
from tests.scoring.test_bounded_checks import LARGEST, default_content_under, score_chain


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
    doc["tests"] = []  # within the body size limit, so the array limit is what refuses it
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


# --- values that used to cost what they say: the monotonicity proof of a huge range -----------------------------

# The reported attack (343 bytes): the old prover built set(range(0, 2**53)); it now reasons on intervals.
HUGE_RANGE_RULESET: dict[str, Any] = {
    "key": "huge-range",
    "version": 1,
    "title": "t",
    "questionnaire": {"key": "online-exposure", "version": 1},
    "levels": ["low", "high"],
    "disclaimer": "d",
    "monotone": True,
    "risk_order": {"child_age_years": "falling"},
    "triggers": [
        {
            "id": "T",
            "when": {"q": "child_age_years", "between": [0, 9007199254740991]},
            "level": "high",
            "reason": "r",
            "source": "s",
        }
    ],
}
ADDRESS_SPACE_BYTES = 1024**3
VALIDATE_IN_A_SUBPROCESS = """
import json, sys
import anyio, httpx
from app.core.config import Environment, Settings
from app.main import create_app

database_url, api_key, document = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
app = create_app(Settings(environment=Environment.test, database_url=database_url, rate_limit_per_minute=0,
                          log_level="WARNING"))

async def validate():
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post("/v1/rulesets/validate", json=document,
                                     headers={"Authorization": f"Bearer {api_key}"})
    print(json.dumps({"status": response.status_code, "body": response.json()}))

anyio.run(validate)
app.state.engine.dispose()
"""


def _limit_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_BYTES, ADDRESS_SPACE_BYTES))


def test_a_huge_range_is_validated_in_bounded_memory(app: FastAPI, tenant: Tenant, database_url: str) -> None:
    """The reproduction runs in a child process whose address space is capped at 1 GiB: on the enumerating prover
    the child answers 500 (MemoryError) instead of taking the machine down; the interval prover answers 200."""
    assert len(json.dumps(HUGE_RANGE_RULESET)) < 400
    api_key = tenant.keys[",".join(sorted([str(Role.rule_author)]))]
    child = subprocess.run(
        [sys.executable, "-c", VALIDATE_IN_A_SUBPROCESS, database_url, api_key, json.dumps(HUGE_RANGE_RULESET)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_address_space,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    outcome = json.loads(child.stdout.strip().splitlines()[-1])
    assert outcome["status"] == 200, outcome
    assert outcome["body"]["valid"] is True, outcome
    assert outcome["body"]["errors"] == []


# --- the step budget: validate, a version's validate and publish answer 422 naming the limit --------------------

STEP_LIMIT = 10_000  # below the default content's 21,859 steps, above its static checks alone
DEFAULT_STEP_LIMIT = Settings.model_fields["ruleset_check_max_steps"].default


@pytest.fixture
def low_step_limit(app: FastAPI) -> Iterator[int]:
    """The application's own settings carry the limit (services are passed it; no global is read)."""
    default = app.state.settings
    app.state.settings = default.model_copy(update={"ruleset_check_max_steps": STEP_LIMIT})
    yield STEP_LIMIT
    app.state.settings = default


def where_the_budget_runs_out(limit: int) -> str:
    """The pointer the scoring core names for the default content under `limit` (the API must say the same)."""
    _used, refusal = default_content_under(limit)
    assert refusal is not None
    return refusal.pointer


def assert_refused_for_work(response: httpx.Response, limit: int, pointer: str, location: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "/problems/validation-error"
    assert f"needs more than {limit} checking steps (limit {limit})" in body["detail"]
    [error] = body["errors"]
    assert error["pointer"] == pointer
    assert error["location"] == location
    assert f"more than {limit} checking steps" in error["detail"]
    assert "ruleset_check_max_steps" in error["detail"]


@pytest.mark.usefixtures("require_content_api")
async def test_checks_past_the_step_budget_are_a_422_naming_the_limit(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, low_step_limit: int
) -> None:
    pointer = where_the_budget_runs_out(low_step_limit)
    assert pointer.startswith("/tests/")  # the static checks fit; the embedded tests' evaluations do not
    author, publisher = tenant.headers(Role.rule_author), tenant.headers(Role.rule_publisher)
    doc = ruleset("budget-copy")

    for _ in range(2):  # the same document stops at the same place every time
        response = await client.post("/v1/rulesets/validate", json=doc, headers=author)
        assert_refused_for_work(response, low_step_limit, pointer, "body")

    created = await client.post("/v1/rulesets/budget-copy/versions", json=doc, headers=author)  # shape only
    assert created.status_code == 201, created.text
    before = row_counts(app.state.engine)

    response = await client.post("/v1/rulesets/budget-copy/versions/1/validate", headers=author)
    assert_refused_for_work(response, low_step_limit, pointer, "document")
    response = await client.post("/v1/rulesets/budget-copy/versions/1/publish", headers=publisher)
    assert_refused_for_work(response, low_step_limit, pointer, "document")

    assert row_counts(app.state.engine) == before
    stored = await client.get("/v1/rulesets/budget-copy/versions/1", headers=author)
    assert stored.json()["status"] == "draft"

    app.state.settings = app.state.settings.model_copy(update={"ruleset_check_max_steps": DEFAULT_STEP_LIMIT})
    published = await client.post("/v1/rulesets/budget-copy/versions/1/publish", headers=publisher)
    assert published.status_code == 200, published.text  # the same version publishes under the default limit


@pytest.mark.usefixtures("require_content_api")
async def test_a_score_chain_past_the_largest_number_is_a_finding_not_a_500(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    """Before the bound, the embedded test's failure message turned a 4,800-digit score into text: a 500."""
    doc = score_chain(300, LARGEST)
    response = await client.post("/v1/rulesets/validate", json=doc, headers=tenant.headers(Role.rule_author))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["valid"] is False
    assert [error["pointer"] for error in body["errors"]] == [f"/scores/{len(default_ruleset()['scores']) + 1}"]
