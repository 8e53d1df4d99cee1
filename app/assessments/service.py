"""Assessment use cases. Each runs inside the request's transaction (flush only, never commit) and writes its
audit event in that same transaction, so an assessment and the record of its creation commit together.

Every response is a model of app/assessments/schemas.py. Its digest, SHA-256 of the RFC 8785 form of the model's
JSON dump (`chain.digest`), is the `digest` of the request's audit event and, on a single assessment, its ETag.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.assessments import repository
from app.assessments.answers_patch import check_one_source, patch_problem, revision_answers
from app.assessments.models import Assessment, AssessmentEnteredInError, AssessmentOverride
from app.assessments.report import Labels, Superseding, render_report
from app.assessments.schemas import (
    AssessmentCreate,
    AssessmentPage,
    AssessmentRead,
    Change,
    Changes,
    Difference,
    EnteredInErrorCreate,
    EnteredInErrorRead,
    OverrideCreate,
    OverrideRead,
    ReplayEngine,
    ReplayRead,
    RescoreRead,
    RevisionChain,
    RevisionCreate,
)
from app.audit import service as audit
from app.audit.chain import digest, record_form
from app.auth import service as auth_service
from app.auth.caller import Caller
from app.core.conditional import none_match_holds
from app.core.db import new_id, utcnow
from app.core.errors import (
    Conflict,
    FieldError,
    IdempotencyKeyReused,
    NotFound,
    ProblemError,
    ReceiptUnavailable,
    ValidationFailed,
)
from app.core.metrics import ASSESSMENTS_CREATED
from app.core.pagination import Position
from app.core.seams import StateReadSeam
from app.events import service as events
from app.events.service import EventType
from app.fhir.canonical import YES_NO_UNKNOWN_DISPLAY, canonical_base
from app.fhir.media import fhir_etag
from app.fhir.response import response_from_answers
from app.fhir.risk_assessment import RiskAssessmentContext, risk_assessment
from app.questionnaires import service as questionnaire_service
from app.receipts.commitments import assessment_commitments, new_salt, response_commitment, row_commitments
from app.receipts.schemas import AssessmentRecord, StoredRow
from app.rulesets.service import (
    ResolvedRuleSet,
    RuleSetForFhir,
    cached_resolution,
    get_ruleset_for_replay,
    labels_of,
    level_labels,
    resolve_ruleset,
    ruleset_for_fhir,
    usable_levels,
)
from app.scoring import ENGINE_VERSION, AnswerError, Issue, Questionnaire
from app.scoring.answers import is_iso_date
from app.scoring.checker import GAP_RULE_ID
from app.scoring.engine_versions import result_fields, with_field_defaults
from app.scoring.models import DateItem, MultiChoiceItem, SingleChoiceItem, YesNoUnknownItem
from app.scoring.result import Result
from app.scoring.reviews import review_by_after_override, review_within_days

RESOURCE = "assessment"
EXPLAIN_OPTIONS = frozenset({"trace", "counterfactuals"})
STORED_EXPLAIN = frozenset({"trace"})  # the explanation kept with every assessment
PURGE_PROBABILITY = 0.001
READ_ANSWERS = "assessment.read_answers"  # the audit action of every read that shows stored answers
# Result keys an assessment's response sets from elsewhere: its final level, the levels' labels (rendered from its
# rule-set version, never stored), and the extras asked for.
_SHOWN_APART = frozenset({"level", "level_label", "computed_level_label"}) | EXPLAIN_OPTIONS


class IdempotencyInFlight(Conflict):
    def __init__(self) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still being processed; retry shortly",
            headers={"Retry-After": "1"},
        )


class StateRefusal(ProblemError):
    """A refusal decided by the assessment's state when the request ran (a later revision, an entered-in-error
    mark) or by its rule set's override policy, not by the request's own content: the one kind of error kept as
    the response of the request's Idempotency-Key (docs/idempotency.md). Every other error leaves the key free."""


class StateConflict(StateRefusal, Conflict):
    """409: the assessment was amended or entered in error before this request could change it."""


class DirectionRefused(StateRefusal, ValidationFailed):
    """422: the rule set's override policy does not allow this direction (or no override at all)."""


@dataclass(frozen=True)
class Idempotency:
    """A request's Idempotency-Key, what it was sent to (`endpoint`, method and path), the fingerprint of the whole
    request, and how long its response is kept."""

    client_id: str
    organisation_id: str
    key: str
    endpoint: str
    fingerprint: str
    retention: timedelta


@dataclass(frozen=True)
class ShownAssessment:
    """An assessment's response model and its digest (its audit event's `digest`; quoted, its ETag)."""

    model: AssessmentRead
    digest: str

    @property
    def etag(self) -> str:
        return f'"{self.digest}"'

    @property
    def location(self) -> str:
        return f"/v1/assessments/{self.model.id}"


@dataclass(frozen=True)
class Replay:
    """The response first sent for an Idempotency-Key, as it was sent."""

    status: int
    body: bytes
    location: str | None


def _digest(model: BaseModel) -> str:
    """A response's digest: SHA-256 of the RFC 8785 form of its model's JSON dump (ADR 0003)."""
    return digest(model.model_dump(mode="json"))


def _shown_assessment(model: AssessmentRead) -> ShownAssessment:
    return ShownAssessment(model, _digest(model))


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


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _answer_problem(issues: Sequence[Issue], detail: str | None = None) -> ValidationFailed:
    errors = [FieldError(pointer="/answers" + issue.pointer, detail=issue.message) for issue in issues]
    return ValidationFailed(
        detail or f"{len(errors)} answer{'s are' if len(errors) != 1 else ' is'} invalid", errors=errors
    )


def _evaluate(
    resolved: ResolvedRuleSet,
    answers: dict[str, Any],
    explain: Collection[str],
    problem: Callable[[Sequence[Issue]], ValidationFailed] = _answer_problem,
) -> dict[str, Any]:
    try:
        return resolved.compiled.evaluate(answers, explain=explain)
    except AnswerError as exc:
        raise problem(exc.issues) from exc


# Date answers after today are refused when an assessment is recorded (create, amend), never when answers are only
# evaluated (dry runs, embedded tests, replay), which must give the same result whatever the day. "Today" is the
# UK's date, with a day's tolerance for a clock or a time zone a little ahead (docs/answers.md).
UK = ZoneInfo("Europe/London")
DATE_TOLERANCE = timedelta(days=1)


