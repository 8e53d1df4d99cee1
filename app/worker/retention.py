"""Retention: events older than RISKAPI_EVENT_RETENTION_DAYS are deleted with their deliveries and attempts (in
that order: attempts, deliveries, events), a batch per transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.events.models import Event
from app.webhooks.models import WebhookAttempt, WebhookDelivery

PURGE_BATCH = 500


def purge_expired(session_factory: sessionmaker[Session], settings: Settings, now: datetime) -> int:
    """Delete the expired events; returns how many.

    Per organisation, a prefix of its sequence goes: every event up to the last one that occurred before the cut-off.
    `occurred_at` is taken before a writer waits for the sequence lock, so it is not quite in sequence order; deleting
    by sequence keeps what remains contiguous, which is what the feed's 410 (a cursor before the oldest kept event)
    relies on."""
    cutoff = now - timedelta(days=settings.event_retention_days)
    with session_factory() as session:
        prefixes = session.execute(
            select(Event.organisation_id, func.max(Event.sequence))
            .where(Event.occurred_at < cutoff)
            .group_by(Event.organisation_id)
        ).all()
    return sum(_purge_prefix(session_factory, organisation_id, int(last)) for organisation_id, last in prefixes)


def _purge_prefix(session_factory: sessionmaker[Session], organisation_id: str, last: int) -> int:
    purged = 0
    while True:
        with session_factory() as session, session.begin():
            query = (
                select(Event.id)
                .where(Event.organisation_id == organisation_id, Event.sequence <= last)
                .order_by(Event.sequence)
                .limit(PURGE_BATCH)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            ids = list(session.scalars(query))
            if not ids:
                return purged
            options = {"synchronize_session": False}
            session.execute(delete(WebhookAttempt).where(WebhookAttempt.event_id.in_(ids)), execution_options=options)
            session.execute(delete(WebhookDelivery).where(WebhookDelivery.event_id.in_(ids)), execution_options=options)
            session.execute(delete(Event).where(Event.id.in_(ids)), execution_options=options)
        purged += len(ids)
        if len(ids) < PURGE_BATCH:
            return purged
