"""Audit use cases: append an event to the caller's organisation chain, record refusals, list and verify."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import structlog
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.audit import repository
from app.audit.chain import body_hash, digest, event_body, genesis_hash, link_hash
from app.audit.models import AuditEvent
from app.auth.caller import Caller
from app.core.db import utcnow
from app.core.pagination import DEFAULT_PAGE_SIZE, Paged

log = structlog.get_logger("riskapi.audit")


@dataclass(frozen=True)
class Resource:
    """One resource a list returned: its id and the child it is about."""

    id: str
    subject_ref: str | None = None


def record(
    session: Session,
    *,
    caller: Caller,
    action: str,
    resource_type: str,
    resource_id: str | None = None,
    subject_ref: str | None = None,
    details: dict[str, Any] | None = None,
    digest_of: object | None = None,
    response_digest: str | None = None,
    status: int = 200,
    resources: Sequence[Resource] | None = None,
    record_digest: str | None = None,
) -> None:
    """Append one event to the caller's organisation chain inside the session's transaction (never commits).

    `details` is small metadata (never answers or free text); `digest_of` is what was returned or stored
    (bytes are hashed as they are, anything else as RFC 8785 JSON), or `response_digest` that digest already
    computed (a response's ETag: `chain.digest` of its model's JSON form); `resources` names every item of a list.
    `record_digest` is `chain.record_digest` of the case row the event creates, for `verify` to compare.
    """
    _append(
        session,
        organisation_id=caller.organisation_id,
        client_id=caller.client_id,
        acting_user=caller.acting_user,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        subject_ref=subject_ref,
        details=details,
        digest_value=response_digest if digest_of is None else digest(digest_of),
        status=status,
        resources=resources,
        record_digest=record_digest,
    )


def _append(
    session: Session,
    *,
    organisation_id: str,
    client_id: str | None,
    acting_user: str | None,
    action: str,
    resource_type: str,
    resource_id: str | None,
    subject_ref: str | None,
    details: dict[str, Any] | None,
    digest_value: str | None,
    status: int,
    resources: Sequence[Resource] | None,
    record_digest: str | None = None,
) -> None:
    # Everything is computed before the append: on PostgreSQL the head stays locked from the one append
    # statement to the COMMIT, so nothing else may run in between.
    listed = [{"id": r.id, "subject_ref": r.subject_ref} for r in resources] if resources is not None else None
    event, now = _event(
        organisation_id=organisation_id,
        client_id=client_id,
        acting_user=acting_user,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        subject_ref=subject_ref,
        details=details,
        digest_value=digest_value,
        status=status,
        listed=listed,
        record_digest=record_digest,
    )
    refs = [
        {"organisation_id": organisation_id, "position": i, "resource_id": r["id"], "subject_ref": r["subject_ref"]}
        for i, r in enumerate(listed or ())
    ]
    repository.append(session, event, body_hash(event), refs, now)


def _event(
    *,
    organisation_id: str,
    client_id: str | None,
    acting_user: str | None,
    action: str,
    resource_type: str,
    resource_id: str | None,
    subject_ref: str | None,
    details: dict[str, Any] | None,
    digest_value: str | None,
    status: int,
    listed: list[dict[str, str | None]] | None,
    record_digest: str | None = None,
) -> tuple[dict[str, Any], datetime]:
    now = utcnow()
    event: dict[str, Any] = {
        "organisation_id": organisation_id,
        "occurred_at": now,
        "client_id": client_id,
        "acting_user": acting_user,
        "action": action,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "subject_ref": subject_ref,
        "status": status,
        "details": details,
        "resources": listed,
        "digest": digest_value,
        "record_digest": record_digest,
    }
    return event, now


def record_key_operation(
    session: Session,
    *,
    organisation_id: str,
    action: str,
    client_id: str,
    details: dict[str, Any] | None,
    actor_client_id: str | None,
    acting_user: str | None,
) -> None:
    """An admin key operation (create, rotate, revoke), chained in the same transaction as the change; the actor
    is the admin's client and acting user (the resource is the client whose keys changed)."""
    _append(
        session,
        organisation_id=organisation_id,
        client_id=actor_client_id,
        acting_user=acting_user,
        action=action,
        resource_type="client",
        resource_id=client_id,
        subject_ref=None,
        details=details,
        digest_value=None,
        status=200,
        resources=None,
    )