def uk_date(moment: datetime) -> date:
    """The date in the UK (Europe/London) at `moment`."""
    return moment.astimezone(UK).date()


def dates_after_today(questionnaire: Questionnaire, answers: dict[str, Any], today: date) -> list[Issue]:
    """An issue at each date answer later than the day after `today` (well-formed dates only: the scoring reports
    the rest). Pure: tests/scoring/answers_schema_support.py applies it as recording an assessment does."""
    latest = today + DATE_TOLERANCE
    issues = []
    for item in questionnaire.items:
        value = answers.get(item.id) if isinstance(item, DateItem) else None
        if isinstance(value, str) and is_iso_date(value) and date.fromisoformat(value) > latest:
            issues.append(
                Issue(
                    f"/{item.id}",
                    f"{value} is after today ({today.isoformat()} in the UK): a date answer may be at most "
                    f"{latest.isoformat()}",
                )
            )
    return issues


def _evaluate_new(
    resolved: ResolvedRuleSet,
    answers: dict[str, Any],
    explain: Collection[str],
    today: date,
    problem: Callable[[Sequence[Issue]], ValidationFailed],
) -> dict[str, Any]:
    """The result of answers being recorded: `_evaluate`, and no date answer after today; one 422 names every
    answer at fault."""
    late = dates_after_today(resolved.compiled.questionnaire, answers, today)
    try:
        result = resolved.compiled.evaluate(answers, explain=explain)
    except AnswerError as exc:
        named = {issue.pointer for issue in exc.issues}
        raise problem([*exc.issues, *(issue for issue in late if issue.pointer not in named)]) from exc
    if late:
        raise problem(late)
    return result


@dataclass
class _Loaded:
    row: Assessment
    superseded_by: str | None
    overrides: list[AssessmentOverride]
    entered_in_error: AssessmentEnteredInError | None

    @property
    def level(self) -> str:
        return self.overrides[-1].level if self.overrides else self.row.computed_level

    @property
    def review_by(self) -> datetime | None:
        """The review date in force: the latest override's, else the assessment's own (as the SQL of
        `repository.effective_review_by` has it)."""
        latest = self.overrides[-1].review_by if self.overrides else None
        return latest if latest is not None else self.row.review_by


def _assessment_read(
    loaded: _Loaded,
    explain: Collection[str],
    labels: Mapping[str, str],
    counterfactuals: list[dict[str, Any]] | None = None,
) -> AssessmentRead:
    """The assessment as the API shows it: the stored result, its final level, the levels' labels (`labels`: those
    of its rule-set version) and the assessment's own fields."""
    row, result, error = loaded.row, with_field_defaults(loaded.row.result), loaded.entered_in_error
    return AssessmentRead(
        **{name: value for name, value in result.items() if name not in _SHOWN_APART},
        level=loaded.level,
        **labels_of(labels, loaded.level, row.computed_level),
        trace=result.get("trace", []) if "trace" in explain else None,
        counterfactuals=(
            (counterfactuals if counterfactuals is not None else result.get("counterfactuals", []))
            if "counterfactuals" in explain
            else None
        ),
        id=row.id,
        subject_ref=row.subject_ref,
        created_at=row.created_at,
        review_by=loaded.review_by,
        acting_user=row.acting_user,
        client=row.client_id,
        supersedes=row.supersedes,
        superseded_by=loaded.superseded_by,
        overrides=[
            OverrideRead(
                level=o.level,
                previous_level=o.previous_level,
                rationale=o.rationale,
                acting_user=o.acting_user,
                client=o.client_id,
                created_at=o.created_at,
                review_by=o.review_by,
            )
            for o in loaded.overrides
        ],
        entered_in_error=(
            EnteredInErrorRead(
                reason=error.reason, acting_user=error.acting_user, client=error.client_id, created_at=error.created_at
            )
            if error is not None
            else None
        ),
    )


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


def _labels(session: Session, caller: Caller, row: Assessment) -> Mapping[str, str]:
    """The labels of the levels of the rule-set version the assessment was scored with."""
    return level_labels(session, caller.organisation_id, row.ruleset_key, row.ruleset_version, row.ruleset_hash)


def _render_loaded(
    session: Session,
    caller: Caller,
    loaded: _Loaded,
    explain: Collection[str],
    labels: Mapping[str, str] | None = None,
) -> AssessmentRead:
    """The assessment as shown; `labels`, its rule-set version's level labels when the caller has them."""
    cf = _counterfactuals(session, caller, loaded.row) if "counterfactuals" in explain else None
    return _assessment_read(loaded, explain, _labels(session, caller, loaded.row) if labels is None else labels, cf)


def _record_about(
    session: Session, caller: Caller, action: str, loaded: _Loaded, response: BaseModel | str, **fields: Any
) -> None:
    """The audit event of a request about one assessment, with the digest of the response it returns (a model, or
    its digest already computed)."""
    audit.record(
        session,
        caller=caller,
        action=action,
        resource_type=RESOURCE,
        resource_id=loaded.row.id,
        subject_ref=loaded.row.subject_ref,
        response_digest=response if isinstance(response, str) else _digest(response),
        **fields,
    )


# --- the Idempotency-Key of create, amend, override and entered in error -------------------------------------


def _claim_key(session: Session, caller: Caller, idempotency: Idempotency | None, action: str) -> Replay | None:
    """The first statement of a write sent with an Idempotency-Key: claim the key (409 while another request holds
    it) and return the response stored under it, if any, for the same request (422 for another request)."""
    if idempotency is None:
        return None
    claim = repository.claim_idempotency_key(session, idempotency.client_id, idempotency.key)
    if not claim.granted:
        raise IdempotencyInFlight()
    record = claim.stored
    if record is None:
        return None
    if record.expires_at <= utcnow():
        repository.delete_idempotency_record(session, idempotency.client_id, idempotency.key)
        return None
    if record.fingerprint != idempotency.fingerprint:
        raise _key_reused(record.endpoint, idempotency.endpoint)
    body = record.body.encode()
    if record.status_code < 300:
        first = json.loads(body)
        audit.record(
            session,
            caller=caller,
            action=f"{action}.replayed",
            resource_type=RESOURCE,
            resource_id=first["id"],
            subject_ref=first["subject_ref"],
            digest_of=first,  # the digest of the model first returned, as its event has it
            status=record.status_code,
        )
    return Replay(record.status_code, body, record.location)


