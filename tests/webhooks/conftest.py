"""Fixtures of the subscriptions API tests (`seeded`: the shipped content), helpers to subscribe and to store
events."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.events.models import Event
from app.events.service import EventType, assessment_data, emit
from app.rulesets.seed import seed_default_content
from tests.conftest import Tenant

HOOKS = "/v1/webhooks"
RECEIVER = "https://cms.example.org/riskapi/events?token=s3cr3t-in-the-url"


@pytest.fixture
def seeded(app: FastAPI) -> None:
    with app.state.sessionmaker.begin() as session:
        seed_default_content(session)


def admin(tenant: Tenant) -> dict[str, str]:
    """A key with every role: an admin that may also read assessments (so may subscribe to assessment events)."""
    return tenant.headers()


async def subscribe(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    payload = {"url": RECEIVER, "event_types": ["assessment.created"], **body}
    response = await client.post(HOOKS, json=payload, headers=admin(tenant))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def store_event(
    app: FastAPI,
    organisation_id: str,
    *,
    type: EventType = EventType.assessment_created,
    level: str = "high",
    subject_ref: str | None = "case-77",
) -> str:
    """An event of the organisation in the outbox, as an assessment write would emit it; its id."""
    data = assessment_data(
        base_url="http://127.0.0.1:8000",
        assessment_id="a0000000-0000-4000-8000-000000000001",
        computed_level=level,
        level=level,
        ruleset_key="online-harm-england",
        ruleset_version=1,
    )
    with app.state.sessionmaker.begin() as session:
        event = emit(
            session,
            organisation_id=organisation_id,
            type=type,
            data=data,
            assessment_id=data["assessment_id"],
            subject_ref=subject_ref,
        )
        assert event is not None
        return event.id


def audit_events(app: FastAPI, organisation_id: str, prefix: str = "webhook.") -> list[AuditEvent]:
    with app.state.sessionmaker() as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.organisation_id == organisation_id, AuditEvent.action.startswith(prefix))
                .order_by(AuditEvent.sequence)
            )
        )


def stored_events(app: FastAPI, organisation_id: str) -> list[Event]:
    with app.state.sessionmaker() as session:
        return list(session.scalars(select(Event).where(Event.organisation_id == organisation_id)))
