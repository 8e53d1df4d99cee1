"""GET /v1/events: the organisation's envelopes after a cursor, in sequence order; a cursor always comes back;
a cursor before the oldest kept event is a 410 naming the oldest valid one; each page is audited."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import delete

from app.auth.permissions import Role
from app.events import service as events_service
from app.events.models import Event
from tests.assessments.conftest import new_body
from tests.conftest import Tenant
from tests.events.conftest import POLLER, feed, stored_events


async def create(client: httpx.AsyncClient, tenant: Tenant, subject_ref: str) -> str:
    response = await client.post("/v1/assessments", json=new_body(subject_ref), headers=tenant.headers(Role.assessor))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def page_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"items", "next_cursor", "has_more"}
    assert isinstance(body["next_cursor"], str)
    return body


def purge_up_to(app: FastAPI, organisation_id: str, sequence: int) -> None:
    """What the worker's retention purge does: the oldest events deleted."""
    with app.state.sessionmaker.begin() as session:
        session.execute(delete(Event).where(Event.organisation_id == organisation_id, Event.sequence <= sequence))


async def test_a_poller_pages_in_sequence_order_and_always_gets_a_cursor_back(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    empty = page_of(await feed(client, tenant))
    assert empty["items"] == []
    assert empty["has_more"] is False
    start = empty["next_cursor"]  # from the start: what a poller stores before anything happened

    ids = [await create(client, tenant, f"case-{n}") for n in range(3)]
    first = page_of(await feed(client, tenant, cursor=start, limit=2))
    assert [item["data"]["assessment_id"] for item in first["items"]] == ids[:2]
    assert first["has_more"] is True
    second = page_of(await feed(client, tenant, cursor=first["next_cursor"], limit=2))
    assert [item["data"]["assessment_id"] for item in second["items"]] == ids[2:]
    assert second["has_more"] is False
    idle = page_of(await feed(client, tenant, cursor=second["next_cursor"]))
    assert idle == {"items": [], "next_cursor": second["next_cursor"], "has_more": False}

    # each item is the envelope a webhook body is, byte for byte the same object
    stored = stored_events(app, tenant.organisation_id)
    assert first["items"] + second["items"] == [events_service.envelope(event) for event in stored]
    assert [item["sequence"] for item in first["items"] + second["items"]] == [1, 2, 3]
    for item in first["items"]:
        assert item["type"] == "assessment.created"
        assert item["organisation_id"] == tenant.organisation_id
        assert item["timestamp"].endswith("Z")
        assert "case-" not in str(item)

    later = await create(client, tenant, "case-later")
    resumed = page_of(await feed(client, tenant, cursor=second["next_cursor"]))
    assert [item["data"]["assessment_id"] for item in resumed["items"]] == [later]
    everything = page_of(await feed(client, tenant))  # no cursor: from the oldest kept event
    assert [item["sequence"] for item in everything["items"]] == [1, 2, 3, 4]


async def test_reading_the_feed_needs_read_assessments_and_an_acting_user(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    for role in (Role.assessor, Role.supervisor, Role.auditor):
        assert (await feed(client, tenant, role)).status_code == 200
    refused = await client.get("/v1/events", headers=tenant.headers(Role.rule_author))
    assert refused.status_code == 403
    anonymous = await client.get("/v1/events", headers=tenant.headers(Role.auditor, acting_user=None))
    assert anonymous.status_code == 400
    assert "X-Acting-User" in anonymous.json()["detail"]


async def test_a_malformed_or_foreign_cursor_is_a_422_naming_it(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    await create(client, tenant, "case-1")
    mine = page_of(await feed(client, tenant, limit=1))["next_cursor"]
    other_start = page_of(await feed(client, other_tenant))["next_cursor"]
    for cursor in ("not-a-cursor", mine[:-2], mine + "x", other_start):
        response = await feed(client, tenant, cursor=cursor)
        assert response.status_code == 422, cursor
        assert response.headers["content-type"] == "application/problem+json"
        assert [(e["pointer"], e["location"]) for e in response.json()["errors"]] == [("/cursor", "query")]
    foreign = await feed(client, other_tenant, cursor=mine)
    assert foreign.status_code == 422
    assert "another organisation" in foreign.json()["errors"][0]["detail"]
    assert page_of(await feed(client, other_tenant))["items"] == []  # another organisation's events never show
    a_list_cursor = (await client.get("/v1/assessments?limit=1", headers=tenant.headers(Role.assessor))).json()
    assert (await feed(client, tenant, cursor=a_list_cursor["next_cursor"] or "x")).status_code == 422


async def test_a_cursor_before_the_oldest_kept_event_is_a_410_naming_the_oldest_valid_cursor(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    start = page_of(await feed(client, tenant))["next_cursor"]
    ids = [await create(client, tenant, f"case-{n}") for n in range(3)]
    after_first = page_of(await feed(client, tenant, cursor=start, limit=1))["next_cursor"]
    purge_up_to(app, tenant.organisation_id, 2)

    for cursor in (start, after_first):
        gone = await feed(client, tenant, cursor=cursor)
        assert gone.status_code == 410, gone.text
        assert gone.headers["content-type"] == "application/problem+json"
        problem = gone.json()
        assert problem["type"] == "/problems/cursor-expired"
        assert "retention: 30 days" in problem["detail"]
        resumed = page_of(await feed(client, tenant, cursor=problem["oldest_cursor"]))
        assert [item["data"]["assessment_id"] for item in resumed["items"]] == [ids[2]]
    assert [i["sequence"] for i in page_of(await feed(client, tenant))["items"]] == [3]  # no cursor: oldest kept

    last = page_of(await feed(client, tenant))["next_cursor"]
    purge_up_to(app, tenant.organisation_id, 3)  # every event purged
    assert page_of(await feed(client, tenant, cursor=last))["items"] == []  # nothing was missed from there
    gone = await feed(client, tenant, cursor=after_first)
    assert gone.status_code == 410
    fresh = page_of(await feed(client, tenant))  # no cursor, nothing kept: a cursor after the purged events
    assert fresh["items"] == []
    assert fresh["next_cursor"] == gone.json()["oldest_cursor"]
    newest = await create(client, tenant, "case-new")
    after = page_of(await feed(client, tenant, cursor=fresh["next_cursor"]))
    assert [(i["sequence"], i["data"]["assessment_id"]) for i in after["items"]] == [(4, newest)]
    described = await client.get("/problems/cursor-expired")
    assert described.status_code == 200
    assert "oldest_cursor" in described.text


async def test_a_hole_the_purge_leaves_behind_the_oldest_kept_event_never_traps_a_poller(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    """The purge goes by age; a writer that waited for the head lock may hold an older timestamp than the event
    before it, so the purge can leave an event and take the one after it. 410 goes by the oldest event kept only."""
    for n in range(3):
        await create(client, tenant, f"case-{n}")
    after_first = page_of(await feed(client, tenant, limit=1))["next_cursor"]
    with app.state.sessionmaker.begin() as session:
        session.execute(delete(Event).where(Event.organisation_id == tenant.organisation_id, Event.sequence == 2))
    page = page_of(await feed(client, tenant, cursor=after_first))
    assert [item["sequence"] for item in page["items"]] == [3]


async def test_each_page_is_audited_naming_every_assessment_and_child_on_it(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    first = await create(client, tenant, "case-a")
    second = await create(client, tenant, "case-b")
    overridden = await client.post(
        f"/v1/assessments/{first}/override",
        json={"level": "high", "rationale": "r"},
        headers=tenant.headers(Role.supervisor),
    )
    assert overridden.status_code == 201
    page = page_of(await feed(client, tenant))
    assert len(page["items"]) == 3
    empty = page_of(await feed(client, tenant, cursor=page["next_cursor"]))
    assert empty["items"] == []

    audited = await client.get(
        "/v1/audit/events", params={"action": "event.list"}, headers=tenant.headers(Role.auditor, acting_user="dpo")
    )
    events = audited.json()["items"]
    assert [(e["acting_user"], e["resource_type"], e["details"]["count"]) for e in events] == [
        (POLLER, "event", 3),
        (POLLER, "event", 0),
    ]
    assert events[0]["resources"] == [
        {"id": first, "subject_ref": "case-a"},
        {"id": second, "subject_ref": "case-b"},
    ]
    assert events[1]["resources"] == []
    about_a = await client.get(
        "/v1/audit/events", params={"subject_ref": "case-a"}, headers=tenant.headers(Role.auditor, acting_user="dpo")
    )
    assert "event.list" in [e["action"] for e in about_a.json()["items"]]  # "who was told about this child?"
