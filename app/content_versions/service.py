"""The shared version life cycle: list, read, draft, replace, publish, retire and diff, for any `Kind`.

Functions return ORM rows where a feature adds its own step (publish gates, retire guards) and response models
where nothing differs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit import service as audit_service
from app.auth.caller import Caller
from app.content_versions import repository
from app.content_versions.diff import DiffLine
from app.content_versions.models import VersionedDocument
from app.content_versions.schemas import ContentDiff
from app.core.db import utcnow
from app.core.errors import Conflict, FieldError, NotFound, PreconditionFailed, ValidationFailed
from app.scoring import Issue, content_hash
from app.scoring.canonical import hashable_form

DRAFT, PUBLISHED, RETIRED = "draft", "published", "retired"
STATUSES = (DRAFT, PUBLISHED, RETIRED)
DEFAULT_PAGE, MAX_PAGE = 50, 200


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


def check_if_match(row: VersionedDocument, if_match: str | None, *, required: bool) -> None:
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


def ensure_mutable_by(row: VersionedDocument, organisation_id: str, what: str) -> None:
    if row.owner_organisation_id is None:
        raise Conflict(f"{what} '{row.key}' is shipped content owned by the system and cannot be changed")
    if row.owner_organisation_id != organisation_id:  # pragma: no cover - reads are scoped, so never visible
        raise NotFound()


def ensure_draft(row: VersionedDocument, what: str) -> None:
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


UNSAVED_KEY = "unsaved-document"


def complete_for_validation(document: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """A posted document may leave out the key and version (the server assigns them on save): fill them in so
    the checks can run. The flag says whether the document was complete (only then is its hash meaningful)."""
    complete = "key" in document and "version" in document
    return {"key": UNSAVED_KEY, "version": 1, **document}, complete


# --- the kind of document ------------------------------------------------------------------------------------

M = TypeVar("M", bound=VersionedDocument)
D = TypeVar("D", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)
P = TypeVar("P", bound=BaseModel)


def _nothing(_value: object) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Kind(Generic[M, D, R, P]):
    """What differs between two kinds of versioned document, as far as the shared life cycle is concerned."""

    model: type[M]
    what: str  # in messages: "questionnaire", "rule set"
    action: str  # audit action prefix: "questionnaire" -> "questionnaire.published"
    resource: str  # audit resource type
    shape: Callable[[dict[str, Any]], D]  # the parsed document, or a 422 listing why not
    summary: type[BaseModel]
    read: type[R]
    page: type[P]
    columns: Callable[[D], Mapping[str, Any]] = _nothing  # extra columns taken from the document
    fields: Callable[[M], Mapping[str, Any]] = field(default=_nothing)  # extra response fields of a row


def _summary_fields(kind: Kind[M, Any, Any, Any], row: M) -> dict[str, Any]:
    title = row.document.get("title")
    return {
        "key": row.key,
        "version": row.version,
        "status": row.status,
        "owner": "system" if row.owner_organisation_id is None else "organisation",
        "title": title if isinstance(title, str) else None,
        "content_hash": row.content_hash,
        **kind.fields(row),
        "created_at": row.created_at,
        "created_by": row.created_by,
        "updated_at": row.updated_at,
        "published_at": row.published_at,
        "published_by": row.published_by,
        "retired_at": row.retired_at,
        "retired_by": row.retired_by,
    }


def to_read(kind: Kind[M, Any, R, Any], row: M) -> R:
    return kind.read(**_summary_fields(kind, row), document=row.document)


def visible(session: Session, kind: Kind[M, Any, Any, Any], organisation_id: str, key: str, version: int) -> M:
    row = repository.get_version(session, kind.model, organisation_id, key, version)
    if row is None:
        raise NotFound(f"No {kind.what} '{key}' version {version}")
    return row


def _for_update(session: Session, kind: Kind[M, Any, Any, Any], organisation_id: str, key: str, version: int) -> M:
    row = repository.get_version_for_update(session, kind.model, organisation_id, key, version)
    if row is None:
        raise NotFound(f"No {kind.what} '{key}' version {version}")
    ensure_mutable_by(row, organisation_id, kind.what)
    return row


# --- reads -----------------------------------------------------------------------------------------------------


def list_versions(
    session: Session,
    kind: Kind[Any, Any, Any, P],
    organisation_id: str,
    *,
    key: str | None,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> P:
    order, filters = repository.listed(kind.model), {"key": key, "status": status}
    rows = repository.list_versions(
        session, kind.model, organisation_id, key=key, status=status, after=order.decode(cursor, filters), limit=limit
    )
    page = order.page(rows, limit, filters)
    return kind.page(items=[kind.summary(**_summary_fields(kind, r)) for r in page.items], next_cursor=page.next_cursor)


def get_version(session: Session, kind: Kind[Any, Any, R, Any], organisation_id: str, key: str, version: int) -> R:
    return to_read(kind, visible(session, kind, organisation_id, key, version))


def diff(
    session: Session,
    kind: Kind[M, Any, Any, Any],
    organisation_id: str,
    key: str,
    from_version: int,
    to_version: int,
    lines: Callable[[M, M], list[DiffLine]],
) -> ContentDiff:
    before = visible(session, kind, organisation_id, key, from_version)
    after = visible(session, kind, organisation_id, key, to_version)
    entries = lines(before, after)
    return ContentDiff(
        key=key,
        from_version=from_version,
        to_version=to_version,
        summary=[entry.summary for entry in entries],
        changes=[entry.model for entry in entries],
    )


# --- writes ----------------------------------------------------------------------------------------------------


def create_draft(session: Session, kind: Kind[M, Any, R, Any], caller: Caller, key: str, document: dict[str, Any]) -> R:
    """A new draft version of `key`; the server assigns the next version number."""
    owners, latest = repository.key_owners(session, kind.model, key)
    check_key_free(owners, caller.organisation_id, key, kind.what)
    version = latest + 1
    parsed = kind.shape(prepare_document(document, key, version))
    now = utcnow()
    row = kind.model(
        key=key,
        version=version,
        **kind.columns(parsed),
        owner_organisation_id=caller.organisation_id,
        status=DRAFT,
        document=hashable_form(parsed),
        content_hash=content_hash(parsed),
        created_at=now,
        created_by=actor(caller),
        updated_at=now,
    )
    try:
        repository.add(session, row)
    except IntegrityError:  # the request's transaction rolls back with the 409
        raise Conflict(f"another draft of '{key}' was created at the same time; retry") from None
    audit(
        session,
        caller,
        f"{kind.action}.draft_created",
        kind.resource,
        row.id,
        {"key": key, "version": version, "content_hash": row.content_hash},
        digest_of=row.document,
    )
    return to_read(kind, row)


def replace_draft(
    session: Session,
    kind: Kind[M, Any, R, Any],
    caller: Caller,
    key: str,
    version: int,
    document: dict[str, Any],
    if_match: str | None,
) -> R:
    row = _for_update(session, kind, caller.organisation_id, key, version)
    ensure_draft(row, kind.what)
    check_if_match(row, if_match, required=True)
    parsed = kind.shape(prepare_document(document, key, version))
    previous = row.content_hash
    row.document = hashable_form(parsed)
    row.content_hash = content_hash(parsed)
    for column, value in kind.columns(parsed).items():
        setattr(row, column, value)
    row.updated_at = utcnow()
    session.flush()
    audit(
        session,
        caller,
        f"{kind.action}.draft_replaced",
        kind.resource,
        row.id,
        {"key": key, "version": version, "previous_hash": previous, "content_hash": row.content_hash},
        digest_of=row.document,
    )
    return to_read(kind, row)


def publish(
    session: Session,
    kind: Kind[M, Any, Any, Any],
    caller: Caller,
    key: str,
    version: int,
    if_match: str | None,
    *,
    gate: Callable[[M], None],
    details: Mapping[str, Any] | None = None,
) -> M:
    """Publish a draft that passes the kind's `gate` (which raises to refuse); it never changes again."""
    row = _for_update(session, kind, caller.organisation_id, key, version)
    ensure_draft(row, kind.what)
    check_if_match(row, if_match, required=False)
    gate(row)
    return _move(session, kind, caller, row, PUBLISHED, details or {})