def _key_reused(first_endpoint: str, endpoint: str) -> IdempotencyKeyReused:
    if first_endpoint != endpoint:
        detail = f"This Idempotency-Key was first used for {first_endpoint}; send each request with its own key"
    else:
        detail = (
            f"This Idempotency-Key was first used for {first_endpoint} with other query parameters, Content-Type "
            "or body; send each request with its own key"
        )
    return IdempotencyKeyReused(
        detail, errors=[FieldError(pointer="/Idempotency-Key", detail=detail, location="header")]
    )


def _stored_response(idempotency: Idempotency, status: int, body: bytes, location: str | None) -> dict[str, Any]:
    now = utcnow()
    return {
        "client_id": idempotency.client_id,
        "key": idempotency.key,
        "organisation_id": idempotency.organisation_id,
        "endpoint": idempotency.endpoint,
        "fingerprint": idempotency.fingerprint,
        "status_code": status,
        "body": body.decode(),
        "location": location,
        "created_at": now,
        "expires_at": now + idempotency.retention,
    }


def _created_response(
    session: Session, idempotency: Idempotency, model: AssessmentRead, location: str | None
) -> dict[str, Any]:
    """The 201 to keep under the key: the bytes FastAPI sends for the model (`response_model` serialises with the
    model's own serializer). Now and then, expired records are purged first."""
    if random.random() < PURGE_PROBABILITY:  # noqa: S311 - spreading housekeeping
        repository.purge_idempotency_records(session, utcnow())
    return _stored_response(idempotency, 201, model.model_dump_json().encode(), location)


def _keep_created(
    session: Session, idempotency: Idempotency | None, model: AssessmentRead, location: str | None
) -> None:
    """Store the 201 under the key, in the transaction of the change it reports."""
    if idempotency is None:
        return
    try:
        repository.store_idempotent_response(session, _created_response(session, idempotency, model, location))
    except IntegrityError as exc:  # the same key committed between our claim's snapshot and its lock
        raise IdempotencyInFlight() from exc


def store_refusal(factory: sessionmaker[Session], idempotency: Idempotency, status: int, body: bytes) -> None:
    """After the request's transaction rolled back: keep its `StateRefusal` for retries of the key, unless the key
    has a response already or another request holds it. The state it reports does not go back (amendments and
    entered-in-error marks are permanent, a rule-set version's policy never changes), so a retry that ran between
    the rollback and this store met the same refusal."""
    with factory() as session, session.begin():
        claim = repository.claim_idempotency_key(session, idempotency.client_id, idempotency.key)
        if claim.granted and claim.stored is None:
            repository.store_idempotent_response(session, _stored_response(idempotency, status, body, None))


# --- create and amend -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _New:
    """A new assessment scored and shown, before any statement: its row's values and its response."""

    values: dict[str, Any]
    shown: ShownAssessment


def _new_assessment(
    caller: Caller,
    resolved: ResolvedRuleSet,
    *,
    subject_ref: str,
    answers: dict[str, Any],
    explain: Collection[str],
    supersedes: str | None,
    today: date,
    problem: Callable[[Sequence[Issue]], ValidationFailed] = _answer_problem,
) -> _New:
    """Score and show a new assessment: CPU only, no statement. `problem` makes the 422 of invalid answers (a date
    answer after `today`, the UK's date, among them)."""
    result = _evaluate_new(resolved, answers, STORED_EXPLAIN | set(explain), today, problem)
    now = utcnow()
    days = result["review_within_days"]
    values = {
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
        "salt": new_salt(),
    }
    loaded = _Loaded(Assessment(**values), superseded_by=None, overrides=[], entered_in_error=None)
    return _New(values, _shown_assessment(_assessment_read(loaded, explain, resolved.level_labels)))


def _store_new(
    session: Session,
    caller: Caller,
    new: _New,
    action: str,
    details: dict[str, Any],
    *,
    base_url: str,
    response: dict[str, Any] | None = None,
) -> None:
    """The new assessment's row (with its Idempotency-Key's `response`), the audit event of its creation and its
    outbox event (`assessment.created`, or `assessment.revised` for a revision)."""
    repository.add_assessment(session, new.values, response)
    audit.record(
        session,
        caller=caller,
        action=action,
        resource_type=RESOURCE,
        resource_id=new.values["id"],
        subject_ref=new.values["subject_ref"],
        details={**details, "commitments": assessment_commitments(new.values["salt"], new.values)},
        response_digest=response_commitment(new.values["salt"], new.shown.digest),
        status=201,
        record_digest=repository.assessment_digest(new.values),
    )
    supersedes = new.values["supersedes"]
    events.emit_about_assessment(
        session,
        EventType.assessment_created if supersedes is None else EventType.assessment_revised,
        new.values,
        level=new.values["computed_level"],
        base_url=base_url,
        **({} if supersedes is None else {"supersedes": supersedes}),
    )
    ASSESSMENTS_CREATED.labels(new.values["computed_level"]).inc()


class _Choice(TypedDict):
    questionnaire_key: str
    questionnaire_version: int | None
    ruleset_key: str | None
    ruleset_version: int | None


def _choice(body: AssessmentCreate) -> _Choice:
    return _Choice(
        questionnaire_key=body.questionnaire.key,
        questionnaire_version=body.questionnaire.version,
        ruleset_key=body.ruleset.key if body.ruleset else None,
        ruleset_version=body.ruleset.version if body.ruleset else None,
    )


