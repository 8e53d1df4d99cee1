"""All SQL for the audit chain. Appends are serialised per organisation by a lock on the chain head row."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    CTE,
    BigInteger,
    Select,
    String,
    Subquery,
    Table,
    Update,
    bindparam,
    insert,
    select,
    union,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import GenericFunction

from app.audit.chain import genesis_hash, link_hash
from app.audit.models import AuditChainHead, AuditEvent, AuditEventRef
from app.core.db import register_sqlite_function, utcnow
from app.core.pagination import Keyset, Position

_HEAD = cast(Table, AuditChainHead.__table__)
_EVENTS = cast(Table, AuditEvent.__table__)
_REFS = cast(Table, AuditEventRef.__table__)


class _LinkHash(GenericFunction[str]):
    """`chain.link_hash(prev_hash, sequence, content_hash)` evaluated by the database, so that one statement reads
    the head and writes the event: PostgreSQL computes it with its own sha256; SQLite calls `chain.link_hash`
    itself, registered on each connection under this function's name."""

    name = "riskapi_link_hash"
    type = String()
    inherit_cache = True


@compiles(_LinkHash, "postgresql")
def _link_hash_on_postgresql(element: _LinkHash, compiler: SQLCompiler, **kw: Any) -> str:
    prev_hash, sequence, content_hash = (compiler.process(arg, **kw) for arg in element.clauses)
    text = f"{prev_hash} || ':' || ({sequence})::text || ':' || {content_hash}"
    return f"encode(sha256(convert_to({text}, 'UTF8')), 'hex')"


register_sqlite_function(_LinkHash.name, 3, link_hash)

_EVENT_VALUE_COLUMNS = [c.name for c in _EVENTS.c if c.name not in ("sequence", "prev_hash", "hash")]
_NEXT_SEQUENCE = _HEAD.c.sequence + 1
# The event, chained to the head it reads. FOR UPDATE (PostgreSQL; SQLite's BEGIN IMMEDIATE already holds the
# database's write lock) queues the appends of one organisation on its head row until COMMIT, so the chain never
# forks; a waiting append reads the head its predecessor committed. No row: the organisation has no head yet.
_APPEND_EVENT = (
    insert(_EVENTS)
    .from_select(
        [*_EVENT_VALUE_COLUMNS, "sequence", "prev_hash", "hash"],
        select(
            *(bindparam(f"e_{c}", type_=_EVENTS.c[c].type) for c in _EVENT_VALUE_COLUMNS),
            _NEXT_SEQUENCE,
            _HEAD.c.hash,
            _LinkHash(_HEAD.c.hash, _NEXT_SEQUENCE, bindparam("content_hash", type_=String())),
        )
        .where(_HEAD.c.organisation_id == bindparam("head_organisation_id"))
        .with_for_update(),
    )
    .returning(_EVENTS.c.organisation_id, _EVENTS.c.sequence, _EVENTS.c.hash)
)


def _move_head(appended: Subquery | CTE) -> Update:
    """The head moved to the appended event (`appended`: its sequence and hash), returning its sequence."""
    return (
        update(_HEAD)
        .where(_HEAD.c.organisation_id == appended.c.organisation_id)
        .values(sequence=appended.c.sequence, hash=appended.c.hash, updated_at=bindparam("now"))
        .returning(appended.c.sequence)
    )


# PostgreSQL: the append in one statement, the event inserted by a data-modifying CTE the head move reads (the
# UPDATE finds the head row the CTE locked, in its latest version). SQLite allows no data-modifying CTE: the event
# is inserted first and the head moved to what its RETURNING gave.
_APPEND_AND_MOVE_HEAD = _move_head(_APPEND_EVENT.cte("appended"))
_MOVE_HEAD_TO = _move_head(
    select(
        bindparam("head_organisation_id", type_=String()).label("organisation_id"),
        bindparam("sequence", type_=BigInteger()).label("sequence"),
        bindparam("hash", type_=String()).label("hash"),
    ).subquery("appended")
)


def _ensure_head(session: Session, organisation_id: str) -> None:
    values = {
        "organisation_id": organisation_id,
        "sequence": 0,
        "hash": genesis_hash(organisation_id),
        "updated_at": utcnow(),
    }
    dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(dialect_insert(_HEAD).values(values).on_conflict_do_nothing())


