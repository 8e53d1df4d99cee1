"""All SQL for assessments, overrides, entered-in-error marks and idempotency records.

Every statement is scoped to one organisation (the idempotency records are scoped to one client, which
belongs to exactly one organisation). The write path uses Core inserts: no ORM unit of work on the hot path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal_column,
    select,
    true,
    union,
)
from sqlalchemy.orm import Session, aliased

from app.assessments.models import Assessment, AssessmentEnteredInError, AssessmentOverride, IdempotencyRecord
from app.audit.chain import record_digest, record_form
from app.core.pagination import Computed, Keyset, Position, StatementT

_ASSESSMENTS = cast(Table, Assessment.__table__)
_OVERRIDES = cast(Table, AssessmentOverride.__table__)
_ERRORS = cast(Table, AssessmentEnteredInError.__table__)
_IDEMPOTENCY = cast(Table, IdempotencyRecord.__table__)

_Next = aliased(Assessment)


def _scoped(organisation_id: str) -> Select[Assessment, str | None]:
    """The base statement of every assessment read: the organisation's rows, with the superseding id."""
    superseded_by = (
        select(_Next.id)
        .where(_Next.organisation_id == organisation_id, _Next.supersedes == Assessment.id)
        .correlate(Assessment)
        .scalar_subquery()
    )
    return select(Assessment, superseded_by.label("superseded_by")).where(Assessment.organisation_id == organisation_id)


def get(session: Session, organisation_id: str, assessment_id: str) -> tuple[Assessment, str | None] | None:
    row = session.execute(_scoped(organisation_id).where(Assessment.id == assessment_id)).first()
    return (row.Assessment, row.superseded_by) if row else None


def lock_for_state_change(session: Session, organisation_id: str, assessment_id: str) -> None:
    """Lock the assessment's row until the transaction ends, so that the state changes of one assessment (amend,
    override, entered in error) run one at a time and each reads the state the previous one committed.

    PostgreSQL: FOR NO KEY UPDATE, the weakest row lock that conflicts with itself (it changes no key, so it does
    not hold up a foreign-key check on the row); a second locker waits, up to the lock timeout. Reads take no row
    lock and never wait for it. SQLite ignores the clause: BEGIN IMMEDIATE already runs one write at a time.
    """
    session.execute(
        select(Assessment.id)
        .where(Assessment.organisation_id == organisation_id, Assessment.id == assessment_id)
        .with_for_update(key_share=True)
    )


def overrides(session: Session, organisation_id: str, assessment_ids: Sequence[str]) -> list[AssessmentOverride]:
    if not assessment_ids:
        return []
    return list(
        session.scalars(
            select(AssessmentOverride)
            .where(
                AssessmentOverride.organisation_id == organisation_id,
                AssessmentOverride.assessment_id.in_(assessment_ids),
            )
            .order_by(AssessmentOverride.id)
        )
    )


def entered_in_error(
    session: Session, organisation_id: str, assessment_ids: Sequence[str]
) -> list[AssessmentEnteredInError]:
    if not assessment_ids:
        return []
    return list(
        session.scalars(
            select(AssessmentEnteredInError).where(
                AssessmentEnteredInError.organisation_id == organisation_id,
                AssessmentEnteredInError.assessment_id.in_(assessment_ids),
            )
        )
    )


def add_override(session: Session, values: dict[str, Any]) -> int:
    """Insert the override and return its id (the row's digest covers it)."""
    return int(session.execute(insert(_OVERRIDES).values(values).returning(_OVERRIDES.c.id)).scalar_one())


def add_entered_in_error(session: Session, values: dict[str, Any]) -> None:
    session.execute(insert(_ERRORS), [values])


