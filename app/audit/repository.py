"""All SQL for the audit chain. Appends are serialised per organisation by a lock on the chain head row."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    Insert,
    Select,
    String,
    Table,
    TextClause,
    bindparam,
    insert,
    select,
    text,
    union,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session

from app.audit.chain import genesis_hash, link_hash
from app.audit.models import AuditChainHead, AuditEvent, AuditEventRef
from app.core import postgres_direct, sqlite_direct
from app.core.db import utcnow
from app.core.pagination import Keyset, Position

_HEAD = cast(Table, AuditChainHead.__table__)
_EVENTS = cast(Table, AuditEvent.__table__)
_REFS = cast(Table, AuditEventRef.__table__)


@dataclass(frozen=True)
class NewRow:
    """A row another feature writes in the same statement as its audit event (its write path)."""

    table: Table
    values: dict[str, Any]


@dataclass(frozen=True)
class Gate:
    """PostgreSQL: a condition the append checks in its own statement (ADR 0001).

    `sql` selects exactly one row with a boolean column `ok` and whatever else the caller wants back; the head is
    locked and the event and rows are written only when `ok` is true. Only our own SQL and bound parameters
    (`binds`, whose values the caller passes) go in; `key` names the gate in the statement cache."""

    key: str
    sql: str
    binds: tuple[BindParameter[Any], ...]


_EVENT_VALUE_COLUMNS = [c.name for c in _EVENTS.c if c.name not in ("sequence", "prev_hash", "hash")]
_appends: dict[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], TextClause] = {}


def _append_statement(rows: Sequence[NewRow], gate: Gate | None = None) -> TextClause:
    """PostgreSQL: the whole append as ONE statement, built once per shape of the caller's rows (and gate).

    It locks the head row (`FOR UPDATE`: appends of one organisation queue here, so the chain never forks),
    computes the link hash in SQL from the content hash computed by Python, inserts the event and the
    caller's rows (data-modifying CTEs that depend on the head move, so nothing is written without it) and
    moves the head. The head lock is then held only until the COMMIT that follows (or, run alone in autocommit,
    until the statement's own commit). With a gate, the head is read only when the gate's `ok` holds, so nothing
    moves or is written otherwise, and the statement returns the gate's row with the new `sequence`.
    """
    shape = (gate.key if gate else "", tuple((row.table.name, tuple(sorted(row.values))) for row in rows))
    statement = _appends.get(shape)
    if statement is not None:
        return statement
    binds = [bindparam(f"e_{c}", type_=_EVENTS.c[c].type) for c in _EVENT_VALUE_COLUMNS]
    binds += [bindparam("h_org", type_=String()), bindparam("h_body", type_=String())]
    binds.append(bindparam("h_now", type_=_HEAD.c.updated_at.type))
    # Only table and column names from our own metadata are interpolated; every value is a bound parameter.
    ctes = []
    for i, row in enumerate(rows):
        keys = sorted(row.values)
        binds += [bindparam(f"p{i}_{k}", type_=row.table.c[k].type) for k in keys]
        columns, values = ", ".join(keys), ", ".join(f":p{i}_{k}" for k in keys)
        ctes.append(f", w{i} AS (INSERT INTO {row.table.name} ({columns}) SELECT {values} FROM moved)")  # noqa: S608
    event_columns = ", ".join(_EVENT_VALUE_COLUMNS)
    event_values = ", ".join(f":e_{c}" for c in _EVENT_VALUE_COLUMNS)
    if gate is not None:
        binds += gate.binds
        head = f"WITH gate AS ({gate.sql}), old AS (SELECT sequence, hash FROM audit_chain_heads "  # noqa: S608
        head += "WHERE organisation_id = :h_org AND (SELECT ok FROM gate) FOR UPDATE), "
        result = " SELECT gate.*, (SELECT sequence FROM ev) AS sequence FROM gate"
    else:
        head = "WITH old AS (SELECT sequence, hash FROM audit_chain_heads WHERE organisation_id = :h_org FOR UPDATE), "
        result = " SELECT sequence FROM ev"
    sql = "".join(
        [
            head,
            "new AS (SELECT old.sequence + 1 AS sequence, old.hash AS prev_hash, ",
            "encode(sha256(convert_to(old.hash || ':' || (old.sequence + 1)::text || ':' || :h_body, 'UTF8')), ",
            "'hex') AS hash FROM old), ",
            "moved AS (UPDATE audit_chain_heads SET sequence = new.sequence, hash = new.hash, updated_at = :h_now ",
            "FROM new WHERE audit_chain_heads.organisation_id = :h_org ",
            "RETURNING new.sequence, new.prev_hash, new.hash), ",
            f"ev AS (INSERT INTO audit_events ({event_columns}, sequence, prev_hash, hash) ",
            f"SELECT {event_values}, moved.sequence, moved.prev_hash, moved.hash FROM moved RETURNING sequence)",  # noqa: S608
            *ctes,
            result,
        ]
    )
    statement = text(sql).bindparams(*binds)
    _appends[shape] = statement
    return statement


_inserts: dict[str, Insert] = {}


def _insert(table: Table) -> Insert:
    """One INSERT construct per table, built once: a new construct per call costs its cache key every time."""
    statement = _inserts.get(table.name)
    if statement is None:
        statement = _inserts[table.name] = insert(table)
    return statement


def _ensure_head(session: Session, organisation_id: str) -> None:
    values = {
        "organisation_id": organisation_id,
        "sequence": 0,
        "hash": genesis_hash(organisation_id),
        "updated_at": utcnow(),
    }
    if session.get_bind().dialect.name == "postgresql":
        session.execute(pg_insert(_HEAD).values(values).on_conflict_do_nothing())
    else:
        session.execute(sqlite_insert(_HEAD).values(values).on_conflict_do_nothing())


_READ_HEAD = select(_HEAD.c.sequence, _HEAD.c.hash).where(_HEAD.c.organisation_id == bindparam("b_org"))
_MOVE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.organisation_id == bindparam("h_org"))
    .values(sequence=bindparam("h_sequence"), hash=bindparam("h_hash"), updated_at=bindparam("h_updated_at"))
)


def append(
    session: Session,
    event: dict[str, Any],
    content_hash: str,
    refs: Sequence[dict[str, Any]],
    now: datetime,
    with_rows: Sequence[NewRow] = (),
) -> int:
    """Append the event (without its chain fields) and the caller's rows; returns the event's sequence."""
    connection = session.connection()
    organisation_id = event["organisation_id"]
    if connection.dialect.name == "postgresql":
        statement = _append_statement(with_rows)
        params = _append_params(event, content_hash, now, with_rows)
        sequence = connection.execute(statement, params).scalar()
        if sequence is None:  # the organisation's first event: create its head, then append
            _ensure_head(session, organisation_id)
            sequence = connection.execute(statement, params).scalar_one()
    else:
        # SQLite: BEGIN IMMEDIATE already holds the database lock for the whole transaction.
        head = connection.execute(_READ_HEAD, {"b_org": organisation_id}).first()
        if head is None:
            _ensure_head(session, organisation_id)
            head = connection.execute(_READ_HEAD, {"b_org": organisation_id}).one()
        sequence = int(head[0]) + 1
        chained = {**event, "sequence": sequence, "prev_hash": head[1]}
        chained["hash"] = link_hash(str(head[1]), sequence, content_hash)
        for row in with_rows:
            connection.execute(_insert(row.table), row.values)
        connection.execute(_insert(_EVENTS), chained)
        connection.execute(
            _MOVE_HEAD,
            {"h_org": organisation_id, "h_sequence": sequence, "h_hash": chained["hash"], "h_updated_at": now},
        )
    if refs:
        connection.execute(insert(_REFS), [{**ref, "sequence": sequence} for ref in refs])
    return int(sequence)


_DIRECT_READ_HEAD = "SELECT sequence, hash FROM audit_chain_heads WHERE organisation_id = ?"
_DIRECT_MOVE_HEAD = "UPDATE audit_chain_heads SET sequence = ?, hash = ?, updated_at = ? WHERE organisation_id = ?"


def append_direct(
    transaction: sqlite_direct.Transaction,
    event: dict[str, Any],
    content_hash: str,
    now: datetime,
    with_rows: Sequence[NewRow],
) -> int | None:
    """SQLite, on a DBAPI cursor inside BEGIN IMMEDIATE (app/core/sqlite_direct.py): `append`'s statements for
    an event without list refs. None, having written nothing, when the organisation has no chain head yet."""
    organisation_id = event["organisation_id"]
    head = transaction.execute(_DIRECT_READ_HEAD, (organisation_id,)).fetchone()
    if head is None:
        return None
    sequence = int(head[0]) + 1
    chained = {**event, "sequence": sequence, "prev_hash": head[1]}
    chained["hash"] = link_hash(str(head[1]), sequence, content_hash)
    for row in with_rows:
        transaction.insert(row.table, row.values)
    transaction.insert(_EVENTS, chained)
    updated_at = sqlite_direct.bind(_HEAD, "updated_at", now, transaction.dialect)
    transaction.execute(_DIRECT_MOVE_HEAD, (sequence, chained["hash"], updated_at, organisation_id))
    return sequence


def _append_params(
    event: dict[str, Any], content_hash: str, now: datetime, with_rows: Sequence[NewRow]
) -> dict[str, Any]:
    params = {f"e_{c}": event[c] for c in _EVENT_VALUE_COLUMNS}
    params.update({"h_org": event["organisation_id"], "h_body": content_hash, "h_now": now})
    for i, row in enumerate(with_rows):
        params.update({f"p{i}_{k}": v for k, v in row.values.items()})
    return params


async def append_gated(
    engine: AsyncEngine,
    event: dict[str, Any],
    content_hash: str,
    now: datetime,
    with_rows: Sequence[NewRow],
    gate: Gate,
    gate_params: dict[str, Any],
) -> dict[str, Any]:
    """PostgreSQL: the gated append (see `_append_statement`), alone in autocommit, awaited on the pool's psycopg
    connection (app/core/postgres_direct.py). The gate's row by column name, with `sequence`, which is None when
    nothing was written (the gate said no, or the organisation has no chain head yet)."""
    params = _append_params(event, content_hash, now, with_rows) | gate_params
    return await postgres_direct.fetch_one(engine, _append_statement(with_rows, gate), params)


def head(session: Session, organisation_id: str) -> tuple[int, str] | None:
    row = session.execute(
        select(_HEAD.c.sequence, _HEAD.c.hash).where(_HEAD.c.organisation_id == organisation_id)
    ).first()
    return (int(row[0]), str(row[1])) if row else None


def iter_events(session: Session, organisation_id: str, batch: int = 1000) -> Iterator[AuditEvent]:
    """Every event of the organisation in sequence order, read in keyset batches."""
    after = -1
    while True:
        rows = list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.organisation_id == organisation_id, AuditEvent.sequence > after)
                .order_by(AuditEvent.sequence)
                .limit(batch)
            )
        )
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
