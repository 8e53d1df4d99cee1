"""Subscriptions: webhook endpoints of an organisation, their secrets, attempts and redeliveries; and `matches`, the
filter the worker's fan-out applies to each event.

Every operation is audited in the organisation's chain in its own transaction; audit details never hold the URL
(it may carry a token) or a secret."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from app.audit import service as audit
from app.auth.caller import Caller
from app.auth.permissions import Operation, allowed, granting_roles
from app.core.config import Environment, Settings
from app.core.db import new_id, utcnow
from app.core.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from app.events.service import ASSESSMENT_EVENT_TYPES, EventType
from app.rulesets import service as rulesets
from app.webhooks import repository, secrets
from app.webhooks.addresses import IPAddress, allowlisted, refused_reason
from app.webhooks.models import WebhookDelivery, WebhookEndpoint
from app.webhooks.schemas import (
    AttemptList,
    AttemptRead,
    DeliveryRead,
    MinLevel,
    MinLevelRead,
    WebhookCreate,
    WebhookList,
    WebhookRead,
    WebhookUpdate,
    WebhookWithSecret,
)

RESOURCE = "webhook_endpoint"
MANUAL, FAILING = "manual", "failing"


# --- the fan-out's filter ------------------------------------------------------------------------------------


class Subscription(Protocol):
    @property
    def event_types(self) -> Sequence[str]: ...

    @property
    def min_levels(self) -> Sequence[Mapping[str, Any]]: ...


LevelOrder = Callable[[str, int], Sequence[str] | None]
"""`level_order_of(ruleset_key, version)`: that rule-set version's levels, least to most concerning (None: unknown)."""


def matches(endpoint: Subscription, event_type: str, data: Mapping[str, Any], level_order_of: LevelOrder) -> bool:
    """Whether an event goes to the endpoint: its type is subscribed to and, when the endpoint sets a minimum level
    for the event's rule set, the event's final `level` is at or above it in that rule-set version's order.

    Events of rule sets without a minimum, events without a level or rule set, and events whose levels cannot be
    placed in the version's order (a level the version does not have, an unknown version) are sent: a filter
    never loses an event it cannot judge. Whether the endpoint is enabled is the caller's business."""
    if event_type not in endpoint.event_types:
        return False
    ruleset, level = data.get("ruleset"), data.get("level")
    if not isinstance(ruleset, Mapping) or not isinstance(level, str):
        return True
    key, version = ruleset.get("key"), ruleset.get("version")
    minimum = next((m.get("level") for m in endpoint.min_levels if m.get("ruleset_key") == key), None)
    if minimum is None or not isinstance(key, str) or not isinstance(version, int):
        return True
    order = list(level_order_of(key, version) or ())
    if level not in order or minimum not in order:
        return True
    return order.index(level) >= order.index(minimum)


# --- validation ------------------------------------------------------------------------------------------------


