"""Delivery to a receiver on 127.0.0.1: Standard Webhooks signatures (checked with the package and by hand from the
specification), retries, dead letters, disabling a failing endpoint, the audit of every attempt, and logs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks import Webhook

from app.audit import repository as audit_repository
from app.audit import service as audit_service
from app.core.config import Settings
from app.events.models import Event
from app.events.service import EventType, envelope
from app.rulesets.seed import seed_default_content
from app.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from app.worker.delivery import WORKER_ACTOR
from app.worker.main import Worker
from tests.worker.conftest import (
    Receiver,
    add_endpoint,
    emit_assessment_event,
    fast_settings,
    rounds_until,
)


def verify_by_hand(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The Standard Webhooks check written from the specification: the key is the base64 after `whsec_`; the
    signature is base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")) prefixed `v1,`; the header
    holds a space-separated list of them."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(expected, given) for given in headers["webhook-signature"].split(" "))


def _deliveries(sessions: sessionmaker[Session]) -> list[WebhookDelivery]:
    with sessions() as session:
        return list(session.scalars(select(WebhookDelivery)))


def _attempts(sessions: sessionmaker[Session]) -> list[WebhookAttempt]:
    with sessions() as session:
        return list(session.scalars(select(WebhookAttempt).order_by(WebhookAttempt.attempted_at)))


def test_deliveries_are_signed_with_both_secrets_during_a_rotation(
    settings: Settings,
    sessions: sessionmaker[Session],
    organisation_id: str,
    receiver: Receiver,
    make_worker: Callable[..., Worker],
    captured_logs: io.StringIO,
) -> None:
    endpoint_id, (current, previous) = add_endpoint(
        sessions, settings, organisation_id, receiver.url, previous_secret=True
    )
    event = emit_assessment_event(sessions, settings, organisation_id, subject_ref="case-signed-7")
    worker = make_worker(settings)
    rounds_until(worker, lambda: len(receiver.received) == 1 and _deliveries(sessions)[0].status == "delivered")

    got = receiver.received[0]
    assert got.headers["webhook-id"] == event.id
    assert got.headers["content-type"] == "application/json"
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 60
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    for secret in (current, previous):
        assert Webhook(secret).verify(got.body, got.headers) == json.loads(got.body)
        assert verify_by_hand(secret, got.headers, got.body)
    assert not verify_by_hand("whsec_" + base64.b64encode(b"x" * 32).decode(), got.headers, got.body)
    with sessions() as session:
        stored = session.get(Event, event.id)
        assert stored is not None
        assert stored.fanned_out_at is not None
        assert json.loads(got.body) == envelope(stored)
    assert "case-signed-7" not in got.body.decode()

    [attempt] = _attempts(sessions)
    assert (attempt.outcome, attempt.status_code, attempt.endpoint_id) == ("delivered", 200, endpoint_id)
    # "who was told about this child?": one audit query by subject_ref
    with sessions() as session:
        told = audit_repository.search(
            session,
            organisation_id,
            subject_ref="case-signed-7",
            resource_id=None,
            resource_type=None,
            acting_user=None,
            client_id=None,
            action="webhook.delivery_attempt",
            since=None,
            until=None,
            after=None,
            limit=10,
        )
    assert len(told) == 1
    assert told[0].acting_user == WORKER_ACTOR
    assert told[0].client_id is None
    assert told[0].resources == [{"id": event.assessment_id, "subject_ref": "case-signed-7"}]
    assert told[0].details is not None
    assert told[0].details["endpoint_id"] == endpoint_id

    with sessions() as session:
        assert audit_service.verify(session, organisation_id).ok  # the worker's events keep the chain whole

    logs = captured_logs.getvalue()
    assert '"webhook.attempt"' in logs
    assert event.id in logs
    for secret_thing in ("sekrit-token", "/hooks", "127.0.0.1:", "case-signed-7", got.body.decode(), current):
        assert secret_thing not in logs


def test_retries_then_success(
    settings: Settings,
    sessions: sessionmaker[Session],
    organisation_id: str,
    receiver: Receiver,
    make_worker: Callable[..., Worker],
) -> None:
    statuses = iter([500, 503])
    receiver.respond = lambda _r: next(statuses, 204)
    add_endpoint(sessions, settings, organisation_id, receiver.url)
    emit_assessment_event(sessions, settings, organisation_id)
    worker = make_worker(settings)
    rounds_until(worker, lambda: _deliveries(sessions)[0].status != "pending" if _deliveries(sessions) else False)

    [delivery] = _deliveries(sessions)
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    assert [(a.outcome, a.status_code) for a in _attempts(sessions)] == [
        ("http_error", 500),
        ("http_error", 503),
        ("delivered", 204),
    ]
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1  # every retry: the same webhook-id
    with sessions() as session:
        endpoint = session.scalars(select(WebhookEndpoint)).one()
    assert endpoint.consecutive_failures == 0
    assert endpoint.enabled


def test_retries_then_dead_letter(
    settings: Settings,
    sessions: sessionmaker[Session],
    organisation_id: str,
    receiver: Receiver,
    make_worker: Callable[..., Worker],
) -> None:
    receiver.respond = lambda _r: 500
    add_endpoint(sessions, settings, organisation_id, receiver.url)
    emit_assessment_event(sessions, settings, organisation_id)
    worker = make_worker(settings)
    rounds_until(worker, lambda: bool(_deliveries(sessions)) and _deliveries(sessions)[0].status == "dead")

    [delivery] = _deliveries(sessions)
    assert delivery.attempts == len(settings.webhook_retry_schedule_seconds) + 1
    assert delivery.next_attempt_at is None
    assert len(receiver.received) == delivery.attempts
    time.sleep(0.15)
    worker.run_round()
    assert len(receiver.received) == delivery.attempts  # a dead letter is not tried again


def test_a_failing_endpoint_is_disabled_with_its_event(
    database_url: str,
    sessions: sessionmaker[Session],
    organisation_id: str,
    receiver: Receiver,
    make_worker: Callable[..., Worker],
) -> None:
    settings = fast_settings(database_url, webhook_disable_after_failures=3, webhook_retry_schedule_seconds=[0.05] * 5)
    failing = receiver.url.replace("/hooks", "/failing")
    receiver.respond = lambda r: 500 if r.path.startswith("/failing") else 200
    endpoint_id, _ = add_endpoint(sessions, settings, organisation_id, failing)
    watcher_id, _ = add_endpoint(
        sessions, settings, organisation_id, receiver.url, [EventType.webhook_endpoint_disabled.value]
    )
    emit_assessment_event(sessions, settings, organisation_id)
    worker = make_worker(settings)

    def told_of_disabling() -> bool:
        return any(r.path.startswith("/hooks") for r in receiver.received)

    rounds_until(worker, told_of_disabling)

    with sessions() as session:
        endpoint = session.get(WebhookEndpoint, endpoint_id)
        assert endpoint is not None
        assert (endpoint.enabled, endpoint.disabled_reason, endpoint.consecutive_failures) == (False, "failing", 3)
        disabled = session.scalars(select(Event).where(Event.type == "webhook.endpoint_disabled")).one()
        assert disabled.payload == {
            "endpoint_id": endpoint_id,
            "reason": "failing",
            "consecutive_failures": 3,
            "links": {"endpoint": f"{settings.base_url}/v1/webhooks/{endpoint_id}"},
        }
        actions = [
            e.action
            for e in audit_repository.search(
                session,
                organisation_id,
                subject_ref=None,
                resource_id=endpoint_id,
                resource_type=None,
                acting_user=WORKER_ACTOR,
                client_id=None,
                action=None,
                since=None,
                until=None,
                after=None,
                limit=10,
            )
        ]
        assert actions == ["webhook.endpoint_disabled"]
    [told] = [r for r in receiver.received if r.path.startswith("/hooks")]
    assert json.loads(told.body)["data"]["endpoint_id"] == endpoint_id
    assert watcher_id != endpoint_id
    # the disabled endpoint's delivery stays pending, and is not tried while the endpoint is disabled
    failing_tries = sum(r.path.startswith("/failing") for r in receiver.received)
    assert failing_tries == 3
    time.sleep(0.15)
    worker.run_round()
    assert sum(r.path.startswith("/failing") for r in receiver.received) == failing_tries


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_unreadable_secret_fails_the_attempt_without_sending(
    database_url: str,
    sessions: sessionmaker[Session],
    organisation_id: str,
    receiver: Receiver,
    make_worker: Callable[..., Worker],
) -> None:
    settings = fast_settings(database_url)
    add_endpoint(sessions, settings, organisation_id, receiver.url)
    emit_assessment_event(sessions, settings, organisation_id)
    other_key = fast_settings(database_url, secret_key="another-secret-key-of-32-characters-or-more")
    worker = make_worker(other_key)
    rounds_until(worker, lambda: bool(_attempts(sessions)))
    assert [a.outcome for a in _attempts(sessions)][:1] == ["secret_unreadable"]
    assert receiver.received == []


def test_fan_out_follows_subscriptions(
    settings: Settings,
    sessions: sessionmaker[Session],
    organisation_id: str,
    receiver: Receiver,
    make_worker: Callable[..., Worker],
) -> None:
    subscribed, _ = add_endpoint(sessions, settings, organisation_id, receiver.url, ["assessment.created"])
    add_endpoint(sessions, settings, organisation_id, receiver.url, ["assessment.revised"])
    add_endpoint(sessions, settings, organisation_id, receiver.url, ["assessment.created"], enabled=False)
    urgent_only, _ = add_endpoint(
        sessions,
        settings,
        organisation_id,
        receiver.url,
        ["assessment.created"],
        min_levels=[{"ruleset_key": "other-ruleset", "level": "immediate"}],
    )
    event = emit_assessment_event(sessions, settings, organisation_id)
    worker = make_worker(settings)
    worker.run_round()
    got: dict[str, Any] = {(d.endpoint_id, d.event_id): d.status for d in _deliveries(sessions)}
    # the min_levels names another rule set: this one's events are always delivered
    assert set(got) == {(subscribed, event.id), (urgent_only, event.id)}


def test_min_levels_use_the_rule_set_versions_level_order(
    settings: Settings,
    sessions: sessionmaker[Session],
    organisation_id: str,
    receiver: Receiver,
    make_worker: Callable[..., Worker],
) -> None:
    with sessions.begin() as session:
        seed_default_content(session)  # online-harm-england: levels low, medium, high, immediate
    endpoint_id, _ = add_endpoint(
        sessions,
        settings,
        organisation_id,
        receiver.url,
        ["assessment.created"],
        min_levels=[{"ruleset_key": "online-harm-england", "level": "high"}],
    )
    levels = {
        level: emit_assessment_event(sessions, settings, organisation_id, level=level).id
        for level in ("low", "medium", "high", "immediate")
    }
    make_worker(settings).run_round()
    delivered_for = {d.event_id for d in _deliveries(sessions) if d.endpoint_id == endpoint_id}
    assert delivered_for == {levels["high"], levels["immediate"]}
