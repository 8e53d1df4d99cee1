"""Direct identifiers in a QuestionnaireResponse are refused with a 422 naming the element, and nothing is stored."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.assessments.models import Assessment
from tests.conftest import Tenant
from tests.fhir.conftest import FHIR, fhir_headers, questionnaire_response, shipped_test, use_ruleset

PATIENT = {"reference": "Patient/9434765919"}


def _with(**members: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        document.update(copy.deepcopy(members))

    return change


def _subject_system(system: str) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        document["subject"] = {"identifier": {"system": system, "value": "9434765919"}}

    return change


def _answer_reference(document: dict[str, Any]) -> None:
    document["item"][0]["item"][0]["extension"] = [
        {"url": "https://example.org/who", "valueReference": {"reference": "Patient/1"}}
    ]


REFUSALS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "nhs number": (_subject_system("https://fhir.nhs.uk/Id/nhs-number"), "/subject/identifier/system"),
    "nhs number over http with a trailing slash": (
        _subject_system("http://FHIR.nhs.uk/Id/nhs-number/"),
        "/subject/identifier/system",
    ),
    "nhs number, old system": (_subject_system("http://fhir.nhs.net/Id/nhs-number"), "/subject/identifier/system"),
    "another system": (_subject_system("https://other-trust.example/Id/case"), "/subject/identifier/system"),
    "contained": (_with(contained=[{"resourceType": "Patient", "id": "p1"}]), "/contained"),
    "text": (_with(text={"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">Jo</div>'}), "/text"),
    "author": (_with(author={"identifier": {"value": "dr-who"}}), "/author"),
    "source": (_with(source={"display": "Jo's mother"}), "/source"),
    "subject reference": (_with(subject=PATIENT), "/subject/reference"),
    "subject display": (
        _with(subject={"identifier": {"system": "x"}, "display": "Jo Bloggs"}),
        "/subject/display",
    ),
    "literal reference elsewhere": (_answer_reference, "/item/0/item/0/extension/0/valueReference/reference"),
    "based on": (_with(basedOn=[{"reference": "ServiceRequest/1"}]), "/basedOn/0/reference"),
}


def _count(app: FastAPI) -> int:
    with app.state.sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(Assessment)) or 0)


@pytest.mark.parametrize("accept", [None, FHIR])
async def test_each_direct_identifier_is_refused_and_nothing_stored(
    client: httpx.AsyncClient, configured: Tenant, app: FastAPI, accept: str | None
) -> None:
    await use_ruleset(client, configured, 1)
    for name, (change, pointer) in REFUSALS.items():
        document = questionnaire_response(shipped_test("V1 ")["answers"])
        change(document)
        response = await client.post(
            "/v1/assessments", content=json.dumps(document), headers=fhir_headers(configured, accept=accept)
        )
        assert response.status_code == 422, (name, response.text)
        if accept is None:
            assert response.headers["content-type"] == "application/problem+json"
            assert pointer in [error["pointer"] for error in response.json()["errors"]], (name, response.text)
        else:
            assert response.headers["content-type"] == FHIR
            outcome = response.json()
            assert outcome["resourceType"] == "OperationOutcome"
            expressions = [e for issue in outcome["issue"] for e in issue.get("expression", [])]
            expected = "QuestionnaireResponse" + "".join(
                f"[{part}]" if part.isdigit() else f".{part}" for part in pointer.split("/")[1:]
            )
            assert expected in expressions, (name, outcome)
        assert "9434765919" not in response.text, name  # a refused identifier is not echoed back either
    assert _count(app) == 0


async def test_an_nhs_number_is_refused_even_without_an_identifier_system(
    client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI
) -> None:
    document = questionnaire_response(shipped_test("V1 ")["answers"], system="https://fhir.nhs.uk/Id/nhs-number")
    response = await client.post("/v1/assessments", content=json.dumps(document), headers=fhir_headers(tenant))
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["pointer"] == "/subject/identifier/system"
    assert _count(seeded) == 0
