"""All SQL for the outbox: an event's sequence comes from its organisation's head row, locked until COMMIT."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, bindparam, exists, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.core.pagination import Keyset
from app.events.models import Event, EventHead

_HEAD = cast(Table, EventHead.__table__)
_EVENTS = cast(Table, Event.__table__)
_VALUE_COLUMNS = [c.name for c in _EVENTS.c if c.name != "sequence"]

_NEXT = (
    update(_HEAD)
    .where(_HEAD.c.organisation_id == bindparam("head_organisation_id"))
    .values(sequence=_HEAD.c.sequence + 1)
    .returning(_HEAD.c.sequence)
)
# PostgreSQL: the head moved and the event inserted in one statement (a data-modifying CTE); the UPDATE's row lock
# queues the other writers of the organisation until COMMIT, so sequences commit in order. SQLite: two statements
# under the database's write lock.
_NEXT_CTE = _NEXT.cte("head")
_INSERT_AFTER_HEAD = (
    insert(_EVENTS)
    .from_select(
        [*_VALUE_COLUMNS, "sequence"],
        select(
            *(bindparam(f"e_{c}", type_=_EVENTS.c[c].type) for c in _VALUE_COLUMNS),
            _NEXT_CTE.c.sequence,
        ),
    )
    .returning(_EVENTS.c.sequence)
)


def _ensure_head(session: Session, organisation_id: str) -> None:
    dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(dialect_insert(_HEAD).values(organisation_id=organisation_id, sequence=0).on_conflict_do_nothing())


def _insert_once(session: Session, values: dict[str, Any]) -> int | None:
    params = {f"e_{c}": values.get(c) for c in _VALUE_COLUMNS}
    params["head_organisation_id"] = values["organisation_id"]
    if session.get_bind().dialect.name == "postgresql":
        inserted = session.execute(_INSERT_AFTER_HEAD, params).one_or_none()
        return None if inserted is None else int(inserted.sequence)
    moved = session.execute(_NEXT, params).one_or_none()
    if moved is None:
        return None
    session.execute(insert(_EVENTS).values({**values, "sequence": int(moved.sequence)}))
    return int(moved.sequence)


def insert_event(session: Session, values: dict[str, Any]) -> int:
    """Insert the event (every column but `sequence`) with its organisation's next sequence; returns it."""
    sequence = _insert_once(session, values)
    if sequence is None:  # the organisation's first event: create its head, then insert
        _ensure_head(session, values["organisation_id"])
        sequence = _insert_once(session, values)
        assert sequence is not None
    return sequence


def lock_head(session: Session, organisation_id: str) -> None:
    """Take the organisation's head row lock (until COMMIT) before a check that must not race another writer."""
    _ensure_head(session, organisation_id)
    session.execute(select(_HEAD.c.sequence).where(_HEAD.c.organisation_id == organisation_id).with_for_update()).one()


def dedupe_key_exists(session: Session, organisation_id: str, dedupe_key: str) -> bool:
    query = select(exists().where(_EVENTS.c.organisation_id == organisation_id, _EVENTS.c.dedupe_key == dedupe_key))
    return bool(session.execute(query).scalar())


# --- the changes feed -------------------------------------------------------------------------------------------


def head_sequence(session: Session, organisation_id: str) -> int:
    """The organisation's last allocated sequence (0 before its first event). Every event up to it has committed:
    the head moves in the transaction that inserts the event."""
    found = session.execute(select(_HEAD.c.sequence).where(_HEAD.c.organisation_id == organisation_id)).scalar()
    return int(found or 0)


def events_after(session: Session, organisation_id: str, after: int, limit: int) -> list[Event]:
    """The organisation's kept events with a sequence after `after`, in sequence order, at most `limit`."""
    query = (
        select(Event)
        .where(Event.organisation_id == organisation_id, Event.sequence > after)
        .order_by(Event.sequence)
        .limit(limit)
    )
    return list(session.scalars(query))


def oldest_sequence(session: Session, organisation_id: str) -> int | None:
    """The sequence of the organisation's oldest kept event (None when none is kept)."""
    found = session.execute(select(func.min(Event.sequence)).where(Event.organisation_id == organisation_id)).scalar()
    return None if found is None else int(found)


FEED = Keyset("events", (Event.sequence,), within=(Event.organisation_id,))
"""The order of the changes feed: a cursor holds the sequence of the last event returned."""
