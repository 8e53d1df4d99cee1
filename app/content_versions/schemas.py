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

    key: str = Field(description="The document's key, e.g. `online-exposure`; all its versions share it.")
    version: int = Field(description="The version number, from 1.")
    status: ContentStatus = Field(
        description="`draft` (editable), `published` (immutable, usable by new assessments) or `retired` "
        "(readable, not usable by new assessments)."
    )
    owner: Owner = Field(description="`system` for shipped content, `organisation` for your own.")
    title: str | None = Field(description="The document's title, or null when it has none.")
    content_hash: str = Field(description="Lowercase hex SHA-256 of the RFC 8785 canonical JSON of the document.")
    created_at: datetime = Field(description="When the version was created (ISO 8601, UTC).")
    created_by: str | None = Field(
        description="Who created it: the `X-Acting-User`, else `client:<client id>`; `system` for shipped content."
    )
    updated_at: datetime = Field(
        description="When the version last changed: its document or its status (ISO 8601, UTC)."
    )
    published_at: datetime | None = Field(description="When it was published; null while a draft.")
    published_by: str | None = Field(description="Who published it, recorded like `created_by`; null while a draft.")
    retired_at: datetime | None = Field(description="When it was retired; null unless retired.")
    retired_by: str | None = Field(description="Who retired it, recorded like `created_by`; null unless retired.")


class ValidationIssue(BaseModel):
    pointer: str = Field(description="JSON pointer into the document, e.g. `/items/3/options/1`.")
    detail: str = Field(description="What is wrong there, e.g. `unknown item 'child_agee'`.")


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

    valid: bool = Field(description="True when the document passes every check (`errors` is empty).")
    content_hash: str | None = Field(
        None, description="The content hash the document would have; null when it cannot be parsed."
    )
    errors: list[ValidationIssue] = Field(description="Every problem found, each with where it is.")


class DiffEntry(BaseModel):
    kind: str = Field(
        description="What changed: `item`, `section`, `option`, `rule`, `weight`, `band`, `action`, `level`, `test`, …"
    )
    id: str = Field(description="Which one changed, e.g. `total/contact_unknown_person` for a weight.")
    change: Literal["added", "removed", "changed"] = Field(description="`added`, `removed` or `changed`.")
    before: Any = Field(default=None, description="The value in `from_version`; null when added.")
    after: Any = Field(default=None, description="The value in `to_version`; null when removed.")


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

    key: str = Field(description="The document's key.")
    from_version: int = Field(description="The version compared from (the `from` parameter).")
    to_version: int = Field(description="The version compared to (the `to` parameter).")
    summary: list[str] = Field(description="One readable line per change.")
    changes: list[DiffEntry] = Field(description="Every change, in the order of `summary`.")