def record_system(
    session: Session,
    *,
    organisation_id: str,
    acting_user: str,
    action: str,
    resource_type: str,
    resource_id: str | None = None,
    subject_ref: str | None = None,
    details: dict[str, Any] | None = None,
    resources: Sequence[Resource] | None = None,
) -> None:
    """An event a background process (the webhook worker) records in an organisation's chain, in the session's
    transaction: no client, `acting_user` names the process; `resources` names every case resource concerned."""
    _append(
        session,
        organisation_id=organisation_id,
        client_id=None,
        acting_user=acting_user,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        subject_ref=subject_ref,
        details=details,
        digest_value=None,
        status=200,
        resources=resources,
    )


def record_refusal(
    engine_or_sessionmaker: Engine | sessionmaker[Session],
    *,
    organisation_id: str,
    client_id: str | None,
    acting_user: str | None,
    action: str,
    resource_type: str,
    resource_id: str | None,
    status: int,
    subject_ref: str | None = None,
) -> None:
    """Audit a refused case-data request in its own short transaction (the request's one rolled back)."""
    factory = (
        engine_or_sessionmaker
        if isinstance(engine_or_sessionmaker, sessionmaker)
        else sessionmaker(bind=engine_or_sessionmaker, expire_on_commit=False, autoflush=False)
    )
    with factory() as session, session.begin():
        _append(
            session,
            organisation_id=organisation_id,
            client_id=client_id,
            acting_user=acting_user,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            subject_ref=subject_ref,
            details=None,
            digest_value=None,
            status=status,
            resources=None,
        )


@dataclass(frozen=True)
class RecordedEvent:
    """An event that created a case record, as `verify` hands it to the feature that owns the record."""

    sequence: int
    action: str
    resource_id: str | None
    record_digest: str | None


@dataclass(frozen=True)
class RecordProblem:
    record: str  # what broke, e.g. "assessment 1f2e…" or "override 7 of assessment 1f2e…"
    problem: str
    sequence: int | None = None  # the event concerned, when there is one


@dataclass
class RecordReport:
    checked: int = 0  # rows compared with the record digest of their event
    legacy: int = 0  # rows written before record digests: checked for existence and links only
    problems: list[RecordProblem] = field(default_factory=list)


class CaseRecords(Protocol):
    """A feature's case records, checked against the events that created them (composed in app/main.py)."""

    @property
    def actions(self) -> frozenset[str]:
        """The actions of the events that create these records."""

    def check(self, session: Session, organisation_id: str, events: Sequence[RecordedEvent]) -> RecordReport:
        """Every row has its event and every event its row; rows match their record digests."""


@dataclass(frozen=True)
class LogProblem:
    where: str  # what does not hold, e.g. "leaf of sequence 7", "checkpoint at tree size 40" or "tree"
    problem: str
    sequence: int | None = None  # the event concerned, when there is one


# Problems kept in full per organisation (a log rewritten from its start would otherwise list every leaf).
MAX_KEPT_LOG_PROBLEMS = 1000


@dataclass
class LogReport:
    tree_size: int | None = None  # the size the organisation's tree records; None when it has no tree
    checkpoints_checked: int = 0
    problems: list[LogProblem] = field(default_factory=list)
    problems_total: int = 0

    def add(self, problem: LogProblem) -> None:
        self.problems_total += 1
        if len(self.problems) < MAX_KEPT_LOG_PROBLEMS:
            self.problems.append(problem)


class LogWalk(Protocol):
    """One organisation's walk of a structure derived from its events (the verifiable log's tree and checkpoints)."""

    def event(self, sequence: int, prev_hash: str, hash: str, body: dict[str, Any]) -> None:
        """One event as stored, in sequence order (every one, also past a break in the chain); `body` is its
        hashed content (`chain.event_body`)."""

    def finish(self) -> LogReport:
        """The checks that need every event seen, and the report."""


