"""Request and response models of the subscriptions API (webhook endpoints, their attempts and redeliveries)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.core.pagination import Page
from app.core.strict_input import JsonEnum, StrictInput
from app.events.service import EventType

MAX_URL_CHARS = 2048
MAX_MIN_LEVELS = 100

URL_DESCRIPTION = (
    "Where events are POSTed: an absolute `https://` URL (plain `http://` only outside production), at most 2048"
    " characters, without `user:password@` or a `#fragment`. A literal IP address must be a public one (loopback"
    " is allowed outside production; RISKAPI_WEBHOOK_OUTBOUND_ALLOWLIST allows others). It may carry a token of"
    " yours in its path or query: it is never logged, audited or shown outside this API."
)
EVENT_TYPES_DESCRIPTION = (
    "The event types to receive, at least one, each once. `assessment.*` types also need operation"
    " `read_assessments` (roles assessor, supervisor, auditor)."
)
MIN_LEVELS_DESCRIPTION = (
    "Optional thresholds, at most one per rule set: an event of a rule set named here is sent only when its final"
    " `level` is at or above the level named, in that rule-set version's order. Events of rule sets not named, and"
    " events without a level, are always sent."
)

CREATE_EXAMPLE: dict[str, Any] = {
    "url": "https://cms.example.org/riskapi/events",
    "event_types": ["assessment.created", "assessment.revised", "assessment.overridden"],
    "min_levels": [{"ruleset_key": "online-harm-england", "level": "high"}],
}


class MinLevel(StrictInput):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"ruleset_key": "online-harm-england", "level": "high"}}
    )

    ruleset_key: str = Field(
        min_length=1, max_length=64, description="A rule set's key, e.g. `online-harm-england`: one you can use."
    )
    level: str = Field(
        min_length=1,
        max_length=64,
        description="The least concerning level to send, e.g. `high`: one of that rule set's levels (exact case).",
    )


class WebhookCreate(StrictInput):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": CREATE_EXAMPLE})

    url: str = Field(min_length=1, max_length=MAX_URL_CHARS, description=URL_DESCRIPTION)
    event_types: list[JsonEnum[EventType]] = Field(
        min_length=1, max_length=len(EventType), description=EVENT_TYPES_DESCRIPTION
    )
    min_levels: list[MinLevel] = Field(
        default_factory=list, max_length=MAX_MIN_LEVELS, description=MIN_LEVELS_DESCRIPTION
    )


class WebhookUpdate(StrictInput):
    """A merge patch: members left out keep their value."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"enabled": True}, {"event_types": ["assessment.created"], "min_levels": None}]
        },
    )

    enabled: bool | None = Field(
        default=None,
        description="`false` stops deliveries (`disabled_reason` becomes `manual`); `true` starts them again and"
        " clears `disabled_reason` and `consecutive_failures`. Null is refused.",
    )
    url: str | None = Field(
        default=None, min_length=1, max_length=MAX_URL_CHARS, description=URL_DESCRIPTION + " Null is refused."
    )
    event_types: list[JsonEnum[EventType]] | None = Field(
        default=None,
        min_length=1,
        max_length=len(EventType),
        description=EVENT_TYPES_DESCRIPTION + " Replaces the list. Null is refused.",
    )
    min_levels: list[MinLevel] | None = Field(
        default=None,
        max_length=MAX_MIN_LEVELS,
        description=MIN_LEVELS_DESCRIPTION + " Replaces the list; null or `[]` removes every threshold.",
    )

    @field_validator("enabled", "url", "event_types", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null: leave the member out to keep its value")
        return value


class MinLevelRead(BaseModel):
    ruleset_key: str = Field(description="The rule set's key.")
    level: str = Field(description="The least concerning level of that rule set that is sent.")


class WebhookRead(BaseModel):
    id: str = Field(description="The endpoint's id (a UUID).")
    url: str = Field(description="Where events are POSTed.")
    event_types: list[EventType] = Field(description="The event types sent to it.")
    min_levels: list[MinLevelRead] = Field(description="Per rule set, the least concerning level sent; [] for none.")
    enabled: bool = Field(description="Whether events are being delivered to it.")
    disabled_reason: Literal["manual", "failing"] | None = Field(
        description="Why it is disabled: `manual` (PATCH `enabled: false`) or `failing` (too many consecutive failed"
        " attempts; a `webhook.endpoint_disabled` event was emitted); null while enabled."
    )
    consecutive_failures: int = Field(
        description="Failed attempts since the last success (or since it was enabled again)."
    )
    previous_secret_expires_at: datetime | None = Field(
        description="After a rotation, until when the previous secret signs too (a second signature); null when"
        " there is no previous secret in use."
    )
    created_at: datetime = Field(description="When it was created (ISO 8601, UTC).")
    updated_at: datetime = Field(description="When it was last changed (ISO 8601, UTC).")


class WebhookWithSecret(WebhookRead):
    """The signing secret is shown once, in this response only."""

    secret: str = Field(
        description="The signing secret, `whsec_<base64>` (Standard Webhooks). Verify each delivery's"
        " `webhook-signature` with it. It is stored encrypted and cannot be shown again: rotate it if lost."
    )


class WebhookList(Page[WebhookRead]):
    """Oldest first."""


class AttemptRead(BaseModel):
    id: str = Field(description="The attempt's id (a UUID).")
    attempted_at: datetime = Field(description="When the request was sent (ISO 8601, UTC).")
    event_id: str = Field(description="The event delivered: its `id`, also the delivery's `webhook-id` header.")
    event_type: str = Field(description="The event's type, e.g. `assessment.created`.")
    status_code: int | None = Field(description="The receiver's HTTP status; null when no response came back.")
    latency_ms: int = Field(
        description="Milliseconds from sending the request to the end of the response (or failure)."
    )
    outcome: str = Field(
        description="`delivered` (a 2xx), `http_error`, `timeout`, `connect_error`, `refused_address` (the address"
        " is not allowed), `tls_error` or `secret_unreadable` (the signing secret does not decrypt: rotate it)."
    )
    delivery_status: str = Field(
        description="The delivery's state now: `pending` (more attempts to come), `delivered` or `dead` (retries"
        " used up)."
    )


class AttemptList(Page[AttemptRead]):
    """Newest first."""


class DeliveryRead(BaseModel):
    id: str = Field(description="The delivery's id (a UUID): one per endpoint and event.")
    endpoint_id: str = Field(description="The endpoint's id.")
    event_id: str = Field(description="The event's id, also the `webhook-id` header of every attempt.")
    event_type: str = Field(description="The event's type, e.g. `assessment.created`.")
    status: str = Field(description="`pending` (queued), `delivered` or `dead`.")
    attempts: int = Field(description="Attempts made since the delivery was last (re)queued.")
    next_attempt_at: datetime | None = Field(description="When the next attempt is due (ISO 8601, UTC).")
    created_at: datetime = Field(description="When the delivery was first made (ISO 8601, UTC).")
    delivered_at: datetime | None = Field(description="When a 2xx last came back; null if never.")
