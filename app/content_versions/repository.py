"""All SQL of the shared version life cycle, for any `VersionedDocument` table.

Reads keep system content (owner NULL) and the caller's own rows only. The unscoped statements are the
key-ownership probe (keys are globally unique, so a new key is checked against every owner) and the seed's lookup.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from app.content_versions.models import VersionedDocument
from app.core.pagination import Keyset, Position

M = TypeVar("M", bound=VersionedDocument)


def visible(model: type[VersionedDocument], organisation_id: str) -> ColumnElement[bool]:
    owner = model.owner_organisation_id
    return or_(owner.is_(None), owner == organisation_id)


def readable(model: type[M], organisation_id: str) -> Select[M]:
    """The base statement of every read: system content plus the organisation's own."""
    return select(model).where(visible(model, organisation_id))


def get_version(session: Session, model: type[M], organisation_id: str, key: str, version: int) -> M | None:
    return session.scalar(readable(model, organisation_id).where(model.key == key, model.version == version))


def get_version_for_update(session: Session, model: type[M], organisation_id: str, key: str, version: int) -> M | None:
    statement = readable(model, organisation_id).where(model.key == key, model.version == version)
    return session.scalar(statement.with_for_update())


def key_owners(session: Session, model: type[VersionedDocument], key: str) -> tuple[set[str | None], int]:
    """Who owns versions of `key` (any organisation: keys are global) and the highest version number."""
    rows = session.execute(
        select(model.owner_organisation_id, func.max(model.version).label("highest"))
        .where(model.key == key)
        .group_by(model.owner_organisation_id)
    ).all()
    return {row.owner_organisation_id for row in rows}, max((int(row.highest) for row in rows), default=0)


def listed(model: type[VersionedDocument]) -> Keyset:
    """The order of a content list: keys are globally unique, so (key, version) identifies a version."""
    return Keyset(str(model.__tablename__), (model.key, model.version))


def list_versions(
    session: Session,
    model: type[M],
    organisation_id: str,
    *,
    key: str | None,
    status: str | None,
    after: Position | None,
    limit: int,
) -> list[M]:
    """In `listed(model)` order (key, then version) after `after`; `limit` + 1 rows at most."""
    statement = readable(model, organisation_id)
    if key is not None:
        statement = statement.where(model.key == key)
    if status is not None:
        statement = statement.where(model.status == status)
    return list(session.scalars(listed(model).apply(statement, after, limit)))


def add(session: Session, row: VersionedDocument) -> None:
    session.add(row)
    session.flush()


def any_version(session: Session, model: type[M], key: str, version: int) -> M | None:
    """Seed only: the row holding (key, version), whoever owns it."""
    return session.scalar(select(model).where(model.key == key, model.version == version))


def versions_of_key(
    session: Session,
    model: type[M],
    organisation_id: str,
    key: str,
    *,
    version: int | None,
    shipped: bool,
    limit: int,
) -> tuple[list[M], int]:
    """The versions of `key` the organisation can see that are shipped (`shipped`) or its own, newest first (at most
    `limit`, a version alone when given), and how many there are."""
    owner = model.owner_organisation_id
    statement = select(model).where(model.key == key, owner.is_(None) if shipped else owner == organisation_id)
    if version is not None:
        statement = statement.where(model.version == version)
    count = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = list(session.scalars(statement.order_by(model.version.desc()).limit(limit)))
    return rows, int(count)