def add_assessment(session: Session, values: dict[str, Any], response: dict[str, Any] | None = None) -> None:
    """Insert a new assessment (create and amend): every column given, none defaulted, so the row's digest, computed
    from `values`, is the digest of the row as stored; with `response`, store it as its Idempotency-Key's response
    (`store_idempotent_response`), in the same statement on PostgreSQL."""
    if response is None:
        session.execute(_ADD_ASSESSMENT, values)
    elif session.get_bind().dialect.name == "postgresql":
        session.execute(_ADD_ASSESSMENT_AND_RESPONSE, {**values, **_response_params(response)})
    else:
        session.execute(_ADD_ASSESSMENT, values)
        store_idempotent_response(session, response)


# --- case records, as `audit verify` checks them -------------------------------------------------------------


def _record_digest(table: Table, values: Mapping[str, Any]) -> str:
    """`chain.record_digest` of one row of `table`: every stored column, none missing."""
    return record_digest(table.name, {c.name: values[c.name] for c in table.columns})


def override_record_form(values: Mapping[str, Any]) -> dict[str, Any]:
    """`chain.record_form` of an override row (what its event's commitment and record digest cover)."""
    return record_form(_OVERRIDES.name, {c.name: values[c.name] for c in _OVERRIDES.columns})


def entered_in_error_record_form(values: Mapping[str, Any]) -> dict[str, Any]:
    return record_form(_ERRORS.name, {c.name: values[c.name] for c in _ERRORS.columns})


def assessment_digest(values: Mapping[str, Any]) -> str:
    return _record_digest(_ASSESSMENTS, values)


def override_digest(values: Mapping[str, Any]) -> str:
    return _record_digest(_OVERRIDES, values)


# The columns an override row had before migration 0005 added `review_by` (ADR 0010).
_OVERRIDE_COLUMNS_BEFORE_0005 = tuple(c.name for c in _OVERRIDES.columns if c.name != "review_by")


def override_digests(values: Mapping[str, Any]) -> tuple[str, str]:
    """The record digests an override row may have been recorded with: of every column (as written since migration
    0005), and of the columns it had before (a row written earlier, whose `review_by` the migration filled in; verify
    checks that column by recomputing it)."""
    before_0005 = record_digest(_OVERRIDES.name, {name: values[name] for name in _OVERRIDE_COLUMNS_BEFORE_0005})
    return override_digest(values), before_0005


def entered_in_error_digest(values: Mapping[str, Any]) -> str:
    return _record_digest(_ERRORS, values)


def _stored_rows(session: Session, table: Table, organisation_id: str, order: Any) -> Iterator[Mapping[str, Any]]:
    statement = select(table).where(table.c.organisation_id == organisation_id).order_by(order)
    rows = session.execute(statement.execution_options(yield_per=500)).mappings()
    return cast(Iterator[Mapping[str, Any]], iter(rows))


def stored_assessments(session: Session, organisation_id: str) -> Iterator[Mapping[str, Any]]:
    """Every assessment row of the organisation, every column as stored, streamed."""
    return _stored_rows(session, _ASSESSMENTS, organisation_id, _ASSESSMENTS.c.id)


def stored_overrides(session: Session, organisation_id: str) -> Iterator[Mapping[str, Any]]:
    return _stored_rows(session, _OVERRIDES, organisation_id, _OVERRIDES.c.id)


def stored_entered_in_error(session: Session, organisation_id: str) -> Iterator[Mapping[str, Any]]:
    return _stored_rows(session, _ERRORS, organisation_id, _ERRORS.c.assessment_id)


def stored_rows_of(session: Session, organisation_id: str, assessment_id: str) -> list[tuple[str, Mapping[str, Any]]]:
    """One assessment's stored rows, every column as stored, by table name: the assessment row, its overrides in
    id order, its entered-in-error mark. Empty when the organisation has no such assessment."""
    found: list[tuple[str, Mapping[str, Any]]] = []
    for table, key, order in (
        (_ASSESSMENTS, _ASSESSMENTS.c.id, _ASSESSMENTS.c.id),
        (_OVERRIDES, _OVERRIDES.c.assessment_id, _OVERRIDES.c.id),
        (_ERRORS, _ERRORS.c.assessment_id, _ERRORS.c.assessment_id),
    ):
        statement = (
            select(table).where(table.c.organisation_id == organisation_id, key == assessment_id).order_by(order)
        )
        found.extend((table.name, cast(Mapping[str, Any], row)) for row in session.execute(statement).mappings())
        if not found:
            return []
    return found