def create_assessment(
    session: Session,
    caller: Caller,
    body: AssessmentCreate,
    *,
    today: date,
    base_url: str,
    explain: Collection[str] = frozenset(),
    idempotency: Idempotency | None = None,
) -> ShownAssessment | Replay:
    """`today` is the UK's date (date answers after the day after it are refused); `base_url`, the absolute address
    the links of its `assessment.created` event start with.

    Statements in order: the Idempotency-Key's claim, the rule-set resolution unless cached, the assessment (and
    the key's response), the audit event; the caller's COMMIT follows. With the resolution cached, the scoring and
    rendering run before the first statement, so the transaction (SQLite's write lock, PostgreSQL's advisory and
    head-row locks) spans only I/O. A refusal found by the scoring is raised only after the Idempotency-Key check,
    in the same order as with nothing cached."""
    choice = _choice(body)
    resolved = cached_resolution(caller.organisation_id, **choice)
    new: _New | None = None
    refusal: ValidationFailed | None = None
    if resolved is not None:
        try:
            new = _new_from_body(caller, resolved, body, explain, today)
        except ValidationFailed as exc:
            refusal = exc
    replay = _claim_key(session, caller, idempotency, "assessment.create")
    if replay is not None:
        return replay
    if refusal is not None:
        raise refusal
    if resolved is None or new is None:
        resolved = resolve_ruleset(session, caller.organisation_id, **choice)
        new = _new_from_body(caller, resolved, body, explain, today)
    response = None
    if idempotency is not None:
        response = _created_response(session, idempotency, new.shown.model, new.shown.location)
    details = {"level": new.values["computed_level"], "ruleset": f"{resolved.ruleset_key}@{resolved.ruleset_version}"}
    try:
        _store_new(session, caller, new, "assessment.create", details, base_url=base_url, response=response)
    except IntegrityError as exc:  # the same key committed between our claim's snapshot and its lock
        raise IdempotencyInFlight() from exc
    return new.shown


def _new_from_body(
    caller: Caller, resolved: ResolvedRuleSet, body: AssessmentCreate, explain: Collection[str], today: date
) -> _New:
    return _new_assessment(
        caller,
        resolved,
        subject_ref=body.subject_ref,
        answers=body.answers,
        explain=explain,
        supersedes=None,
        today=today,
    )


def amend_assessment(
    session: Session,
    caller: Caller,
    assessment_id: str,
    body: RevisionCreate,
    *,
    today: date,
    base_url: str,
    explain: Collection[str] = frozenset(),
    state_read_seam: StateReadSeam | None,
    idempotency: Idempotency | None = None,
) -> ShownAssessment | Replay:
    """`today`: the UK's date (date answers after the day after it are refused, wherever they came from);
    `base_url`, the absolute address the links of its `assessment.revised` event start with."""
    replay = _claim_key(session, caller, idempotency, "assessment.amend")
    if replay is not None:
        return replay
    check_one_source(body)
    loaded = _load_for_change(session, caller, assessment_id, "assessment.amend", state_read_seam)
    original = loaded.row
    if loaded.superseded_by is not None:
        raise StateConflict(f"Only the latest revision can be amended: amend {loaded.superseded_by}")
    if loaded.entered_in_error is not None:
        raise StateConflict("This assessment was entered in error and cannot be amended")
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
    answers = revision_answers(body, original.answers)
    patch = body.answers_patch
    new = _new_assessment(
        caller,
        resolved,
        subject_ref=original.subject_ref,
        answers=answers,
        explain=explain,
        supersedes=original.id,
        today=today,
        problem=(
            _answer_problem
            if patch is None
            else partial(patch_problem, patch=patch, stored=original.answers, merged=answers)
        ),
    )
    details: dict[str, Any] = {"supersedes": original.id, "level": new.values["computed_level"]}
    if patch is not None:
        details["answers_patch"] = True
    try:
        _store_new(session, caller, new, "assessment.amend", details, base_url=base_url)
    except IntegrityError as exc:  # the unique `supersedes`: a concurrent amendment won
        raise StateConflict("This assessment has already been amended: amend its latest revision") from exc
    _keep_created(session, idempotency, new.shown.model, new.shown.location)
    return new.shown


# --- reads ------------------------------------------------------------------------------------------------


def _with_answers(model: AssessmentRead, row: Assessment) -> AssessmentRead:
    """The assessment shown with the answers stored with it (`?include=answers`)."""
    return model.model_copy(update={"answers": dict(row.answers)})


def get_assessment(
    session: Session,
    caller: Caller,
    assessment_id: str,
    *,
    explain: Collection[str] = frozenset(),
    with_answers: bool = False,
    if_none_match: str | None = None,
) -> tuple[ShownAssessment, bool]:
    """One revision, and whether the caller's `If-None-Match` already holds it (the route then answers 304);
    `with_answers`, its stored answers too, audited as `assessment.read_answers` (in place of `assessment.read`:
    one event per request, with the digest of the representation and the status the route answers)."""
    loaded = _load(session, caller, assessment_id)
    model = _render_loaded(session, caller, loaded, explain)
    if with_answers:
        model = _with_answers(model, loaded.row)
    shown = _shown_assessment(model)
    not_modified = none_match_holds(shown.etag, if_none_match)
    action = READ_ANSWERS if with_answers else "assessment.read"
    _record_about(session, caller, action, loaded, shown.digest, status=304 if not_modified else 200)
    return shown, not_modified


def questionnaire_response(
    session: Session, caller: Caller, assessment_id: str, *, public_base_url: str
) -> tuple[dict[str, Any], str]:
    """The revision's stored answers as a FHIR QuestionnaireResponse and its ETag, audited as
    `assessment.read_answers`; 409 `/problems/fhir-not-configured` while the organisation has no identifier system."""
    loaded = _load(session, caller, assessment_id)
    identifier_system = auth_service.required_fhir_identifier_system(session, caller.organisation_id)
    row = loaded.row
    found = questionnaire_service.model_with_owner(
        session, caller.organisation_id, row.questionnaire_key, row.questionnaire_version
    )
    if found is None:  # stored assessments keep their questionnaire version visible (it cannot be deleted)
        raise NotFound(f"The questionnaire {row.questionnaire_key} version {row.questionnaire_version} is gone")
    owner, questionnaire = found
    resource = response_from_answers(
        questionnaire,
        dict(row.answers),
        base=canonical_base(owner, public_base_url),
        identifier_system=identifier_system,
        subject_ref=row.subject_ref,
        authored=row.created_at,
        resource_id=row.id,
    )
    resource_digest = digest(resource)
    _record_about(session, caller, READ_ANSWERS, loaded, resource_digest)
    return resource, f'"{resource_digest}"'


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
    review_by_before: datetime | None = None

    def scope(self) -> dict[str, Any]:
        """What a cursor of the list is bound to: every filter (`review_by_before` only when set, so that cursors
        issued before it existed still page)."""
        scope = asdict(self)
        if self.review_by_before is None:
            del scope["review_by_before"]
        return scope

    def selection(self) -> repository.ListFilter:
        """The filters as the repository applies them (`review_by_before` picks the list, it is not one of them)."""
        return repository.ListFilter(
            subject_ref=self.subject_ref,
            level=self.level,
            created_from=self.created_from,
            created_to=self.created_to,
            ruleset_key=self.ruleset_key,
            ruleset_version=self.ruleset_version,
            include_superseded=self.include_superseded,
            include_entered_in_error=self.include_entered_in_error,
        )