def retire(
    session: Session,
    kind: Kind[M, Any, Any, Any],
    caller: Caller,
    key: str,
    version: int,
    *,
    guard: Callable[[M], None],
) -> M:
    """Retire a published version that the kind's `guard` lets go (stored assessments still replay with it)."""
    row = _for_update(session, kind, caller.organisation_id, key, version)
    if row.status != PUBLISHED:
        raise Conflict(f"{kind.what} '{key}' version {version} is {row.status}: only a published version retires")
    guard(row)
    return _move(session, kind, caller, row, RETIRED, {})


def _move(
    session: Session, kind: Kind[M, Any, Any, Any], caller: Caller, row: M, status: str, details: Mapping[str, Any]
) -> M:
    """Stamp the new status (`published_at`/`published_by`, `retired_at`/`retired_by`) and audit `<kind>.<status>`."""
    now = utcnow()
    row.status = status
    setattr(row, f"{status}_at", now)
    setattr(row, f"{status}_by", actor(caller))
    row.updated_at = now
    session.flush()
    audit(
        session,
        caller,
        f"{kind.action}.{status}",
        kind.resource,
        row.id,
        {"key": row.key, "version": row.version, "content_hash": row.content_hash, **details},
    )
    return row


def versions_of_key(
    session: Session,
    kind: Kind[Any, Any, R, Any],
    organisation_id: str,
    key: str,
    *,
    version: int | None,
    shipped: bool,
    limit: int,
) -> tuple[list[R], int]:
    """The versions of `key` (shipped, or the organisation's own), newest first, at most `limit`, with their
    documents; and how many there are."""
    rows, count = repository.versions_of_key(
        session, kind.model, organisation_id, key, version=version, shipped=shipped, limit=limit
    )
    return [to_read(kind, row) for row in rows], count
