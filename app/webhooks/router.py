"""Admin HTTP endpoints for the organisation's webhook subscriptions (docs/webhooks.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status

from app.auth.caller import Caller
from app.auth.dependencies import Authorize, AuthorizeWhen
from app.auth.permissions import Operation
from app.core.config import SettingsDep
from app.core.db import SessionDep
from app.core.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    Unauthenticated,
    ValidationFailed,
    problem_responses,
)
from app.core.pagination import DEFAULT_PAGE_SIZE, CursorQuery, LimitQuery
from app.webhooks import service
from app.webhooks.schemas import (
    AttemptList,
    DeliveryRead,
    WebhookCreate,
    WebhookList,
    WebhookRead,
    WebhookUpdate,
    WebhookWithSecret,
)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
Admin = Annotated[Caller, Depends(Authorize(Operation.manage_webhooks))]
# Declared so the document and docs/roles.md name it; the service checks it against the event types concerned.
READ_ASSESSMENT_EVENTS = Depends(AuthorizeWhen(Operation.read_assessments, "`assessment.*`"))

COMMON = problem_responses(BadRequest, Unauthenticated, Forbidden, ValidationFailed)
FOUND = {**COMMON, **problem_responses(NotFound)}
EndpointId = Annotated[str, Path(max_length=64, description="The endpoint's id (a UUID), as `id` in the list.")]
EventId = Annotated[
    str, Path(max_length=64, description="The event's id (a UUID): its `id` in the changes feed or a delivery.")
]


@router.post("", status_code=status.HTTP_201_CREATED, responses=COMMON, dependencies=[READ_ASSESSMENT_EVENTS])
def create_webhook(
    body: WebhookCreate, caller: Admin, session: SessionDep, settings: SettingsDep, response: Response
) -> WebhookWithSecret:
    """Subscribe a URL to event types (201 with Location). The response holds the signing secret, `whsec_...`,
    shown this once: keep it to verify the `webhook-signature` of every delivery (Standard Webhooks). Audited, without
    the URL or the secret."""
    created = service.create_endpoint(session, caller, body, settings=settings)
    response.headers["Location"] = f"{router.prefix}/{created.id}"
    return created


@router.get("", responses=COMMON)
def list_webhooks(
    caller: Admin, session: SessionDep, cursor: CursorQuery = None, limit: LimitQuery = DEFAULT_PAGE_SIZE
) -> WebhookList:
    """List the organisation's webhook endpoints, oldest first (never their secrets)."""
    return service.list_endpoints(session, caller, cursor=cursor, limit=limit)


@router.get("/{endpoint_id}", responses=FOUND)
def get_webhook(endpoint_id: EndpointId, caller: Admin, session: SessionDep) -> WebhookRead:
    """Read one endpoint: its subscription, whether it is enabled and why not, its failure count (never its
    secret)."""
    return service.get_endpoint(session, caller, endpoint_id)


@router.patch("/{endpoint_id}", responses=FOUND, dependencies=[READ_ASSESSMENT_EVENTS])
def update_webhook(
    endpoint_id: EndpointId, body: WebhookUpdate, caller: Admin, session: SessionDep, settings: SettingsDep
) -> WebhookRead:
    """Change an endpoint as a merge patch (`application/json` or `application/merge-patch+json`): members left out
    keep their value. `enabled: false` stops deliveries (`disabled_reason` `manual`); `enabled: true` resumes them
    and clears `disabled_reason` and `consecutive_failures`. `url`, `event_types` and `min_levels` are checked as on
    creation. Audited."""
    return service.update_endpoint(session, caller, endpoint_id, body, settings=settings)


@router.post("/{endpoint_id}/rotate-secret", responses=FOUND)
def rotate_webhook_secret(
    endpoint_id: EndpointId, caller: Admin, session: SessionDep, settings: SettingsDep
) -> WebhookWithSecret:
    """Issue a new signing secret (shown this once). Until `previous_secret_expires_at`
    (RISKAPI_WEBHOOK_SECRET_OVERLAP_HOURS, default 24) deliveries carry a signature with each secret, so the receiver
    can switch without losing one. Audited."""
    return service.rotate_secret(session, caller, endpoint_id, settings=settings)


@router.get("/{endpoint_id}/attempts", responses=FOUND)
def list_webhook_attempts(
    endpoint_id: EndpointId,
    caller: Admin,
    session: SessionDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_PAGE_SIZE,
) -> AttemptList:
    """The endpoint's delivery attempts, newest first: when, which event, the status code, the latency and the
    outcome (never bodies or the URL). Audited."""
    return service.list_attempts(session, caller, endpoint_id, cursor=cursor, limit=limit)


@router.post(
    "/{endpoint_id}/deliveries/{event_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    responses={**FOUND, **problem_responses(Conflict)},
    dependencies=[READ_ASSESSMENT_EVENTS],
)
def redeliver_webhook_event(
    endpoint_id: EndpointId, event_id: EventId, caller: Admin, session: SessionDep
) -> DeliveryRead:
    """Send one of the organisation's events to the endpoint again (202): its delivery is queued from its first
    attempt, due now, with the same `webhook-id` (the event's id). The endpoint must be enabled and receive the
    event's type (409 otherwise). Audited."""
    return service.redeliver(session, caller, endpoint_id, event_id)
