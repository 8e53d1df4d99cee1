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
    Boolean,
    Integer,
    Select,
    String,
    Table,
    Text,
    bindparam,
    column,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy.orm import Session, aliased

from app.assessments.models import Assessment, AssessmentEnteredInError, AssessmentOverride, IdempotencyRecord
from app.audit.chain import record_digest
from app.audit.service import Gate, NewRow
from app.core import sqlite_direct
from app.core.db import UTCDateTime
from app.core.pagination import Keyset, Position

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


def new_assessment(values: dict[str, Any]) -> NewRow:
    """A new assessment row, written by the audit append in the same round trip as its event."""
    return NewRow(_ASSESSMENTS, values)


def new_idempotency_record(values: dict[str, Any]) -> NewRow:
    return NewRow(_IDEMPOTENCY, values)


def get(session: Session, organisation_id: str, assessment_id: str) -> tuple[Assessment, str | None] | None:
    row = session.execute(_scoped(organisation_id).where(Assessment.id == assessment_id)).first()
    return (row[0], row[1]) if row else None


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


def is_superseded(session: Session, organisation_id: str, assessment_id: str) -> bool:
    return bool(
        session.scalar(
            select(
                exists().where(Assessment.organisation_id == organisation_id, Assessment.supersedes == assessment_id)
            )
        )
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


# --- case records, as `audit verify` checks them -------------------------------------------------------------


def _record_digest(table: Table, values: Mapping[str, Any]) -> str:
    """`chain.record_digest` of one row of `table`: every stored column, none missing."""
    return record_digest(table.name, {c.name: values[c.name] for c in table.columns})


def assessment_digest(values: Mapping[str, Any]) -> str:
    return _record_digest(_ASSESSMENTS, values)


def override_digest(values: Mapping[str, Any]) -> str:
    return _record_digest(_OVERRIDES, values)


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


def _final_level(organisation_id: str) -> Any:
    latest_override = (
        select(AssessmentOverride.level)
        .where(
            AssessmentOverride.organisation_id == organisation_id,
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


def page(
    session: Session,
    organisation_id: str,
    *,
    subject_ref: str | None,
    level: str | None,
    created_from: datetime | None,
    created_to: datetime | None,
    ruleset_key: str | None,
    ruleset_version: int | None,
    include_superseded: bool,
    include_entered_in_error: bool,
    after: Position | None,
    limit: int,
) -> list[tuple[Assessment, str | None]]:
    """Newest first, in `LISTED` order after `after` (stable while rows are inserted); `limit` + 1 rows at most."""
    stmt = _scoped(organisation_id)
    if subject_ref is not None:
        stmt = stmt.where(Assessment.subject_ref == subject_ref)
    if level is not None:
        stmt = stmt.where(_final_level(organisation_id) == level)
    if created_from is not None:
        stmt = stmt.where(Assessment.created_at >= created_from)
    if created_to is not None:
        stmt = stmt.where(Assessment.created_at < created_to)
    if ruleset_key is not None:
        stmt = stmt.where(Assessment.ruleset_key == ruleset_key)
    if ruleset_version is not None:
        stmt = stmt.where(Assessment.ruleset_version == ruleset_version)
    if not include_superseded:
        stmt = stmt.where(_not_superseded(organisation_id))
    if not include_entered_in_error:
        stmt = stmt.where(_not_in_error(organisation_id))
    rows = session.execute(LISTED.apply(stmt, after, limit))
    return [(r[0], r[1]) for r in rows]


def chain_ids(session: Session, organisation_id: str, assessment_id: str) -> list[str]:
    """Ids of every revision in the chain that holds `assessment_id`, oldest first."""
    links = {
        str(r[0]): (str(r[1]) if r[1] else None)
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
    while links.get(root) is not None:
        root = links[root]  # type: ignore[assignment]
    following = {parent: child for child, parent in links.items() if parent is not None}
    chain = [root]
    while chain[-1] in following:
        chain.append(following[chain[-1]])
    return chain


def by_ids(session: Session, organisation_id: str, ids: Sequence[str]) -> list[tuple[Assessment, str | None]]:
    rows = session.execute(_scoped(organisation_id).where(Assessment.id.in_(ids)))
    found = {r[0].id: (r[0], r[1]) for r in rows}
    return [found[i] for i in ids if i in found]


def latest_answers(
    session: Session,
    organisation_id: str,
    questionnaire_key: str,
    questionnaire_version: int,
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
            Assessment.questionnaire_version == questionnaire_version,
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
    return [(str(r[0]), str(r[1]), dict(r[2])) for r in session.execute(stmt)]


# --- idempotency ------------------------------------------------------------------------------------------


_PG_LOCK_AND_READ = text(
    "SELECT pg_try_advisory_xact_lock(:lock) AS locked, r.fingerprint, r.status_code, r.body, r.location, "
    "r.expires_at FROM (SELECT 1) AS one "
    "LEFT JOIN idempotency_records AS r ON r.client_id = :client AND r.key = :key"
).columns(
    column("locked", Boolean),
    column("fingerprint", String),
    column("status_code", Integer),
    column("body", Text),
    column("location", String),
    column("expires_at", UTCDateTime()),
)
_READ = select(
    literal(True).label("locked"),
    _IDEMPOTENCY.c.fingerprint,
    _IDEMPOTENCY.c.status_code,
    _IDEMPOTENCY.c.body,
    _IDEMPOTENCY.c.location,
    _IDEMPOTENCY.c.expires_at,
).where(_IDEMPOTENCY.c.client_id == bindparam("client"), _IDEMPOTENCY.c.key == bindparam("key"))


@dataclass(frozen=True)
class StoredResponse:
    fingerprint: str
    status_code: int
    body: str
    location: str | None
    expires_at: datetime


# PostgreSQL: the gate of the one-statement create (service._create_in_one_statement). The key's advisory lock and
# its stored response are read in the append statement itself; the assessment, the record, the audit event and
# the head move are written only when the lock is granted and no response is stored yet.
IDEMPOTENCY_GATE = Gate(
    key="idempotency",
    sql=(
        "SELECT l.locked, l.locked AND r.fingerprint IS NULL AS ok, r.fingerprint IS NOT NULL AS stored "
        "FROM (SELECT pg_try_advisory_xact_lock(:g_lock) AS locked) AS l "
        "LEFT JOIN idempotency_records AS r ON r.client_id = :g_client AND r.key = :g_key"
    ),
    binds=(
        bindparam("g_lock", type_=BigInteger()),
        bindparam("g_client", type_=String()),
        bindparam("g_key", type_=String()),
    ),
)
NO_GATE = Gate(key="none", sql="SELECT true AS locked, true AS ok, false AS stored", binds=())


def idempotency_gate_params(client_id: str, key: str) -> dict[str, Any]:
    return {"g_lock": _lock_id(client_id, key), "g_client": client_id, "g_key": key}


def _lock_id(client_id: str, key: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{client_id}\x00{key}".encode()).digest()[:8], "big", signed=True)


def lock_and_read_idempotency_key(session: Session, client_id: str, key: str) -> tuple[bool, StoredResponse | None]:
    """(whether this request may proceed, the stored response of the key if any), in one round trip.

    PostgreSQL: a transaction-level advisory lock on (client, key); not granted = another request with the key
    is running. SQLite needs none: BEGIN IMMEDIATE already serialises every write transaction.
    """
    if session.get_bind().dialect.name == "postgresql":
        params = {"lock": _lock_id(client_id, key), "client": client_id, "key": key}
        row = session.connection().execute(_PG_LOCK_AND_READ, params).first()
    else:
        row = session.connection().execute(_READ, {"client": client_id, "key": key}).first()
    if row is None:
        return True, None
    if not row.locked:
        return False, None
    if row.fingerprint is None:
        return True, None
    return True, StoredResponse(row.fingerprint, row.status_code, row.body, row.location, row.expires_at)


def idempotency_key_used_direct(transaction: sqlite_direct.Transaction, client_id: str, key: str) -> bool:
    """SQLite, inside BEGIN IMMEDIATE (app/core/sqlite_direct.py): whether a response is stored under the key."""
    sql = "SELECT 1 FROM idempotency_records WHERE client_id = ? AND key = ?"
    return transaction.execute(sql, (client_id, key)).fetchone() is not None


def idempotency_record(session: Session, client_id: str, key: str) -> StoredResponse | None:
    row = session.execute(_READ, {"client": client_id, "key": key}).first()
    if row is None:
        return None
    return StoredResponse(row.fingerprint, row.status_code, row.body, row.location, row.expires_at)


def delete_idempotency_record(session: Session, client_id: str, key: str) -> None:
    session.execute(delete(_IDEMPOTENCY).where(_IDEMPOTENCY.c.client_id == client_id, _IDEMPOTENCY.c.key == key))


def insert_idempotency_record(session: Session, values: dict[str, Any]) -> None:
    session.execute(insert(_IDEMPOTENCY), [values])


def purge_idempotency_records(session: Session, now: datetime) -> int:
    result = session.execute(delete(_IDEMPOTENCY).where(_IDEMPOTENCY.c.expires_at <= now))
    return int(getattr(result, "rowcount", 0) or 0)
