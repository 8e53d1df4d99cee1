from __future__ import annotations

from sqlalchemy import UniqueConstraint

from app.content_versions.models import VersionedDocument


class QuestionnaireVersion(VersionedDocument):
    """One version of a questionnaire. Drafts may be replaced; published and retired versions never change."""

    __tablename__ = "questionnaire_versions"
    __table_args__ = (UniqueConstraint("key", "version"),)
