"""Questionnaire use cases: list, read, draft, replace, validate, publish, retire, diff."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth.service import Caller
from app.core.db import utcnow
from app.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from app.questionnaires import common, repository
from app.questionnaires.diff import diff_questionnaires
from app.questionnaires.models import QuestionnaireVersion
from app.questionnaires.schemas import (
    ContentDiff,
    QuestionnaireVersionPage,
    QuestionnaireVersionRead,
    QuestionnaireVersionSummary,
    ValidationIssue,
    ValidationReport,
)
from app.scoring import DefinitionError, Issue, Questionnaire, content_hash, parse_questionnaire
from app.scoring.canonical import hashable_form
from app.scoring.checker import check_questionnaire
from app.scoring.parsing import issues_from_validation

WHAT = "questionnaire"
RESOURCE = "questionnaire_version"


def _summary_fields(row: QuestionnaireVersion) -> dict[str, Any]:
    title = row.document.get("title")
    return {
        "key": row.key,
        "version": row.version,
        "status": row.status,
        "owner": "system" if row.owner_organisation_id is None else "organisation",
        "title": title if isinstance(title, str) else None,
        "content_hash": row.content_hash,
        "created_at": row.created_at,
        "created_by": row.created_by,
        "updated_at": row.updated_at,
        "published_at": row.published_at,
        "published_by": row.published_by,
        "retired_at": row.retired_at,
        "retired_by": row.retired_by,
    }


def to_read(row: QuestionnaireVersion) -> QuestionnaireVersionRead:
    return QuestionnaireVersionRead(**_summary_fields(row), document=row.document)


def shape(document: dict[str, Any]) -> Questionnaire:
    """The document's shape only (a draft may still fail the meaning checks; validate and publish report them)."""
    try:
        return Questionnaire.model_validate(document)
    except ValidationError as exc:
        raise common.invalid_document(issues_from_validation(exc), WHAT) from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise common.invalid_document([Issue("", f"not a valid document: {exc}")], WHAT) from None


def _visible(session: Session, organisation_id: str, key: str, version: int) -> QuestionnaireVersion:
    row = repository.get_version(session, organisation_id, key, version)
    if row is None:
        raise NotFound(f"No questionnaire '{key}' version {version}")
    return row


def _for_update(session: Session, organisation_id: str, key: str, version: int) -> QuestionnaireVersion:
    row = repository.get_version_for_update(session, organisation_id, key, version)
    if row is None:
        raise NotFound(f"No questionnaire '{key}' version {version}")
    common.ensure_mutable_by(row, organisation_id, WHAT)
    return row


# --- reads -------------------------------------------------------------------------------------------------