def list_assessments(
    session: Session,
    caller: Caller,
    filters: ListFilters,
    *,
    cursor: str | None,
    limit: int,
    explain: Collection[str] = frozenset(),
) -> AssessmentPage:
    if filters.level is not None:
        _require_usable_level(session, caller.organisation_id, filters.level)
    scope = filters.scope()
    if filters.review_by_before is not None:
        rows, next_cursor = _due(session, caller, filters, filters.review_by_before, cursor=cursor, limit=limit)
    else:
        found = repository.page(
            session,
            caller.organisation_id,
            filters.selection(),
            after=repository.LISTED.decode(cursor, scope),
            limit=limit,
        )
        listed = repository.LISTED.page(found, limit, scope, position_of=_listed_position)
        rows, next_cursor = listed.items, listed.next_cursor
    page = AssessmentPage(items=_render_many(session, caller, rows, explain), next_cursor=next_cursor)
    audit.record(
        session,
        caller=caller,
        action="assessment.list",
        resource_type=RESOURCE,
        details={"count": len(rows)},
        response_digest=_digest(page),
        resources=[audit.Resource(row.id, row.subject_ref) for row, _ in rows],
    )
    return page


def _require_usable_level(session: Session, organisation_id: str, level: str) -> None:
    """A level filter that no rule set could have produced is a mistake (`HIGH` for `high`), not an empty page."""
    levels = usable_levels(session, organisation_id)
    if level not in levels:
        detail = f"'{level}' is not a level of any rule set you can use; valid levels: {', '.join(levels)}"
        raise ValidationFailed(
            f"The level filter is refused: {detail}",
            errors=[FieldError(pointer="/level", detail=detail, location="query")],
        )


def _due(
    session: Session, caller: Caller, filters: ListFilters, before: datetime, *, cursor: str | None, limit: int
) -> tuple[list[tuple[Assessment, str | None]], str | None]:
    """The reviews due: latest, standing revisions whose review date in force is before `before`, earliest first."""
    if filters.include_superseded or filters.include_entered_in_error:
        names = [n for n in ("include_superseded", "include_entered_in_error") if getattr(filters, n)]
        detail = (
            "review_by_before lists the reviews due: latest revisions that were not entered in error only; "
            f"leave out {' and '.join(names)}"
        )
        pointers = ["/review_by_before", *(f"/{n}" for n in names)]
        raise ValidationFailed(
            detail, errors=[FieldError(pointer=p, detail=detail, location="query") for p in pointers]
        )
    scope = filters.scope()
    found = repository.due_page(
        session,
        caller.organisation_id,
        filters.selection(),
        review_by_before=before,
        after=repository.DUE.decode(cursor, scope),
        limit=limit,
    )
    due = repository.DUE.page(found, limit, scope, position_of=lambda row: (row[2], row[0].id))
    return [(assessment, superseded_by) for assessment, superseded_by, _ in due.items], due.next_cursor


def _listed_position(row: tuple[Assessment, str | None]) -> Position:
    assessment, _level = row
    return repository.LISTED.position(assessment)


def _render_many(
    session: Session, caller: Caller, rows: Sequence[tuple[Assessment, str | None]], explain: Collection[str]
) -> list[AssessmentRead]:
    ids = [row.id for row, _ in rows]
    overrides: dict[str, list[AssessmentOverride]] = {}
    for o in repository.overrides(session, caller.organisation_id, ids):
        overrides.setdefault(o.assessment_id, []).append(o)
    errors = {e.assessment_id: e for e in repository.entered_in_error(session, caller.organisation_id, ids)}
    labels: dict[str, Mapping[str, str]] = {}  # by rule-set hash: looked up once per version on the page
    for row, _ in rows:
        if row.ruleset_hash not in labels:
            labels[row.ruleset_hash] = _labels(session, caller, row)
    return [
        _render_loaded(
            session,
            caller,
            _Loaded(row, superseded_by, overrides.get(row.id, []), errors.get(row.id)),
            explain,
            labels[row.ruleset_hash],
        )
        for row, superseded_by in rows
    ]


def revision_chain(
    session: Session,
    caller: Caller,
    assessment_id: str,
    *,
    explain: Collection[str] = frozenset(),
    with_answers: bool = False,
) -> RevisionChain:
    """Every revision of the chain; `with_answers`, each with its stored answers, audited as
    `assessment.read_answers` (in place of `assessment.revisions`)."""
    ids = repository.chain_ids(session, caller.organisation_id, assessment_id)
    if not ids:
        raise NotFound(f"No assessment {assessment_id}")
    rows = repository.by_ids(session, caller.organisation_id, ids)
    oldest, _ = rows[0]
    items = _render_many(session, caller, rows, explain)
    if with_answers:
        items = [_with_answers(item, row) for item, (row, _) in zip(items, rows, strict=True)]
    chain = RevisionChain(items=items)
    audit.record(
        session,
        caller=caller,
        action=READ_ANSWERS if with_answers else "assessment.revisions",
        resource_type=RESOURCE,
        resource_id=assessment_id,
        subject_ref=oldest.subject_ref,
        details={"count": len(rows)},
        response_digest=_digest(chain),
        resources=[audit.Resource(row.id, row.subject_ref) for row, _ in rows],
    )
    return chain


# --- supervision ------------------------------------------------------------------------------------------