def event_columns(row: Assessment) -> dict[str, Any]:
    """The values of an assessment's row that its outbox events name (app/events/service.emit_about_assessment)."""
    return {
        name: getattr(row, name)
        for name in ("id", "organisation_id", "subject_ref", "computed_level", "ruleset_key", "ruleset_version")
    }


def final_level() -> Any:
    """The level in force, for a select of `Assessment`: the latest override's, else the computed one (correlated
    on the assessment's organisation, as `effective_review_by`)."""
    latest_override = (
        select(AssessmentOverride.level)
        .where(
            AssessmentOverride.organisation_id == Assessment.organisation_id,
            AssessmentOverride.assessment_id == Assessment.id,
        )
        .order_by(AssessmentOverride.id.desc())
        .limit(1)
        .correlate(Assessment)
        .scalar_subquery()
    )
    return func.coalesce(latest_override, Assessment.computed_level)


def _not_superseded(organisation_id: str) -> Any:
    return ~exists().where(_Next.organisation_id == organisation_id, _Next.supersedes == Assessment.id)


def _not_in_error(organisation_id: str) -> Any:
    return ~exists().where(
        AssessmentEnteredInError.organisation_id == organisation_id,
        AssessmentEnteredInError.assessment_id == Assessment.id,
    )


LISTED = Keyset("assessments", (Assessment.created_at, Assessment.id), descending=True)


def effective_review_by() -> Any:
    """The review date in force, for a select of `Assessment`: the latest override's, else the assessment's own
    (app/scoring/reviews.py). Overrides of an assessment belong to its organisation, so correlating on that keeps the
    subquery scoped."""
    latest_override = (
        select(AssessmentOverride.review_by)
        .where(
            AssessmentOverride.organisation_id == Assessment.organisation_id,
            AssessmentOverride.assessment_id == Assessment.id,
        )
        .order_by(AssessmentOverride.id.desc())
        .limit(1)
        .correlate(Assessment)
        .scalar_subquery()
    )
    return func.coalesce(latest_override, Assessment.review_by)


DUE = Keyset("assessments-due", (Computed("review_by", effective_review_by()), Assessment.id))


@dataclass(frozen=True)
class ListFilter:
    """The filters every assessment list takes (the service's `ListFilters`, as the repository reads them)."""

    subject_ref: str | None
    level: str | None
    created_from: datetime | None
    created_to: datetime | None
    ruleset_key: str | None
    ruleset_version: int | None
    include_superseded: bool
    include_entered_in_error: bool


def _filtered(stmt: StatementT, organisation_id: str, f: ListFilter) -> StatementT:
    if f.subject_ref is not None:
        stmt = stmt.where(Assessment.subject_ref == f.subject_ref)
    if f.level is not None:
        stmt = stmt.where(final_level() == f.level)
    if f.created_from is not None:
        stmt = stmt.where(Assessment.created_at >= f.created_from)
    if f.created_to is not None:
        stmt = stmt.where(Assessment.created_at < f.created_to)
    if f.ruleset_key is not None:
        stmt = stmt.where(Assessment.ruleset_key == f.ruleset_key)
    if f.ruleset_version is not None:
        stmt = stmt.where(Assessment.ruleset_version == f.ruleset_version)
    if not f.include_superseded:
        stmt = stmt.where(_not_superseded(organisation_id))
    if not f.include_entered_in_error:
        stmt = stmt.where(_not_in_error(organisation_id))
    return stmt


