"""Loads the shipped questionnaires and rule sets as system-owned published versions (idempotent, run on start).

An organisation with no explicit current rule set for a questionnaire uses the newest published shipped one, so
shipping a new version would move every such organisation at once. Before a new shipped rule-set version is
stored, each existing organisation without a choice for its questionnaire key is therefore given the rule set it
uses now as an explicit, audited choice (ADR 0014); organisations created later get the new default."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from app.auth import service as auth_service
from app.auth.caller import Caller
from app.content import default_documents
from app.content_versions import repository
from app.content_versions import service as versions
from app.content_versions.models import VersionedDocument
from app.core.db import utcnow
from app.questionnaires.models import QuestionnaireVersion
from app.rulesets import repository as rulesets
from app.rulesets.models import CurrentRuleSet, RuleSetVersion
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


def seed_default_content(session: Session, documents: Iterable[tuple[str, dict[str, Any]]] | None = None) -> list[str]:
    """Store every shipped document not stored yet (`documents`: the shipped content unless a test passes its own);
    one line per document, and one per questionnaire key whose organisations were kept on their rule set."""
    parsed: list[Questionnaire | RuleSet] = [
        parse_questionnaire(document) if kind == "questionnaire" else parse_ruleset(document)
        for kind, document in (default_documents() if documents is None else documents)
    ]
    # What each organisation without a choice uses before this run stores anything: the version it keeps.
    in_effect = {
        d.questionnaire.key: rulesets.shipped_default(session, d.questionnaire.key)
        for d in parsed
        if isinstance(d, RuleSet)
    }
    lines: list[str] = []
    questionnaires: dict[tuple[str, int], Questionnaire] = {}
    for document in parsed:
        if isinstance(document, Questionnaire):
            questionnaires[(document.key, document.version)] = document
            lines.append(_seed_questionnaire(session, document))
        else:
            lines += _seed_ruleset(session, document, questionnaires, in_effect[document.questionnaire.key])
    return lines


def _seed_questionnaire(session: Session, questionnaire: Questionnaire) -> str:
    name = f"questionnaire {questionnaire.key} v{questionnaire.version}"
    digest, added = _store(session, QuestionnaireVersion, questionnaire, name)
    return f"{name}: {'published' if added else 'already present'} ({digest[:12]})"


def _seed_ruleset(
    session: Session,
    ruleset: RuleSet,
    questionnaires: dict[tuple[str, int], Questionnaire],
    in_effect: rulesets.ResolvedRow | None,
) -> list[str]:
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
    lines = []
    if in_effect is not None and repository.any_version(session, RuleSetVersion, ruleset.key, ruleset.version) is None:
        lines.append(_keep_current_choices(session, target[0], in_effect, ruleset))
    digest, added = _store(
        session, RuleSetVersion, ruleset, name, questionnaire_key=target[0], questionnaire_version=target[1]
    )
    if not added:
        return [f"{name}: already present ({digest[:12]})"]
    return [*lines, f"{name}: published ({digest[:12]}, {len(ruleset.tests)} embedded tests pass)"]


def _keep_current_choices(
    session: Session, questionnaire_key: str, in_effect: rulesets.ResolvedRow, shipping: RuleSet
) -> str:
    """Record `in_effect` as the current rule set for `questionnaire_key` of every organisation without a choice
    for it, each with the audit event of a make-current (`ruleset.current_set`) in its own chain."""
    chosen = rulesets.organisations_with_choice(session, questionnaire_key)
    kept = [
        organisation_id
        for organisation_id, _slug in auth_service.organisations(session)
        if organisation_id not in chosen
    ]
    now = utcnow()
    for organisation_id in kept:
        rulesets.add_choice(
            session,
            CurrentRuleSet(
                organisation_id=organisation_id,
                questionnaire_key=questionnaire_key,
                ruleset_key=in_effect.key,
                ruleset_version=in_effect.version,
                updated_at=now,
                updated_by=SYSTEM,
            ),
        )
        versions.audit(
            session,
            Caller(organisation_id=organisation_id, client_id=SYSTEM, key_id=SYSTEM, roles=frozenset()),
            "ruleset.current_set",
            "current_ruleset",
            questionnaire_key,
            {
                "questionnaire_key": questionnaire_key,
                "ruleset": {"key": in_effect.key, "version": in_effect.version},
                "previous": None,
                "before_shipping": {"key": shipping.key, "version": shipping.version},
            },
        )
    return (
        f"current rule set for questionnaire {questionnaire_key}: {len(kept)} organisation"
        f"{'' if len(kept) == 1 else 's'} without a choice kept on {in_effect.key} v{in_effect.version} before "
        f"{shipping.key} v{shipping.version} is published"
    )


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
