"""`?include=answers`: the stored answers of a revision, to the roles that work the case (operation `read_answers`),
audited as `assessment.read_answers`; absent everywhere else (docs/answers.md, "Reading the stored answers")."""

from __future__ import annotations

import hashlib
import json

import httpx
import rfc8785
from fastapi import FastAPI
from sqlalchemy import select

from app.assessments.models import IdempotencyRecord
from app.auth.permissions import GRANTS, Operation, Role
from app.main import create_app
from tests.assessments.conftest import IMMEDIATE, LOW, MEDIUM, answers, create, events, new_body
from tests.conftest import Tenant, make_settings

FORBIDDEN = "This operation needs one of the roles: assessor, supervisor (operation 'read_answers')"


def digest_of(response: httpx.Response) -> str:
    return hashlib.sha256(rfc8785.dumps(response.json())).hexdigest()


async def test_the_assessment_with_its_answers_to_assessor_and_supervisor(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await create(client, tenant, which=MEDIUM)
    url = f"/v1/assessments/{created['id']}"
    for role in (Role.assessor, Role.supervisor):
        shown = await client.get(url, params={"include": "answers"}, headers=tenant.headers(role))
        assert shown.status_code == 200, shown.text
        body = shown.json()
        assert body["answers"] == answers(MEDIUM)
        assert {k: v for k, v in body.items() if k != "answers"} == created
    with_trace = await client.get(
        url, params={"include": "answers", "explain": "trace"}, headers=tenant.headers(Role.assessor)
    )
    assert with_trace.json()["answers"] == answers(MEDIUM)
    assert with_trace.json()["trace"]


async def test_answers_need_the_read_answers_operation(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await create(client, tenant)
    assert GRANTS[Operation.read_answers] == {Role.assessor, Role.supervisor}
    for path in (f"/v1/assessments/{created['id']}", f"/v1/assessments/{created['id']}/revisions"):
        for role in Role:
            with_answers = await client.get(path, params={"include": "answers"}, headers=tenant.headers(role))
            plain = await client.get(path, headers=tenant.headers(role))
            where = f"{path} as {role}: {with_answers.status_code} {with_answers.text[:200]}"
            if role in GRANTS[Operation.read_answers]:
                assert with_answers.status_code == 200, where
            elif role in GRANTS[Operation.read_assessments]:  # the auditor: the case, not the answers
                assert plain.status_code == 200, where
                assert all("answers" not in item for item in plain.json().get("items", [plain.json()]))
                assert with_answers.status_code == 403, where
                assert with_answers.headers["content-type"] == "application/problem+json"
                assert with_answers.json()["detail"] == FORBIDDEN
            else:  # no read_assessments at all: the route's own operation is named
                assert with_answers.status_code == 403, where
                assert "(operation 'read_assessments')" in with_answers.json()["detail"], where
    without_user = await client.get(
        f"/v1/assessments/{created['id']}",
        params={"include": "answers"},
        headers=tenant.headers(Role.assessor, acting_user=None),
    )
    assert without_user.status_code == 400


async def test_include_takes_only_answers(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await create(client, tenant)
    for path in (f"/v1/assessments/{created['id']}", f"/v1/assessments/{created['id']}/revisions"):
        for value in ("answer", "ANSWERS", "answers,trace", ""):
            refused = await client.get(path, params={"include": value}, headers=tenant.headers(Role.assessor))
            assert refused.status_code == 422, (path, value, refused.text)
            assert [(e["pointer"], e["location"]) for e in refused.json()["errors"]] == [("/include", "query")]
        twice = await client.get(f"{path}?include=answers&include=answers", headers=tenant.headers(Role.assessor))
        assert twice.status_code == 400, twice.text
    # a list never shows answers: the parameter is not one of its own
    listed = await client.get("/v1/assessments", params={"include": "answers"}, headers=tenant.headers(Role.assessor))
    assert listed.status_code == 400, listed.text
    assert listed.json()["errors"][0]["pointer"] == "/include"


async def test_the_revision_chain_shows_each_revisions_own_answers(client: httpx.AsyncClient, tenant: Tenant) -> None:
    first = await create(client, tenant)
    amended = await client.post(
        f"/v1/assessments/{first['id']}/revisions",
        json={"answers": answers(IMMEDIATE)},
        headers=tenant.headers(Role.assessor),
    )
    assert amended.status_code == 201, amended.text
    chain = await client.get(
        f"/v1/assessments/{amended.json()['id']}/revisions",
        params={"include": "answers"},
        headers=tenant.headers(Role.supervisor),
    )
    assert chain.status_code == 200, chain.text
    assert [item["answers"] for item in chain.json()["items"]] == [answers(LOW), answers(IMMEDIATE)]
    plain = await client.get(f"/v1/assessments/{first['id']}/revisions", headers=tenant.headers(Role.assessor))
    assert all("answers" not in item for item in plain.json()["items"])
    assert [{k: v for k, v in item.items() if k != "answers"} for item in chain.json()["items"]] == plain.json()[
        "items"
    ]


async def test_answers_appear_nowhere_else(client: httpx.AsyncClient, tenant: Tenant, app: FastAPI) -> None:
    """Not in a read without the parameter, a list, nor the responses of create, amend, override and entered in
    error, first sent or replayed under an Idempotency-Key, nor in the stored idempotency records."""
    keyed = {**tenant.headers(Role.supervisor), "Idempotency-Key": "create-1"}
    created = await client.post("/v1/assessments", json=new_body(which=MEDIUM), headers=keyed)
    replayed = await client.post("/v1/assessments", json=new_body(which=MEDIUM), headers=keyed)
    assert replayed.headers["idempotent-replayed"] == "true"
    aid = created.json()["id"]
    base = f"/v1/assessments/{aid}"
    amend_headers = {**tenant.headers(Role.supervisor), "Idempotency-Key": "amend-1"}
    amended = await client.post(f"{base}/revisions", json={"answers": answers(MEDIUM)}, headers=amend_headers)
    amended_again = await client.post(f"{base}/revisions", json={"answers": answers(MEDIUM)}, headers=amend_headers)
    patched = await client.post(
        f"/v1/assessments/{amended.json()['id']}/revisions",
        json={"answers_patch": {"conduct_late_night_use": "yes"}},
        headers={**tenant.headers(Role.supervisor), "Idempotency-Key": "patch-1"},
    )
    latest = patched.json()["id"]
    overridden = await client.post(
        f"/v1/assessments/{latest}/override",
        json={"level": "high", "rationale": "judgement"},
        headers={**tenant.headers(Role.supervisor), "Idempotency-Key": "override-1"},
    )
    marked = await client.post(
        f"/v1/assessments/{latest}/entered-in-error",
        json={"reason": "wrong child"},
        headers={**tenant.headers(Role.supervisor), "Idempotency-Key": "mark-1"},
    )
    read = await client.get(base, headers=tenant.headers(Role.supervisor))
    listed = await client.get(
        "/v1/assessments",
        params={"include_superseded": True, "include_entered_in_error": True},
        headers=tenant.headers(Role.supervisor),
    )
    chain = await client.get(f"{base}/revisions", headers=tenant.headers(Role.supervisor))
    responses = [created, replayed, amended, amended_again, patched, overridden, marked, read]
    assert [r.status_code for r in responses] == [201, 201, 201, 201, 201, 201, 201, 200], [r.text for r in responses]
    for response in responses:
        assert "answers" not in response.json(), response.request.url
    assert len(listed.json()["items"]) == 3
    for item in [*listed.json()["items"], *chain.json()["items"]]:
        assert "answers" not in item
    with app.state.sessionmaker() as session:
        stored = [json.loads(r.body) for r in session.scalars(select(IdempotencyRecord))]
    assert len(stored) == 5
    assert all("answers" not in body for body in stored)


async def test_the_representation_with_answers_has_its_own_etag(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await create(client, tenant)
    url = f"/v1/assessments/{created['id']}"
    headers = tenant.headers(Role.assessor)
    plain = await client.get(url, headers=headers)
    full = await client.get(url, params={"include": "answers"}, headers=headers)
    assert plain.headers["etag"] != full.headers["etag"]
    assert full.headers["etag"] == f'"{digest_of(full)}"'
    not_the_same = await client.get(
        url, params={"include": "answers"}, headers={**headers, "If-None-Match": plain.headers["etag"]}
    )
    assert not_the_same.status_code == 200
    assert not_the_same.json()["answers"] == answers(LOW)
    unchanged = await client.get(
        url, params={"include": "answers"}, headers={**headers, "If-None-Match": full.headers["etag"]}
    )
    assert unchanged.status_code == 304
    assert unchanged.headers["etag"] == full.headers["etag"]
    assert (await client.get(url, headers={**headers, "If-None-Match": full.headers["etag"]})).status_code == 200


async def test_reading_answers_is_audited_as_read_answers(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await create(client, tenant, subject_ref="child-a")
    aid = created["id"]
    full = await client.get(
        f"/v1/assessments/{aid}", params={"include": "answers"}, headers=tenant.headers(Role.assessor, acting_user="sw")
    )
    plain = await client.get(f"/v1/assessments/{aid}", headers=tenant.headers(Role.assessor, acting_user="sw"))
    chain = await client.get(
        f"/v1/assessments/{aid}/revisions",
        params={"include": "answers"},
        headers=tenant.headers(Role.supervisor, acting_user="lead"),
    )
    refused = await client.get(
        f"/v1/assessments/{aid}", params={"include": "answers"}, headers=tenant.headers(Role.auditor, acting_user="x")
    )
    assert (full.status_code, plain.status_code, chain.status_code, refused.status_code) == (200, 200, 200, 403)

    seen = await events(client, tenant, resource_id=aid)
    assert [(e["action"], e["acting_user"], e["status"]) for e in seen] == [
        ("assessment.create", "user-1", 201),
        ("assessment.read_answers", "sw", 200),
        ("assessment.read", "sw", 200),
        ("assessment.read_answers", "lead", 200),
        ("refused.get_assessment", "x", 403),
    ]
    read_answers = [e for e in seen if e["action"] == "assessment.read_answers"]
    assert read_answers[0]["digest"] == digest_of(full)
    assert read_answers[0]["subject_ref"] == "child-a"
    assert read_answers[0]["details"] is None
    assert read_answers[1]["digest"] == digest_of(chain)
    assert read_answers[1]["details"] == {"count": 1}
    assert [r["id"] for r in read_answers[1]["resources"]] == [aid]
    assert seen[2]["digest"] == digest_of(plain)
    assert "answers" not in json.dumps([e["details"] for e in seen])
    verified = await client.get("/v1/audit/verify", headers=tenant.headers(Role.auditor))
    assert verified.json()["ok"] is True


def test_the_document_shows_answers_and_who_may_ask_for_them() -> None:
    app = create_app(make_settings("sqlite:///:memory:"))
    document = app.openapi()
    app.state.engine.dispose()
    schema = document["components"]["schemas"]["AssessmentRead"]
    assert "answers" in schema["properties"]
    assert "answers" not in schema["required"]
    assert "include=answers" in schema["properties"]["answers"]["description"]
    for path in ("/v1/assessments/{assessment_id}", "/v1/assessments/{assessment_id}/revisions"):
        operation = document["paths"][path]["get"]
        include = next(p for p in operation["parameters"] if p["name"] == "include")
        assert include["in"] == "query"
        assert not include.get("required", False)
        assert include["description"]
        assert include["schema"]["examples"] == ["answers"]
        paragraphs = operation["description"].split("\n\n")
        assert paragraphs[-2] == (
            "**With `include=answers`:** also operation `read_answers`, granted to `assessor`, `supervisor`; "
            "a key without it gets a 403."
        ), path
        assert paragraphs[-1].startswith(
            "**Roles:** `assessor`, `supervisor`, `auditor` (operation `read_assessments`)"
        )


async def test_a_read_answered_304_is_audited_as_a_304(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await create(client, tenant)
    aid = created["id"]
    headers = tenant.headers(Role.assessor, acting_user="sw")
    first = await client.get(f"/v1/assessments/{aid}", headers=headers)
    again = await client.get(f"/v1/assessments/{aid}", headers={**headers, "If-None-Match": first.headers["ETag"]})
    with_answers = await client.get(
        f"/v1/assessments/{aid}",
        params={"include": "answers"},
        headers={**headers, "If-None-Match": first.headers["ETag"]},
    )
    assert (first.status_code, again.status_code, with_answers.status_code) == (200, 304, 200)

    seen = await events(client, tenant, resource_id=aid)
    assert [(e["action"], e["status"]) for e in seen][1:] == [
        ("assessment.read", 200),
        ("assessment.read", 304),
        ("assessment.read_answers", 200),
    ]
    assert seen[2]["digest"] == digest_of(first)
    weak = await client.get(
        f"/v1/assessments/{aid}", headers={**headers, "If-None-Match": f"W/{first.headers['ETag']}"}
    )
    assert weak.status_code == 304  # If-None-Match compares weakly (RFC 9110)
