"""An endpoint's attempts and the redelivery of an event, through the subscriptions API, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.auth.permissions import Role
from app.events.service import EventType
from app.webhooks.models import WebhookAttempt, WebhookDelivery
from tests.conftest import Tenant
from tests.webhooks.conftest import HOOKS, admin, audit_events, store_event, subscribe


def deliveries(app: FastAPI, endpoint_id: str) -> list[WebhookDelivery]:
    with app.state.sessionmaker() as session:
        return list(session.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)))


def store_attempts(app: FastAPI, organisation_id: str, endpoint_id: str, event_id: str, outcomes: list[str]) -> None:
    """A delivery of the event with one attempt per outcome, a second apart, as the worker records them."""
    start = datetime.now(UTC) - timedelta(minutes=5)
    with app.state.sessionmaker.begin() as session:
        delivery = WebhookDelivery(
            organisation_id=organisation_id,
            endpoint_id=endpoint_id,
            event_id=event_id,
            status="dead",
            attempts=len(outcomes),
            next_attempt_at=None,
            leased_until=start + timedelta(hours=1),
            created_at=start,
        )
        session.add(delivery)
        session.flush()
        for n, outcome in enumerate(outcomes):
            session.add(
                WebhookAttempt(
                    organisation_id=organisation_id,
                    endpoint_id=endpoint_id,
                    delivery_id=delivery.id,
                    event_id=event_id,
                    attempted_at=start + timedelta(seconds=n),
                    status_code=503 if outcome == "http_error" else None,
                    latency_ms=10 + n,
                    outcome=outcome,
                )
            )


async def test_attempts_are_listed_newest_first_without_bodies_or_urls(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    endpoint = await subscribe(client, tenant)
    event_id = store_event(app, tenant.organisation_id)
    store_attempts(app, tenant.organisation_id, endpoint["id"], event_id, ["http_error", "timeout", "connect_error"])
    hook = f"{HOOKS}/{endpoint['id']}"

    first = await client.get(f"{hook}/attempts", params={"limit": 2}, headers=admin(tenant))
    assert first.status_code == 200, first.text
    page = first.json()
    assert [a["outcome"] for a in page["items"]] == ["connect_error", "timeout"]
    newest = page["items"][0]
    assert set(newest) == {
        "id",
        "attempted_at",
        "event_id",
        "event_type",
        "status_code",
        "latency_ms",
        "outcome",
        "delivery_status",
    }
    assert (newest["event_id"], newest["event_type"], newest["delivery_status"]) == (
        event_id,
        "assessment.created",
        "dead",
    )
    assert (newest["status_code"], newest["latency_ms"]) == (None, 12)
    second = await client.get(
        f"{hook}/attempts", params={"limit": 2, "cursor": page["next_cursor"]}, headers=admin(tenant)
    )
    assert [(a["outcome"], a["status_code"]) for a in second.json()["items"]] == [("http_error", 503)]
    assert second.json()["next_cursor"] is None
    for response in (first, second):
        assert "cms.example.org" not in response.text
        assert "case-77" not in response.text
    foreign_cursor = await client.get(
        f"{HOOKS}/{(await subscribe(client, tenant))['id']}/attempts",
        params={"cursor": page["next_cursor"]},
        headers=admin(tenant),
    )
    assert foreign_cursor.status_code == 422, foreign_cursor.text  # a cursor is bound to its endpoint's list


async def test_redeliver_queues_the_event_again_from_its_first_attempt(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    endpoint = await subscribe(client, tenant)
    hook = f"{HOOKS}/{endpoint['id']}"
    delivered = store_event(app, tenant.organisation_id)
    store_attempts(app, tenant.organisation_id, endpoint["id"], delivered, ["http_error", "http_error"])

    before = datetime.now(UTC)
    response = await client.post(f"{hook}/deliveries/{delivered}/redeliver", headers=admin(tenant))
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["endpoint_id"], body["event_id"], body["event_type"]) == (
        endpoint["id"],
        delivered,
        "assessment.created",
    )
    assert (body["status"], body["attempts"]) == ("pending", 0)
    assert before <= datetime.fromisoformat(body["next_attempt_at"]) <= datetime.now(UTC)
    [row] = deliveries(app, endpoint["id"])
    assert (row.id, row.status, row.attempts, row.leased_until) == (body["id"], "pending", 0, None)

    # an event the fan-out has not delivered to this endpoint yet: its delivery is made
    fresh = store_event(app, tenant.organisation_id, subject_ref="case-88")
    made = await client.post(f"{hook}/deliveries/{fresh}/redeliver", headers=admin(tenant))
    assert made.status_code == 202, made.text
    assert (made.json()["status"], made.json()["attempts"]) == ("pending", 0)
    assert {d.event_id for d in deliveries(app, endpoint["id"])} == {delivered, fresh}
    again = await client.post(f"{hook}/deliveries/{fresh}/redeliver", headers=admin(tenant))
    assert again.status_code == 202
    assert again.json()["id"] == made.json()["id"]
    assert len(deliveries(app, endpoint["id"])) == 2

    [*_, last] = audit_events(app, tenant.organisation_id, "webhook.redeliver")
    assert last.status == 202
    assert last.details == {"event_id": fresh, "event_type": "assessment.created"}
    assert last.resources == [{"id": "a0000000-0000-4000-8000-000000000001", "subject_ref": "case-88"}]


async def test_redeliver_refuses_foreign_or_unknown_events_and_what_the_endpoint_would_not_get(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    endpoint = await subscribe(client, tenant, event_types=["assessment.created", "ruleset.published"])
    hook = f"{HOOKS}/{endpoint['id']}"
    theirs = store_event(app, other_tenant.organisation_id)
    for event_id in (theirs, "00000000-0000-4000-8000-000000000000", "x" * 64):
        refused = await client.post(f"{hook}/deliveries/{event_id}/redeliver", headers=admin(tenant))
        assert refused.status_code == 404, refused.text
    too_long = await client.post(f"{hook}/deliveries/{'x' * 65}/redeliver", headers=admin(tenant))
    assert too_long.status_code == 422

    revised = store_event(app, tenant.organisation_id, type=EventType.assessment_revised)
    not_subscribed = await client.post(f"{hook}/deliveries/{revised}/redeliver", headers=admin(tenant))
    assert not_subscribed.status_code == 409, not_subscribed.text
    assert "assessment.revised" in not_subscribed.json()["detail"]

    created = store_event(app, tenant.organisation_id)
    await client.patch(hook, json={"enabled": False}, headers=admin(tenant))
    disabled = await client.post(f"{hook}/deliveries/{created}/redeliver", headers=admin(tenant))
    assert disabled.status_code == 409, disabled.text
    assert "disabled" in disabled.json()["detail"]
    await client.patch(hook, json={"enabled": True}, headers=admin(tenant))

    # pushing an assessment event needs read_assessments, as subscribing to it does
    admin_only = await client.post(f"{hook}/deliveries/{created}/redeliver", headers=tenant.headers(Role.admin))
    assert admin_only.status_code == 403, admin_only.text
    assert "read_assessments" in admin_only.json()["detail"]
    assert deliveries(app, endpoint["id"]) == []
    assert (await client.post(f"{hook}/deliveries/{created}/redeliver", headers=admin(tenant))).status_code == 202