def append(
    session: Session, event: dict[str, Any], content_hash: str, refs: Sequence[dict[str, Any]], now: datetime
) -> int:
    """Append the event (without its chain fields) and move the chain head; returns the event's sequence."""
    params = {f"e_{c}": event[c] for c in _EVENT_VALUE_COLUMNS}
    params.update(content_hash=content_hash, head_organisation_id=event["organisation_id"], now=now)
    postgresql = session.get_bind().dialect.name == "postgresql"
    sequence = _append_once(session, params, postgresql)
    if sequence is None:  # the organisation's first event: create its head, then append
        _ensure_head(session, event["organisation_id"])
        sequence = _append_once(session, params, postgresql)
        assert sequence is not None
    if refs:
        session.execute(insert(_REFS), [{**ref, "sequence": sequence} for ref in refs])
    return sequence


def _append_once(session: Session, params: dict[str, Any], postgresql: bool) -> int | None:
    """The event's sequence, or None, having written nothing, when the organisation has no chain head."""
    if postgresql:
        moved = session.execute(_APPEND_AND_MOVE_HEAD, params).one_or_none()
        return None if moved is None else int(moved.sequence)
    appended = session.execute(_APPEND_EVENT, params).one_or_none()
    if appended is None:
        return None
    session.execute(_MOVE_HEAD_TO, {**params, "sequence": appended.sequence, "hash": appended.hash})
    return int(appended.sequence)


def head(session: Session, organisation_id: str) -> tuple[int, str] | None:
    row = session.execute(
        select(_HEAD.c.sequence, _HEAD.c.hash).where(_HEAD.c.organisation_id == organisation_id)
    ).first()
    return (int(row.sequence), str(row.hash)) if row else None


def events_after(session: Session, organisation_id: str, after_sequence: int, limit: int) -> list[AuditEvent]:
    """Up to `limit` events with sequence > `after_sequence`, in sequence order."""
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.organisation_id == organisation_id, AuditEvent.sequence > after_sequence)
            .order_by(AuditEvent.sequence)
            .limit(limit)
        )
    )


def events_about(session: Session, organisation_id: str, resource_id: str, actions: Sequence[str]) -> list[AuditEvent]:
    """The organisation's events of these actions about the resource, in sequence order."""
    return list(
        session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.organisation_id == organisation_id,
                AuditEvent.resource_id == resource_id,
                AuditEvent.action.in_(list(actions)),
            )
            .order_by(AuditEvent.sequence)
        )
    )


def iter_events(session: Session, organisation_id: str, batch: int = 1000) -> Iterator[AuditEvent]:
    """Every event of the organisation in sequence order, read in keyset batches."""
    after = -1
    while True:
        rows = events_after(session, organisation_id, after, batch)
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].sequence
        session.expunge_all()


LISTED = Keyset("audit events", (AuditEvent.sequence,), within=(AuditEvent.organisation_id,))


def search(
    session: Session,
    organisation_id: str,
    *,
    subject_ref: str | None,
    resource_id: str | None,
    resource_type: str | None,
    acting_user: str | None,
    client_id: str | None,
    action: str | None,
    since: datetime | None,
    until: datetime | None,
    after: Position | None,
    limit: int,
) -> list[AuditEvent]:
    """In `LISTED` (chain) order after `after`; `limit` + 1 rows at most."""
    stmt: Select[AuditEvent] = select(AuditEvent).where(AuditEvent.organisation_id == organisation_id)
    for column, value in (
        (AuditEvent.acting_user, acting_user),
        (AuditEvent.client_id, client_id),
        (AuditEvent.action, action),
        (AuditEvent.resource_type, resource_type),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    for column, ref_column, value in (
        (AuditEvent.subject_ref, AuditEventRef.subject_ref, subject_ref),
        (AuditEvent.resource_id, AuditEventRef.resource_id, resource_id),
    ):
        if value is not None:
            direct = select(AuditEvent.sequence).where(AuditEvent.organisation_id == organisation_id, column == value)
            listed = select(AuditEventRef.sequence).where(
                AuditEventRef.organisation_id == organisation_id, ref_column == value
            )
            stmt = stmt.where(AuditEvent.sequence.in_(union(direct, listed).scalar_subquery()))
    if since is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.occurred_at < until)
    return list(session.scalars(LISTED.apply(stmt, after, limit)))
