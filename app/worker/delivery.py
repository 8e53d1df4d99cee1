"""Delivery: claim due deliveries (a lease, committed), send each outside any transaction, then record the attempt,
its audit event and the delivery's and endpoint's new state in one transaction.

At least once: a worker that dies between the receiver's 2xx and its record leaves the delivery leased; when the
lease ends another worker sends it again, with the same webhook-id (the event id)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import ColumnElement, func, insert, or_, select, update
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from app.audit import service as audit
from app.audit.service import Resource
from app.core.config import Settings
from app.core.db import new_id
from app.events.models import Event
from app.events.service import EventType, emit, envelope
from app.webhooks import secrets
from app.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from app.worker import metrics
from app.worker.outbound import Sent

log = structlog.get_logger("riskapi.worker")

WORKER_ACTOR = "riskapi-worker"
ATTEMPT_ACTION = "webhook.delivery_attempt"
DISABLED_ACTION = "webhook.endpoint_disabled"


@dataclass(frozen=True)
class Claimed:
    """A leased delivery with everything its attempt needs. `signing_secrets` is None when a stored secret does not
    decrypt (the attempt then fails without sending). Never logged: it holds the URL and the secrets."""

    delivery_id: str
    organisation_id: str
    endpoint_id: str
    event_id: str
    event_type: str
    event_occurred_at: datetime
    assessment_id: str | None
    subject_ref: str | None
    url: str = field(repr=False)
    signing_secrets: tuple[str, ...] | None = field(repr=False)
    body: bytes = field(repr=False)


def body_of(event: Event) -> bytes:
    """The request body: the event's envelope as JSON (the bytes signed)."""
    return json.dumps(envelope(event), separators=(",", ":"), ensure_ascii=False).encode()


def signing_secrets_of(endpoint: WebhookEndpoint, settings: Settings, now: datetime) -> tuple[str, ...] | None:
    """The current secret and, during a rotation's overlap, the previous one; None when one does not decrypt."""
    try:
        stored = endpoint.secret_ciphertext
        current = secrets.decrypt(stored, endpoint_id=endpoint.id, slot="current", settings=settings)
        found = [current]
        expires = endpoint.previous_secret_expires_at
        if endpoint.previous_secret_ciphertext is not None and expires is not None and expires > now:
            found.append(
                secrets.decrypt(
                    endpoint.previous_secret_ciphertext, endpoint_id=endpoint.id, slot="previous", settings=settings
                )
            )
    except secrets.SecretUnreadable:
        return None
    return tuple(found)


def signed_headers(msg_id: str, timestamp: datetime, body: bytes, signing_secrets: tuple[str, ...]) -> dict[str, str]:
    """Standard Webhooks headers: webhook-id, webhook-timestamp (Unix seconds) and webhook-signature (one `v1,`
    signature per secret, space-separated)."""
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(Webhook(secret).sign(msg_id, timestamp, body) for secret in signing_secrets),
    }


def _due(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        WebhookDelivery.status == "pending",
        WebhookDelivery.next_attempt_at <= now,
        or_(WebhookDelivery.leased_until.is_(None), WebhookDelivery.leased_until < now),
        WebhookEndpoint.enabled.is_(True),
    )


def claim(session: Session, settings: Settings, now: datetime, limit: int) -> list[Claimed]:
    """Lease up to `limit` due deliveries until now + the lease and commit (SKIP LOCKED on PostgreSQL: workers
    never wait for each other's claims)."""
    with session.begin():
        query = (
            select(WebhookDelivery, WebhookEndpoint, Event)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .join(Event, Event.id == WebhookDelivery.event_id)
            .where(*_due(now))
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(of=WebhookDelivery, skip_locked=True)
        rows = session.execute(query).all()
        if not rows:
            return []
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_([row.WebhookDelivery.id for row in rows]))
            .values(leased_until=now + timedelta(seconds=settings.worker_lease_seconds)),
            execution_options={"synchronize_session": False},
        )
        return [
            Claimed(
                delivery_id=row.WebhookDelivery.id,
                organisation_id=row.WebhookDelivery.organisation_id,
                endpoint_id=row.WebhookEndpoint.id,
                event_id=row.Event.id,
                event_type=row.Event.type,
                event_occurred_at=row.Event.occurred_at,
                assessment_id=row.Event.assessment_id,
                subject_ref=row.Event.subject_ref,
                url=row.WebhookEndpoint.url,
                signing_secrets=signing_secrets_of(row.WebhookEndpoint, settings, now),
                body=body_of(row.Event),
            )
            for row in rows
        ]


def next_retry_delay(settings: Settings, attempts: int, rng: random.Random) -> float | None:
    """Seconds before the next attempt after `attempts` failed ones (jittered), or None: a dead letter."""
    schedule = settings.webhook_retry_schedule_seconds
    if attempts > len(schedule):
        return None
    delay = schedule[attempts - 1]
    jitter = settings.webhook_retry_jitter
    return max(0.0, delay * (1 + rng.uniform(-jitter, jitter)))


