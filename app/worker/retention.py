"""Retention: events older than RISKAPI_EVENT_RETENTION_DAYS are deleted with their deliveries and attempts (in
that order: attempts, deliveries, events), a batch per transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.events.models import Event
from app.webhooks.models import WebhookAttempt, WebhookDelivery

PURGE_BATCH = 500


def purge_expired(session_factory: sessionmaker[Session], settings: Settings, now: datetime) -> int:
    """Delete the expired events; returns how many."""
    cutoff = now - timedelta(days=settings.event_retention_days)
    purged = 0
    while True:
        with session_factory() as session, session.begin():
            query = select(Event.id).where(Event.occurred_at < cutoff).order_by(Event.occurred_at).limit(PURGE_BATCH)
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