def _check_direction(resolved: ResolvedRuleSet, computed: str, level: str) -> None:
    def refuse(detail: str) -> DirectionRefused:
        return DirectionRefused(detail, errors=[FieldError(pointer="/level", detail=detail)])

    if level not in resolved.levels:
        detail = f"'{level}' is not a level of this rule set ({', '.join(resolved.levels)})"
        raise ValidationFailed(detail, errors=[FieldError(pointer="/level", detail=detail)])
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
    base_url: str,
    explain: Collection[str] = frozenset(),
    state_read_seam: StateReadSeam | None,
    idempotency: Idempotency | None = None,
) -> AssessmentRead | Replay:
    """`base_url`: the absolute address the links of its `assessment.overridden` event start with."""
    replay = _claim_key(session, caller, idempotency, "assessment.override")
    if replay is not None:
        return replay
    loaded = _load_for_change(session, caller, assessment_id, "assessment.override", state_read_seam)
    if loaded.entered_in_error is not None:
        raise StateConflict("This assessment was entered in error and cannot be overridden")
    if loaded.superseded_by is not None:
        raise StateConflict(f"This revision was amended: override the latest revision ({loaded.superseded_by})")
    row = loaded.row
    resolved = get_ruleset_for_replay(session, caller.organisation_id, row.ruleset_key, row.ruleset_version)
    _check_direction(resolved, row.computed_level, body.level)
    now = utcnow()
    values = {
        "organisation_id": caller.organisation_id,
        "assessment_id": row.id,
        "level": body.level,
        "previous_level": loaded.level,
        "rationale": body.rationale,
        "client_id": caller.client_id,
        "acting_user": caller.acting_user or "",
        "created_at": now,
        # read under the state-change lock, so the review date before this override is the committed one
        "review_by": review_by_after_override(
            loaded.review_by, now, review_within_days(resolved.compiled.ruleset, body.level)
        ),
    }
    salt = values["salt"] = new_salt()
    values["id"] = repository.add_override(session, values)
    loaded.overrides.append(AssessmentOverride(**values))
    shown = _render_loaded(session, caller, loaded, explain, resolved.level_labels)
    _record_about(
        session,
        caller,
        "assessment.override",
        loaded,
        response_commitment(salt, _digest(shown)),
        details={
            "level": body.level,
            "previous_level": values["previous_level"],
            "commitments": row_commitments(salt, "assessment_overrides", repository.override_record_form(values)),
        },
        status=201,
        record_digest=repository.override_digest(values),
    )
    events.emit_about_assessment(
        session, EventType.assessment_overridden, repository.event_columns(row), level=body.level, base_url=base_url
    )
    _keep_created(session, idempotency, shown, None)
    return shown


def mark_entered_in_error(
    session: Session,
    caller: Caller,
    assessment_id: str,
    body: EnteredInErrorCreate,
    *,
    base_url: str,
    state_read_seam: StateReadSeam | None,
    idempotency: Idempotency | None = None,
) -> AssessmentRead | Replay:
    """`base_url`: the absolute address the links of its `assessment.entered_in_error` event start with."""
    replay = _claim_key(session, caller, idempotency, "assessment.entered_in_error")
    if replay is not None:
        return replay
    loaded = _load_for_change(session, caller, assessment_id, "assessment.entered_in_error", state_read_seam)
    if loaded.entered_in_error is not None:
        raise StateConflict("This assessment is already marked as entered in error")
    values = {
        "assessment_id": loaded.row.id,
        "organisation_id": caller.organisation_id,
        "reason": body.reason,
        "client_id": caller.client_id,
        "acting_user": caller.acting_user or "",
        "created_at": utcnow(),
    }
    salt = values["salt"] = new_salt()
    try:
        repository.add_entered_in_error(session, values)
    except IntegrityError as exc:
        raise StateConflict("This assessment is already marked as entered in error") from exc
    loaded.entered_in_error = AssessmentEnteredInError(**values)
    shown = _render_loaded(session, caller, loaded, frozenset())
    _record_about(
        session,
        caller,
        "assessment.entered_in_error",
        loaded,
        response_commitment(salt, _digest(shown)),
        details={
            "commitments": row_commitments(
                salt, "assessment_entered_in_error", repository.entered_in_error_record_form(values)
            )
        },
        status=201,
        record_digest=repository.entered_in_error_digest(values),
    )
    events.emit_about_assessment(
        session,
        EventType.assessment_entered_in_error,
        repository.event_columns(loaded.row),
        level=loaded.level,
        base_url=base_url,
    )
    _keep_created(session, idempotency, shown, None)
    return shown


# --- receipts: the stored record and who a receipt is about ----------------------------------------------------

READ_RECORD = "assessment.read_record"
_UNSALTED = "the assessment was stored before receipts existed: it has no salt and its events no commitments"


@dataclass(frozen=True)
class ReceiptSubject:
    """The assessment a receipt is asked for: its id and case id (for the audit event of the request)."""

    id: str
    subject_ref: str


def receipt_subject(session: Session, caller: Caller, assessment_id: str) -> ReceiptSubject:
    """The caller's assessment `assessment_id` if it can have a receipt: NotFound when the organisation has no such
    assessment, 409 `/problems/receipt-unavailable` when its row has no salt (written before migration 0009)."""
    found = repository.get(session, caller.organisation_id, assessment_id)
    if found is None:
        raise NotFound(f"No assessment {assessment_id}")
    row = found[0]
    if row.salt is None:
        raise ReceiptUnavailable(f"No receipt for assessment {assessment_id}: {_UNSALTED}")
    return ReceiptSubject(row.id, row.subject_ref)


def assessment_record(session: Session, caller: Caller, assessment_id: str) -> AssessmentRecord:
    """The stored rows of one assessment with their salts, as `riskapi receipt verify --record` reads them: every
    column in the form its event's record digest covers (`chain.record_form`: times as `chain.timestamp` writes
    them, the salt in hex). Audited as `assessment.read_record`; 409 `/problems/receipt-unavailable` when a row has
    no salt (written before migration 0009)."""
    stored = repository.stored_rows_of(session, caller.organisation_id, assessment_id)
    if not stored:
        raise NotFound(f"No assessment {assessment_id}")
    unsalted = [table for table, row in stored if row["salt"] is None]
    if unsalted:
        raise ReceiptUnavailable(
            f"No record for assessment {assessment_id}: its rows in {', '.join(sorted(set(unsalted)))} were stored "
            "before receipts existed and have no salt"
        )
    record = AssessmentRecord(
        assessment_id=assessment_id,
        rows=[StoredRow(table=table, row=record_form(table, row)["row"]) for table, row in stored],
    )
    assessment = stored[0][1]
    audit.record(
        session,
        caller=caller,
        action=READ_RECORD,
        resource_type=RESOURCE,
        resource_id=assessment_id,
        subject_ref=assessment["subject_ref"],
        response_digest=_digest(record),
    )
    return record


# --- dry runs ---------------------------------------------------------------------------------------------


def _stored_result(row: Assessment, explain: Collection[str]) -> dict[str, Any]:
    result = with_field_defaults(row.result)
    for option in EXPLAIN_OPTIONS:
        if option not in explain:
            result.pop(option, None)
    result["level"] = result["computed_level"]
    return result


