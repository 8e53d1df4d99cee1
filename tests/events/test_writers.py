"""Every state change writes exactly one outbox event in its own transaction: thin data, never personal data;
nothing for a replay, a refusal, or a change that fails after its event was written."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.assessments import service as assessments_service
from app.auth.permissions import Role
from app.content.examples import ruleset_document
from app.core.db import new_id
from app.events import service as events_service
from app.events.models import Event
from tests.assessments.conftest import LOW, answers, new_body
from tests.conftest import Tenant
from tests.events.conftest import documented_envelopes, shape, stored_events

BASE = "http://127.0.0.1:8000"
SUBJECT = "case-7f3a9c-secret-subject"
RATIONALE = "Rationale text the professional typed: never sent out"
REASON = "Reason text the supervisor typed: never sent out"
ASSESSMENT_KEYS = {"assessment_id", "computed_level", "level", "ruleset", "links"}


def personal_data_absent(event: Event, *texts: str) -> None:
    """Neither the subject_ref, nor any answer, nor the free texts appear anywhere in the event as sent."""
    sent = json.dumps(events_service.envelope(event))
    for text in (SUBJECT, *texts):
        assert text not in sent
    for item, value in answers(LOW).items():
        assert f'"{item}"' not in sent
        assert not (isinstance(value, str) and len(value) > 3 and f'"{value}"' in sent), item
    for field in ("subject_ref", "answers", "rationale", "reason"):
        assert field not in sent


async def create(client: httpx.AsyncClient, tenant: Tenant, **headers: str) -> httpx.Response:
    return await client.post(
        "/v1/assessments", json=new_body(SUBJECT), headers={**tenant.headers(Role.assessor), **headers}
    )


async def test_each_assessment_change_emits_one_thin_event(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    created = (await create(client, tenant)).json()
    first = created["id"]
    amended = await client.post(
        f"/v1/assessments/{first}/revisions",
        json={"answers": answers(LOW)},
        headers=tenant.headers(Role.assessor),
    )
    assert amended.status_code == 201, amended.text
    second = amended.json()["id"]
    overridden = await client.post(
        f"/v1/assessments/{second}/override",
        json={"level": "high", "rationale": RATIONALE},
        headers=tenant.headers(Role.supervisor),
    )
    assert overridden.status_code == 201, overridden.text
    marked = await client.post(
        f"/v1/assessments/{second}/entered-in-error", json={"reason": REASON}, headers=tenant.headers(Role.supervisor)
    )
    assert marked.status_code == 201, marked.text

    stored = stored_events(app, tenant.organisation_id)
    assert [(e.sequence, e.type, e.assessment_id) for e in stored] == [
        (1, "assessment.created", first),
        (2, "assessment.revised", second),
        (3, "assessment.overridden", second),
        (4, "assessment.entered_in_error", second),
    ]
    ruleset = {"key": "online-harm-england", "version": 1}
    link = f"{BASE}/v1/assessments/{second}"
    assert stored[0].payload == {
        "assessment_id": first,
        "computed_level": "low",
        "level": "low",
        "ruleset": ruleset,
        "links": {"assessment": f"{BASE}/v1/assessments/{first}"},
    }
    assert stored[1].payload == {
        "assessment_id": second,
        "computed_level": "low",
        "level": "low",
        "ruleset": ruleset,
        "supersedes": first,
        "links": {"assessment": link},
    }
    assert stored[2].payload == {
        "assessment_id": second,
        "computed_level": "low",
        "level": "high",
        "ruleset": ruleset,
        "links": {"assessment": link},
    }
    assert stored[3].payload == stored[2].payload  # the final level when it was entered in error
    documented = documented_envelopes()
    for event in stored:
        assert shape(events_service.envelope(event)) == shape(documented[event.type]), event.type  # docs/events.md
        assert event.subject_ref == SUBJECT  # kept beside the event, for the audit of who was told
        assert event.organisation_id == tenant.organisation_id
        assert set(event.payload) - {"supersedes"} == ASSESSMENT_KEYS
        personal_data_absent(event, RATIONALE, REASON)


async def test_links_start_with_the_public_base_url(tmp_path: Any, database_url: str) -> None:
    from app.main import create_app
    from tests.conftest import make_settings, make_tenant

    app = create_app(make_settings(database_url, public_base_url="https://riskapi.example.org"))
    try:
        from app.rulesets.seed import seed_default_content

        with app.state.sessionmaker.begin() as session:
            seed_default_content(session)
        tenant = make_tenant(app, (Role.assessor,))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            created = await create(http, tenant)
        assert created.status_code == 201
        assert created.headers["Location"].startswith("/v1/assessments/")  # Location headers stay relative
        [event] = stored_events(app, tenant.organisation_id)
        assert event.payload["links"]["assessment"] == f"https://riskapi.example.org{created.headers['Location']}"
    finally:
        app.state.engine.dispose()


async def test_an_idempotent_replay_and_a_refusal_emit_nothing(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await create(client, tenant, **key)
    again = await create(client, tenant, **key)
    assert again.headers["Idempotent-Replayed"] == "true"
    assessment_id = first.json()["id"]
    override_key = {**tenant.headers(Role.supervisor), "Idempotency-Key": str(uuid.uuid4())}
    for _ in range(2):
        overridden = await client.post(
            f"/v1/assessments/{assessment_id}/override", json={"level": "high", "rationale": "r"}, headers=override_key
        )
        assert overridden.status_code == 201
    # refused: an unknown level, invalid answers, a change to an assessment entered in error (below)
    refused = await client.post(
        f"/v1/assessments/{assessment_id}/override",
        json={"level": "HIGH", "rationale": "r"},
        headers=tenant.headers(Role.supervisor),
    )
    assert refused.status_code == 422
    bad = new_body(SUBJECT)
    bad["answers"]["child_age_years"] = 99
    assert (await client.post("/v1/assessments", json=bad, headers=tenant.headers(Role.assessor))).status_code == 422
    assert [e.type for e in stored_events(app, tenant.organisation_id)] == [
        "assessment.created",
        "assessment.overridden",
    ]
    marked = await client.post(
        f"/v1/assessments/{assessment_id}/entered-in-error",
        json={"reason": "x"},
        headers=tenant.headers(Role.supervisor),
    )
    assert marked.status_code == 201
    for path, body in (("entered-in-error", {"reason": "x"}), ("revisions", {"answers": answers(LOW)})):
        conflict = await client.post(f"/v1/assessments/{assessment_id}/{path}", json=body, headers=tenant.headers())
        assert conflict.status_code == 409, conflict.text
    assert len(stored_events(app, tenant.organisation_id)) == 3


async def test_a_change_that_fails_after_its_event_leaves_neither(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = (await create(client, tenant)).json()
    emit = events_service.emit
    failures: list[str] = []

    def emit_then_fail(session: Session, **kwargs: Any) -> Any:
        event = emit(session, **kwargs)
        assert event is not None
        if len(failures) % 2 == 0:
            failures.append("exception")
            raise RuntimeError("injected after emit")
        # a real constraint violation: another event with the same sequence
        duplicate = Event(
            id=new_id(),
            organisation_id=event.organisation_id,
            sequence=event.sequence,
            type=event.type,
            occurred_at=event.occurred_at,
            payload={},
        )
        session.add(duplicate)
        try:
            session.flush()
        except IntegrityError:
            failures.append("integrity_error")
            raise
        raise AssertionError("the duplicate sequence was accepted")

    monkeypatch.setattr(assessments_service.events, "emit", emit_then_fail)
    responses = []
    for _ in range(2):
        responses.append(await create(client, tenant))
        responses.append(
            await client.post(
                f"/v1/assessments/{created['id']}/override",
                json={"level": "high", "rationale": "r"},
                headers=tenant.headers(Role.supervisor),
            )
        )
    monkeypatch.undo()
    assert failures == ["exception", "integrity_error"] * 2
    for response in responses:
        assert response.status_code in (409, 500), response.text
        assert response.headers["content-type"] == "application/problem+json"
    stored = stored_events(app, tenant.organisation_id)
    assert [e.type for e in stored] == ["assessment.created"]
    listed = await client.get("/v1/assessments", headers=tenant.headers(Role.assessor))
    assert [a["id"] for a in listed.json()["items"]] == [created["id"]]
    assert listed.json()["items"][0]["overrides"] == []
    # the next change takes the next sequence: the failed ones left no gap
    later = await create(client, tenant)
    assert later.status_code == 201
    assert [e.sequence for e in stored_events(app, tenant.organisation_id)] == [1, 2]


# --- rule sets ---------------------------------------------------------------------------------------------------


async def _draft(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    document = ruleset_document()
    response = await client.post(
        f"/v1/rulesets/{document['key']}/versions", json=document, headers=tenant.headers(Role.rule_author)
    )
    assert response.status_code == 201, response.text
    return document


async def test_publishing_and_choosing_a_rule_set_emit_their_events(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    with app.state.sessionmaker() as session:  # the shipped content, seeded without an organisation: no event
        assert session.query(Event).count() == 0
    document = await _draft(client, tenant)
    key = document["key"]
    published = await client.post(
        f"/v1/rulesets/{key}/versions/1/publish",
        json={"make_current": True},
        headers=tenant.headers(Role.rule_publisher),
    )
    assert published.status_code == 200, published.text
    back = await client.put(
        "/v1/organisation/current-rulesets",
        json={"ruleset": {"key": "online-harm-england", "version": 1}},
        headers=tenant.headers(Role.rule_publisher),
    )
    assert back.status_code == 200, back.text
    again = await client.put(  # the same choice again: nothing changed, no event
        "/v1/organisation/current-rulesets",
        json={"ruleset": {"key": "online-harm-england", "version": 1}},
        headers=tenant.headers(Role.rule_publisher),
    )
    assert again.status_code == 200
    stored = stored_events(app, tenant.organisation_id)
    assert [e.type for e in stored] == [
        "ruleset.published",
        "organisation.current_ruleset_changed",
        "organisation.current_ruleset_changed",
    ]
    questionnaire = document["questionnaire"]
    assert stored[0].payload == {
        "ruleset": {"key": key, "version": 1},
        "questionnaire": questionnaire,
        "links": {"ruleset": f"{BASE}/v1/rulesets/{key}/versions/1"},
    }
    assert stored[1].payload == {
        "questionnaire": questionnaire,
        "ruleset": {"key": key, "version": 1},
        "previous": None,
        "links": {
            "ruleset": f"{BASE}/v1/rulesets/{key}/versions/1",
            "current_rulesets": f"{BASE}/v1/organisation/current-rulesets",
        },
    }
    assert stored[2].payload["ruleset"] == {"key": "online-harm-england", "version": 1}
    assert stored[2].payload["previous"] == {"key": key, "version": 1}
    assert all(e.assessment_id is None and e.subject_ref is None for e in stored)
    documented = documented_envelopes()
    for event in (stored[0], stored[2]):
        assert shape(events_service.envelope(event)) == shape(documented[event.type]), event.type  # docs/events.md


async def test_a_refused_or_failed_publish_emits_nothing(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.rulesets import service as rulesets_service

    document = await _draft(client, tenant)
    emit = events_service.emit

    def emit_then_fail(*args: Any, **kwargs: Any) -> Any:
        emit(*args, **kwargs)
        raise RuntimeError("injected after emit")

    monkeypatch.setattr(rulesets_service.events, "emit", emit_then_fail)
    failed = await client.post(
        f"/v1/rulesets/{document['key']}/versions/1/publish", headers=tenant.headers(Role.rule_publisher)
    )
    assert failed.status_code == 500
    monkeypatch.undo()
    not_published = await client.put(
        "/v1/organisation/current-rulesets",
        json={"ruleset": {"key": document["key"], "version": 1}},
        headers=tenant.headers(Role.rule_publisher),
    )
    assert not_published.status_code == 422  # still a draft: the failed publish left nothing
    assert stored_events(app, tenant.organisation_id) == []