class LogCheck(Protocol):
    """Checks of what is derived from the chain, fed during `verify`'s one walk (composed in app/main.py)."""

    def begin(self, session: Session, organisation_id: str) -> LogWalk:
        """Start the organisation's walk (before its first event is read)."""


@dataclass(frozen=True)
class Verification:
    organisation_id: str
    ok: bool
    events: int
    head_sequence: int
    first_broken_sequence: int | None
    problem: str | None
    records_checked: int = 0
    records_legacy: int = 0
    record_problems: tuple[RecordProblem, ...] = ()
    tree_size: int | None = None
    checkpoints_checked: int = 0
    log_problems: tuple[LogProblem, ...] = ()
    log_problems_total: int = 0


@dataclass(frozen=True)
class _Chain:
    events: int
    head_sequence: int
    first_broken_sequence: int | None = None
    problem: str | None = None


def _walk_chain(
    session: Session,
    organisation_id: str,
    actions: frozenset[str],
    recorded: list[RecordedEvent],
    report: RecordReport,
    walk: LogWalk | None,
) -> _Chain:
    """Sequence numbers, links and hashes from genesis, then the head row; collects the events of `actions`
    (all of them, also past a break, so that the case records are checked against every event there is) and feeds
    every event to `walk`."""
    expected_prev = genesis_hash(organisation_id)
    expected_sequence = 1
    count = 0
    broken: tuple[int, str] | None = None
    digested = False
    for event in repository.iter_events(session, organisation_id):
        if event.action in actions:
            recorded.append(RecordedEvent(event.sequence, event.action, event.resource_id, event.record_digest))
            if event.record_digest is not None:
                digested = True
            elif digested:
                report.problems.append(
                    RecordProblem(
                        f"event {event.sequence}",
                        f"an {event.action} event without a record digest after events that have one",
                        event.sequence,
                    )
                )
        if broken is not None and walk is None:
            continue
        body = event_body(_as_dict(event))  # once, for both the chain's hash and the log's leaf
        if walk is not None:
            walk.event(event.sequence, event.prev_hash, event.hash, body)
        if broken is not None:
            continue
        if event.sequence != expected_sequence:
            broken = (expected_sequence, f"expected sequence {expected_sequence}, found {event.sequence}")
        elif event.prev_hash != expected_prev:
            broken = (event.sequence, "prev_hash does not match the previous event's hash")
        elif link_hash(event.prev_hash, event.sequence, body_hash(body)) != event.hash:
            broken = (event.sequence, "the event's content does not match its hash")
        else:
            expected_prev = event.hash
            expected_sequence += 1
            count += 1
    head = repository.head(session, organisation_id)
    if broken is not None:
        return _Chain(count, head[0] if head else 0, *broken)
    head_sequence, head_hash = head if head is not None else (0, genesis_hash(organisation_id))
    if head_sequence != count:
        first = count + 1 if head_sequence > count else head_sequence + 1
        return _Chain(
            count, head_sequence, first, f"the chain head is at sequence {head_sequence} but the chain ends at {count}"
        )
    if head_hash != expected_prev:
        return _Chain(count, head_sequence, head_sequence, "the chain head's hash does not match")
    return _Chain(count, head_sequence)


def verify(
    session: Session,
    organisation_id: str,
    case_records: Sequence[CaseRecords] = (),
    log_check: LogCheck | None = None,
) -> Verification:
    """Walk the chain from genesis (sequence numbers, links, hashes, the head row), feeding each event to the
    log check (the verifiable log's tree and checkpoints), then check each feature's case records against the
    events that created them."""
    report = RecordReport()
    recorded: list[RecordedEvent] = []
    actions = frozenset().union(*(records.actions for records in case_records))
    walk = log_check.begin(session, organisation_id) if log_check is not None else None
    chain = _walk_chain(session, organisation_id, actions, recorded, report, walk)
    log_report = walk.finish() if walk is not None else LogReport()
    for records in case_records:
        mine = [event for event in recorded if event.action in records.actions]
        found = records.check(session, organisation_id, mine)
        report.checked += found.checked
        report.legacy += found.legacy
        report.problems += found.problems
    problem = chain.problem
    if problem is None and report.problems:
        first = report.problems[0]
        problem = f"{len(report.problems)} case record problem(s); the first: {first.record}: {first.problem}"
    if problem is None and log_report.problems:
        first_log = log_report.problems[0]
        problem = (
            f"{log_report.problems_total} verifiable log problem(s); the first: {first_log.where}: {first_log.problem}"
        )
    return Verification(
        organisation_id,
        problem is None,
        chain.events,
        chain.head_sequence,
        chain.first_broken_sequence,
        problem,
        report.checked,
        report.legacy,
        tuple(report.problems),
        log_report.tree_size,
        log_report.checkpoints_checked,
        tuple(log_report.problems),
        log_report.problems_total,
    )