def _names(items: Sequence[dict[str, Any]]) -> list[str]:
    return [str(i["id"]) for i in items]


def _changes(stored: dict[str, Any], rescored: dict[str, Any]) -> Changes:
    def added(key: str, names: bool = True) -> tuple[list[str], list[str]]:
        before = _names(stored[key]) if names else list(stored[key])
        after = _names(rescored[key]) if names else list(rescored[key])
        return [x for x in after if x not in before], [x for x in before if x not in after]

    triggers_added, triggers_removed = added("triggers")
    actions_added, actions_removed = added("actions")
    gaps_added, gaps_removed = added("information_gaps", names=False)
    scores = {
        name: Change(stored=stored["scores"].get(name), rescored=rescored["scores"].get(name))
        for name in sorted(set(stored["scores"]) | set(rescored["scores"]))
        if stored["scores"].get(name) != rescored["scores"].get(name)
    }
    level = None
    if stored["computed_level"] != rescored["computed_level"]:
        level = Change(stored=stored["computed_level"], rescored=rescored["computed_level"])
    return Changes(
        level=level,
        triggers_added=triggers_added,
        triggers_removed=triggers_removed,
        actions_added=actions_added,
        actions_removed=actions_removed,
        scores=scores,
        information_gaps_added=gaps_added,
        information_gaps_removed=gaps_removed,
    )


def _changed(changes: Changes) -> bool:
    return any(value for _, value in changes)


def rescore_assessment(
    session: Session,
    caller: Caller,
    assessment_id: str,
    *,
    ruleset_version: int,
    ruleset_key: str | None = None,
    explain: Collection[str] = frozenset(),
) -> RescoreRead:
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
    own_labels = _labels(session, caller, row)
    rescore = RescoreRead(
        assessment_id=row.id,
        stored=Result(**stored, **labels_of(own_labels, stored["level"], stored["computed_level"])),
        rescored=Result(**rescored, **labels_of(target.level_labels, rescored["level"], rescored["computed_level"])),
        changed=_changed(changes),
        changes=changes,
    )
    _record_about(
        session,
        caller,
        "assessment.rescore",
        loaded,
        rescore,
        details={"ruleset": f"{target.ruleset_key}@{target.ruleset_version}", "changed": rescore.changed},
    )
    return rescore


def _differences(stored: Any, replayed: Any, pointer: str = "") -> list[Difference]:
    if isinstance(stored, dict) and isinstance(replayed, dict):
        out: list[Difference] = []
        for key in sorted(set(stored) | set(replayed)):
            part = pointer + "/" + str(key).replace("~", "~0").replace("/", "~1")
            if key not in stored:
                out.append(Difference(where="result", pointer=part, stored=None, replayed=replayed[key]))
            elif key not in replayed:
                out.append(Difference(where="result", pointer=part, stored=stored[key], replayed=None))
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
        return [Difference(where="result", pointer=pointer, stored=stored, replayed=replayed)]
    return []


def _derived_column_differences(row: Assessment, replayed: dict[str, Any]) -> list[Difference]:
    """The stored columns derived from the result (`computed_level`, `review_by`) against the replayed result."""
    days = replayed["review_within_days"]
    review_by = row.created_at + timedelta(days=days) if days is not None else None
    pairs = [
        ("computed_level", row.computed_level, replayed["computed_level"]),
        ("review_by", _iso(row.review_by), _iso(review_by)),
    ]
    return [
        Difference(where="row", pointer=f"/{column}", stored=stored, replayed=expected)
        for column, stored, expected in pairs
        if stored != expected
    ]


_NEVER_COMPARED = frozenset({"level", "overrides", "engine_version"})  # set by overrides; the version is apart


def _replay_engine(stored_version: str, replayed_version: str, present: set[str]) -> ReplayEngine:
    """What a replay compares: the fields the stored engine version produced (with the explanation kept with the
    result), or, for a version this engine does not know, every field either result has."""
    produced = result_fields(stored_version)
    if produced is None:
        compared, later = present - _NEVER_COMPARED, set()
    else:
        compared = ({*produced} | (present & EXPLAIN_OPTIONS)) - _NEVER_COMPARED
        later = set(result_fields(replayed_version) or ()) - set(produced)
    return ReplayEngine(
        stored=stored_version,
        replayed=replayed_version,
        changed=stored_version != replayed_version,
        compared=sorted(compared),
        not_compared=sorted(later),
    )


def replay_assessment(
    session: Session, caller: Caller, assessment_id: str, *, explain: Collection[str] = frozenset()
) -> ReplayRead:
    """Re-evaluate the stored answers with the stored rule-set version and compare with the stored result (the fields
    its engine version produced; level and overrides aside) and with the stored columns derived from it."""
    loaded = _load(session, caller, assessment_id)
    row = loaded.row
    resolved = get_ruleset_for_replay(session, caller.organisation_id, row.ruleset_key, row.ruleset_version)
    kept = frozenset(o for o in EXPLAIN_OPTIONS if o in row.result)
    try:
        replayed_full = resolved.compiled.evaluate(row.answers, explain=kept)
    except AnswerError as exc:
        raise _answer_problem(exc.issues, "the stored answers no longer validate against their questionnaire") from exc
    engine = _replay_engine(row.engine_version, replayed_full["engine_version"], {*row.result, *replayed_full})
    compared_stored = {k: v for k, v in row.result.items() if k in engine.compared}
    compared_replayed = {k: v for k, v in replayed_full.items() if k in engine.compared}
    differences = _differences(compared_stored, compared_replayed)
    differences += _derived_column_differences(row, replayed_full)
    stored = _stored_result(row, explain)
    replayed = {k: v for k, v in replayed_full.items() if k not in EXPLAIN_OPTIONS or k in explain}
    if "counterfactuals" in explain:
        replayed["counterfactuals"] = stored.setdefault("counterfactuals", _counterfactuals(session, caller, row))
    labels = resolved.level_labels
    replay = ReplayRead(
        assessment_id=row.id,
        identical=not differences,
        differences=differences,
        engine=engine,
        stored=Result(**stored, **labels_of(labels, stored["level"], stored["computed_level"])),
        replayed=Result(**replayed, **labels_of(labels, replayed["level"], replayed["computed_level"])),
    )
    _record_about(session, caller, "assessment.replay", loaded, replay, details={"identical": not differences})
    return replay


