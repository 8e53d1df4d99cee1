"""All SQL for organisations, clients and keys. Everything but the key lookup is scoped to one organisation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from app.auth.models import ApiClient, ApiKey, Organisation
from app.core.pagination import Keyset, Position

_KEYS = cast(Table, ApiKey.__table__)
_CLIENTS = cast(Table, ApiClient.__table__)


def organisation_by_slug(session: Session, slug: str) -> Organisation | None:
    return session.scalar(select(Organisation).where(Organisation.slug == slug))


def fhir_identifier_system(session: Session, organisation_id: str) -> str | None:
    return session.scalar(select(Organisation.fhir_identifier_system).where(Organisation.id == organisation_id))


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """What authentication needs of a key and its client: one Core row, no ORM objects."""

    key_id: str
    client_id: str
    organisation_id: str
    roles: tuple[str, ...]
    expires_at: datetime | None
    key_revoked_at: datetime | None
    client_revoked_at: datetime | None
    last_used_at: datetime | None


# Built once: the hot path of every request (ADR 0007).
_KEY_RECORD = (
    select(
        _KEYS.c.id.label("key_id"),
        _CLIENTS.c.id.label("client_id"),
        _CLIENTS.c.organisation_id,
        _CLIENTS.c.roles,
        _KEYS.c.expires_at,
        _KEYS.c.revoked_at.label("key_revoked_at"),
        _CLIENTS.c.revoked_at.label("client_revoked_at"),
        _KEYS.c.last_used_at,
    )
    .join_from(_KEYS, _CLIENTS, _CLIENTS.c.id == _KEYS.c.client_id)
    .where(_KEYS.c.digest == bindparam("digest"))
)
_TOUCH_KEY = (
    update(_KEYS)
    .where(_KEYS.c.id == bindparam("key_id"))
    .where(_KEYS.c.last_used_at.is_(None) | (_KEYS.c.last_used_at < bindparam("older_than")))
    .values(last_used_at=bindparam("now"))
)


def key_record(session: Session, digest: str) -> KeyRecord | None:
    """The one unscoped query, as one Core row: it is how the organisation of a request is found."""
    row = session.connection().execute(_KEY_RECORD, {"digest": digest}).first()
    if row is None:
        return None
    return KeyRecord(
        key_id=row.key_id,
        client_id=row.client_id,
        organisation_id=row.organisation_id,
        roles=tuple(row.roles),
        expires_at=row.expires_at,
        key_revoked_at=row.key_revoked_at,
        client_revoked_at=row.client_revoked_at,
        last_used_at=row.last_used_at,
    )


LISTED_CLIENTS = Keyset("clients", (ApiClient.created_at, ApiClient.id))


def clients(session: Session, organisation_id: str, *, after: Position | None, limit: int) -> list[ApiClient]:
    """Oldest first, in `LISTED_CLIENTS` order after `after`; `limit` + 1 rows at most."""
    statement = select(ApiClient).where(ApiClient.organisation_id == organisation_id)
    return list(session.scalars(LISTED_CLIENTS.apply(statement, after, limit)))


def client(session: Session, organisation_id: str, client_id: str) -> ApiClient | None:
    return session.scalar(
        select(ApiClient).where(ApiClient.organisation_id == organisation_id, ApiClient.id == client_id)
    )


def keys_of_clients(session: Session, organisation_id: str, client_ids: list[str]) -> list[ApiKey]:
    if not client_ids:
        return []
    return list(
        session.scalars(
            select(ApiKey)
            .where(ApiKey.organisation_id == organisation_id, ApiKey.client_id.in_(client_ids))
            .order_by(ApiKey.created_at)
        )
    )


def key(session: Session, organisation_id: str, key_id: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.organisation_id == organisation_id, ApiKey.id == key_id))


def touch_key(session: Session, key_id: str, now: datetime, older_than: datetime) -> None:
    session.connection().execute(_TOUCH_KEY, {"key_id": key_id, "now": now, "older_than": older_than})


def organisation_ids_and_slugs(session: Session, slug: str | None = None) -> list[tuple[str, str]]:
    stmt = select(Organisation.id, Organisation.slug).order_by(Organisation.slug)
    if slug is not None:
        stmt = stmt.where(Organisation.slug == slug)
    return [(row.id, row.slug) for row in session.execute(stmt)]


def organisation_slug(session: Session, organisation_id: str) -> str | None:
    return session.scalar(select(Organisation.slug).where(Organisation.id == organisation_id))


def set_fhir_identifier_system(session: Session, organisation_id: str, system: str) -> None:
    session.execute(
        update(Organisation).where(Organisation.id == organisation_id).values(fhir_identifier_system=system)
    )
