"""Assessment use cases. Each runs inside the request's transaction (flush only, never commit) and writes its
audit event in that same transaction, so an assessment and the record of its creation commit together."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, TypedDict

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session, sessionmaker

from app.assessments import repository
from app.assessments.models import Assessment, AssessmentEnteredInError, AssessmentOverride
from app.assessments.schemas import AssessmentCreate, EnteredInErrorCreate, OverrideCreate, RevisionCreate
from app.audit import service as audit
from app.audit.chain import canonical_bytes
from app.auth.caller import Caller
from app.core import sqlite_direct
from app.core.config import get_settings
from app.core.db import new_id, utcnow
from app.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from app.core.metrics import ASSESSMENTS_CREATED
from app.core.pagination import Position
from app.core.seams import StateReadSeam
from app.rulesets.service import ResolvedRuleSet, cached_resolution, get_ruleset_for_replay, resolve_ruleset
from app.scoring import ENGINE_VERSION, AnswerError, Issue

RESOURCE = "assessment"
EXPLAIN_OPTIONS = frozenset({"trace", "counterfactuals"})
STORED_EXPLAIN = frozenset({"trace"})  # the explanation kept with every assessment
PURGE_PROBABILITY = 0.001


class IdempotencyKeyReused(ValidationFailed):
    """The same Idempotency-Key with another body: never stored as the key's response."""


class IdempotencyInFlight(Conflict):
    def __init__(self) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still being processed; retry shortly",
            headers={"Retry-After": "1"},
        )


@dataclass(frozen=True)
class Idempotency:
    client_id: str
    organisation_id: str
    key: str
    fingerprint: str


@dataclass(frozen=True)
class Rendered:
    """A response body rendered once (canonical JSON), with what the HTTP layer needs around it."""

    status: int
    body: bytes
    location: str | None = None
    replayed: bool = False
    etag: str | None = None


# --- helpers ----------------------------------------------------------------------------------------------


def parse_explain(value: str | None) -> frozenset[str]:
    if not value:
        return frozenset()
    options = frozenset(part.strip() for part in value.split(",") if part.strip())
    unknown = options - EXPLAIN_OPTIONS
    if unknown:
        detail = f"unknown explain option(s): {', '.join(sorted(unknown))}; use trace, counterfactuals"
        raise ValidationFailed(detail, errors=[FieldError(pointer="/explain", detail=detail, location="query")])
    return options


def fingerprint(body: AssessmentCreate) -> str:
    return hashlib.sha256(canonical_bytes(body.model_dump(mode="json"))).hexdigest()


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _answer_problem(issues: Sequence[Issue], detail: str | None = None) -> ValidationFailed:
    errors = [FieldError(pointer="/answers" + issue.pointer, detail=issue.message) for issue in issues]
    return ValidationFailed(
        detail or f"{len(errors)} answer{'s are' if len(errors) != 1 else ' is'} invalid", errors=errors
    )


def _evaluate(resolved: ResolvedRuleSet, answers: dict[str, Any], explain: Collection[str]) -> dict[str, Any]:
    try:
        return resolved.compiled.evaluate(answers, explain=explain)
    except AnswerError as exc:
        raise _answer_problem(exc.issues) from exc


def _override_view(o: AssessmentOverride) -> dict[str, Any]:
    return {
        "level": o.level,
        "previous_level": o.previous_level,
        "rationale": o.rationale,
        "acting_user": o.acting_user,
        "client": o.client_id,
        "created_at": _iso(o.created_at),
    }


def _error_view(e: AssessmentEnteredInError | None) -> dict[str, Any] | None:
    if e is None:
        return None
    return {"reason": e.reason, "acting_user": e.acting_user, "client": e.client_id, "created_at": _iso(e.created_at)}