def _report_labels(session: Session, caller: Caller, row: Assessment) -> Labels:
    """The heading (the rule set's title), level labels and descriptions, questions, score titles and action
    details from the assessment's own rule-set version and the questionnaire version it targets (the one the
    answers were checked against); ids stand in for anything not found."""
    try:
        resolved = get_ruleset_for_replay(session, caller.organisation_id, row.ruleset_key, row.ruleset_version)
    except NotFound:
        return Labels()
    questionnaire, ruleset = resolved.compiled.questionnaire, resolved.compiled.ruleset
    answered = (questionnaire.key, questionnaire.version) == (row.questionnaire_key, row.questionnaire_version)
    return Labels(
        title=ruleset.title,
        levels=resolved.level_labels,
        level_descriptions={
            level: entry.description for level, entry in ruleset.level_labels.items() if entry.description
        },
        items={item.id: item.question for item in questionnaire.items} if answered else {},
        scores={score.id: score.title for score in ruleset.scores if score.title},
        actions={action.id: action.detail for action in ruleset.actions if action.detail},
        item_reasons={GAP_RULE_ID: ruleset.unknown_answers.reason} if ruleset.unknown_answers else {},
    )


def _superseding(session: Session, caller: Caller, loaded: _Loaded) -> Superseding | None:
    if loaded.superseded_by is None:
        return None
    found = repository.get(session, caller.organisation_id, loaded.superseded_by)
    return None if found is None else Superseding(found[0].id, found[0].created_at)


def report(session: Session, caller: Caller, assessment_id: str) -> bytes:
    loaded = _load(session, caller, assessment_id)
    labels = _report_labels(session, caller, loaded.row)
    html = render_report(
        _assessment_read(loaded, frozenset(), labels.levels).model_dump(mode="json"),
        labels,
        _superseding(session, caller, loaded),
    ).encode()
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


# --- FHIR: the RiskAssessment representation (app/fhir/risk_assessment.py) -----------------------------------


@dataclass(frozen=True)
class FhirShown:
    """An assessment's RiskAssessment (a JSON-ready dict) and its digest (SHA-256 of its RFC 8785 form): the digest
    of the read's audit event and, with the `-fhir` suffix of app/fhir/media.py `fhir_etag`, its ETag."""

    resource: dict[str, Any]
    digest: str

    @property
    def etag(self) -> str:
        return fhir_etag(f'"{self.digest}"')


def _answer_labels(questionnaire: Questionnaire) -> dict[str, dict[str, str]]:
    labels: dict[str, dict[str, str]] = {}
    for item in questionnaire.items:
        if isinstance(item, SingleChoiceItem | MultiChoiceItem):
            labels[item.id] = {option.code: option.label for option in item.options}
        elif isinstance(item, YesNoUnknownItem):
            labels[item.id] = dict(YES_NO_UNKNOWN_DISPLAY)
    return labels


def _fhir_context(
    identifier_system: str, model: AssessmentRead, ruleset: RuleSetForFhir, public_base_url: str
) -> RiskAssessmentContext:
    questionnaire = ruleset.compiled.questionnaire
    answered = (questionnaire.key, questionnaire.version) == (model.questionnaire.key, model.questionnaire.version)
    gap_rule = ruleset.compiled.ruleset.unknown_answers
    return RiskAssessmentContext(
        identifier_system=identifier_system,
        public_base_url=public_base_url,
        canonical_base=canonical_base(ruleset.owner_organisation_id, public_base_url),
        ruleset_title=ruleset.compiled.ruleset.title,
        questions={item.id: item.question for item in questionnaire.items} if answered else {},
        unknown_readings=ruleset.compiled.unknown_readings,
        answer_labels=_answer_labels(questionnaire) if answered else {},
        gap_level=gap_rule.level if gap_rule is not None else None,
        level_labels=ruleset.level_labels,
    )


def as_fhir(session: Session, caller: Caller, model: AssessmentRead, *, base_url: str) -> FhirShown:
    """`model` (an assessment as the JSON API shows it) as a RiskAssessment; 409 FhirNotConfigured while the
    organisation has no identifier system. `base_url`: the public address the references point at."""
    identifier_system = auth_service.required_fhir_identifier_system(session, caller.organisation_id)
    ruleset = ruleset_for_fhir(session, caller.organisation_id, model.ruleset.key, model.ruleset.version)
    resource = risk_assessment(model, _fhir_context(identifier_system, model, ruleset, base_url))
    return FhirShown(resource, digest(resource))


def created_as_fhir(
    session: Session, caller: Caller, created: ShownAssessment | Replay, *, base_url: str
) -> FhirShown | None:
    """What `create_assessment` returned, as a RiskAssessment: the new assessment, or the assessment of a replayed
    201 as it was first returned (its stored response); None for a replayed refusal (it stays a problem)."""
    if isinstance(created, Replay):
        if created.status >= 300:
            return None
        return as_fhir(session, caller, AssessmentRead.model_validate_json(created.body), base_url=base_url)
    return as_fhir(session, caller, created.model, base_url=base_url)


def get_assessment_fhir(
    session: Session, caller: Caller, assessment_id: str, *, base_url: str, if_none_match: str | None = None
) -> tuple[FhirShown, bool]:
    """One revision as a RiskAssessment, and whether the caller's `If-None-Match` already holds it (the route then
    answers 304); audited as `assessment.read` with the digest of this representation. Explanations and answers
    are never part of it (the answers are the QuestionnaireResponse its `basis` points at)."""
    loaded = _load(session, caller, assessment_id)
    shown = as_fhir(session, caller, _render_loaded(session, caller, loaded, frozenset()), base_url=base_url)
    not_modified = none_match_holds(shown.etag, if_none_match)
    _record_about(session, caller, "assessment.read", loaded, shown.digest, status=304 if not_modified else 200)
    return shown, not_modified


# --- for other features -----------------------------------------------------------------------------------


def stored_answers_for_impact(
    session: Session,
    organisation_id: str,
    questionnaire_key: str,
    up_to_questionnaire_version: int,
    *,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> list[tuple[str, str, dict[str, Any]]]:
    """(assessment id, computed level, answers) of the latest, not entered-in-error revisions that answered the
    questionnaire at `up_to_questionnaire_version` or an earlier version, newest first."""
    return repository.latest_answers(
        session,
        organisation_id,
        questionnaire_key,
        up_to_questionnaire_version,
        since=since,
        until=until,
        limit=limit,
    )