def _as_dict(event: AuditEvent) -> dict[str, Any]:
    return {
        "organisation_id": event.organisation_id,
        "sequence": event.sequence,
        "occurred_at": event.occurred_at,
        "client_id": event.client_id,
        "acting_user": event.acting_user,
        "action": event.action,
        "resource_type": event.resource_type,
        "resource_id": event.resource_id,
        "subject_ref": event.subject_ref,
        "status": event.status,
        "details": event.details,
        "resources": event.resources,
        "digest": event.digest,
        "record_digest": event.record_digest,
        "prev_hash": event.prev_hash,
    }


@dataclass(frozen=True)
class ChainedEvent:
    """An event as the verifiable log takes it: its chain position and its hashed content (`chain.event_body`)."""

    sequence: int
    prev_hash: str
    hash: str
    body: dict[str, Any]


def chained_events(session: Session, organisation_id: str, after_sequence: int, limit: int) -> list[ChainedEvent]:
    """Up to `limit` of the organisation's events after `after_sequence`, in sequence order, as stored (unchecked)."""
    return [
        ChainedEvent(event.sequence, event.prev_hash, event.hash, event_body(_as_dict(event)))
        for event in repository.events_after(session, organisation_id, after_sequence, limit)
    ]


def chained_events_about(
    session: Session, organisation_id: str, resource_id: str, actions: Sequence[str]
) -> list[ChainedEvent]:
    """The organisation's events of these actions about one resource, in sequence order, as stored (unchecked)."""
    return [
        ChainedEvent(event.sequence, event.prev_hash, event.hash, event_body(_as_dict(event)))
        for event in repository.events_about(session, organisation_id, resource_id, actions)
    ]


def search(
    session: Session,
    caller: Caller,
    *,
    subject_ref: str | None = None,
    resource_id: str | None = None,
    resource_type: str | None = None,
    acting_user: str | None = None,
    client_id: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
) -> Paged[AuditEvent]:
    """A page of the caller's organisation's events in chain order (itself audited)."""
    filters = {
        "subject_ref": subject_ref,
        "resource_id": resource_id,
        "resource_type": resource_type,
        "acting_user": acting_user,
        "client_id": client_id,
        "action": action,
        "since": since,
        "until": until,
    }
    rows = repository.search(
        session,
        caller.organisation_id,
        subject_ref=subject_ref,
        resource_id=resource_id,
        resource_type=resource_type,
        acting_user=acting_user,
        client_id=client_id,
        action=action,
        since=since,
        until=until,
        after=repository.LISTED.decode(cursor, filters),
        limit=limit,
    )
    page = repository.LISTED.page(rows, limit, filters)
    record(
        session,
        caller=caller,
        action="audit.list",
        resource_type="audit",
        subject_ref=subject_ref,
        resource_id=resource_id,
        details={"count": len(page.items), "filters": sorted(k for k, v in filters.items() if v is not None)},
        digest_of=[e.hash for e in page.items],
    )
    return page


def verify_for(
    session: Session, caller: Caller, case_records: Sequence[CaseRecords], log_check: LogCheck | None = None
) -> Verification:
    """Verify the caller's organisation chain, case records and verifiable log, and record that it was verified."""
    result = verify(session, caller.organisation_id, case_records, log_check)
    record(
        session,
        caller=caller,
        action="audit.verify",
        resource_type="audit",
        details={
            "ok": result.ok,
            "events": result.events,
            "first_broken_sequence": result.first_broken_sequence,
            "record_problems": len(result.record_problems),
            "log_problems": result.log_problems_total,
        },
    )
    return result
