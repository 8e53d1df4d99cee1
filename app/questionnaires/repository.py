"""All SQL for questionnaire versions. Reads keep system content (owner NULL) and the caller's own rows only."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from app.questionnaires.models import QuestionnaireVersion


def _visible(organisation_id: str) -> ColumnElement[bool]:
    owner = QuestionnaireVersion.owner_organisation_id
    return or_(owner.is_(None), owner == organisation_id)


def readable(organisation_id: str) -> Select[QuestionnaireVersion]:
    """The base statement of every questionnaire read."""
    return select(QuestionnaireVersion).where(_visible(organisation_id))


def get_version(session: Session, organisation_id: str, key: str, version: int) -> QuestionnaireVersion | None:
    return session.scalar(
        readable(organisation_id).where(QuestionnaireVersion.key == key, QuestionnaireVersion.version == version)
    )


def get_version_for_update(
    session: Session, organisation_id: str, key: str, version: int
) -> QuestionnaireVersion | None:
    statement = readable(organisation_id).where(
        QuestionnaireVersion.key == key, QuestionnaireVersion.version == version
    )
    return session.scalar(statement.with_for_update())


def key_owners(session: Session, key: str) -> tuple[set[str | None], int]:
    """Who owns versions of `key` (any organisation: keys are global) and the highest version number."""
    rows = session.execute(
        select(QuestionnaireVersion.owner_organisation_id, func.max(QuestionnaireVersion.version))
        .where(QuestionnaireVersion.key == key)
        .group_by(QuestionnaireVersion.owner_organisation_id)
    ).all()
    return {r[0] for r in rows}, max((int(r[1]) for r in rows), default=0)


def list_versions(
    session: Session,
    organisation_id: str,
    *,
    key: str | None,
    status: str | None,
    after: tuple[str, int] | None,
    limit: int,
) -> list[QuestionnaireVersion]:
    statement = readable(organisation_id)
    if key is not None:
        statement = statement.where(QuestionnaireVersion.key == key)
    if status is not None:
        statement = statement.where(QuestionnaireVersion.status == status)
    if after is not None:
        statement = statement.where(
            or_(
                QuestionnaireVersion.key > after[0],
                (QuestionnaireVersion.key == after[0]) & (QuestionnaireVersion.version > after[1]),
            )
        )
    return list(
        session.scalars(statement.order_by(QuestionnaireVersion.key, QuestionnaireVersion.version).limit(limit))
    )


def add(session: Session, row: QuestionnaireVersion) -> None:
    session.add(row)
    session.flush()


def any_version(session: Session, key: str, version: int) -> QuestionnaireVersion | None:
    """Seed only: the row holding (key, version), whoever owns it."""
    return session.scalar(
        select(QuestionnaireVersion).where(QuestionnaireVersion.key == key, QuestionnaireVersion.version == version)
    )
