"""Audit events: an append-only, per-organisation hash chain, and its head row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, utcnow


class AuditEvent(Base):
    """One event; `hash` covers the canonical event (which includes `prev_hash` and `sequence`)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("organisation_id", "prev_hash"),
        Index("ix_audit_events_org_subject_ref", "organisation_id", "subject_ref"),
        Index("ix_audit_events_org_resource_id", "organisation_id", "resource_id"),
        Index("ix_audit_events_org_acting_user", "organisation_id", "acting_user"),
        Index("ix_audit_events_org_occurred_at", "organisation_id", "occurred_at"),
    )

    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    client_id: Mapped[str | None] = mapped_column(String(36))
    acting_user: Mapped[str | None] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(64))
    subject_ref: Mapped[str | None] = mapped_column(String(256))
    status: Mapped[int] = mapped_column(Integer)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    resources: Mapped[list[dict[str, Any]] | None] = mapped_column(
        JSON, comment="for list events: every (id, subject_ref) returned"
    )
    digest: Mapped[str | None] = mapped_column(String(64), comment="SHA-256 of what was returned or stored")
    record_digest: Mapped[str | None] = mapped_column(
        String(64), default=None, comment="SHA-256 of the canonical form of the case row this event created"
    )
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditEventRef(Base):
    """Search index of list events: one row per resource a list returned (derived from `resources`)."""

    __tablename__ = "audit_event_refs"
    __table_args__ = (
        Index("ix_audit_event_refs_org_subject_ref", "organisation_id", "subject_ref"),
        Index("ix_audit_event_refs_org_resource_id", "organisation_id", "resource_id"),
    )

    organisation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    resource_id: Mapped[str] = mapped_column(String(64))
    subject_ref: Mapped[str | None] = mapped_column(String(256))


class AuditChainHead(Base):
    """Last sequence and hash of an organisation's chain, updated with every append: truncation shows here."""

    __tablename__ = "audit_chain_heads"

    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
