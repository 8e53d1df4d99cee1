"""Assessments and what happens to them afterwards. Every table here is append-only (database triggers)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, new_id, utcnow


class Assessment(Base):
    """One scored questionnaire about one child: inputs, result and provenance. Never updated."""

    __tablename__ = "assessments"
    __table_args__ = (
        Index("ix_assessments_org_created", "organisation_id", "created_at", "id"),
        Index("ix_assessments_org_subject_created", "organisation_id", "subject_ref", "created_at"),
        Index("ix_assessments_org_review_by", "organisation_id", "review_by", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    subject_ref: Mapped[str] = mapped_column(String(256), comment="the caller's pseudonymous case id")
    questionnaire_key: Mapped[str] = mapped_column(String(64))
    questionnaire_version: Mapped[int] = mapped_column(Integer)
    questionnaire_hash: Mapped[str] = mapped_column(String(64))
    ruleset_key: Mapped[str] = mapped_column(String(64))
    ruleset_version: Mapped[int] = mapped_column(Integer)
    ruleset_hash: Mapped[str] = mapped_column(String(64))
    engine_version: Mapped[str] = mapped_column(String(32))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, comment="the result object, level == computed_level")
    computed_level: Mapped[str] = mapped_column(String(32))
    client_id: Mapped[str] = mapped_column(String(36))
    acting_user: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    review_by: Mapped[datetime | None] = mapped_column(default=None)
    supersedes: Mapped[str | None] = mapped_column(
        ForeignKey("assessments.id"), unique=True, default=None, comment="unique: only the latest can be amended"
    )
    salt: Mapped[bytes | None] = mapped_column(
        LargeBinary(32), default=None, comment="random salt of the receipt commitments; null before migration 0009"
    )


class AssessmentOverride(Base):
    """A supervisor's judgement after the fact: the final level, with a rationale. The latest one wins."""

    __tablename__ = "assessment_overrides"
    __table_args__ = (
        # the latest override of an assessment is one backward step of this index
        Index("ix_assessment_overrides_assessment_id_id", "assessment_id", "id"),
        Index("ix_assessment_overrides_org_review_by", "organisation_id", "review_by", "assessment_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    assessment_id: Mapped[str] = mapped_column(ForeignKey("assessments.id"))
    level: Mapped[str] = mapped_column(String(32))
    previous_level: Mapped[str] = mapped_column(String(32))
    rationale: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str] = mapped_column(String(36))
    acting_user: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    review_by: Mapped[datetime | None] = mapped_column(
        default=None,
        comment="the review date in force from this override on: the earlier of the one before it and created_at "
        "plus the review interval of its level (app/scoring/reviews.py)",
    )
    salt: Mapped[bytes | None] = mapped_column(
        LargeBinary(32), default=None, comment="random salt of the receipt commitments; null before migration 0009"
    )


class AssessmentEnteredInError(Base):
    """Marks an assessment as entered in error (its own row: the assessment itself never changes)."""

    __tablename__ = "assessment_entered_in_error"

    assessment_id: Mapped[str] = mapped_column(ForeignKey("assessments.id"), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str] = mapped_column(String(36))
    acting_user: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    salt: Mapped[bytes | None] = mapped_column(
        LargeBinary(32), default=None, comment="random salt of the receipt commitments; null before migration 0009"
    )


class IdempotencyRecord(Base):
    """The first completed response to an Idempotency-Key of one client, replayed on retries."""

    __tablename__ = "idempotency_records"

    client_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(String(36))
    endpoint: Mapped[str] = mapped_column(
        String(200), comment="method and path the key was first used for, e.g. POST /v1/assessments/<id>/override"
    )
    fingerprint: Mapped[str] = mapped_column(
        String(64), comment="SHA-256 of the request: method, path, sorted query, media type, canonical body"
    )
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