def list_versions(
    session: Session,
    organisation_id: str,
    *,
    key: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = common.DEFAULT_PAGE,
) -> QuestionnaireVersionPage:
    rows = repository.list_versions(
        session, organisation_id, key=key, status=status, after=common.decode_cursor(cursor), limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return QuestionnaireVersionPage(
        items=[QuestionnaireVersionSummary(**_summary_fields(r)) for r in rows],
        next_cursor=common.encode_cursor(rows[-1].key, rows[-1].version) if more else None,
    )


def get_version(session: Session, organisation_id: str, key: str, version: int) -> QuestionnaireVersionRead:
    return to_read(_visible(session, organisation_id, key, version))


def load_model(session: Session, organisation_id: str, key: str, version: int) -> tuple[str, Questionnaire] | None:
    """(status, parsed questionnaire) of a visible version, for the rule-set checks; None when not visible.

    Raises the engine's DefinitionError when the stored questionnaire (a draft) fails its own checks.
    """
    row = repository.get_version(session, organisation_id, key, version)
    if row is None:
        return None
    return row.status, parse_questionnaire(row.document)


def document_of(session: Session, organisation_id: str, key: str, version: int) -> dict[str, Any] | None:
    row = repository.get_version(session, organisation_id, key, version)
    return None if row is None else row.document


# --- validation --------------------------------------------------------------------------------------------


def validate_document(document: dict[str, Any]) -> ValidationReport:
    """Every static-check problem of a posted document, with its pointer; nothing is stored."""
    document, complete = common.complete_for_validation(document)
    try:
        questionnaire = Questionnaire.model_validate(document)
    except ValidationError as exc:
        return _report(issues_from_validation(exc), None)
    except (ValueError, TypeError, RecursionError) as exc:
        return _report([Issue("", f"not a valid document: {exc}")], None)
    return _report(check_questionnaire(questionnaire), content_hash(questionnaire) if complete else None)


def validate_version(session: Session, organisation_id: str, key: str, version: int) -> ValidationReport:
    return validate_document(_visible(session, organisation_id, key, version).document)


def _report(issues: list[Issue], digest: str | None) -> ValidationReport:
    return ValidationReport(
        valid=not issues,
        content_hash=digest,
        errors=[ValidationIssue(pointer=i.pointer, detail=i.message) for i in issues],
    )


# --- writes ------------------------------------------------------------------------------------------------


def create_draft(session: Session, caller: Caller, key: str, document: dict[str, Any]) -> QuestionnaireVersionRead:
    """A new draft version of `key`; the server assigns the next version number."""
    owners, latest = repository.key_owners(session, key)
    common.check_key_free(owners, caller.organisation_id, key, WHAT)
    version = latest + 1
    questionnaire = shape(common.prepare_document(document, key, version))
    now = utcnow()
    row = QuestionnaireVersion(
        key=key,
        version=version,
        owner_organisation_id=caller.organisation_id,
        status=common.DRAFT,
        document=hashable_form(questionnaire),
        content_hash=content_hash(questionnaire),
        created_at=now,
        created_by=common.actor(caller),
        updated_at=now,
    )
    try:
        repository.add(session, row)
    except IntegrityError:  # the request's transaction rolls back with the 409
        raise Conflict(f"another draft of '{key}' was created at the same time; retry") from None
    common.audit(
        session,
        caller,
        "questionnaire.draft_created",
        RESOURCE,
        row.id,
        {"key": key, "version": version, "content_hash": row.content_hash},
        digest_of=row.document,
    )
    return to_read(row)


def replace_draft(
    session: Session, caller: Caller, key: str, version: int, document: dict[str, Any], if_match: str | None
) -> QuestionnaireVersionRead:
    row = _for_update(session, caller.organisation_id, key, version)
    common.ensure_draft(row, WHAT)
    common.check_if_match(row, if_match, required=True)
    questionnaire = shape(common.prepare_document(document, key, version))
    previous = row.content_hash
    row.document = hashable_form(questionnaire)
    row.content_hash = content_hash(questionnaire)
    row.updated_at = utcnow()
    session.flush()
    common.audit(
        session,
        caller,
        "questionnaire.draft_replaced",
        RESOURCE,
        row.id,
        {"key": key, "version": version, "previous_hash": previous, "content_hash": row.content_hash},
        digest_of=row.document,
    )
    return to_read(row)


def publish(session: Session, caller: Caller, key: str, version: int, if_match: str | None) -> QuestionnaireVersionRead:
    """Publish a draft that passes every static check; it is immutable from now on."""
    row = _for_update(session, caller.organisation_id, key, version)
    common.ensure_draft(row, WHAT)
    common.check_if_match(row, if_match, required=False)
    try:
        parse_questionnaire(row.document)
    except DefinitionError as exc:
        raise ValidationFailed(
            f"questionnaire '{key}' version {version} cannot be published: {len(exc.issues)} static-check errors",
            errors=common.issues_to_errors(exc.issues, location="document"),
        ) from None
    now = utcnow()
    row.status = common.PUBLISHED
    row.published_at = now
    row.published_by = common.actor(caller)
    row.updated_at = now
    session.flush()
    common.audit(
        session,
        caller,
        "questionnaire.published",
        RESOURCE,
        row.id,
        {"key": key, "version": version, "content_hash": row.content_hash},
    )
    return to_read(row)


def retire(session: Session, caller: Caller, key: str, version: int, in_use_by: list[str]) -> QuestionnaireVersionRead:
    """Retire a published version (kept for replay, refused for new rule sets). `in_use_by`: published rule sets
    that still target it (the rule-set service passes them: it owns that table)."""
    row = _for_update(session, caller.organisation_id, key, version)
    if row.status != common.PUBLISHED:
        raise Conflict(f"questionnaire '{key}' version {version} is {row.status}: only a published version retires")
    if in_use_by:
        raise Conflict(
            f"questionnaire '{key}' version {version} is scored by published rule sets ({', '.join(in_use_by)}); "
            "retire them first",
            errors=[FieldError(pointer="", detail=f"used by {name}", location="path") for name in in_use_by],
        )
    now = utcnow()
    row.status = common.RETIRED
    row.retired_at = now
    row.retired_by = common.actor(caller)
    row.updated_at = now
    session.flush()
    common.audit(
        session,
        caller,
        "questionnaire.retired",
        RESOURCE,
        row.id,
        {"key": key, "version": version, "content_hash": row.content_hash},
    )
    return to_read(row)


def diff(session: Session, organisation_id: str, key: str, from_version: int, to_version: int) -> ContentDiff:
    before = _visible(session, organisation_id, key, from_version)
    after = _visible(session, organisation_id, key, to_version)
    entries = diff_questionnaires(before.document, after.document)
    return ContentDiff(
        key=key,
        from_version=from_version,
        to_version=to_version,
        summary=[entry.summary for entry in entries],
        changes=[entry.model for entry in entries],
    )