def page(
    session: Session, organisation_id: str, filters: ListFilter, *, after: Position | None, limit: int
) -> list[tuple[Assessment, str | None]]:
    """Newest first, in `LISTED` order after `after` (stable while rows are inserted); `limit` + 1 rows at most."""
    rows = session.execute(LISTED.apply(_filtered(_scoped(organisation_id), organisation_id, filters), after, limit))
    return [(row.Assessment, row.superseded_by) for row in rows]


def due_page(
    session: Session,
    organisation_id: str,
    filters: ListFilter,
    *,
    review_by_before: datetime,
    after: Position | None,
    limit: int,
) -> list[tuple[Assessment, str | None, datetime]]:
    """The assessments whose review date in force (`effective_review_by`) is before `review_by_before`, with it, in
    `DUE` order (earliest first, then id) after `after`; `limit` + 1 rows at most.

    The review date in force is never later than the assessment's own or any of its overrides' (each override keeps
    the earlier date), so an assessment is due only if one of those stored dates is before the instant: the two
    indexes on (organisation, review_by) find those candidates, and the exact test runs on them alone."""
    candidates = union(
        select(Assessment.id).where(
            Assessment.organisation_id == organisation_id, Assessment.review_by < review_by_before
        ),
        select(AssessmentOverride.assessment_id).where(
            AssessmentOverride.organisation_id == organisation_id, AssessmentOverride.review_by < review_by_before
        ),
    )
    review_by = effective_review_by()
    stmt = (
        _scoped(organisation_id)
        .add_columns(review_by.label("effective_review_by"))
        .where(Assessment.id.in_(candidates), review_by < review_by_before)
    )
    rows = session.execute(DUE.apply(_filtered(stmt, organisation_id, filters), after, limit))
    return [(row.Assessment, row.superseded_by, row.effective_review_by) for row in rows]


def chain_ids(session: Session, organisation_id: str, assessment_id: str) -> list[str]:
    """Ids of every revision in the chain that holds `assessment_id`, oldest first."""
    links = {
        r.id: r.supersedes
        for r in session.execute(
            select(Assessment.id, Assessment.supersedes).where(
                Assessment.organisation_id == organisation_id,
                Assessment.subject_ref
                == select(Assessment.subject_ref)
                .where(Assessment.organisation_id == organisation_id, Assessment.id == assessment_id)
                .scalar_subquery(),
            )
        )
    }
    if assessment_id not in links:
        return []
    root = assessment_id
    while (parent := links.get(root)) is not None:
        root = parent
    following = {parent: child for child, parent in links.items() if parent is not None}
    chain = [root]
    while chain[-1] in following:
        chain.append(following[chain[-1]])
    return chain


def by_ids(session: Session, organisation_id: str, ids: Sequence[str]) -> list[tuple[Assessment, str | None]]:
    rows = session.execute(_scoped(organisation_id).where(Assessment.id.in_(ids)))
    found = {r.Assessment.id: (r.Assessment, r.superseded_by) for r in rows}
    return [found[i] for i in ids if i in found]


