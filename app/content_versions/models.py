from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, new_id, utcnow


class VersionedDocument(Base):
    """The columns every content version has; each feature maps its own table (with its own extra columns)."""

    __abstract__ = True

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    owner_organisation_id: Mapped[str | None] = mapped_column(
        ForeignKey("organisations.id"), index=True, comment="NULL: shipped content owned by the system"
    )
    status: Mapped[str] = mapped_column(String(16), comment="draft, published or retired")
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(256))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(default=None)
    published_by: Mapped[str | None] = mapped_column(String(256), default=None)
    retired_at: Mapped[datetime | None] = mapped_column(default=None)
    retired_by: Mapped[str | None] = mapped_column(String(256), default=None)
