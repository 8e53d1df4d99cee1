"""Loads the shipped questionnaire and rule set as system-owned published versions (idempotent, run on start)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.content import default_documents
from app.content_versions import repository
from app.content_versions.models import VersionedDocument
from app.core.db import utcnow
from app.questionnaires.models import QuestionnaireVersion
from app.rulesets.models import RuleSetVersion
from app.scoring import (
    Questionnaire,
    RuleSet,
    check,
    compile_ruleset,
    content_hash,
    parse_questionnaire,
    parse_ruleset,
    run_tests,
)
from app.scoring.canonical import hashable_form

SYSTEM = "system"


class ShippedContentError(RuntimeError):
    """The shipped content cannot be loaded as it is (edited without a version bump, or failing its checks)."""


def seed_default_content(session: Session) -> list[str]:
    lines: list[str] = []
    questionnaires: dict[tuple[str, int], Questionnaire] = {}
    for kind, document in default_documents():
        if kind == "questionnaire":
            questionnaire = parse_questionnaire(document)
            questionnaires[(questionnaire.key, questionnaire.version)] = questionnaire
            lines.append(_seed_questionnaire(session, questionnaire))
        else:
            lines.append(_seed_ruleset(session, document, questionnaires))
    return lines


def _seed_questionnaire(session: Session, questionnaire: Questionnaire) -> str:
    name = f"questionnaire {questionnaire.key} v{questionnaire.version}"
    digest, added = _store(session, QuestionnaireVersion, questionnaire, name)
    return f"{name}: {'published' if added else 'already present'} ({digest[:12]})"


def _seed_ruleset(
    session: Session, document: dict[str, Any], questionnaires: dict[tuple[str, int], Questionnaire]
) -> str:
    ruleset = parse_ruleset(document)
    name = f"rule set {ruleset.key} v{ruleset.version}"
    target = (ruleset.questionnaire.key, ruleset.questionnaire.version)
    questionnaire = questionnaires.get(target)
    if questionnaire is None:
        raise ShippedContentError(f"{name} targets questionnaire {target[0]} v{target[1]}, which is not shipped")
    issues = check(ruleset, questionnaire)
    if issues:
        raise ShippedContentError(f"{name} fails its static checks: " + "; ".join(str(i) for i in issues[:10]))
    failed = [outcome for outcome in run_tests(compile_ruleset(ruleset, questionnaire)) if not outcome.passed]
    if failed:
        raise ShippedContentError(f"{name}: {len(failed)} embedded tests fail, first: {failed[0].name}")
    digest, added = _store(
        session, RuleSetVersion, ruleset, name, questionnaire_key=target[0], questionnaire_version=target[1]
    )
    if not added:
        return f"{name}: already present ({digest[:12]})"
    return f"{name}: published ({digest[:12]}, {len(ruleset.tests)} embedded tests pass)"


def _store(
    session: Session, model: type[VersionedDocument], document: Questionnaire | RuleSet, name: str, **columns: Any
) -> tuple[str, bool]:
    """The document's hash, and whether it was added now as a published system version (False: already there)."""
    digest = content_hash(document)
    existing = repository.any_version(session, model, document.key, document.version)
    if existing is not None:
        _same_or_fail(name, existing.owner_organisation_id, existing.content_hash, digest)
        return digest, False
    now = utcnow()
    repository.add(
        session,
        model(
            key=document.key,
            version=document.version,
            **columns,
            owner_organisation_id=None,
            status="published",
            document=hashable_form(document),
            content_hash=digest,
            created_at=now,
            created_by=SYSTEM,
            updated_at=now,
            published_at=now,
            published_by=SYSTEM,
        ),
    )
    return digest, True


def _same_or_fail(name: str, owner: str | None, stored_hash: str, shipped_hash: str) -> None:
    if owner is not None:
        raise ShippedContentError(f"{name}: the key is already used by an organisation; rename the shipped content")
    if stored_hash != shipped_hash:
        raise ShippedContentError(
            f"{name}: the shipped content changed without a version bump (stored {stored_hash[:12]}, shipped "
            f"{shipped_hash[:12]}); published versions are immutable, so give the edited file a new version"
        )