def latest_answers(
    session: Session,
    organisation_id: str,
    questionnaire_key: str,
    up_to_questionnaire_version: int,
    *,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> list[tuple[str, str, dict[str, Any]]]:
    stmt = (
        select(Assessment.id, Assessment.computed_level, Assessment.answers)
        .where(
            Assessment.organisation_id == organisation_id,
            Assessment.questionnaire_key == questionnaire_key,
            Assessment.questionnaire_version <= up_to_questionnaire_version,
            _not_superseded(organisation_id),
            _not_in_error(organisation_id),
        )
        .order_by(Assessment.created_at.desc(), Assessment.id.desc())
        .limit(limit)
    )
    if since is not None:
        stmt = stmt.where(Assessment.created_at >= since)
    if until is not None:
        stmt = stmt.where(Assessment.created_at < until)
    return [(r.id, r.computed_level, dict(r.answers)) for r in session.execute(stmt)]


# --- idempotency ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredResponse:
    endpoint: str
    fingerprint: str
    status_code: int
    body: str
    location: str | None
    expires_at: datetime


@dataclass(frozen=True)
class KeyClaim:
    """What `claim_idempotency_key` found: whether this request may go on with the key, and its stored response."""

    granted: bool
    stored: StoredResponse | None


def _lock_id(client_id: str, key: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{client_id}\x00{key}".encode()).digest()[:8], "big", signed=True)


def _claim_statement(postgresql: bool) -> Select[Any]:
    # PostgreSQL: a transaction-level advisory lock on (client, key), taken in the statement that reads the key;
    # not granted = another request with the key is running. SQLite: BEGIN IMMEDIATE already serialises writers.
    granted = func.pg_try_advisory_xact_lock(bindparam("lock", type_=BigInteger())) if postgresql else true()
    key = and_(_IDEMPOTENCY.c.client_id == bindparam("client"), _IDEMPOTENCY.c.key == bindparam("key"))
    return select(
        granted.label("granted"),
        _IDEMPOTENCY.c.endpoint,
        _IDEMPOTENCY.c.fingerprint,
        _IDEMPOTENCY.c.status_code,
        _IDEMPOTENCY.c.body,
        _IDEMPOTENCY.c.location,
        _IDEMPOTENCY.c.expires_at,
    ).select_from(select(literal_column("1").label("one")).subquery().outerjoin(_IDEMPOTENCY, key))


_CLAIMS = {True: _claim_statement(postgresql=True), False: _claim_statement(postgresql=False)}


def claim_idempotency_key(session: Session, client_id: str, key: str) -> KeyClaim:
    """Whether this request may go on with the client's key (no other request with it running), and the response
    stored under it, in one round trip; the claim holds until the transaction ends."""
    postgresql = session.get_bind().dialect.name == "postgresql"
    params = {"lock": _lock_id(client_id, key), "client": client_id, "key": key}
    row = session.execute(_CLAIMS[postgresql], params).one()
    if not row.granted or row.fingerprint is None:
        return KeyClaim(bool(row.granted), None)
    stored = StoredResponse(row.endpoint, row.fingerprint, row.status_code, row.body, row.location, row.expires_at)
    return KeyClaim(True, stored)


_STORE_RESPONSE = insert(_IDEMPOTENCY).values(
    {c.name: bindparam(f"response_{c.name}", type_=c.type) for c in _IDEMPOTENCY.c}
)
_ADD_ASSESSMENT = insert(_ASSESSMENTS).values({c.name: bindparam(c.name, type_=c.type) for c in _ASSESSMENTS.c})
# PostgreSQL: the response inserted by a data-modifying CTE of the assessment's INSERT, one round trip for both.
_ADD_ASSESSMENT_AND_RESPONSE = _ADD_ASSESSMENT.add_cte(_STORE_RESPONSE.cte("stored_response"))


def _response_params(values: dict[str, Any]) -> dict[str, Any]:
    return {f"response_{name}": value for name, value in values.items()}


def store_idempotent_response(session: Session, values: dict[str, Any]) -> None:
    """The first completed response to a key; a second one for the same key is an IntegrityError."""
    session.execute(_STORE_RESPONSE, _response_params(values))


def delete_idempotency_record(session: Session, client_id: str, key: str) -> None:
    session.execute(delete(_IDEMPOTENCY).where(_IDEMPOTENCY.c.client_id == client_id, _IDEMPOTENCY.c.key == key))


def purge_idempotency_records(session: Session, now: datetime) -> int:
    result = session.execute(delete(_IDEMPOTENCY).where(_IDEMPOTENCY.c.expires_at <= now))
    return int(getattr(result, "rowcount", 0) or 0)
