"""Questionnaire use cases beyond the shared life cycle (app.content_versions): validate, the publish and retire
rules, the model lookups rule sets need, diff."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache, cached
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.auth.caller import Caller
from app.content_versions import repository
from app.content_versions import service as versions
from app.content_versions.schemas import ContentDiff, ValidationIssue, ValidationReport
from app.core.errors import Conflict, FieldError, ValidationFailed
from app.questionnaires.diff import diff_questionnaires
from app.questionnaires.models import QuestionnaireVersion
from app.questionnaires.schemas import (
    QuestionnaireVersionPage,
    QuestionnaireVersionRead,
    QuestionnaireVersionSummary,
)
from app.scoring import DefinitionError, Issue, Questionnaire, RuleSet, content_hash, parse_questionnaire
from app.scoring.answers_schema import answers_schema
from app.scoring.checker import check_questionnaire, items_read_by_triggers
from app.scoring.parsing import issues_from_validation
from app.scoring.requirements import answered_at_least_of

WHAT = "questionnaire"


def shape(document: dict[str, Any]) -> Questionnaire:
    """The document's shape only (a draft may still fail the meaning checks; validate and publish report them)."""
    try:
        return Questionnaire.model_validate(document)
    except ValidationError as exc:
        raise versions.invalid_document(issues_from_validation(exc), WHAT) from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise versions.invalid_document([Issue("", f"not a valid document: {exc}")], WHAT) from None


KIND = versions.Kind(
    model=QuestionnaireVersion,
    what=WHAT,
    action="questionnaire",
    resource="questionnaire_version",
    shape=shape,
    summary=QuestionnaireVersionSummary,
    read=QuestionnaireVersionRead,
    page=QuestionnaireVersionPage,
)


def to_read(row: QuestionnaireVersion) -> QuestionnaireVersionRead:
    return versions.to_read(KIND, row)


# --- reads -------------------------------------------------------------------------------------------------


def load_model(session: Session, organisation_id: str, key: str, version: int) -> tuple[str, Questionnaire] | None:
    """(status, parsed questionnaire) of a visible version, for the rule-set checks; None when not visible.

    Raises the engine's DefinitionError when the stored questionnaire (a draft) fails its own checks.
    """
    row = repository.get_version(session, QuestionnaireVersion, organisation_id, key, version)
    if row is None:
        return None
    return row.status, parse_questionnaire(row.document)


def document_of(session: Session, organisation_id: str, key: str, version: int) -> dict[str, Any] | None:
    row = repository.get_version(session, QuestionnaireVersion, organisation_id, key, version)
    return None if row is None else row.document


def ensure_visible(session: Session, organisation_id: str, key: str, version: int) -> None:
    """404 unless the organisation can see this questionnaire version."""
    versions.visible(session, KIND, organisation_id, key, version)


# --- the answers schema ------------------------------------------------------------------------------------

ANSWERS_SCHEMA_MEDIA_TYPE = "application/schema+json"
ANSWERS_SCHEMA_CACHE_MAX_ENTRIES = 64


@dataclass(frozen=True)
class AnswersSchema:
    body: bytes  # the JSON document, as sent
    etag: str


def _answers_schema_key(questionnaire: Questionnaire, ruleset: RuleSet) -> tuple[str, str]:
    return questionnaire.content_hash, ruleset.content_hash