def _endpoint_disabled(session: Session, settings: Settings, claimed: Claimed, failures: int, now: datetime) -> None:
    """Disable the endpoint (if still enabled), audit it, then emit webhook.endpoint_disabled (audit first, then the
    event: the lock order of every writer)."""
    disabled = session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == claimed.endpoint_id, WebhookEndpoint.enabled.is_(True))
        .values(enabled=False, disabled_reason="failing", updated_at=now)
        .returning(WebhookEndpoint.id)
    ).first()
    if disabled is None:
        return
    audit.record_system(
        session,
        organisation_id=claimed.organisation_id,
        acting_user=WORKER_ACTOR,
        action=DISABLED_ACTION,
        resource_type="webhook_endpoint",
        resource_id=claimed.endpoint_id,
        details={"reason": "failing", "consecutive_failures": failures},
    )
    emit(
        session,
        organisation_id=claimed.organisation_id,
        type=EventType.webhook_endpoint_disabled,
        data={
            "endpoint_id": claimed.endpoint_id,
            "reason": "failing",
            "consecutive_failures": failures,
            "links": {"endpoint": f"{settings.base_url}/v1/webhooks/{claimed.endpoint_id}"},
        },
    )
    metrics.ENDPOINTS_DISABLED.inc()
    log.warning("webhook.endpoint_disabled", endpoint_id=claimed.endpoint_id, consecutive_failures=failures)


def record(
    session: Session,
    settings: Settings,
    claimed: Claimed,
    sent: Sent,
    attempted_at: datetime,
    now: datetime,
    rng: random.Random,
) -> str:
    """Record one attempt in one transaction; returns the delivery's status after it."""
    with session.begin():
        attempts = session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == claimed.delivery_id)
            .values(attempts=WebhookDelivery.attempts + 1, leased_until=None)
            .returning(WebhookDelivery.attempts)
        ).scalar_one_or_none()
        if attempts is None:  # purged by retention while it was being sent: nothing left to record against
            return "purged"
        failures = 0
        if sent.delivered:
            status = "delivered"
            session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == claimed.delivery_id)
                .values(status=status, delivered_at=now, next_attempt_at=None)
            )
            session.execute(
                update(WebhookEndpoint)
                .where(WebhookEndpoint.id == claimed.endpoint_id, WebhookEndpoint.consecutive_failures != 0)
                .values(consecutive_failures=0)
            )
        else:
            delay = next_retry_delay(settings, attempts, rng)
            status = "pending" if delay is not None else "dead"
            session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == claimed.delivery_id)
                .values(status=status, next_attempt_at=None if delay is None else now + timedelta(seconds=delay))
            )
            failures = session.execute(
                update(WebhookEndpoint)
                .where(WebhookEndpoint.id == claimed.endpoint_id)
                .values(consecutive_failures=WebhookEndpoint.consecutive_failures + 1)
                .returning(WebhookEndpoint.consecutive_failures)
            ).scalar_one()
        session.execute(
            insert(WebhookAttempt).values(
                id=new_id(),
                organisation_id=claimed.organisation_id,
                endpoint_id=claimed.endpoint_id,
                delivery_id=claimed.delivery_id,
                event_id=claimed.event_id,
                attempted_at=attempted_at,
                status_code=sent.status_code,
                latency_ms=sent.latency_ms,
                outcome=sent.outcome,
            )
        )
        audit.record_system(
            session,
            organisation_id=claimed.organisation_id,
            acting_user=WORKER_ACTOR,
            action=ATTEMPT_ACTION,
            resource_type="webhook_delivery",
            resource_id=claimed.delivery_id,
            details={
                "endpoint_id": claimed.endpoint_id,
                "event_id": claimed.event_id,
                "event_type": claimed.event_type,
                "attempt": attempts,
                "outcome": sent.outcome,
                "status_code": sent.status_code,
                "latency_ms": sent.latency_ms,
                "delivery_status": status,
            },
            resources=(
                [Resource(claimed.assessment_id, claimed.subject_ref)] if claimed.assessment_id is not None else None
            ),
        )
        if failures >= settings.webhook_disable_after_failures:
            _endpoint_disabled(session, settings, claimed, failures, now)
    log.info(
        "webhook.attempt",
        event_id=claimed.event_id,
        endpoint_id=claimed.endpoint_id,
        delivery_id=claimed.delivery_id,
        attempt=attempts,
        attempted_at=attempted_at.isoformat(),
        status_code=sent.status_code,
        latency_ms=sent.latency_ms,
        outcome=sent.outcome,
        refused=sent.detail,
        delivery_status=status,
    )
    metrics.ATTEMPT_LATENCY.labels(sent.outcome).observe(sent.latency_seconds)
    if sent.delivered:
        metrics.DELIVERY_LATENCY.observe(max(0.0, (now - claimed.event_occurred_at).total_seconds()))
    else:
        metrics.FAILURES.labels(sent.reason or sent.outcome).inc()
        if status == "dead":
            metrics.DEAD.inc()
    return status


def next_due(session: Session, now: datetime) -> datetime | None:
    """When the earliest pending delivery of an enabled endpoint falls due (its retry time or its lease's end)."""
    with session.begin():
        pending = (
            WebhookDelivery.status == "pending",
            WebhookEndpoint.enabled.is_(True),
        )
        joined = (
            select()
            .select_from(WebhookDelivery)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        )
        retry = session.execute(
            joined.add_columns(func.min(WebhookDelivery.next_attempt_at)).where(
                *pending, or_(WebhookDelivery.leased_until.is_(None), WebhookDelivery.leased_until < now)
            )
        ).scalar_one_or_none()
        lease_end = session.execute(
            joined.add_columns(func.min(WebhookDelivery.leased_until)).where(
                *pending, WebhookDelivery.leased_until >= now
            )
        ).scalar_one_or_none()
    found = [moment for moment in (retry, lease_end) if moment is not None]
    return min(found) if found else None
