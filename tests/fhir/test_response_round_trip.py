"""Every embedded test of every shipped rule set: answers -> QuestionnaireResponse -> answers unchanged, and a FHIR
create stores the same result as the JSON create of the same answers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.auth.permissions import Role
from app.fhir.canonical import SHIPPED_CANONICAL_BASE, UNKNOWN_SUFFIX
from app.fhir.response import answers_from_response
from tests.conftest import Tenant
from tests.fhir.conftest import (
    CASE_SYSTEM,
    QUESTIONNAIRES,
    SHIPPED_TESTS,
    fhir_headers,
    questionnaire_response,
    shipped_test,
    use_ruleset,
)

RESULT_FIELDS = (
    "computed_level",
    "level",
    "scores",
    "triggers",
    "floors_applied",
    "reasons",
    "actions",
    "information_gaps",
    "notices",
    "questionnaire",
    "ruleset",
)


@pytest.mark.parametrize(
    ("ruleset", "test"),
    SHIPPED_TESTS,
    ids=[f"v{ruleset['version']}:{test['name'][:40]}" for ruleset, test in SHIPPED_TESTS],
)
def test_answers_survive_a_questionnaire_response(ruleset: dict[str, Any], test: dict[str, Any]) -> None:
    version = ruleset["questionnaire"]["version"]
    document = questionnaire_response(test["answers"], version=version, subject_ref="case-42")
    read = answers_from_response(
        document, QUESTIONNAIRES[version], base=SHIPPED_CANONICAL_BASE, identifier_system=CASE_SYSTEM
    )
    assert read.answers == test["answers"]
    assert (read.questionnaire_key, read.questionnaire_version, read.subject_ref) == (
        "online-exposure",
        version,
        "case-42",
    )
    assert document["questionnaire"] == f"{SHIPPED_CANONICAL_BASE}/Questionnaire/online-exposure|{version}"
    assert all(group["linkId"].endswith(".section") for group in document["item"])


def test_unknown_age_and_concern_date_are_the_unknown_siblings() -> None:
    answers = {**shipped_test("V1 ", 2)["answers"], "child_age_years": "unknown", "concern_date": "unknown"}
    document = questionnaire_response(answers, version=2)
    by_link = {item["linkId"]: item for group in document["item"] for item in group["item"]}
    for item_id in ("child_age_years", "concern_date"):
        assert item_id not in by_link
        assert by_link[item_id + UNKNOWN_SUFFIX]["answer"] == [{"valueBoolean": True}]
    read = answers_from_response(
        document, QUESTIONNAIRES[2], base=SHIPPED_CANONICAL_BASE, identifier_system=CASE_SYSTEM
    )
    assert read.answers == answers


def test_flat_items_and_a_false_unknown_sibling_are_read_too() -> None:
    answers = shipped_test("V1 ", 2)["answers"]
    document = questionnaire_response(answers, version=2)
    flat = [item for group in document["item"] for item in group["item"]]
    flat.append({"linkId": "concern_date" + UNKNOWN_SUFFIX, "answer": [{"valueBoolean": False}]})
    document["item"] = flat
    read = answers_from_response(
        document, QUESTIONNAIRES[2], base=SHIPPED_CANONICAL_BASE, identifier_system=CASE_SYSTEM
    )
    assert read.answers == answers


def _result(body: dict[str, Any]) -> dict[str, Any]:
    return {name: body[name] for name in RESULT_FIELDS}


@pytest.mark.parametrize("ruleset_version", [1, 2])
async def test_fhir_create_stores_what_the_json_create_stores(
    client: httpx.AsyncClient, configured: Tenant, ruleset_version: int
) -> None:
    await use_ruleset(client, configured, ruleset_version)
    tests = [test for ruleset, test in SHIPPED_TESTS if ruleset["version"] == ruleset_version]
    for test in tests:
        version = ruleset_version  # each shipped rule set scores the questionnaire version of its own number
        json_body = {
            "questionnaire": {"key": "online-exposure", "version": version},
            "subject_ref": "case-json",
            "answers": test["answers"],
        }
        by_json = await client.post("/v1/assessments", json=json_body, headers=configured.headers(Role.assessor))
        assert by_json.status_code == 201, (test["name"], by_json.text)
        by_fhir = await client.post(
            "/v1/assessments",
            content=_dumps(questionnaire_response(test["answers"], version=version, subject_ref="case-fhir")),
            headers=fhir_headers(configured),
        )
        assert by_fhir.status_code == 201, (test["name"], by_fhir.text)
        assert _result(by_fhir.json()) == _result(by_json.json()), test["name"]
        assert by_fhir.json()["subject_ref"] == "case-fhir"


async def test_questionnaire_response_read_gives_back_the_stored_answers(
    client: httpx.AsyncClient, configured: Tenant
) -> None:
    answers = shipped_test("V3 ")["answers"]
    json_body = {"questionnaire": {"key": "online-exposure", "version": 1}, "subject_ref": "case-7", "answers": answers}
    await use_ruleset(client, configured, 1)
    created = await client.post("/v1/assessments", json=json_body, headers=configured.headers(Role.assessor))
    assert created.status_code == 201, created.text
    assessment_id = created.json()["id"]
    response = await client.get(
        f"/v1/assessments/{assessment_id}/questionnaire-response", headers=configured.headers(Role.assessor)
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/fhir+json"
    assert response.headers["vary"] == "Accept"
    assert response.headers["etag"].startswith('"')
    document = response.json()
    with_format = await client.get(
        f"/v1/assessments/{assessment_id}/questionnaire-response",
        params={"_format": "json"},
        headers=configured.headers(Role.assessor),
    )
    assert with_format.status_code == 200
    assert with_format.json() == document
    assert with_format.headers["etag"] == response.headers["etag"]
    assert document["id"] == assessment_id
    assert document["status"] == "completed"
    assert document["subject"] == {"identifier": {"system": CASE_SYSTEM, "value": "case-7"}}
    assert document["authored"].startswith(created.json()["created_at"][:19])
    read = answers_from_response(
        document, QUESTIONNAIRES[1], base=SHIPPED_CANONICAL_BASE, identifier_system=CASE_SYSTEM
    )
    assert read.answers == answers
    # what the read gives is a body the create accepts, and it scores the same
    again = await client.post("/v1/assessments", content=_dumps(document), headers=fhir_headers(configured))
    assert again.status_code == 201, again.text
    assert _result(again.json()) == _result(created.json())


def _dumps(document: dict[str, Any]) -> bytes:
    import json

    return json.dumps(document).encode()
