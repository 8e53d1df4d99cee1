"""Request and response models of questionnaire versions (the shared ones live in app.content_versions)."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from app.content_versions.schemas import VERSION_EXAMPLE, VersionSummary
from app.core.pagination import Page


class QuestionnaireVersionSummary(VersionSummary):
    pass


class QuestionnaireVersionRead(QuestionnaireVersionSummary):
    """A version with its document (send `Accept: application/yaml` for the document alone, as YAML)."""

    model_config = ConfigDict(
        json_schema_extra={"example": {**VERSION_EXAMPLE, "document": {"key": "online-exposure", "version": 1}}}
    )

    document: dict[str, Any] = Field(
        description="The questionnaire document itself: sections and items (docs/rule-language.md)."
    )


class QuestionnaireVersionPage(Page[QuestionnaireVersionSummary]):
    """By key, then version."""
