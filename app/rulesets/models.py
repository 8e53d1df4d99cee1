from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.content_versions.models import VersionedDocument
from app.core.db import Base, utcnow


class RuleSetVersion(VersionedDocument):
    """One version of a rule set, targeting one questionnaire version. Immutable once published."""

    __tablename__ = "ruleset_versions"
    __table_args__ = (UniqueConstraint("key", "version"),)

    questionnaire_key: Mapped[str] = mapped_column(String(64))
    questionnaire_version: Mapped[int] = mapped_column(Integer)


class CurrentRuleSet(Base):
    """The rule-set version an organisation uses for new assessments of a questionnaire key."""

    __tablename__ = "current_rulesets"

    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    questionnaire_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    ruleset_key: Mapped[str] = mapped_column(String(64))
    ruleset_version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(256))
