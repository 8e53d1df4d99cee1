"""Fan-out: each new event gets one delivery per enabled endpoint of its organisation that subscribes to it.

Events not yet fanned out are claimed in batches (FOR UPDATE SKIP LOCKED on PostgreSQL, so several workers share
them); their deliveries are inserted and `fanned_out_at` set in one transaction. The API's write path only inserts
the event: its cost never depends on the number of subscriptions."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.events.models import Event
from app.webhooks.models import WebhookDelivery, WebhookEndpoint
from app.webhooks.repository import new_delivery
from app.webhooks.service import matches
from app.worker.matching import LevelOrders

FANOUT_BATCH = 200
_DELIVERIES = cast(Table, WebhookDelivery.__table__)


def _claim(session: Session, limit: int) -> list[Event]:
    query = select(Event).where(Event.fanned_out_at.is_(None)).order_by(Event.occurred_at, Event.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def _endpoints(session: Session, organisation_ids: set[str]) -> dict[str, list[WebhookEndpoint]]:
    found: dict[str, list[WebhookEndpoint]] = defaultdict(list)
    rows = session.scalars(
        select(WebhookEndpoint).where(
            WebhookEndpoint.organisation_id.in_(organisation_ids), WebhookEndpoint.enabled.is_(True)
        )
    )
    for endpoint in rows:
        found[endpoint.organisation_id].append(endpoint)
    return found


def fan_out(session: Session, levels: LevelOrders, now: datetime, limit: int = FANOUT_BATCH) -> tuple[int, int]:
    """One batch in one transaction (the caller's, committed here): returns (events fanned out, deliveries made)."""
    with session.begin():
        events = _claim(session, limit)
        if not events:
            return 0, 0
        endpoints = _endpoints(session, {event.organisation_id for event in events})
        level_order_of = levels.bound_to(session)
        rows: list[dict[str, Any]] = [
            new_delivery(event.organisation_id, endpoint.id, event.id, now)
            for event in events
            for endpoint in endpoints.get(event.organisation_id, ())
            if matches(endpoint, event.type, event.payload, level_order_of)
        ]
        if rows:
            dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
            # a redelivery (API) may already have made the delivery of an endpoint and event
            session.execute(
                dialect_insert(_DELIVERIES).on_conflict_do_nothing(index_elements=["endpoint_id", "event_id"]), rows
            )
        session.execute(
            update(Event).where(Event.id.in_([event.id for event in events])).values(fanned_out_at=now),
            execution_options={"synchronize_session": False},
        )
    return len(events), len(rows)
