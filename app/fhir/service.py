"""FHIR representations of stored content: a questionnaire version as a Questionnaire (under the rule set whose
triggers make items required), and the canonical resolution searches (docs/fhir.md)."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

import orjson
from cachetools import LRUCache, cached
from sqlalchemy.orm import Session

from app.content_versions import service as versions
from app.core.errors import Conflict, ValidationFailed
from app.fhir.canonical import canonical_base, ruleset_url
from app.fhir.media import fhir_etag
from app.fhir.questionnaire import questionnaire_resource
from app.rulesets import service as ruleset_service
from app.scoring import DefinitionError, Questionnaire, RuleSet, parse_questionnaire
from app.scoring.checker import items_read_by_triggers
from app.scoring.requirements import item_requirements

FHIR_CACHE_MAX_ENTRIES = 64


@dataclass(frozen=True)
class FhirDocument:
    body: bytes  # the resource as sent
    etag: str  # of this representation (fhir_etag of a digest of the body)


def owner_id_of(owner: str, organisation_id: str) -> str | None:
    """The owning organisation of a version the caller can see: `system` is shipped content, `organisation` the
    caller's own (reads are scoped: no other organisation's version is visible)."""
    return None if owner == "system" else organisation_id


def _questionnaire_key(
    questionnaire: Questionnaire, ruleset: RuleSet | None, base: str, status: str, ruleset_base: str | None
) -> tuple[str, str | None, str, str, str | None]:
    return questionnaire.content_hash, None if ruleset is None else ruleset.content_hash, base, status, ruleset_base


# Content-addressed (hashes, base and status): never stale. The lock: requests run in the threadpool.
@cached(LRUCache(maxsize=FHIR_CACHE_MAX_ENTRIES), key=_questionnaire_key, lock=threading.Lock())
def questionnaire_document(
    questionnaire: Questionnaire, ruleset: RuleSet | None, base: str, status: str, ruleset_base: str | None
) -> FhirDocument:
    """The Questionnaire of `questionnaire` (status: ours; canonicals under `base`) with `required` as `ruleset`
    makes it (None: the questionnaire's own `required` only; `ruleset_base`: the base of the rule set's canonical),
    its body and its ETag."""
    required_by_rules = {} if ruleset is None else items_read_by_triggers(ruleset)
    resource = questionnaire_resource(
        questionnaire,
        item_requirements(questionnaire, required_by_rules),
        base=base,
        status=status,
        required_by_ruleset=None
        if ruleset is None or ruleset_base is None
        else f"{ruleset_url(ruleset_base, ruleset.key)}|{ruleset.version}",
    )
    body = orjson.dumps(resource)
    return FhirDocument(body=body, etag=fhir_etag(f'"{hashlib.sha256(body).hexdigest()[:40]}"'))


def questionnaire_fhir(
    session: Session,
    organisation_id: str,
    *,
    key: str,
    version: int,
    status: str,
    owner: str,
    document: dict[str, object],
    ruleset_key: str | None,
    ruleset_version: int | None,
    public_base_url: str,
) -> FhirDocument:
    """The FHIR Questionnaire of a visible questionnaire version (its `status`, `owner` and `document` as read).

    `required` follows the rule set `ruleset_service.ruleset_for_answers_schema` resolves, as the answers schema
    does (trigger-read items included); with no rule set named and none current for this version, the
    questionnaire's own `required` alone (and no required-by-ruleset extension). A draft that fails its static
    checks is a 409."""
    base = canonical_base(owner_id_of(owner, organisation_id), public_base_url)
    ruleset: RuleSet | None = None
    ruleset_base: str | None = None
    questionnaire: Questionnaire | None = None
    try:
        resolved = ruleset_service.ruleset_for_answers_schema(
            session, organisation_id, key, version, ruleset_key, ruleset_version
        )
    except ValidationFailed:
        if ruleset_key is not None or ruleset_version is not None:
            raise
    else:
        ruleset, questionnaire = resolved.compiled.ruleset, resolved.compiled.questionnaire
        ruleset_row = versions.visible(session, ruleset_service.KIND, organisation_id, ruleset.key, ruleset.version)
        ruleset_base = canonical_base(ruleset_row.owner_organisation_id, public_base_url)
    if questionnaire is None:
        try:
            questionnaire = parse_questionnaire(document)
        except DefinitionError as exc:
            raise Conflict(
                f"questionnaire '{key}' version {version} does not pass its static checks ({len(exc.issues)} "
                f"errors): POST /v1/questionnaires/{key}/versions/{version}/validate lists them"
            ) from None
    return questionnaire_document(questionnaire, ruleset, base, status, ruleset_base)
