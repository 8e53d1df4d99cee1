"""Reviews that fall due: assessment.review_due once per assessment per review date in force, whatever the number of
workers or restarts; latest revisions only, not entered in error; older assessments only under the cut-off."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.assessments.models import Assessment, AssessmentEnteredInError, AssessmentOverride
from app.core.config import Settings
from app.core.db import new_id, utcnow
from app.events.models import Event, EventLogStart
from app.worker import reviews
from app.worker.main import Worker
from app.worker.reviews import dedupe_key
from tests.worker.conftest import fast_settings


def add_assessment(
    sessions: sessionmaker[Session],
    organisation_id: str,
    *,
    review_by: datetime | None,
    created_at: datetime | None = None,
    supersedes: str | None = None,
    subject_ref: str = "case-review-1",
) -> str:
    assessment_id = new_id()
    with sessions.begin() as session:
        session.add(
            Assessment(
                id=assessment_id,
                organisation_id=organisation_id,
                subject_ref=subject_ref,
                questionnaire_key="online-exposure",
                questionnaire_version=2,
                questionnaire_hash="0" * 64,
                ruleset_key="online-harm-england",
                ruleset_version=2,
                ruleset_hash="0" * 64,
                engine_version="test",
                answers={},
                result={"level": "medium"},
                computed_level="medium",
                client_id=new_id(),
                acting_user="user-1",
                created_at=created_at or utcnow(),
                review_by=review_by,
                supersedes=supersedes,
            )
        )
    return assessment_id


def add_override(
    sessions: sessionmaker[Session], organisation_id: str, assessment_id: str, review_by: datetime
) -> None:
    with sessions.begin() as session:
        session.add(
            AssessmentOverride(
                organisation_id=organisation_id,
                assessment_id=assessment_id,
                level="immediate",
                previous_level="medium",
                rationale="seen again",
                client_id=new_id(),
                acting_user="supervisor-1",
                review_by=review_by,
            )
        )


def review_events(sessions: sessionmaker[Session]) -> list[Event]:
    with sessions() as session:
        return list(
            session.scalars(select(Event).where(Event.type == "assessment.review_due").order_by(Event.sequence))
        )


def test_a_review_due_is_raised_once_by_two_workers_and_a_restart(
    settings: Settings,
    sessions: sessionmaker[Session],
    organisation_id: str,
    make_worker: Callable[..., Worker],
) -> None:
    review_by = utcnow() - timedelta(hours=1)
    assessment_id = add_assessment(sessions, organisation_id, review_by=review_by, subject_ref="case-due-3")
    add_assessment(sessions, organisation_id, review_by=utcnow() + timedelta(days=3))  # not due yet
    add_assessment(sessions, organisation_id, review_by=None)  # no review

    workers = [make_worker(settings)] if settings.is_sqlite else [make_worker(settings), make_worker(settings)]
    barrier = threading.Barrier(len(workers))

    def one_round(worker: Worker) -> None:
        barrier.wait()
        worker.run_round()

    threads = [threading.Thread(target=one_round, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    make_worker(settings).run_round()  # a restart scans again

    [event] = review_events(sessions)
    assert event.assessment_id == assessment_id
    assert event.subject_ref == "case-due-3"
    assert event.dedupe_key == dedupe_key(assessment_id, review_by)
    assert event.payload == {
        "assessment_id": assessment_id,
        "computed_level": "medium",
        "level": "medium",
        "ruleset": {"key": "online-harm-england", "version": 2},
        "review_by": review_by.isoformat().replace("+00:00", "Z"),
        "links": {"assessment": f"{settings.base_url}/v1/assessments/{assessment_id}"},
    }


def test_latest_revisions_not_in_error_and_each_review_date_in_force(
    settings: Settings,
    sessions: sessionmaker[Session],
    organisation_id: str,
    make_worker: Callable[..., Worker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reviews, "SCAN_BATCH", 1)  # one assessment per page: the scan pages on
    past = utcnow() - timedelta(hours=5)
    amended = add_assessment(sessions, organisation_id, review_by=past)
    latest = add_assessment(sessions, organisation_id, review_by=past, supersedes=amended)
    in_error = add_assessment(sessions, organisation_id, review_by=past, subject_ref="case-error")
    with sessions.begin() as session:
        session.add(
            AssessmentEnteredInError(
                assessment_id=in_error,
                organisation_id=organisation_id,
                reason="wrong child",
                client_id=new_id(),
                acting_user="user-1",
            )
        )
    make_worker(settings).run_round()
    assert [e.assessment_id for e in review_events(sessions)] == [latest]

    # an override brings the review forward: a new review date in force, a new event (final level: the override's)
    earlier = past - timedelta(hours=1)
    add_override(sessions, organisation_id, latest, earlier)
    make_worker(settings).run_round()
    events = review_events(sessions)
    assert [(e.assessment_id, e.payload["review_by"]) for e in events] == [
        (latest, past.isoformat().replace("+00:00", "Z")),
        (latest, earlier.isoformat().replace("+00:00", "Z")),
    ]
    assert events[1].payload["level"] == "immediate"


def test_assessments_from_before_the_event_log_need_the_cut_off(
    database_url: str,
    sessions: sessionmaker[Session],
    organisation_id: str,
    make_worker: Callable[..., Worker],
) -> None:
    with sessions() as session:
        log_start = session.execute(select(EventLogStart.started_at)).scalar_one()
    review_by = utcnow() - timedelta(days=2)
    older = add_assessment(sessions, organisation_id, review_by=review_by, created_at=log_start - timedelta(days=40))

    make_worker(fast_settings(database_url)).run_round()
    assert review_events(sessions) == []
    make_worker(fast_settings(database_url, review_due_cutoff=review_by.date() + timedelta(days=1))).run_round()
    assert review_events(sessions) == []
    cutoff: date = review_by.date()
    make_worker(fast_settings(database_url, review_due_cutoff=cutoff)).run_round()
    assert [e.assessment_id for e in review_events(sessions)] == [older]
