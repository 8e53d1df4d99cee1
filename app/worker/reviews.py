"""Reviews that fall due: `assessment.review_due` once per assessment per review date in force, when it has passed.

Only the latest revision of a chain, not entered in error, is considered. The review date in force is the one every
response shows (app/assessments/repository.effective_review_by: the latest override's, else the assessment's own).
Each event carries `dedupe_key = review_due:{assessment id}:{review date}`; `emit` writes nothing when that key is
already committed, so two workers, or a restart, raise it once. An override that brings the review forward is a new
review date, hence a new event.

Dedupe keys live as long as their events (RISKAPI_EVENT_RETENTION_DAYS), so only review dates within that window
are looked at: an event raised for such a date is still kept, and a date older than the window was raised before it
left (or the worker was stopped for longer than the window; docs/worker.md). Assessments created before events were
kept (event_log_start) raise the event only when RISKAPI_REVIEW_DUE_CUTOFF is set and their review date in force is
on or after it."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import exists, select, tuple_, union
from sqlalchemy.orm import Session, aliased, sessionmaker

from app.assessments.models import Assessment, AssessmentEnteredInError, AssessmentOverride
from app.assessments.repository import effective_review_by, event_columns, final_level
from app.auth.models import Organisation
from app.core.config import Settings
from app.events.models import Event, EventLogStart
from app.events.service import EventType, emit_about_assessment

SCAN_BATCH = 200

_Next = aliased(Assessment)


def dedupe_key(assessment_id: str, review_by: datetime) -> str:
    return f"review_due:{assessment_id}:{review_by.isoformat()}"


def _due_batch(
    session: Session,
    organisation_id: str,
    since: datetime,
    now: datetime,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[tuple[Assessment, str, datetime]]:
    """The organisation's latest, not-in-error assessments whose review date in force is in [since, now), in
    (review date, id) order after `after`, with their final level. The review date in force is one of the stored
    ones (the assessment's or an override's), so the indexes on (organisation, review_by) find the candidates."""
    candidates = union(
        select(Assessment.id).where(
            Assessment.organisation_id == organisation_id, Assessment.review_by >= since, Assessment.review_by < now
        ),
        select(AssessmentOverride.assessment_id).where(
            AssessmentOverride.organisation_id == organisation_id,
            AssessmentOverride.review_by >= since,
            AssessmentOverride.review_by < now,
        ),
    )
    review_by = effective_review_by()
    query = (
        select(Assessment, final_level().label("level"), review_by.label("review_by"))
        .where(
            Assessment.organisation_id == organisation_id,
            Assessment.id.in_(candidates),
            review_by >= since,
            review_by < now,
            ~exists().where(_Next.organisation_id == Assessment.organisation_id, _Next.supersedes == Assessment.id),
            ~exists().where(
                AssessmentEnteredInError.organisation_id == Assessment.organisation_id,
                AssessmentEnteredInError.assessment_id == Assessment.id,
            ),
        )
        .order_by(review_by, Assessment.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(tuple_(review_by, Assessment.id) > tuple_(*after))
    return [(row.Assessment, row.level, row.review_by) for row in session.execute(query)]


def _already_raised(session: Session, organisation_id: str, keys: list[str]) -> set[str]:
    if not keys:
        return set()
    rows = session.scalars(
        select(Event.dedupe_key).where(Event.organisation_id == organisation_id, Event.dedupe_key.in_(keys))
    )
    return {key for key in rows if key is not None}


def _eligible(assessment: Assessment, review_by: datetime, log_started_at: datetime, settings: Settings) -> bool:
    if assessment.created_at >= log_started_at:
        return True
    cutoff = settings.review_due_cutoff
    return cutoff is not None and review_by.date() >= cutoff


def raise_due_reviews(session_factory: sessionmaker[Session], settings: Settings, now: datetime) -> int:
    """Emit the review_due events not raised yet; returns how many were written (each in its own transaction)."""
    since = now - timedelta(days=settings.event_retention_days)
    with session_factory() as session:
        log_started_at = session.execute(select(EventLogStart.started_at)).scalar_one()
        organisation_ids = list(session.scalars(select(Organisation.id).order_by(Organisation.id)))
    written = 0
    for organisation_id in organisation_ids:
        written += _raise_for(session_factory, settings, organisation_id, since, now, log_started_at)
    return written


def _raise_for(
    session_factory: sessionmaker[Session],
    settings: Settings,
    organisation_id: str,
    since: datetime,
    now: datetime,
    log_started_at: datetime,
) -> int:
    written = 0
    after: tuple[datetime, str] | None = None
    while True:
        with session_factory() as session:
            batch = _due_batch(session, organisation_id, since, now, after, SCAN_BATCH)
            keys = [dedupe_key(assessment.id, review_by) for assessment, _, review_by in batch]
            raised = _already_raised(session, organisation_id, keys)
        for (assessment, level, review_by), key in zip(batch, keys, strict=True):
            if key in raised or not _eligible(assessment, review_by, log_started_at, settings):
                continue
            with session_factory() as session, session.begin():
                event = emit_about_assessment(
                    session,
                    EventType.assessment_review_due,
                    event_columns(assessment),
                    level=level,
                    base_url=settings.base_url,
                    dedupe_key=key,
                    review_by=review_by.isoformat().replace("+00:00", "Z"),
                )
            written += event is not None
        if len(batch) < SCAN_BATCH:
            return written
        after = (batch[-1][2], batch[-1][0].id)
