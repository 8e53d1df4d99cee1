"""Building blocks shared by every versioned content document (questionnaires and rule sets).

Both features store a document per (key, version) with the same life cycle: draft -> published -> retired.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Protocol

from sqlalchemy.orm import Session

from app.audit import service as audit_service
from app.auth.service import Caller
from app.core.errors import BadRequest, Conflict, FieldError, NotFound, PreconditionFailed, ValidationFailed
from app.scoring import Issue

DRAFT, PUBLISHED, RETIRED = "draft", "published", "retired"
STATUSES = (DRAFT, PUBLISHED, RETIRED)
DEFAULT_PAGE, MAX_PAGE = 50, 200


class VersionRow(Protocol):
    key: str
    version: int
    status: str
    owner_organisation_id: str | None
    content_hash: str


def actor(caller: Caller) -> str:
    """Who did it, as recorded on the row: the acting professional if named, else the client."""
    return caller.acting_user or f"client:{caller.client_id}"


class Tagged(Protocol):
    @property
    def content_hash(self) -> str: ...
    @property
    def status(self) -> str: ...


def etag(row: Tagged) -> str:
    """A strong validator of the representation: content and status (a publish changes the ETag)."""
    return f'"{row.content_hash[:40]}.{row.status}"'


def check_if_match(row: VersionRow, if_match: str | None, *, required: bool) -> None:
    """412 when If-Match is stale, and also when it is missing on a replace (we never guess: see ADR 0004)."""
    if if_match is None:
        if required:
            raise PreconditionFailed(
                "If-Match is required to replace a draft: send the ETag from your last GET of this version"
            )
        return
    candidates = {tag.strip() for tag in if_match.split(",")}
    if "*" in candidates:
        return
    if etag(row) not in {c.removeprefix("W/") for c in candidates}:
        raise PreconditionFailed(
            f"{row.key} version {row.version} has changed since you read it (current ETag {etag(row)})"
        )


def ensure_mutable_by(row: VersionRow, organisation_id: str, what: str) -> None:
    if row.owner_organisation_id is None:
        raise Conflict(f"{what} '{row.key}' is shipped content owned by the system and cannot be changed")
    if row.owner_organisation_id != organisation_id:  # pragma: no cover - reads are scoped, so never visible
        raise NotFound()


def ensure_draft(row: VersionRow, what: str) -> None:
    if row.status != DRAFT:
        raise Conflict(f"{what} '{row.key}' version {row.version} is {row.status}: it can no longer change")


def check_key_free(owners: set[str | None], organisation_id: str, key: str, what: str) -> None:
    """Keys are global: a key held by the system or another organisation is a 409 (not 404: it exists)."""
    if None in owners:
        raise Conflict(f"{what} key '{key}' belongs to the shipped content; choose another key")
    if owners - {organisation_id}:
        raise Conflict(f"{what} key '{key}' belongs to another organisation; choose another key")


def audit(
    session: Session,
    caller: Caller,
    action: str,
    resource_type: str,
    resource_id: str,
    details: dict[str, Any],
    digest_of: object | None = None,
    status: int = 200,
) -> None:
    """One audit event in the request's transaction."""
    audit_service.record(
        session,
        caller=caller,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        details=details,
        digest_of=digest_of,
        status=status,
    )


def issues_to_errors(issues: list[Issue], prefix: str = "", location: str = "body") -> list[FieldError]:
    return [FieldError(pointer=prefix + issue.pointer, detail=issue.message, location=location) for issue in issues]


def invalid_document(issues: list[Issue], what: str) -> ValidationFailed:
    count = len(issues)
    return ValidationFailed(f"the {what} has {count} error{'s' if count != 1 else ''}", errors=issues_to_errors(issues))


def prepare_document(document: dict[str, Any], key: str, version: int) -> dict[str, Any]:
    """The path names the key and the server assigns the version; a body that disagrees on the key is a 422."""
    given = document.get("key", key)
    if given != key:
        raise ValidationFailed(
            "the document's key differs from the key in the path",
            errors=[FieldError(pointer="/key", detail=f"must be '{key}' (the key in the path) or omitted")],
        )
    return {**document, "key": key, "version": version}


def encode_cursor(key: str, version: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([key, version]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[str, int] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key, version = json.loads(raw)
    except (ValueError, binascii.Error, TypeError) as exc:
        raise BadRequest("the cursor is not one this API issued") from exc
    if not isinstance(key, str) or not isinstance(version, int):
        raise BadRequest("the cursor is not one this API issued")
    return key, version


UNSAVED_KEY = "unsaved-document"


def complete_for_validation(document: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """A posted document may leave out the key and version (the server assigns them on save): fill them in so
    the checks can run. The flag says whether the document was complete (only then is its hash meaningful)."""
    complete = "key" in document and "version" in document
    return {"key": UNSAVED_KEY, "version": 1, **document}, complete
