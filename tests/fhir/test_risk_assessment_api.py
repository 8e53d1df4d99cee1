"""GET /v1/assessments/{id} and POST /v1/assessments under FHIR Accept: the RiskAssessment, its ETag and 304, Vary,
`_format`, the 409 of an organisation without an identifier system, and idempotent replays in the retry's
representation (docs/fhir.md, "RiskAssessment")."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fhir.resources.R4B.riskassessment import RiskAssessment
from sqlalchemy import func, select, update

from app.assessments.models import Assessment
from app.auth.models import Organisation
from app.auth.permissions import Role
from app.fhir.media import FHIR_JSON, fhir_etag
from app.fhir.risk_assessment import COMPUTED_LEVEL, SUPERSEDED_BY
from app.rulesets.seed import seed_default_content
from tests.conftest import Tenant, make_tenant
from tests.fhir.risk_support import IDENTIFIER_SYSTEM, answers_of, create_body

FHIR = {"Accept": FHIR_JSON}
V3 = "V3 financially motivated sextortion"
WALES = "Jurisdiction Wales"
UNKNOWN_AGE = "Unknown age alone"


@pytest.fixture
def tenant(app: FastAPI) -> Tenant:
    return make_tenant(app, (Role.assessor,), (Role.supervisor,), (Role.auditor,))


@pytest.fixture
def other_tenant(app: FastAPI) -> Tenant:
    return make_tenant(app, (Role.assessor,))


@pytest.fixture(autouse=True)
def seeded(app: FastAPI) -> None:
    with app.state.sessionmaker.begin() as session:
        seed_default_content(session)


def set_identifier_system(app: FastAPI, tenant: Tenant, system: str | None) -> None:
    with app.state.sessionmaker.begin() as session:
        session.execute(
            update(Organisation).where(Organisation.id == tenant.organisation_id).values(fhir_identifier_system=system)
        )


@pytest.fixture
def configured(app: FastAPI, tenant: Tenant) -> Tenant:
    set_identifier_system(app, tenant, IDENTIFIER_SYSTEM)
    return tenant


def assessments_stored(app: FastAPI) -> int:
    with app.state.sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(Assessment)) or 0)


async def create(
    client: httpx.AsyncClient, tenant: Tenant, which: str = V3, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post(
        "/v1/assessments", json=create_body(which), headers={**tenant.headers(Role.assessor), **(headers or {})}
    )


async def created_id(client: httpx.AsyncClient, tenant: Tenant, which: str = V3) -> str:
    response = await create(client, tenant, which)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def read(
    client: httpx.AsyncClient, tenant: Tenant, assessment_id: str, headers: dict[str, str] | None = None, **params: Any
) -> httpx.Response:
    return await client.get(
        f"/v1/assessments/{assessment_id}",
        params=params,
        headers={**tenant.headers(Role.assessor), **(headers or {})},
    )


def parsed(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"] == FHIR_JSON, response.text
    body: dict[str, Any] = response.json()
    RiskAssessment.model_validate(body)
    return body


async def test_a_read_under_fhir_accept_is_the_risk_assessment(
    app: FastAPI, client: httpx.AsyncClient, configured: Tenant
) -> None:
    assessment_id = await created_id(client, configured)
    response = await read(client, configured, assessment_id, FHIR)
    assert response.status_code == 200
    resource = parsed(response)
    assert resource["id"] == assessment_id
    assert resource["status"] == "final"
    assert resource["subject"] == {"identifier": {"system": IDENTIFIER_SYSTEM, "value": "case-1"}}
    assert resource["basis"] == [
        {
            "reference": f"{app.state.settings.base_url}/v1/assessments/{assessment_id}/questionnaire-response",
            "type": "QuestionnaireResponse",
        }
    ]
    assert resource["prediction"][0]["qualitativeRisk"]["coding"][0]["code"] == "immediate"
    assert response.headers["vary"] == "Accept"
    assert response.headers["etag"].endswith('-fhir"')

    assert resource["method"]["coding"][0]["code"] == "online-harm-england"


async def test_the_json_representation_varies_by_accept_too_and_keeps_its_etag(
    client: httpx.AsyncClient, configured: Tenant
) -> None:
    assessment_id = await created_id(client, configured)
    json_read = await read(client, configured, assessment_id)
    assert json_read.headers["content-type"] == "application/json"
    assert json_read.headers["vary"] == "Accept"
    assert json_read.headers["etag"] != (await read(client, configured, assessment_id, FHIR)).headers["etag"]


async def test_each_representation_has_its_etag_and_its_304(client: httpx.AsyncClient, configured: Tenant) -> None:
    assessment_id = await created_id(client, configured)
    json_tag = (await read(client, configured, assessment_id)).headers["etag"]
    fhir_read = await read(client, configured, assessment_id, FHIR)
    fhir_tag = fhir_read.headers["etag"]
    assert fhir_tag.endswith('-fhir"')
    assert fhir_tag != fhir_etag(json_tag)  # the tag of the FHIR representation itself (docs/fhir.md)

    not_modified = await read(client, configured, assessment_id, {**FHIR, "If-None-Match": fhir_tag})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified.headers["etag"] == fhir_tag
    assert not_modified.headers["vary"] == "Accept"
    json_not_modified = await read(client, configured, assessment_id, {"If-None-Match": json_tag})
    assert json_not_modified.status_code == 304
    assert json_not_modified.headers["vary"] == "Accept"

    # A tag of the other representation never matches.
    assert (await read(client, configured, assessment_id, {**FHIR, "If-None-Match": json_tag})).status_code == 200
    assert (await read(client, configured, assessment_id, {"If-None-Match": fhir_tag})).status_code == 200


async def test_a_fhir_read_is_audited_with_the_digest_of_the_representation_returned(
    client: httpx.AsyncClient, configured: Tenant
) -> None:
    assessment_id = await created_id(client, configured)
    tag = (await read(client, configured, assessment_id, FHIR)).headers["etag"]
    await read(client, configured, assessment_id, {**FHIR, "If-None-Match": tag})
    listed = await client.get(
        "/v1/audit/events", params={"limit": 200}, headers=configured.headers(Role.auditor, acting_user="dpo")
    )
    reads = [e for e in listed.json()["items"] if e["action"] == "assessment.read"]
    assert [(e["resource_id"], e["status"]) for e in reads] == [(assessment_id, 200), (assessment_id, 304)]
    assert {f'"{e["digest"]}-fhir"' for e in reads} == {tag}


async def test_the_fhir_etag_changes_with_what_only_the_fhir_representation_shows(
    app: FastAPI, client: httpx.AsyncClient, configured: Tenant
) -> None:
    """The identifier system is not in the JSON representation: a tag made from the JSON one would give a stale
    304 once an admin changes it."""
    assessment_id = await created_id(client, configured)
    first = (await read(client, configured, assessment_id, FHIR)).headers["etag"]
    set_identifier_system(app, configured, "https://trust.example.nhs.uk/Id/other-cases")
    again = await read(client, configured, assessment_id, {**FHIR, "If-None-Match": first})
    assert again.status_code == 200
    assert again.json()["subject"]["identifier"]["system"] == "https://trust.example.nhs.uk/Id/other-cases"


@pytest.mark.parametrize("format_", ["json", "application/fhir+json", "application/json", "application/json+fhir"])
async def test_format_asks_for_fhir_whatever_accept_says(
    client: httpx.AsyncClient, configured: Tenant, format_: str
) -> None:
    assessment_id = await created_id(client, configured)
    response = await read(client, configured, assessment_id, {"Accept": "application/json"}, _format=format_)
    assert response.status_code == 200
    assert parsed(response)["id"] == assessment_id


async def test_a_format_not_served_is_a_422_naming_it(client: httpx.AsyncClient, configured: Tenant) -> None:
    assessment_id = await created_id(client, configured)
    response = await read(client, configured, assessment_id, _format="xml")
    assert response.status_code == 422
    assert [error["pointer"] for error in response.json()["errors"]] == ["/_format"]


def assert_outcome_of(response: httpx.Response, problem_type: str) -> None:
    """An OperationOutcome (the problem under FHIR's Accept) naming the problem's type."""
    assert response.headers["content-type"] == "application/fhir+json"
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert all(problem_type in issue["details"]["text"] for issue in outcome["issue"])


async def test_without_an_identifier_system_a_fhir_read_is_409_and_json_still_works(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    assessment_id = await created_id(client, tenant)
    refused = await read(client, tenant, assessment_id, FHIR)
    assert refused.status_code == 409
    assert_outcome_of(refused, "/problems/fhir-not-configured")
    assert (await read(client, tenant, assessment_id)).status_code == 200


async def test_without_an_identifier_system_a_create_under_fhir_accept_is_409_and_stores_nothing(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    refused = await create(client, tenant, headers={**FHIR, **key})
    assert refused.status_code == 409, refused.text
    assert_outcome_of(refused, "/problems/fhir-not-configured")
    assert assessments_stored(app) == 0
    set_identifier_system(app, tenant, IDENTIFIER_SYSTEM)
    retried = await create(client, tenant, headers={**FHIR, **key})  # the key was left free
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers


async def test_another_organisations_assessment_is_404_under_fhir_accept(
    app: FastAPI, client: httpx.AsyncClient, configured: Tenant, other_tenant: Tenant
) -> None:
    set_identifier_system(app, other_tenant, IDENTIFIER_SYSTEM)
    assessment_id = await created_id(client, configured)
    assert (await read(client, other_tenant, assessment_id, FHIR)).status_code == 404


async def test_a_create_under_fhir_accept_is_the_risk_assessment_with_location_and_fhir_etag(
    client: httpx.AsyncClient, configured: Tenant
) -> None:
    response = await create(client, configured, headers=FHIR)
    assert response.status_code == 201, response.text
    resource = parsed(response)
    assert response.headers["location"] == f"/v1/assessments/{resource['id']}"
    assert response.headers["vary"] == "Accept"
    read_back = await read(client, configured, resource["id"], FHIR)
    assert read_back.json() == resource
    assert response.headers["etag"] == read_back.headers["etag"]


async def test_a_json_create_keeps_its_etag_and_varies_by_accept(client: httpx.AsyncClient, configured: Tenant) -> None:
    response = await create(client, configured)
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert response.headers["vary"] == "Accept"
    assert response.headers["etag"] == (await read(client, configured, response.json()["id"])).headers["etag"]


async def test_notices_and_gaps_of_a_stored_assessment_are_its_first_notes_and_gap_notes(
    client: httpx.AsyncClient, configured: Tenant
) -> None:
    body = create_body(WALES)
    body["answers"]["child_age_years"] = "unknown"
    response = await client.post("/v1/assessments", json=body, headers=configured.headers(Role.assessor))
    assert response.status_code == 201, response.text
    stored = response.json()
    resource = parsed(await read(client, configured, stored["id"], FHIR))
    texts = [note["text"] for note in resource["note"]]
    assert texts[0] == stored["notices"][0]["text"]
    assert stored["information_gaps"] == ["child_age_years"]
    assert any(text.startswith('Information gap: "') and "(child_age_years)" in text for text in texts)


async def test_revisions_overrides_and_entered_in_error_show_in_the_status(
    app: FastAPI, client: httpx.AsyncClient, configured: Tenant
) -> None:
    supervisor = configured.headers(Role.supervisor)
    medium = "Band: total 4 is medium"
    first = await created_id(client, configured, medium)
    amended = await client.post(
        f"/v1/assessments/{first}/revisions", json={"answers": answers_of(medium)}, headers=supervisor
    )
    assert amended.status_code == 201, amended.text
    second = amended.json()["id"]
    raise_to_high = {"level": "high", "rationale": "Further contact."}
    overridden = await client.post(f"/v1/assessments/{second}/override", json=raise_to_high, headers=supervisor)
    assert overridden.status_code == 201, overridden.text

    earlier = parsed(await read(client, configured, first, FHIR))
    assert earlier["status"] == "final"
    assert [e["valueReference"]["reference"] for e in earlier["extension"] if e["url"] == SUPERSEDED_BY] == [
        f"{app.state.settings.base_url}/v1/assessments/{second}"
    ]
    latest = parsed(await read(client, configured, second, FHIR))
    assert latest["status"] == "amended"
    prediction = latest["prediction"][0]
    assert prediction["qualitativeRisk"]["coding"][0]["code"] == "high"
    assert [e["valueCoding"]["code"] for e in prediction["extension"] if e["url"] == COMPUTED_LEVEL] == ["medium"]

    marked = await client.post(
        f"/v1/assessments/{second}/entered-in-error", json={"reason": "Wrong case."}, headers=supervisor
    )
    assert marked.status_code == 201, marked.text
    assert parsed(await read(client, configured, second, FHIR))["status"] == "entered-in-error"


async def test_a_json_create_replayed_under_fhir_accept_is_the_first_assessment_as_a_risk_assessment(
    client: httpx.AsyncClient, configured: Tenant
) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await create(client, configured, headers=key)
    assert first.status_code == 201
    replay = await create(client, configured, headers={**key, **FHIR})
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.headers["location"] == first.headers["location"]
    assert replay.headers["vary"] == "Accept"
    resource = parsed(replay)
    assert resource == parsed(await read(client, configured, first.json()["id"], FHIR))


async def test_a_fhir_create_replayed_under_json_accept_is_the_first_assessment_as_json(
    app: FastAPI, client: httpx.AsyncClient, configured: Tenant
) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await create(client, configured, headers={**key, **FHIR})
    assert first.status_code == 201
    replay = await create(client, configured, headers=key)
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.headers["content-type"] == "application/json"
    assert replay.headers["location"] == first.headers["location"]
    assert replay.headers["vary"] == "Accept"
    assert replay.json()["id"] == parsed(first)["id"]
    assert replay.json() == (await read(client, configured, parsed(first)["id"])).json()
    again = await create(client, configured, headers={**key, **FHIR})
    assert parsed(again) == parsed(first)
    assert assessments_stored(app) == 1


async def test_format_is_no_part_of_the_request_an_idempotency_key_names(
    client: httpx.AsyncClient, configured: Tenant
) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await create(client, configured, headers=key)
    replay = await client.post(
        "/v1/assessments",
        params={"_format": "json"},
        json=create_body(V3),
        headers={**configured.headers(Role.assessor), **key},
    )
    assert replay.status_code == 201, replay.text
    assert replay.headers["idempotent-replayed"] == "true"
    assert parsed(replay)["id"] == first.json()["id"]


async def test_a_replay_renders_the_first_response_not_what_changed_since(
    client: httpx.AsyncClient, configured: Tenant
) -> None:
    """A replay is the response first sent, in the representation asked for: an override made since is not in it
    (a read shows it)."""
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await create(client, configured, "Band: total 4 is medium", headers=key)
    assessment_id = first.json()["id"]
    overridden = await client.post(
        f"/v1/assessments/{assessment_id}/override",
        json={"level": "high", "rationale": "Further contact."},
        headers=configured.headers(Role.supervisor),
    )
    assert overridden.status_code == 201
    replay = parsed(await create(client, configured, "Band: total 4 is medium", headers={**key, **FHIR}))
    assert replay["prediction"][0]["qualitativeRisk"]["coding"][0]["code"] == "medium"
    now = parsed(await read(client, configured, assessment_id, FHIR))
    assert now["prediction"][0]["qualitativeRisk"]["coding"][0]["code"] == "high"


async def test_a_refusal_kept_for_the_key_is_replayed_in_the_retrys_representation(
    client: httpx.AsyncClient, configured: Tenant
) -> None:
    """Creates keep no refusal (each leaves the key free); the refusals kept for a key are those of amend,
    override and entered in error: a retry gets the first refusal as its Accept asks, an OperationOutcome under
    FHIR's and the problem document otherwise."""
    key = {"Idempotency-Key": str(uuid.uuid4()), **FHIR}
    supervisor = configured.headers(Role.supervisor)
    assessment_id = await created_id(client, configured)
    marked = await client.post(
        f"/v1/assessments/{assessment_id}/entered-in-error", json={"reason": "Wrong case."}, headers=supervisor
    )
    assert marked.status_code == 201
    first = await client.post(
        f"/v1/assessments/{assessment_id}/entered-in-error", json={"reason": "Again."}, headers={**supervisor, **key}
    )
    replay = await client.post(
        f"/v1/assessments/{assessment_id}/entered-in-error", json={"reason": "Again."}, headers={**supervisor, **key}
    )
    assert first.status_code == replay.status_code == 409
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.content == first.content
    assert_outcome_of(replay, "/problems/conflict")
    as_json = await client.post(
        f"/v1/assessments/{assessment_id}/entered-in-error",
        json={"reason": "Again."},
        headers={**supervisor, "Idempotency-Key": key["Idempotency-Key"]},
    )
    assert as_json.status_code == 409
    assert as_json.headers["idempotent-replayed"] == "true"
    assert as_json.headers["content-type"] == "application/problem+json"
    assert as_json.json()["type"] == "/problems/conflict"
