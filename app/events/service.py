"""Writing events into the outbox (in the caller's transaction) and the envelope receivers get."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.audit import service as audit
from app.audit.chain import digest
from app.auth.caller import Caller
from app.core.db import new_id, utcnow
from app.core.errors import CursorExpired, FieldError, ValidationFailed
from app.events import repository
from app.events.models import Event
from app.events.schemas import EventPage, EventRead


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


def emit_about_assessment(
    session: Session,
    type: EventType,
    assessment: Mapping[str, Any],
    *,
    level: str,
    base_url: str,
    dedupe_key: str | None = None,
    **extra: Any,
) -> Event | None:
    """The event of a change to an assessment, from its row's values (`id`, `organisation_id`, `subject_ref`,
    `computed_level`, `ruleset_key`, `ruleset_version`): its ids, levels and rule set in `data`, its subject_ref
    only beside it, for the audit of deliveries."""
    return emit(
        session,
        organisation_id=assessment["organisation_id"],
        type=type,
        data=assessment_data(
            base_url=base_url,
            assessment_id=assessment["id"],
            computed_level=assessment["computed_level"],
            level=level,
            ruleset_key=assessment["ruleset_key"],
            ruleset_version=assessment["ruleset_version"],
            **extra,
        ),
        assessment_id=assessment["id"],
        subject_ref=assessment["subject_ref"],
        dedupe_key=dedupe_key,
    )


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


# --- the changes feed -------------------------------------------------------------------------------------------


def _feed_scope(organisation_id: str) -> dict[str, str]:
    return {"organisation_id": organisation_id}


def _cursor_refused(detail: str) -> ValidationFailed:
    return ValidationFailed(
        f"The cursor is refused: {detail}", errors=[FieldError(pointer="/cursor", detail=detail, location="query")]
    )


def _after(cursor: str | None, organisation_id: str) -> int | None:
    """The sequence a cursor of the organisation's feed holds (None: no cursor); a 422 naming `cursor` otherwise."""
    if cursor is None:
        return None
    try:
        position = repository.FEED.decode(cursor, _feed_scope(organisation_id))
    except ValidationFailed:
        raise _cursor_refused(
            "not a cursor of your organisation's changes feed (altered, issued to another organisation or by "
            "another list); start from the cursor you last stored, or without one"
        ) from None
    assert position is not None
    sequence = int(position[0])
    if sequence < 0:
        raise _cursor_refused("not a cursor of your organisation's changes feed")
    return sequence


def feed_cursor(organisation_id: str, sequence: int) -> str:
    """The cursor of the organisation's feed that returns the events after `sequence` (0: from the start)."""
    return repository.FEED.encode((sequence,), _feed_scope(organisation_id))


def changes(session: Session, caller: Caller, *, cursor: str | None, limit: int, retention_days: int) -> EventPage:
    """The caller's organisation's events after `cursor` (without one, from the oldest kept), in sequence order,
    audited as `event.list` naming every assessment and subject_ref on the page.

    Sequences are gapless and commit in order (the head row lock), so a page never hides an event that commits
    later with a smaller sequence. The head is read first: every sequence up to it has committed, so a cursor
    beyond it was never issued (422), and a cursor before the oldest event kept (or, none kept, before the head)
    would have returned purged events (410)."""
    organisation_id = caller.organisation_id
    after = _after(cursor, organisation_id)
    head = repository.head_sequence(session, organisation_id)
    if after is not None and after > head:
        raise _cursor_refused("ahead of your organisation's changes feed: not a cursor it returned")
    if after is not None:
        oldest = repository.oldest_sequence(session, organisation_id)
        first_kept = head + 1 if oldest is None else oldest
        if after < first_kept - 1:
            raise _expired(organisation_id, first_kept, retention_days)
    rows = repository.events_after(session, organisation_id, after or 0, limit + 1)
    items = rows[:limit]
    if items:
        next_cursor = feed_cursor(organisation_id, items[-1].sequence)
    else:
        # Nothing after the cursor: keep it; without one, every event up to the head (if any) was purged.
        next_cursor = cursor if cursor is not None else feed_cursor(organisation_id, head)
    page = EventPage(
        items=[EventRead.model_validate(envelope(event)) for event in items],
        next_cursor=next_cursor,
        has_more=len(rows) > limit,
    )
    named: dict[str, str | None] = {}
    for event in items:
        if event.assessment_id is not None:
            named.setdefault(event.assessment_id, event.subject_ref)
    audit.record(
        session,
        caller=caller,
        action="event.list",
        resource_type="event",
        details={"count": len(items), "after": after},
        response_digest=digest(page.model_dump(mode="json")),
        resources=[audit.Resource(assessment_id, subject_ref) for assessment_id, subject_ref in named.items()],
    )
    return page


def _expired(organisation_id: str, first_kept: int, retention_days: int) -> CursorExpired:
    return CursorExpired(
        f"Events after this cursor up to sequence {first_kept - 1} are no longer kept (retention: {retention_days} "
        f"days); poll from `oldest_cursor`, after reconciling through the API what may have changed meanwhile",
        oldest_cursor=feed_cursor(organisation_id, first_kept - 1),
    )