# Built once per (questionnaire hash, rule-set hash): content-addressed, so never stale. Requests run in the
# threadpool and cachetools caches are not thread-safe, hence the lock.
@cached(LRUCache(maxsize=ANSWERS_SCHEMA_CACHE_MAX_ENTRIES), key=_answers_schema_key, lock=threading.Lock())
def answers_schema_of(questionnaire: Questionnaire, ruleset: RuleSet) -> AnswersSchema:
    """The answers schema of `questionnaire` under the items `ruleset` requires, with both named (key, version
    and content hash) and its strong ETag (a digest of the body)."""
    schema = answers_schema(questionnaire, items_read_by_triggers(ruleset), answered_at_least_of(ruleset))
    schema["description"] += (
        f" Under rule set '{ruleset.key}' version {ruleset.version}, whose triggers make the items they read required."
    )
    schema["x-riskapi-questionnaire"] = {
        "key": questionnaire.key,
        "version": questionnaire.version,
        "content_hash": questionnaire.content_hash,
    }
    schema["x-riskapi-ruleset"] = {"key": ruleset.key, "version": ruleset.version, "content_hash": ruleset.content_hash}
    body = json.dumps(schema, ensure_ascii=False, separators=(",", ":")).encode()
    return AnswersSchema(body=body, etag=f'"{hashlib.sha256(body).hexdigest()[:40]}"')


# --- validation --------------------------------------------------------------------------------------------


def validate_document(document: dict[str, Any]) -> ValidationReport:
    """Every static-check problem of a posted document, with its pointer; nothing is stored."""
    document, complete = versions.complete_for_validation(document)
    try:
        questionnaire = Questionnaire.model_validate(document)
    except ValidationError as exc:
        return _report(issues_from_validation(exc), None)
    except (ValueError, TypeError, RecursionError) as exc:
        return _report([Issue("", f"not a valid document: {exc}")], None)
    return _report(check_questionnaire(questionnaire), content_hash(questionnaire) if complete else None)


def validate_version(session: Session, organisation_id: str, key: str, version: int) -> ValidationReport:
    return validate_document(versions.visible(session, KIND, organisation_id, key, version).document)


def _report(issues: list[Issue], digest: str | None) -> ValidationReport:
    return ValidationReport(
        valid=not issues,
        content_hash=digest,
        errors=[ValidationIssue(pointer=i.pointer, detail=i.message) for i in issues],
    )


# --- writes ------------------------------------------------------------------------------------------------


def _passes_static_checks(row: QuestionnaireVersion) -> None:
    try:
        parse_questionnaire(row.document)
    except DefinitionError as exc:
        raise ValidationFailed(
            f"questionnaire '{row.key}' version {row.version} cannot be published: "
            f"{len(exc.issues)} static-check errors",
            errors=versions.issues_to_errors(exc.issues, location="document"),
        ) from None


def publish(session: Session, caller: Caller, key: str, version: int, if_match: str | None) -> QuestionnaireVersionRead:
    """Publish a draft that passes every static check; it is immutable from now on."""
    return to_read(versions.publish(session, KIND, caller, key, version, if_match, gate=_passes_static_checks))


def retire(session: Session, caller: Caller, key: str, version: int, in_use_by: list[str]) -> QuestionnaireVersionRead:
    """Retire a published version (kept for replay, refused for new rule sets). `in_use_by`: published rule sets
    that still target it (the rule-set service passes them: it owns that table)."""

    def unused(_row: QuestionnaireVersion) -> None:
        if in_use_by:
            raise Conflict(
                f"questionnaire '{key}' version {version} is scored by published rule sets "
                f"({', '.join(in_use_by)}); retire them first",
                errors=[FieldError(pointer="", detail=f"used by {name}", location="path") for name in in_use_by],
            )

    return to_read(versions.retire(session, KIND, caller, key, version, guard=unused))


def diff(session: Session, organisation_id: str, key: str, from_version: int, to_version: int) -> ContentDiff:
    return versions.diff(
        session,
        KIND,
        organisation_id,
        key,
        from_version,
        to_version,
        lambda before, after: diff_questionnaires(before.document, after.document),
    )


def model_with_owner(
    session: Session, organisation_id: str, key: str, version: int
) -> tuple[str | None, Questionnaire] | None:
    """(owner organisation id, None for shipped content; parsed questionnaire) of a visible version, for the FHIR
    canonicals; None when not visible. Raises the engine's DefinitionError for a draft that fails its checks."""
    row = repository.get_version(session, QuestionnaireVersion, organisation_id, key, version)
    if row is None:
        return None
    return row.owner_organisation_id, parse_questionnaire(row.document)
