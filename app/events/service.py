"""Writing events into the outbox (in the caller's transaction) and the envelope receivers get."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.core.db import new_id, utcnow
from app.events import repository
from app.events.models import Event


class EventType(enum.StrEnum):
    assessment_created = "assessment.created"
    assessment_revised = "assessment.revised"
    assessment_overridden = "assessment.overridden"
    assessment_entered_in_error = "assessment.entered_in_error"
    assessment_review_due = "assessment.review_due"
    ruleset_published = "ruleset.published"
    organisation_current_ruleset_changed = "organisation.current_ruleset_changed"
    webhook_endpoint_disabled = "webhook.endpoint_disabled"


ASSESSMENT_EVENT_TYPES = frozenset(t for t in EventType if t.value.startswith("assessment."))


def emit(
    session: Session,
    *,
    organisation_id: str,
    type: EventType,
    data: dict[str, Any],
    assessment_id: str | None = None,
    subject_ref: str | None = None,
    dedupe_key: str | None = None,
    occurred_at: datetime | None = None,
) -> Event | None:
    """Write one event in the session's transaction (never commits), numbered after the organisation's last.

    `data` is what receivers get: ids, levels, rule-set key and version, links; never subject_ref, answers or free
    text. `subject_ref` is kept beside it for the audit of deliveries. With a `dedupe_key`, an event with the same
    key already committed for the organisation means nothing is written (None): the head lock is taken first, so
    two writers cannot both pass the check. Call it after the audit event of the same change (lock order: the
    audit chain head, then the event head)."""
    if dedupe_key is not None:
        repository.lock_head(session, organisation_id)
        if repository.dedupe_key_exists(session, organisation_id, dedupe_key):
            return None
    values = {
        "id": new_id(),
        "organisation_id": organisation_id,
        "type": type.value,
        "occurred_at": occurred_at or utcnow(),
        "payload": data,
        "assessment_id": assessment_id,
        "subject_ref": subject_ref,
        "dedupe_key": dedupe_key,
        "fanned_out_at": None,
    }
    sequence = repository.insert_event(session, values)
    return Event(**values, sequence=sequence)


def assessment_data(
    *,
    base_url: str,
    assessment_id: str,
    computed_level: str,
    level: str,
    ruleset_key: str,
    ruleset_version: int,
    **extra: Any,
) -> dict[str, Any]:
    """The `data` of an assessment.* event: ids, levels (computed and final), the rule set, a link; `extra` adds
    other ids or dates (`supersedes`, `review_by`), never subject_ref, answers or free text."""
    return {
        "assessment_id": assessment_id,
        "computed_level": computed_level,
        "level": level,
        "ruleset": {"key": ruleset_key, "version": ruleset_version},
        **extra,
        "links": {"assessment": f"{base_url}/v1/assessments/{assessment_id}"},
    }


def envelope(event: Event) -> dict[str, Any]:
    """The event as a webhook body and as an item of the changes feed (the same object)."""
    return {
        "id": event.id,
        "type": event.type,
        "timestamp": event.occurred_at.isoformat().replace("+00:00", "Z"),
        "organisation_id": event.organisation_id,
        "sequence": event.sequence,
        "data": event.payload,
    }
