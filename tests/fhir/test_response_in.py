"""POST /v1/assessments with a QuestionnaireResponse: what is read, what is refused (400 structure, 409 not
configured, 422 answers), errors as OperationOutcome under FHIR's Accept, the Idempotency-Key, media-type confusion,
and GET /v1/assessments/{id}/questionnaire-response."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.auth.permissions import Role
from app.fhir.canonical import SHIPPED_CANONICAL_BASE
from tests.assessments.conftest import events
from tests.conftest import Tenant
from tests.fhir.conftest import FHIR, fhir_headers, questionnaire_response, set_system, shipped_test, use_ruleset

V1 = shipped_test("V1 ")["answers"]


async def _post(
    client: httpx.AsyncClient, tenant: Tenant, document: Any, *, accept: str | None = None, **headers: str
) -> httpx.Response:
    return await client.post(
        "/v1/assessments",
        content=json.dumps(document),
        headers={**fhir_headers(tenant, accept=accept), **headers},
    )


def _item(document: dict[str, Any], link_id: str) -> tuple[str, dict[str, Any]]:
    """(JSON pointer, item) of the item with this linkId inside the section groups."""
    for g, group in enumerate(document["item"]):
        for i, item in enumerate(group["item"]):
            if item["linkId"] == link_id:
                return f"/item/{g}/item/{i}", item
    raise KeyError(link_id)


def _fhirpath(pointer: str) -> str:
    return "QuestionnaireResponse" + "".join(
        f"[{part}]" if part.isdigit() else f".{part}" for part in pointer.split("/")[1:]
    )


@pytest.fixture
async def ready(client: httpx.AsyncClient, configured: Tenant) -> Tenant:
    await use_ruleset(client, configured, 1)
    return configured


async def test_structure_errors_are_a_400_naming_every_element(client: httpx.AsyncClient, ready: Tenant) -> None:
    document = questionnaire_response(V1)
    document["colour"] = "blue"
    pointer, item = _item(document, "child_age_years")
    item["answer"] = [{"valueInteger": "twelve"}]
    problem = await _post(client, ready, document)
    assert problem.status_code == 400, problem.text
    assert {"/colour", f"{pointer}/answer/0/valueInteger"} <= {e["pointer"] for e in problem.json()["errors"]}
    outcome = await _post(client, ready, document, accept=FHIR)
    assert outcome.status_code == 400
    assert outcome.headers["content-type"] == FHIR
    issues = outcome.json()["issue"]
    assert {issue["code"] for issue in issues} == {"structure"}
    assert "QuestionnaireResponse.colour" in [e for issue in issues for e in issue["expression"]]


async def test_answer_errors_name_the_element(client: httpx.AsyncClient, ready: Tenant) -> None:
    document = questionnaire_response(V1)
    age_pointer, age = _item(document, "child_age_years")
    age["answer"] = [{"valueInteger": 12}, {"valueInteger": 13}]  # one answer only
    yes_pointer, yes_no = _item(document, "contact_adult_involved")
    yes_no["answer"] = [{"valueBoolean": True}]  # a coding is expected
    code_pointer, coded = _item(document, "content_pornography")
    coded["answer"][0]["valueCoding"]["code"] = "sometimes"
    document["item"][0]["item"].append({"linkId": "favourite_colour", "answer": [{"valueString": "blue"}]})
    document["item"][0]["answer"] = [{"valueBoolean": True}]  # a section group
    document["status"] = "amended"
    response = await _post(client, ready, document)
    assert response.status_code == 422, response.text
    pointers = {e["pointer"] for e in response.json()["errors"]}
    assert pointers == {
        "/status",
        f"{age_pointer}/answer/1",
        f"{yes_pointer}/answer/0/valueBoolean",
        f"{code_pointer}/answer/0/valueCoding/code",
        f"/item/0/item/{len(document['item'][0]['item']) - 1}/linkId",
        "/item/0/answer",
    }


async def test_the_answer_checks_point_at_the_item_under_fhir_accept(client: httpx.AsyncClient, ready: Tenant) -> None:
    document = questionnaire_response({k: v for k, v in V1.items() if k != "concern_source"})
    age_pointer, age = _item(document, "child_age_years")
    age["answer"] = [{"valueInteger": 18}]
    problem = await _post(client, ready, document)
    assert problem.status_code == 422, problem.text
    assert {e["pointer"] for e in problem.json()["errors"]} == {"/answers/child_age_years", "/answers/concern_source"}
    outcome = await _post(client, ready, document, accept=FHIR)
    assert outcome.status_code == 422
    issues = {issue["expression"][0]: issue for issue in outcome.json()["issue"]}
    assert issues[_fhirpath(age_pointer)]["code"] == "value"
    missing = issues["QuestionnaireResponse.repeat(item).where(linkId='concern_source')"]
    assert missing["code"] == "required"
    assert missing["severity"] == "error"


async def test_unknown_questionnaires_are_refused(client: httpx.AsyncClient, ready: Tenant) -> None:
    for questionnaire in (
        f"{SHIPPED_CANONICAL_BASE}/Questionnaire/online-exposure|9",
        f"{SHIPPED_CANONICAL_BASE}/Questionnaire/online-exposure",
        "http://localhost:8000/fhir/Questionnaire/online-exposure|1",  # shipped content under another base
        "https://elsewhere.example/Questionnaire/online-exposure|1",
    ):
        document = {**questionnaire_response(V1), "questionnaire": questionnaire}
        response = await _post(client, ready, document)
        assert response.status_code == 422, (questionnaire, response.text)
        assert [e["pointer"] for e in response.json()["errors"]] == ["/questionnaire"]


async def test_unset_identifier_system_is_a_409(client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI) -> None:
    problem = await _post(client, tenant, questionnaire_response(V1))
    assert problem.status_code == 409
    assert problem.json()["type"] == "/problems/fhir-not-configured"
    outcome = await _post(client, tenant, questionnaire_response(V1), accept=FHIR)
    assert outcome.status_code == 409
    assert outcome.json()["issue"][0]["code"] == "conflict"
    created = await client.post(
        "/v1/assessments",
        json={"questionnaire": {"key": "online-exposure"}, "subject_ref": "c", "answers": V1},
        headers=tenant.headers(Role.assessor),
    )
    assert created.status_code == 201, created.text
    read = await client.get(
        f"/v1/assessments/{created.json()['id']}/questionnaire-response", headers=tenant.headers(Role.assessor)
    )
    assert read.status_code == 409
    assert read.json()["type"] == "/problems/fhir-not-configured"


async def test_other_errors_are_an_operation_outcome_under_fhir_accept(
    client: httpx.AsyncClient, ready: Tenant
) -> None:
    unauthenticated = await client.get("/v1/assessments", headers={"Accept": FHIR})
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["content-type"] == FHIR
    assert unauthenticated.headers["www-authenticate"].startswith("Bearer")
    assert unauthenticated.json()["issue"][0]["code"] == "login"
    bad_key = await _post(client, ready, questionnaire_response(V1), accept=FHIR, Authorization="Bearer nope")
    assert bad_key.status_code == 401
    assert bad_key.headers["content-type"] == FHIR
    missing = await client.get("/v1/assessments/nope", headers={**ready.headers(Role.assessor), "Accept": FHIR})
    assert missing.status_code == 404
    assert missing.json()["issue"][0]["code"] == "not-found"
    malformed = await client.post("/v1/assessments", content=b"{not json", headers=fhir_headers(ready, accept=FHIR))
    assert malformed.status_code == 400
    assert malformed.headers["content-type"] == FHIR
    plain = await client.get("/v1/assessments/nope", headers=ready.headers(Role.assessor))
    assert plain.headers["content-type"] == "application/problem+json"


async def test_idempotency_key_with_a_fhir_body(client: httpx.AsyncClient, ready: Tenant) -> None:
    document = questionnaire_response(V1)
    first = await _post(client, ready, document, **{"Idempotency-Key": "k-1"})
    assert first.status_code == 201, first.text
    again = await _post(client, ready, document, **{"Idempotency-Key": "k-1"})
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    as_json = await client.post(
        "/v1/assessments",
        json={"questionnaire": {"key": "online-exposure", "version": 1}, "subject_ref": "case-1", "answers": V1},
        headers={**ready.headers(Role.assessor), "Idempotency-Key": "k-1"},
    )
    assert as_json.status_code == 422
    assert as_json.json()["type"] == "/problems/idempotency-key-reused"


async def test_media_type_confusion(client: httpx.AsyncClient, ready: Tenant) -> None:
    document = questionnaire_response(V1)
    as_json = await client.post(
        "/v1/assessments", json=document, headers=ready.headers(Role.assessor)
    )  # a QuestionnaireResponse sent as application/json: AssessmentCreate's fields
    assert as_json.status_code == 422
    pointers = {e["pointer"] for e in as_json.json()["errors"]}
    assert {"/resourceType", "/subject_ref", "/answers"} <= pointers
    body = {"questionnaire": {"key": "online-exposure", "version": 1}, "subject_ref": "case-1", "answers": V1}
    as_fhir = await _post(client, ready, body)  # a JSON create sent as FHIR: a QuestionnaireResponse's structure
    assert as_fhir.status_code == 400
    assert [e["pointer"] for e in as_fhir.json()["errors"]] == ["/resourceType"]
    not_an_object = await _post(client, ready, [document])
    assert not_an_object.status_code == 422


async def test_questionnaire_response_read_needs_read_answers_and_is_audited(
    client: httpx.AsyncClient, ready: Tenant
) -> None:
    created = await _post(client, ready, questionnaire_response(V1, subject_ref="case-99"))
    assert created.status_code == 201, created.text
    path = f"/v1/assessments/{created.json()['id']}/questionnaire-response"
    refused = await client.get(path, headers=ready.headers(Role.auditor))
    assert refused.status_code == 403
    assert "read_answers" in refused.text
    read = await client.get(path, headers=ready.headers(Role.supervisor))
    assert read.status_code == 200
    assert read.json()["subject"]["identifier"]["value"] == "case-99"
    no_user = await client.get(path, headers=ready.headers(Role.supervisor, acting_user=None))
    assert no_user.status_code == 400
    audited = [e for e in await events(client, ready) if e["action"] == "assessment.read_answers"]
    assert len(audited) == 1
    assert audited[0]["subject_ref"] == "case-99"


async def test_questionnaire_response_read_has_an_etag_a_304_and_one_format_parameter(
    client: httpx.AsyncClient, ready: Tenant
) -> None:
    created = await _post(client, ready, questionnaire_response(V1, subject_ref="case-98"))
    assert created.status_code == 201, created.text
    path = f"/v1/assessments/{created.json()['id']}/questionnaire-response"
    headers = ready.headers(Role.assessor)
    read = await client.get(path, headers=headers)
    assert read.status_code == 200
    assert read.headers["vary"] == "Accept"
    again = await client.get(path, headers={**headers, "If-None-Match": read.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert (await client.get(path, headers={**headers, "If-None-Match": '"other"'})).status_code == 200
    assert (await client.get(path, params={"_format": "json"}, headers=headers)).json() == read.json()
    xml = await client.get(path, params={"_format": "xml"}, headers=headers)
    assert xml.status_code == 422
    assert [error["pointer"] for error in xml.json()["errors"]] == ["/_format"]


async def test_the_documented_questionnaire_response_example_creates(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI, seeded: FastAPI
) -> None:
    example = app.openapi()["paths"]["/v1/assessments"]["post"]["requestBody"]["content"][FHIR]["example"]
    await set_system(client, tenant, example["subject"]["identifier"]["system"])
    created = await _post(client, tenant, example)
    assert created.status_code == 201, created.text
    assert created.json()["subject_ref"] == example["subject"]["identifier"]["value"]