def _view(
    fields: dict[str, Any],
    *,
    superseded_by: str | None,
    overrides: Sequence[AssessmentOverride],
    entered_in_error: AssessmentEnteredInError | None,
    explain: Collection[str],
    counterfactuals: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The assessment as the API shows it: the stored result plus the assessment's own fields."""
    view = {k: v for k, v in fields["result"].items() if k not in ("trace", "counterfactuals")}
    view["level"] = overrides[-1].level if overrides else fields["computed_level"]
    if "trace" in explain:
        view["trace"] = fields["result"].get("trace", [])
    if "counterfactuals" in explain:
        view["counterfactuals"] = (
            counterfactuals if counterfactuals is not None else fields["result"].get("counterfactuals", [])
        )
    view["id"] = fields["id"]
    view["subject_ref"] = fields["subject_ref"]
    view["created_at"] = _iso(fields["created_at"])
    view["review_by"] = _iso(fields["review_by"])
    view["acting_user"] = fields["acting_user"]
    view["client"] = fields["client_id"]
    view["supersedes"] = fields["supersedes"]
    view["superseded_by"] = superseded_by
    view["overrides"] = [_override_view(o) for o in overrides]
    view["entered_in_error"] = _error_view(entered_in_error)
    return view


def _fields(a: Assessment) -> dict[str, Any]:
    return {
        "id": a.id,
        "subject_ref": a.subject_ref,
        "result": a.result,
        "computed_level": a.computed_level,
        "created_at": a.created_at,
        "review_by": a.review_by,
        "acting_user": a.acting_user,
        "client_id": a.client_id,
        "supersedes": a.supersedes,
    }


@dataclass
class _Loaded:
    row: Assessment
    superseded_by: str | None
    overrides: list[AssessmentOverride]
    entered_in_error: AssessmentEnteredInError | None

    @property
    def level(self) -> str:
        return self.overrides[-1].level if self.overrides else self.row.computed_level


def _load(session: Session, caller: Caller, assessment_id: str) -> _Loaded:
    found = repository.get(session, caller.organisation_id, assessment_id)
    if found is None:
        raise NotFound(f"No assessment {assessment_id}")
    row, superseded_by = found
    overrides = repository.overrides(session, caller.organisation_id, [row.id])
    errors = repository.entered_in_error(session, caller.organisation_id, [row.id])
    return _Loaded(row, superseded_by, overrides, errors[0] if errors else None)


def _load_for_change(
    session: Session, caller: Caller, assessment_id: str, operation: str, state_read_seam: StateReadSeam | None
) -> _Loaded:
    """The assessment's state, read to decide a state change (amend, override, entered in error), under the row
    lock that serialises the state changes of one assessment. The lock is a statement of its own: under READ
    COMMITTED every later statement sees what the previous holder committed, which a subquery of the locking
    statement (its snapshot taken before the wait) would not."""
    if state_read_seam is not None:
        state_read_seam(operation, assessment_id)
    repository.lock_for_state_change(session, caller.organisation_id, assessment_id)
    return _load(session, caller, assessment_id)


def _counterfactuals(session: Session, caller: Caller, row: Assessment) -> list[dict[str, Any]]:
    stored = row.result.get("counterfactuals")
    if stored is not None:
        return list(stored)
    resolved = get_ruleset_for_replay(session, caller.organisation_id, row.ruleset_key, row.ruleset_version)
    result = _evaluate(resolved, row.answers, frozenset({"counterfactuals"}))
    return list(result["counterfactuals"])


def _render_loaded(session: Session, caller: Caller, loaded: _Loaded, explain: Collection[str]) -> dict[str, Any]:
    cf = _counterfactuals(session, caller, loaded.row) if "counterfactuals" in explain else None
    return _view(
        _fields(loaded.row),
        superseded_by=loaded.superseded_by,
        overrides=loaded.overrides,
        entered_in_error=loaded.entered_in_error,
        explain=explain,
        counterfactuals=cf,
    )


def _rendered(status: int, view: object, location: str | None = None, *, floats: bool = True) -> Rendered:
    """`floats=False` promises a view without floats: a new assessment's (validated answers hold none, and no
    item type or rule-set value is a float), which then takes the faster canonical writer."""
    body = canonical_bytes(view, floats=floats)
    return Rendered(status, body, location, etag='"' + hashlib.sha256(body).hexdigest() + '"')


# --- create and amend -------------------------------------------------------------------------------------


def _idempotent_replay(session: Session, caller: Caller, idempotency: Idempotency) -> Rendered | None:
    proceed, record = repository.lock_and_read_idempotency_key(session, idempotency.client_id, idempotency.key)
    if not proceed:
        raise IdempotencyInFlight()
    if record is None:
        return None
    if record.expires_at <= utcnow():
        repository.delete_idempotency_record(session, idempotency.client_id, idempotency.key)
        return None
    if record.fingerprint != idempotency.fingerprint:
        detail = "This Idempotency-Key was first used with a different request body; use a new key"
        raise IdempotencyKeyReused(detail, errors=[FieldError(pointer="", detail=detail)])
    body = record.body.encode()
    if record.status_code < 300 and record.location:
        audit.record(
            session,
            caller=caller,
            action="assessment.create.replayed",
            resource_type=RESOURCE,
            resource_id=record.location.rsplit("/", 1)[-1],
            digest_of=body,
            status=record.status_code,
        )
    return Rendered(record.status_code, body, record.location, replayed=True)


def _idempotency_values(idempotency: Idempotency, status: int, body: bytes, location: str | None) -> dict[str, Any]:
    now = utcnow()
    return {
        "client_id": idempotency.client_id,
        "key": idempotency.key,
        "organisation_id": idempotency.organisation_id,
        "fingerprint": idempotency.fingerprint,
        "status_code": status,
        "body": body.decode(),
        "location": location,
        "created_at": now,
        "expires_at": now + timedelta(hours=get_settings().idempotency_retention_hours),
    }


def store_idempotent_error(factory: sessionmaker[Session], idempotency: Idempotency, status: int, body: bytes) -> None:
    """After the request's transaction rolled back: keep its client-error response for retries of the key."""
    with factory() as session, session.begin():
        if repository.idempotency_record(session, idempotency.client_id, idempotency.key) is None:
            repository.insert_idempotency_record(session, _idempotency_values(idempotency, status, body, None))


def _store_new(
    caller: Caller,
    resolved: ResolvedRuleSet,
    *,
    subject_ref: str,
    answers: dict[str, Any],
    explain: Collection[str],
    supersedes: str | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    result = _evaluate(resolved, answers, STORED_EXPLAIN | set(explain))
    now = utcnow()
    days = result["review_within_days"]
    row = {
        "id": new_id(),
        "organisation_id": caller.organisation_id,
        "subject_ref": subject_ref,
        "questionnaire_key": resolved.questionnaire_key,
        "questionnaire_version": resolved.questionnaire_version,
        "questionnaire_hash": resolved.questionnaire_hash,
        "ruleset_key": resolved.ruleset_key,
        "ruleset_version": resolved.ruleset_version,
        "ruleset_hash": resolved.ruleset_hash,
        "engine_version": ENGINE_VERSION,
        "answers": answers,
        "result": result,
        "computed_level": result["computed_level"],
        "client_id": caller.client_id,
        "acting_user": caller.acting_user or "",
        "created_at": now,
        "review_by": now + timedelta(days=days) if days is not None else None,
        "supersedes": supersedes,
    }
    view = _view(row, superseded_by=None, overrides=(), entered_in_error=None, explain=explain)
    return row, view


class _Choice(TypedDict):
    questionnaire_key: str
    questionnaire_version: int | None
    ruleset_key: str | None
    ruleset_version: int | None


def create_assessment(
    session: Session,
    caller: Caller,
    body: AssessmentCreate,
    *,
    explain: Collection[str] = frozenset(),
    idempotency: Idempotency | None = None,
) -> Rendered:
    """The transactional create (the route first tries the common case in one statement or transaction:
    `create_directly_on_postgres`, `create_directly_on_sqlite`). Statements in order: idempotency (lock and)
    read, rule-set resolution unless cached, one append, and the caller's COMMIT. With the resolution cached, the
    scoring and rendering run before the first statement, so the transaction (SQLite's write lock, PostgreSQL's
    advisory lock) spans only I/O. A refusal found by the scoring is raised only after the Idempotency-Key check,
    in the same order as with nothing cached."""
    choice = _choice(body)
    resolved = cached_resolution(caller.organisation_id, **choice)
    prepared: tuple[dict[str, Any], Rendered] | None = None
    refusal: ValidationFailed | None = None
    if resolved is not None:
        try:
            prepared = _prepare_new(caller, resolved, body, explain)
        except ValidationFailed as exc:
            refusal = exc
    if idempotency is not None:
        replay = _idempotent_replay(session, caller, idempotency)
        if replay is not None:
            return replay
    if refusal is not None:
        raise refusal
    if resolved is None or prepared is None:
        resolved = resolve_ruleset(session, caller.organisation_id, **choice)
        prepared = _prepare_new(caller, resolved, body, explain)
    row, rendered = prepared
    if idempotency is not None and random.random() < PURGE_PROBABILITY:  # noqa: S311 - spreading housekeeping
        repository.purge_idempotency_records(session, utcnow())
    try:
        audit.record_write(session, _create_event(caller, resolved, row, rendered, idempotency))
    except IntegrityError as exc:  # the same key committed between our read and our write
        raise IdempotencyInFlight() from exc
    ASSESSMENTS_CREATED.labels(row["computed_level"]).inc()
    return rendered


def _choice(body: AssessmentCreate) -> _Choice:
    return _Choice(
        questionnaire_key=body.questionnaire.key,
        questionnaire_version=body.questionnaire.version,
        ruleset_key=body.ruleset.key if body.ruleset else None,
        ruleset_version=body.ruleset.version if body.ruleset else None,
    )


async def create_directly_on_postgres(
    engine: AsyncEngine,
    caller: Caller,
    body: AssessmentCreate,
    explain: Collection[str],
    idempotency: Idempotency | None,
) -> Rendered | None:
    """PostgreSQL, the common case in ONE round trip and no BEGIN/COMMIT (ADR 0001): the Idempotency-Key's lock
    and record check, the assessment, the idempotency record, the audit event and the chain-head move are one
    statement (`repository.IDEMPOTENCY_GATE`), atomic on its own, run in autocommit on the pool's psycopg
    connection (app/core/postgres_direct.py), so it is committed when it returns. None, having written nothing,
    when the transactional path must decide: a response stored under the key (replay, reuse, expiry), the
    organisation's first event (no chain head yet), answers to refuse, a rule-set resolution not cached, or the
    housekeeping purge that is due."""
    prepared = _prepare_common_case(caller, _choice(body), body, explain, idempotency)
    if prepared is None:
        return None
    rendered, event = prepared
    gate, gate_params = repository.NO_GATE, {}
    if idempotency is not None:
        gate = repository.IDEMPOTENCY_GATE
        gate_params = repository.idempotency_gate_params(idempotency.client_id, idempotency.key)
    try:
        outcome = await audit.record_gated(engine, event, gate, gate_params)
    except IntegrityError as exc:  # the same key committed between the statement's snapshot and its lock
        raise IdempotencyInFlight() from exc
    if outcome["sequence"] is not None:
        ASSESSMENTS_CREATED.labels(event.details["level"]).inc()
        return rendered
    if not outcome["locked"]:
        raise IdempotencyInFlight()
    return None


def create_directly_on_sqlite(
    engine: Engine,
    lock_timeout: float,
    caller: Caller,
    body: AssessmentCreate,
    explain: Collection[str],
    idempotency: Idempotency | None,
) -> Rendered | None:
    """SQLite, the common case of `create_assessment` on the DBAPI cursor (app/core/sqlite_direct.py): the same
    rows in the same order in one BEGIN IMMEDIATE transaction (waiting up to `lock_timeout` seconds for the write
    lock), after the scoring and rendering. None, having written nothing, in the same cases as
    `create_directly_on_postgres` (then `create_assessment` decides)."""
    prepared = _prepare_common_case(caller, _choice(body), body, explain, idempotency)
    if prepared is None:
        return None
    rendered, event = prepared
    with sqlite_direct.immediate(engine, lock_timeout) as transaction:
        if idempotency is not None and repository.idempotency_key_used_direct(
            transaction, idempotency.client_id, idempotency.key
        ):
            return None
        try:
            sequence = audit.record_direct(transaction, event)
        except IntegrityError as exc:  # as in `create_assessment`; BEGIN IMMEDIATE leaves no race to lose here
            raise IdempotencyInFlight() from exc
        if sequence is None:
            return None
        transaction.commit()
    ASSESSMENTS_CREATED.labels(event.details["level"]).inc()
    return rendered


def _prepare_common_case(
    caller: Caller,
    choice: _Choice,
    body: AssessmentCreate,
    explain: Collection[str],
    idempotency: Idempotency | None,
) -> tuple[Rendered, audit.WriteEvent] | None:
    """The scoring, rendering and event of a create's common case, before any statement; None when the
    transactional path must decide (a resolution not cached, the purge that is due, answers to refuse)."""
    resolved = cached_resolution(caller.organisation_id, **choice)
    if resolved is None or (idempotency is not None and random.random() < PURGE_PROBABILITY):  # noqa: S311
        return None
    try:
        row, rendered = _prepare_new(caller, resolved, body, explain)
    except ValidationFailed:
        return None
    return rendered, _create_event(caller, resolved, row, rendered, idempotency)


def _create_event(
    caller: Caller,
    resolved: ResolvedRuleSet,
    row: dict[str, Any],
    rendered: Rendered,
    idempotency: Idempotency | None,
) -> audit.WriteEvent:
    """The audit event of a create, with the rows written in its statement (the assessment, the key's record)."""
    inserts = [repository.new_assessment(row)]
    if idempotency is not None:
        inserts.append(
            repository.new_idempotency_record(_idempotency_values(idempotency, 201, rendered.body, rendered.location))
        )
    return audit.WriteEvent(
        caller=caller,
        action="assessment.create",
        resource_type=RESOURCE,
        resource_id=row["id"],
        subject_ref=row["subject_ref"],
        details={"level": row["computed_level"], "ruleset": f"{resolved.ruleset_key}@{resolved.ruleset_version}"},
        digest_of=rendered.body,
        status=201,
        with_rows=inserts,
        record_digest=repository.assessment_digest(row),
    )


def _prepare_new(
    caller: Caller, resolved: ResolvedRuleSet, body: AssessmentCreate, explain: Collection[str]
) -> tuple[dict[str, Any], Rendered]:
    """Score and render a new assessment: CPU only, no statement."""
    row, view = _store_new(
        caller, resolved, subject_ref=body.subject_ref, answers=body.answers, explain=explain, supersedes=None
    )
    return row, _rendered(201, view, f"/v1/assessments/{row['id']}", floats=False)


def amend_assessment(
    session: Session,
    caller: Caller,
    assessment_id: str,
    body: RevisionCreate,
    *,
    explain: Collection[str] = frozenset(),
    state_read_seam: StateReadSeam | None,
) -> Rendered:
    loaded = _load_for_change(session, caller, assessment_id, "assessment.amend", state_read_seam)
    original = loaded.row
    if loaded.superseded_by is not None:
        raise Conflict(f"Only the latest revision can be amended: amend {loaded.superseded_by}")
    if loaded.entered_in_error is not None:
        raise Conflict("This assessment was entered in error and cannot be amended")
    if body.questionnaire is not None and body.questionnaire.key != original.questionnaire_key:
        detail = f"a revision keeps the questionnaire '{original.questionnaire_key}'"
        raise ValidationFailed(detail, errors=[FieldError(pointer="/questionnaire/key", detail=detail)])
    ruleset_version: int | None
    questionnaire_version: int | None
    if body.ruleset is None and body.questionnaire is None:
        ruleset_key, ruleset_version, questionnaire_version = (
            original.ruleset_key,
            original.ruleset_version,
            original.questionnaire_version,
        )
    else:
        ruleset_key = body.ruleset.key if body.ruleset else original.ruleset_key
        ruleset_version = body.ruleset.version if body.ruleset else None
        questionnaire_version = body.questionnaire.version if body.questionnaire else None
    resolved = resolve_ruleset(
        session,
        caller.organisation_id,
        questionnaire_key=original.questionnaire_key,
        questionnaire_version=questionnaire_version,
        ruleset_key=ruleset_key,
        ruleset_version=ruleset_version,
    )
    row, view = _store_new(
        caller,
        resolved,
        subject_ref=original.subject_ref,
        answers=body.answers,
        explain=explain,
        supersedes=original.id,
    )
    rendered = _rendered(201, view, f"/v1/assessments/{row['id']}", floats=False)
    try:
        audit.record(
            session,
            caller=caller,
            action="assessment.amend",
            resource_type=RESOURCE,
            resource_id=row["id"],
            subject_ref=row["subject_ref"],
            details={"supersedes": original.id, "level": row["computed_level"]},
            digest_of=rendered.body,
            status=201,
            with_rows=[repository.new_assessment(row)],
            record_digest=repository.assessment_digest(row),
        )
    except IntegrityError as exc:  # the unique `supersedes`: a concurrent amendment won
        raise Conflict("This assessment has already been amended: amend its latest revision") from exc
    ASSESSMENTS_CREATED.labels(row["computed_level"]).inc()
    return rendered


# --- reads ------------------------------------------------------------------------------------------------


def get_assessment(
    session: Session, caller: Caller, assessment_id: str, *, explain: Collection[str] = frozenset()
) -> Rendered:
    loaded = _load(session, caller, assessment_id)
    rendered = _rendered(200, _render_loaded(session, caller, loaded, explain))
    audit.record(
        session,
        caller=caller,
        action="assessment.read",
        resource_type=RESOURCE,
        resource_id=loaded.row.id,
        subject_ref=loaded.row.subject_ref,
        digest_of=rendered.body,
    )
    return rendered


@dataclass(frozen=True)
class ListFilters:
    subject_ref: str | None = None
    level: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    ruleset_key: str | None = None
    ruleset_version: int | None = None
    include_superseded: bool = False
    include_entered_in_error: bool = False


def list_assessments(
    session: Session,
    caller: Caller,
    filters: ListFilters,
    *,
    cursor: str | None,
    limit: int,
    explain: Collection[str] = frozenset(),
) -> Rendered:
    scope = asdict(filters)
    rows = repository.page(
        session,
        caller.organisation_id,
        subject_ref=filters.subject_ref,
        level=filters.level,
        created_from=filters.created_from,
        created_to=filters.created_to,
        ruleset_key=filters.ruleset_key,
        ruleset_version=filters.ruleset_version,
        include_superseded=filters.include_superseded,
        include_entered_in_error=filters.include_entered_in_error,
        after=repository.LISTED.decode(cursor, scope),
        limit=limit,
    )
    page = repository.LISTED.page(rows, limit, scope, position_of=_listed_position)
    rows = page.items
    rendered = _rendered(200, {"items": _render_many(session, caller, rows, explain), "next_cursor": page.next_cursor})
    audit.record(
        session,
        caller=caller,
        action="assessment.list",
        resource_type=RESOURCE,
        details={"count": len(rows)},
        digest_of=rendered.body,
        resources=[audit.Resource(row.id, row.subject_ref) for row, _ in rows],
    )
    return rendered


def _listed_position(row: tuple[Assessment, str | None]) -> Position:
    assessment, _level = row
    return repository.LISTED.position(assessment)


def _render_many(
    session: Session, caller: Caller, rows: Sequence[tuple[Assessment, str | None]], explain: Collection[str]
) -> list[dict[str, Any]]:
    ids = [row.id for row, _ in rows]
    overrides: dict[str, list[AssessmentOverride]] = {}
    for o in repository.overrides(session, caller.organisation_id, ids):
        overrides.setdefault(o.assessment_id, []).append(o)
    errors = {e.assessment_id: e for e in repository.entered_in_error(session, caller.organisation_id, ids)}
    return [
        _render_loaded(
            session, caller, _Loaded(row, superseded_by, overrides.get(row.id, []), errors.get(row.id)), explain
        )
        for row, superseded_by in rows
    ]


def revision_chain(
    session: Session, caller: Caller, assessment_id: str, *, explain: Collection[str] = frozenset()
) -> Rendered:
    ids = repository.chain_ids(session, caller.organisation_id, assessment_id)
    if not ids:
        raise NotFound(f"No assessment {assessment_id}")
    rows = repository.by_ids(session, caller.organisation_id, ids)
    rendered = _rendered(200, {"items": _render_many(session, caller, rows, explain)})
    audit.record(
        session,
        caller=caller,
        action="assessment.revisions",
        resource_type=RESOURCE,
        resource_id=assessment_id,
        subject_ref=rows[0][0].subject_ref,
        details={"count": len(rows)},
        digest_of=rendered.body,
        resources=[audit.Resource(row.id, row.subject_ref) for row, _ in rows],
    )
    return rendered


# --- supervision ------------------------------------------------------------------------------------------


def _check_direction(resolved: ResolvedRuleSet, computed: str, level: str) -> None:
    def refuse(detail: str) -> ValidationFailed:
        return ValidationFailed(detail, errors=[FieldError(pointer="/level", detail=detail)])

    if level not in resolved.levels:
        raise refuse(f"'{level}' is not a level of this rule set ({', '.join(resolved.levels)})")
    name = f"rule set '{resolved.ruleset_key}' version {resolved.ruleset_version}"
    policy = resolved.override_policy
    new, old = resolved.levels.index(level), resolved.levels.index(computed)
    if policy == "none":
        raise refuse(f"{name} does not allow overrides")
    if policy == "raise_only" and new < old:
        raise refuse(f"{name} allows raising the level only: '{level}' is below the computed level '{computed}'")
    if policy == "lower_only" and new > old:
        raise refuse(f"{name} allows lowering the level only: '{level}' is above the computed level '{computed}'")


def override_assessment(
    session: Session,
    caller: Caller,
    assessment_id: str,
    body: OverrideCreate,
    *,
    explain: Collection[str] = frozenset(),
    state_read_seam: StateReadSeam | None,
) -> Rendered:
    loaded = _load_for_change(session, caller, assessment_id, "assessment.override", state_read_seam)
    if loaded.entered_in_error is not None:
        raise Conflict("This assessment was entered in error and cannot be overridden")
    if loaded.superseded_by is not None:
        raise Conflict(f"This revision was amended: override the latest revision ({loaded.superseded_by})")
    row = loaded.row
    resolved = get_ruleset_for_replay(session, caller.organisation_id, row.ruleset_key, row.ruleset_version)
    _check_direction(resolved, row.computed_level, body.level)
    values = {
        "organisation_id": caller.organisation_id,
        "assessment_id": row.id,
        "level": body.level,
        "previous_level": loaded.level,
        "rationale": body.rationale,
        "client_id": caller.client_id,
        "acting_user": caller.acting_user or "",
        "created_at": utcnow(),
    }
    values["id"] = repository.add_override(session, values)
    loaded.overrides.append(AssessmentOverride(**values))
    rendered = _rendered(201, _render_loaded(session, caller, loaded, explain))
    audit.record(
        session,
        caller=caller,
        action="assessment.override",
        resource_type=RESOURCE,
        resource_id=row.id,
        subject_ref=row.subject_ref,
        details={"level": body.level, "previous_level": loaded.overrides[-1].previous_level},
        digest_of=rendered.body,
        status=201,
        record_digest=repository.override_digest(values),
    )
    return rendered


def mark_entered_in_error(
    session: Session,
    caller: Caller,
    assessment_id: str,
    body: EnteredInErrorCreate,
    *,
    state_read_seam: StateReadSeam | None,
) -> Rendered:
    loaded = _load_for_change(session, caller, assessment_id, "assessment.entered_in_error", state_read_seam)
    if loaded.entered_in_error is not None:
        raise Conflict("This assessment is already marked as entered in error")
    values = {
        "assessment_id": loaded.row.id,
        "organisation_id": caller.organisation_id,
        "reason": body.reason,
        "client_id": caller.client_id,
        "acting_user": caller.acting_user or "",
        "created_at": utcnow(),
    }
    try:
        repository.add_entered_in_error(session, values)
    except IntegrityError as exc:
        raise Conflict("This assessment is already marked as entered in error") from exc
    loaded.entered_in_error = AssessmentEnteredInError(**values)
    rendered = _rendered(201, _render_loaded(session, caller, loaded, frozenset()))
    audit.record(
        session,
        caller=caller,
        action="assessment.entered_in_error",
        resource_type=RESOURCE,
        resource_id=loaded.row.id,
        subject_ref=loaded.row.subject_ref,
        digest_of=rendered.body,
        status=201,
        record_digest=repository.entered_in_error_digest(values),
    )
    return rendered


# --- dry runs ---------------------------------------------------------------------------------------------


def _stored_result(row: Assessment, explain: Collection[str]) -> dict[str, Any]:
    result = dict(row.result)
    for option in EXPLAIN_OPTIONS:
        if option not in explain:
            result.pop(option, None)
    result["level"] = result["computed_level"]
    return result


def _names(items: Sequence[dict[str, Any]]) -> list[str]:
    return [str(i["id"]) for i in items]


def _changes(stored: dict[str, Any], rescored: dict[str, Any]) -> dict[str, Any]:
    def added(key: str, names: bool = True) -> tuple[list[str], list[str]]:
        before = _names(stored[key]) if names else list(stored[key])
        after = _names(rescored[key]) if names else list(rescored[key])
        return [x for x in after if x not in before], [x for x in before if x not in after]

    triggers_added, triggers_removed = added("triggers")
    actions_added, actions_removed = added("actions")
    gaps_added, gaps_removed = added("information_gaps", names=False)
    scores = {
        name: {"stored": stored["scores"].get(name), "rescored": rescored["scores"].get(name)}
        for name in sorted(set(stored["scores"]) | set(rescored["scores"]))
        if stored["scores"].get(name) != rescored["scores"].get(name)
    }
    level = None
    if stored["computed_level"] != rescored["computed_level"]:
        level = {"stored": stored["computed_level"], "rescored": rescored["computed_level"]}
    return {
        "level": level,
        "triggers_added": triggers_added,
        "triggers_removed": triggers_removed,
        "actions_added": actions_added,
        "actions_removed": actions_removed,
        "scores": scores,
        "information_gaps_added": gaps_added,
        "information_gaps_removed": gaps_removed,
    }


def rescore_assessment(
    session: Session,
    caller: Caller,
    assessment_id: str,
    *,
    ruleset_version: int,
    ruleset_key: str | None = None,
    explain: Collection[str] = frozenset(),
) -> Rendered:
    """Dry run of the stored answers against another rule-set version: nothing stored but the audit event."""
    loaded = _load(session, caller, assessment_id)
    row = loaded.row
    target = get_ruleset_for_replay(session, caller.organisation_id, ruleset_key or row.ruleset_key, ruleset_version)
    if target.questionnaire_key != row.questionnaire_key:
        detail = (
            f"rule set '{target.ruleset_key}' scores questionnaire '{target.questionnaire_key}', "
            f"not '{row.questionnaire_key}'"
        )
        raise ValidationFailed(detail, errors=[FieldError(pointer="/ruleset_key", detail=detail, location="query")])
    try:
        rescored = target.compiled.evaluate(row.answers, explain=explain)
    except AnswerError as exc:
        raise _answer_problem(
            exc.issues,
            f"the stored answers do not fit questionnaire '{target.questionnaire_key}' version "
            f"{target.questionnaire_version}, which rule set '{target.ruleset_key}' version "
            f"{target.ruleset_version} scores",
        ) from exc
    stored = _stored_result(row, explain)
    if "counterfactuals" in explain and "counterfactuals" not in stored:
        stored["counterfactuals"] = _counterfactuals(session, caller, row)
    changes = _changes(stored, rescored)
    changed = any(v for v in changes.values())
    rendered = _rendered(
        200, {"assessment_id": row.id, "stored": stored, "rescored": rescored, "changed": changed, "changes": changes}
    )
    audit.record(
        session,
        caller=caller,
        action="assessment.rescore",
        resource_type=RESOURCE,
        resource_id=row.id,
        subject_ref=row.subject_ref,
        details={"ruleset": f"{target.ruleset_key}@{target.ruleset_version}", "changed": changed},
        digest_of=rendered.body,
    )
    return rendered


def _differences(stored: Any, replayed: Any, pointer: str = "") -> list[dict[str, Any]]:
    if isinstance(stored, dict) and isinstance(replayed, dict):
        out: list[dict[str, Any]] = []
        for key in sorted(set(stored) | set(replayed)):
            part = pointer + "/" + str(key).replace("~", "~0").replace("/", "~1")
            if key not in stored:
                out.append({"where": "result", "pointer": part, "stored": None, "replayed": replayed[key]})
            elif key not in replayed:
                out.append({"where": "result", "pointer": part, "stored": stored[key], "replayed": None})
            else:
                out.extend(_differences(stored[key], replayed[key], part))
        return out
    if isinstance(stored, list) and isinstance(replayed, list) and len(stored) == len(replayed):
        return [
            d
            for i, (a, b) in enumerate(zip(stored, replayed, strict=True))
            for d in _differences(a, b, f"{pointer}/{i}")
        ]
    if stored != replayed or type(stored) is not type(replayed):
        return [{"where": "result", "pointer": pointer, "stored": stored, "replayed": replayed}]
    return []


def _derived_column_differences(row: Assessment, replayed: dict[str, Any]) -> list[dict[str, Any]]:
    """The stored columns derived from the result (`computed_level`, `review_by`) against the replayed result."""
    days = replayed["review_within_days"]
    review_by = row.created_at + timedelta(days=days) if days is not None else None
    pairs = [
        ("computed_level", row.computed_level, replayed["computed_level"]),
        ("review_by", _iso(row.review_by), _iso(review_by)),
    ]
    return [
        {"where": "row", "pointer": f"/{column}", "stored": stored, "replayed": expected}
        for column, stored, expected in pairs
        if stored != expected
    ]


def replay_assessment(
    session: Session, caller: Caller, assessment_id: str, *, explain: Collection[str] = frozenset()
) -> Rendered:
    """Re-evaluate the stored answers with the stored rule-set version and compare with the stored result (level and
    overrides aside) and with the stored columns derived from it."""
    loaded = _load(session, caller, assessment_id)
    row = loaded.row
    resolved = get_ruleset_for_replay(session, caller.organisation_id, row.ruleset_key, row.ruleset_version)
    kept = frozenset(o for o in EXPLAIN_OPTIONS if o in row.result)
    try:
        replayed_full = resolved.compiled.evaluate(row.answers, explain=kept)
    except AnswerError as exc:
        raise _answer_problem(exc.issues, "the stored answers no longer validate against their questionnaire") from exc
    compared_stored = {k: v for k, v in row.result.items() if k not in ("level", "overrides")}
    compared_replayed = {k: v for k, v in replayed_full.items() if k not in ("level", "overrides")}
    differences = _differences(compared_stored, compared_replayed)
    differences += _derived_column_differences(row, replayed_full)
    stored = _stored_result(row, explain)
    replayed = {k: v for k, v in replayed_full.items() if k not in EXPLAIN_OPTIONS or k in explain}
    if "counterfactuals" in explain:
        replayed["counterfactuals"] = stored.setdefault("counterfactuals", _counterfactuals(session, caller, row))
    rendered = _rendered(
        200,
        {
            "assessment_id": row.id,
            "identical": not differences,
            "differences": differences,
            "stored": stored,
            "replayed": replayed,
        },
    )
    audit.record(
        session,
        caller=caller,
        action="assessment.replay",
        resource_type=RESOURCE,
        resource_id=row.id,
        subject_ref=row.subject_ref,
        details={"identical": not differences},
        digest_of=rendered.body,
    )
    return rendered


def report(session: Session, caller: Caller, assessment_id: str) -> bytes:
    from app.assessments.report import render_report

    loaded = _load(session, caller, assessment_id)
    view = _render_loaded(session, caller, loaded, frozenset())
    html = render_report(view).encode()
    audit.record(
        session,
        caller=caller,
        action="assessment.report",
        resource_type=RESOURCE,
        resource_id=loaded.row.id,
        subject_ref=loaded.row.subject_ref,
        digest_of=html,
    )
    return html


# --- for other features -----------------------------------------------------------------------------------


def stored_answers_for_impact(
    session: Session,
    organisation_id: str,
    questionnaire_key: str,
    questionnaire_version: int,
    *,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> list[tuple[str, str, dict[str, Any]]]:
    """(assessment id, computed level, answers) of the latest, not entered-in-error revisions, newest first."""
    return repository.latest_answers(
        session, organisation_id, questionnaire_key, questionnaire_version, since=since, until=until, limit=limit
    )
