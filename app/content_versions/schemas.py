"""Response models every versioned content document shares (each feature extends the version models)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ContentStatus(enum.StrEnum):
    draft = "draft"
    published = "published"
    retired = "retired"


Owner = Literal["system", "organisation"]

VERSION_EXAMPLE: dict[str, Any] = {
    "key": "online-exposure",
    "version": 1,
    "status": "published",
    "owner": "system",
    "title": "Online exposure of a child",
    "content_hash": "15ae7cca2e7b0d0b3c1f0c8f3e7a54d0f1f0f5b9d1cb0a3a33a7d8d7f2b4e6a1",
    "created_at": "2026-11-29T08:00:00Z",
    "created_by": "system",
    "updated_at": "2026-11-29T08:00:00Z",
    "published_at": "2026-11-29T08:00:00Z",
    "published_by": "system",
    "retired_at": None,
    "retired_by": None,
}


class VersionSummary(BaseModel):
    """One version of a content document, without the document itself."""

    model_config = ConfigDict(json_schema_extra={"example": VERSION_EXAMPLE})

    key: str
    version: int
    status: ContentStatus
    owner: Owner = Field(description="'system' for shipped content, 'organisation' for your own")
    title: str | None
    content_hash: str = Field(description="Lowercase hex SHA-256 of the RFC 8785 canonical JSON of the document")
    created_at: datetime
    created_by: str | None
    updated_at: datetime
    published_at: datetime | None
    published_by: str | None
    retired_at: datetime | None
    retired_by: str | None


class ValidationIssue(BaseModel):
    pointer: str = Field(description="JSON pointer into the document, e.g. /items/3/options/1")
    detail: str


class ValidationReport(BaseModel):
    """The engine's static checks; nothing is stored."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "valid": False,
                "content_hash": None,
                "errors": [{"pointer": "/triggers/0/when/q", "detail": "unknown item 'child_agee'"}],
            }
        }
    )

    valid: bool
    content_hash: str | None = Field(None, description="The hash the document would have (null if unparseable)")
    errors: list[ValidationIssue]


class DiffEntry(BaseModel):
    kind: str = Field(description="What changed: item, section, option, rule, weight, band, action, level, test, …")
    id: str
    change: Literal["added", "removed", "changed"]
    before: Any = None
    after: Any = None


class ContentDiff(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "key": "online-harm-england",
                "from_version": 1,
                "to_version": 2,
                "summary": ["weight of term 'contact_unknown_person' in score 'total' changed from 2 to 3"],
                "changes": [
                    {
                        "kind": "weight",
                        "id": "total/contact_unknown_person",
                        "change": "changed",
                        "before": 2,
                        "after": 3,
                    }
                ],
            }
        }
    )

    key: str
    from_version: int
    to_version: int
    summary: list[str] = Field(description="One readable line per change")
    changes: list[DiffEntry]
