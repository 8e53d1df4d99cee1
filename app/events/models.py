"""The outbox: one event per state change, written in the transaction of the change, numbered per organisation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, new_id, utcnow


class Event(Base):
    """A state change as receivers see it. `payload` is the thin `data` object sent out (never subject_ref,
    answers or free text); `assessment_id` and `subject_ref` are kept beside it for the audit of who was told."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("organisation_id", "sequence"),
        # one assessment.review_due per assessment and review date, however many workers look
        UniqueConstraint("organisation_id", "dedupe_key"),
        Index("ix_events_fanned_out_at", "fanned_out_at"),
        Index("ix_events_org_occurred_at", "organisation_id", "occurred_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id, comment="also the webhook-id")
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    sequence: Mapped[int] = mapped_column(
        BigInteger, comment="per organisation, allocated under the event_heads row lock: commit order"
    )
    type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    assessment_id: Mapped[str | None] = mapped_column(String(36), default=None)
    subject_ref: Mapped[str | None] = mapped_column(String(256), default=None, comment="never sent out")
    dedupe_key: Mapped[str | None] = mapped_column(String(200), default=None)
    fanned_out_at: Mapped[datetime | None] = mapped_column(
        default=None, comment="when the worker made this event's deliveries (NULL: not yet)"
    )


class EventHead(Base):
    """An organisation's last event sequence; its row lock orders event writers until they commit."""

    __tablename__ = "event_heads"

    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger)


class EventLogStart(Base):
    """One row: when events began to be kept (migration 0006). Assessments created before it raise
    assessment.review_due only under RISKAPI_REVIEW_DUE_CUTOFF."""

    __tablename__ = "event_log_start"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    started_at: Mapped[datetime] = mapped_column()
