"""All SQL of the subscriptions API; every statement is scoped to one organisation."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Select, Table, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.core.db import new_id
from app.core.pagination import Keyset, Position
from app.events.models import Event
from app.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

_DELIVERIES = cast(Table, WebhookDelivery.__table__)
NOTIFY_WORKERS = text("SELECT pg_notify('riskapi_events', '')")

LISTED_ENDPOINTS = Keyset("webhooks", (WebhookEndpoint.created_at, WebhookEndpoint.id))
LISTED_ATTEMPTS = Keyset("webhook_attempts", (WebhookAttempt.attempted_at, WebhookAttempt.id), descending=True)


def add_endpoint(session: Session, endpoint: WebhookEndpoint) -> None:
    session.add(endpoint)
    session.flush()


def endpoints(session: Session, organisation_id: str, *, after: Position | None, limit: int) -> list[WebhookEndpoint]:
    """Oldest first, in `LISTED_ENDPOINTS` order after `after`; `limit` + 1 rows at most."""
    statement = select(WebhookEndpoint).where(WebhookEndpoint.organisation_id == organisation_id)
    return list(session.scalars(LISTED_ENDPOINTS.apply(statement, after, limit)))


def endpoint(
    session: Session, organisation_id: str, endpoint_id: str, *, for_update: bool = False
) -> WebhookEndpoint | None:
    """The endpoint; `for_update` locks its row until COMMIT on PostgreSQL (a change, a rotation or the worker's
    failure count wait for each other instead of overwriting one another)."""
    statement = select(WebhookEndpoint).where(
        WebhookEndpoint.organisation_id == organisation_id, WebhookEndpoint.id == endpoint_id
    )
    if for_update:
        statement = statement.with_for_update()
    return session.scalar(statement)


AttemptRow = Row[WebhookAttempt, str, str]
"""(attempt, event type, delivery status)"""


def attempts(
    session: Session, organisation_id: str, endpoint_id: str, *, after: Position | None, limit: int
) -> list[AttemptRow]:
    """The endpoint's attempts, newest first, with their event's type and their delivery's status now."""
    statement: Select[WebhookAttempt, str, str] = (
        select(WebhookAttempt, Event.type, WebhookDelivery.status)
        .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
        .join(Event, Event.id == WebhookAttempt.event_id)
        .where(WebhookAttempt.organisation_id == organisation_id, WebhookAttempt.endpoint_id == endpoint_id)
    )
    return list(session.execute(LISTED_ATTEMPTS.apply(statement, after, limit)))


def event(session: Session, organisation_id: str, event_id: str) -> Event | None:
    return session.scalar(select(Event).where(Event.organisation_id == organisation_id, Event.id == event_id))


def new_delivery(organisation_id: str, endpoint_id: str, event_id: str, now: datetime) -> dict[str, Any]:
    """The row of a delivery not yet attempted, due now (the fan-out's and a redelivery's)."""
    return {
        "id": new_id(),
        "organisation_id": organisation_id,
        "endpoint_id": endpoint_id,
        "event_id": event_id,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "leased_until": None,
        "created_at": now,
        "delivered_at": None,
    }


def requeue_delivery(session: Session, organisation_id: str, endpoint_id: str, event_id: str, now: datetime) -> None:
    """Make the delivery of the event to the endpoint pending again from its first attempt, due now and claimed by
    no worker; create it if the worker's fan-out never made it (one statement: concurrent requeues, and the
    fan-out, meet on the (endpoint, event) unique key instead of failing)."""
    values = new_delivery(organisation_id, endpoint_id, event_id, now)
    requeued = {"status": "pending", "attempts": 0, "next_attempt_at": now, "leased_until": None}
    dialect = session.get_bind().dialect.name
    insert = pg_insert(_DELIVERIES) if dialect == "postgresql" else sqlite_insert(_DELIVERIES)
    session.execute(
        insert.values(values).on_conflict_do_update(index_elements=["endpoint_id", "event_id"], set_=requeued)
    )
    if dialect == "postgresql":
        session.execute(NOTIFY_WORKERS)  # delivered at COMMIT: the workers wake for it


def delivery(session: Session, organisation_id: str, endpoint_id: str, event_id: str) -> WebhookDelivery | None:
    return session.scalar(
        select(WebhookDelivery)
        .where(
            WebhookDelivery.organisation_id == organisation_id,
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.event_id == event_id,
        )
        .execution_options(populate_existing=True)
    )