def _literal_ip(host: str) -> IPAddress | None:
    """The address a host names by itself, with no DNS: an IPv6 or dotted IPv4 literal, or any other form the
    system resolver reads as an IPv4 address without asking DNS (`2130706433`, `0x7f.1`, `127.1`)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def url_problem(url: str, settings: Settings) -> str | None:
    """What is wrong with a webhook URL, or None. Names are not resolved here: the worker checks every address a
    name resolves to when it connects."""
    if any(not 0x21 <= ord(c) <= 0x7E for c in url):
        return "must be ASCII without spaces or control characters: percent-encode the others"
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.netloc:
        return "must be an absolute http:// or https:// URL"
    if scheme != "https" and settings.environment is Environment.production:
        return "must be an https:// URL"
    if "@" in parts.netloc:
        return "must not carry user information (user:password@): put a token in the path or query instead"
    if "#" in url:
        return "must not have a fragment (#...)"
    host = parts.hostname
    if not host:
        return "must name a host"
    try:
        parts.port  # noqa: B018 - reading it validates it
    except ValueError:
        return "has an invalid port"
    ip = _literal_ip(host)
    if ip is not None:
        reason = refused_reason(ip, settings)
        if reason is not None:
            return f"names {ip}, {reason}, which webhooks may not reach (RISKAPI_WEBHOOK_OUTBOUND_ALLOWLIST)"
    elif _is_localhost(host) and settings.environment is Environment.production and not allowlisted(host, settings):
        return f"names {host}, which is always a loopback address: webhooks may not reach it in production"
    return None


def _is_localhost(host: str) -> bool:
    """`localhost` and the names under it, loopback by definition (RFC 6761), whatever DNS says."""
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


def _duplicates(values: Sequence[str]) -> list[int]:
    """The positions of values seen earlier in the list."""
    seen: set[str] = set()
    repeated = []
    for position, value in enumerate(values):
        if value in seen:
            repeated.append(position)
        seen.add(value)
    return repeated


def _min_level_errors(session: Session, organisation_id: str, min_levels: Sequence[MinLevel]) -> list[FieldError]:
    errors = [
        FieldError(pointer=f"/min_levels/{i}/ruleset_key", detail="names a rule set already listed: one entry each")
        for i in _duplicates([m.ruleset_key for m in min_levels])
    ]
    for position, entry in enumerate(min_levels):
        levels = rulesets.levels_of_ruleset(session, organisation_id, entry.ruleset_key)
        if levels is None:
            detail = f"'{entry.ruleset_key}' is not a published or retired rule set you can use"
            errors.append(FieldError(pointer=f"/min_levels/{position}/ruleset_key", detail=detail))
        elif entry.level not in levels:
            detail = (
                f"'{entry.level}' is not a level of rule set '{entry.ruleset_key}'; valid levels: {', '.join(levels)}"
            )
            errors.append(FieldError(pointer=f"/min_levels/{position}/level", detail=detail))
    return errors


def _validated(
    session: Session,
    organisation_id: str,
    settings: Settings,
    *,
    url: str | None,
    event_types: Sequence[EventType] | None,
    min_levels: Sequence[MinLevel] | None,
) -> None:
    """Every invalid field of a create or a change in one 422."""
    errors: list[FieldError] = []
    if url is not None and (problem := url_problem(url, settings)) is not None:
        errors.append(FieldError(pointer="/url", detail=problem))
    if event_types is not None:
        errors += [
            FieldError(pointer=f"/event_types/{i}", detail=f"'{event_types[i].value}' is listed more than once")
            for i in _duplicates([t.value for t in event_types])
        ]
    if min_levels:
        errors += _min_level_errors(session, organisation_id, min_levels)
    if errors:
        detail = f"{len(errors)} field{'s are' if len(errors) != 1 else ' is'} invalid"
        raise ValidationFailed(detail, errors=errors)


def _require_reading_assessments(caller: Caller, event_types: Sequence[str]) -> None:
    """Whoever directs assessment events somewhere must be allowed to read them (as the changes feed requires)."""
    if any(t in ASSESSMENT_EVENT_TYPES for t in event_types) and not allowed(caller.roles, Operation.read_assessments):
        roles = ", ".join(granting_roles(Operation.read_assessments))
        raise Forbidden(
            "Subscribing to assessment.* events also needs operation 'read_assessments' (one of the roles: "
            f"{roles}), as reading them through the API or the changes feed does"
        )


# --- operations ------------------------------------------------------------------------------------------------


def _read(endpoint: WebhookEndpoint) -> WebhookRead:
    return WebhookRead(
        id=endpoint.id,
        url=endpoint.url,
        event_types=[EventType(t) for t in endpoint.event_types],
        min_levels=[MinLevelRead(ruleset_key=m["ruleset_key"], level=m["level"]) for m in endpoint.min_levels],
        enabled=endpoint.enabled,
        disabled_reason=endpoint.disabled_reason,
        consecutive_failures=endpoint.consecutive_failures,
        previous_secret_expires_at=endpoint.previous_secret_expires_at
        if endpoint.previous_secret_ciphertext is not None
        else None,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )


def _with_secret(endpoint: WebhookEndpoint, secret: str) -> WebhookWithSecret:
    return WebhookWithSecret(**_read(endpoint).model_dump(), secret=secret)


def _audit(
    session: Session,
    caller: Caller,
    action: str,
    endpoint_id: str | None,
    details: dict[str, Any] | None = None,
    *,
    status: int = 200,
    resources: Sequence[audit.Resource] | None = None,
) -> None:
    audit.record(
        session,
        caller=caller,
        action=action,
        resource_type=RESOURCE,
        resource_id=endpoint_id,
        details=details,
        status=status,
        resources=resources,
    )


def _subscription_details(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {"event_types": list(endpoint.event_types), "min_levels": list(endpoint.min_levels)}


def _found(session: Session, caller: Caller, endpoint_id: str, *, for_update: bool = False) -> WebhookEndpoint:
    endpoint = repository.endpoint(session, caller.organisation_id, endpoint_id, for_update=for_update)
    if endpoint is None:
        raise NotFound(f"No webhook endpoint {endpoint_id}")
    return endpoint


def create_endpoint(session: Session, caller: Caller, body: WebhookCreate, *, settings: Settings) -> WebhookWithSecret:
    """A new enabled endpoint and its signing secret (shown once; stored encrypted)."""
    _require_reading_assessments(caller, body.event_types)
    _validated(
        session,
        caller.organisation_id,
        settings,
        url=body.url,
        event_types=body.event_types,
        min_levels=body.min_levels,
    )
    now = utcnow()
    endpoint_id = new_id()
    secret = secrets.new_secret()
    endpoint = WebhookEndpoint(
        id=endpoint_id,
        organisation_id=caller.organisation_id,
        url=body.url,
        event_types=[t.value for t in body.event_types],
        min_levels=[m.model_dump() for m in body.min_levels],
        enabled=True,
        disabled_reason=None,
        secret_ciphertext=secrets.encrypt(secret, endpoint_id=endpoint_id, slot="current", settings=settings),
        previous_secret_ciphertext=None,
        previous_secret_expires_at=None,
        consecutive_failures=0,
        created_at=now,
        updated_at=now,
    )
    repository.add_endpoint(session, endpoint)
    _audit(session, caller, "webhook.create", endpoint_id, _subscription_details(endpoint), status=201)
    return _with_secret(endpoint, secret)


def list_endpoints(session: Session, caller: Caller, *, cursor: str | None, limit: int) -> WebhookList:
    order, no_filters = repository.LISTED_ENDPOINTS, dict[str, str]()
    rows = repository.endpoints(session, caller.organisation_id, after=order.decode(cursor, no_filters), limit=limit)
    page = order.page(rows, limit, no_filters)
    _audit(session, caller, "webhook.list", None, {"count": len(page.items)})
    return WebhookList(items=[_read(e) for e in page.items], next_cursor=page.next_cursor)


def get_endpoint(session: Session, caller: Caller, endpoint_id: str) -> WebhookRead:
    endpoint = _found(session, caller, endpoint_id)
    _audit(session, caller, "webhook.read", endpoint.id)
    return _read(endpoint)


def update_endpoint(
    session: Session, caller: Caller, endpoint_id: str, body: WebhookUpdate, *, settings: Settings
) -> WebhookRead:
    """Apply a merge patch. Enabling clears the failure count and the reason it was disabled; disabling records
    `manual`. Changing where or what it sends, or enabling it, needs `read_assessments` when it sends assessment
    events; disabling never does."""
    sent = body.model_fields_set
    endpoint = _found(session, caller, endpoint_id, for_update=True)
    event_types = body.event_types if "event_types" in sent and body.event_types is not None else None
    resulting_types = [t.value for t in event_types] if event_types is not None else list(endpoint.event_types)
    redirects = bool(sent & {"url", "event_types", "min_levels"}) or body.enabled is True
    if redirects:
        _require_reading_assessments(caller, resulting_types)
    min_levels = (body.min_levels or []) if "min_levels" in sent else None
    _validated(
        session,
        caller.organisation_id,
        settings,
        url=body.url if "url" in sent else None,
        event_types=event_types,
        min_levels=min_levels,
    )
    changed: list[str] = []
    if body.url is not None and body.url != endpoint.url:
        endpoint.url = body.url
        changed.append("url")
    if event_types is not None and resulting_types != endpoint.event_types:
        endpoint.event_types = resulting_types
        changed.append("event_types")
    if min_levels is not None and [m.model_dump() for m in min_levels] != endpoint.min_levels:
        endpoint.min_levels = [m.model_dump() for m in min_levels]
        changed.append("min_levels")
    if body.enabled is not None and body.enabled != endpoint.enabled:
        endpoint.enabled = body.enabled
        endpoint.disabled_reason = None if body.enabled else MANUAL
        if body.enabled:
            endpoint.consecutive_failures = 0
        changed.append("enabled")
    if changed:
        endpoint.updated_at = utcnow()
    session.flush()
    details = {"changed": changed, "enabled": endpoint.enabled, **_subscription_details(endpoint)}
    _audit(session, caller, "webhook.update", endpoint.id, details)
    return _read(endpoint)


def rotate_secret(session: Session, caller: Caller, endpoint_id: str, *, settings: Settings) -> WebhookWithSecret:
    """A new current secret (shown once). The one it replaces keeps signing, as the previous secret, for
    RISKAPI_WEBHOOK_SECRET_OVERLAP_HOURS; a previous secret still in its overlap is dropped. A current secret that
    no longer decrypts (RISKAPI_SECRET_KEY changed) cannot sign, so it is not kept."""
    endpoint = _found(session, caller, endpoint_id, for_update=True)
    now = utcnow()
    overlap = timedelta(hours=settings.webhook_secret_overlap_hours)
    try:
        replaced: str | None = secrets.decrypt(
            endpoint.secret_ciphertext, endpoint_id=endpoint.id, slot="current", settings=settings
        )
    except secrets.SecretUnreadable:
        replaced = None
    if replaced is not None and overlap > timedelta(0):
        endpoint.previous_secret_ciphertext = secrets.encrypt(
            replaced, endpoint_id=endpoint.id, slot="previous", settings=settings
        )
        endpoint.previous_secret_expires_at = now + overlap
    else:
        endpoint.previous_secret_ciphertext = None
        endpoint.previous_secret_expires_at = None
    secret = secrets.new_secret()
    endpoint.secret_ciphertext = secrets.encrypt(secret, endpoint_id=endpoint.id, slot="current", settings=settings)
    endpoint.updated_at = now
    session.flush()
    expires = endpoint.previous_secret_expires_at
    details = {
        "previous_secret_expires_at": expires.isoformat() if expires else None,
        "replaced_secret_unreadable": replaced is None,
    }
    _audit(session, caller, "webhook.rotate_secret", endpoint.id, details)
    return _with_secret(endpoint, secret)


def list_attempts(session: Session, caller: Caller, endpoint_id: str, *, cursor: str | None, limit: int) -> AttemptList:
    endpoint = _found(session, caller, endpoint_id)
    order, scope = repository.LISTED_ATTEMPTS, {"endpoint_id": endpoint.id}
    rows = repository.attempts(
        session, caller.organisation_id, endpoint.id, after=order.decode(cursor, scope), limit=limit
    )
    page = order.page(rows, limit, scope, position_of=lambda row: order.position(row[0]))
    items = [
        AttemptRead(
            id=attempt.id,
            attempted_at=attempt.attempted_at,
            event_id=attempt.event_id,
            event_type=event_type,
            status_code=attempt.status_code,
            latency_ms=attempt.latency_ms,
            outcome=attempt.outcome,
            delivery_status=delivery_status,
        )
        for attempt, event_type, delivery_status in page.items
    ]
    _audit(session, caller, "webhook.list_attempts", endpoint.id, {"count": len(items)})
    return AttemptList(items=items, next_cursor=page.next_cursor)


def redeliver(session: Session, caller: Caller, endpoint_id: str, event_id: str) -> DeliveryRead:
    """Queue the event for the endpoint again, from its first attempt and due now (its delivery made if there was
    none). The event must be the organisation's and of a type the endpoint receives, and the endpoint enabled."""
    endpoint = _found(session, caller, endpoint_id)
    event = repository.event(session, caller.organisation_id, event_id)
    if event is None:
        raise NotFound(f"No event {event_id}")
    _require_reading_assessments(caller, [event.type])
    if event.type not in endpoint.event_types:
        raise Conflict(f"The endpoint does not receive {event.type} events: add the type to its event_types first")
    if not endpoint.enabled:
        raise Conflict("The endpoint is disabled: enable it (PATCH with enabled true) before redelivering")
    resources = [audit.Resource(event.assessment_id, event.subject_ref)] if event.assessment_id else None
    _audit(
        session,
        caller,
        "webhook.redeliver",
        endpoint.id,
        {"event_id": event.id, "event_type": event.type},
        status=202,
        resources=resources,
    )
    repository.requeue_delivery(session, caller.organisation_id, endpoint.id, event.id, utcnow())
    delivery = repository.delivery(session, caller.organisation_id, endpoint.id, event.id)
    if delivery is None:  # pragma: no cover - made by the statement above
        raise NotFound(f"No delivery of event {event_id}")
    return _delivery_read(delivery, event.type)


def _delivery_read(delivery: WebhookDelivery, event_type: str) -> DeliveryRead:
    return DeliveryRead(
        id=delivery.id,
        endpoint_id=delivery.endpoint_id,
        event_id=delivery.event_id,
        event_type=event_type,
        status=delivery.status,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
    )
