"""All SQL for organisations, clients and keys. Everything but the key lookup is scoped to one organisation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.auth.models import ApiClient, ApiKey, Organisation


def organisation_by_slug(session: Session, slug: str) -> Organisation | None:
    return session.scalar(select(Organisation).where(Organisation.slug == slug))


def organisation_by_id(session: Session, organisation_id: str) -> Organisation | None:
    return session.get(Organisation, organisation_id)


def key_with_client(session: Session, digest: str) -> tuple[ApiKey, ApiClient] | None:
    """The one unscoped query: it is how the organisation of a request is found."""
    row = session.execute(
        select(ApiKey, ApiClient).join(ApiClient, ApiClient.id == ApiKey.client_id).where(ApiKey.digest == digest)
    ).first()
    return (row[0], row[1]) if row else None


def clients(session: Session, organisation_id: str) -> list[ApiClient]:
    return list(
        session.scalars(
            select(ApiClient).where(ApiClient.organisation_id == organisation_id).order_by(ApiClient.created_at)
        )
    )


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
    session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id)
        .where((ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < older_than))
        .values(last_used_at=now)
    )
