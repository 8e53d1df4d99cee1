"""FHIR representations of stored content: a questionnaire version as a Questionnaire (under the rule set whose
triggers make items required), and the canonical resolution searches (docs/fhir.md)."""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from cachetools import LRUCache, cached
from pydantic import BaseModel
from sqlalchemy.orm import Session

from app.content_versions import service as versions
from app.core.errors import Conflict, ValidationFailed
from app.fhir.canonical import (
    SHIPPED_CANONICAL_BASE,
    YES_NO_UNKNOWN_SYSTEM,
    YES_NO_UNKNOWN_VERSION,
    canonical_base,
    ruleset_url,
)
from app.fhir.codesystems import choice_items, levels_codesystem, option_codesystem, yes_no_unknown_codesystem
from app.fhir.media import fhir_etag
from app.fhir.questionnaire import questionnaire_resource
from app.questionnaires import service as questionnaire_service
from app.rulesets import service as ruleset_service
from app.scoring import DefinitionError, Questionnaire, RuleSet, parse_questionnaire, parse_ruleset
from app.scoring.checker import items_read_by_triggers
from app.scoring.requirements import item_requirements

FHIR_CACHE_MAX_ENTRIES = 64
LEVELS = "levels"  # the name of a rule set's levels CodeSystem after its key (canonical.levels_system)


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


# --- canonical resolution ----------------------------------------------------------------------------------------

# A search without `version` returns at most this many versions, newest first (`total` counts them all).
MAX_SEARCH_VERSIONS = 50
_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
_ITEM_ID = re.compile(r"^[a-z][a-z0-9_]{0,99}$")


@dataclass(frozen=True)
class Found:
    """What a search found: the matching resources (newest version first), how many match, and what was skipped."""

    resources: list[dict[str, Any]]
    total: int
    skipped: list[str]


def _scopes(url: str, resource_type: str, public_base_url: str) -> list[tuple[bool, str]]:
    """(shipped?, the part after `<base>/<type>/`) for each canonical base `url` is under: the fixed base of
    shipped content and this deployment's base of organisations' own (one deployment may use the same)."""
    scopes = []
    for shipped, base in ((True, SHIPPED_CANONICAL_BASE), (False, canonical_base("", public_base_url))):
        prefix = f"{base}/{resource_type}/"
        if url.startswith(prefix):
            scopes.append((shipped, url.removeprefix(prefix)))
    return scopes


def _version_number(version: str | None) -> tuple[bool, int | None]:
    """Whether a version of ours can be `version`, and its number (None: every version)."""
    if version is None:
        return True, None
    if not version.isascii() or not version.isdigit() or len(version) > 10:
        return False, None
    number = int(version)
    return 1 <= number <= 2_147_483_647, number


R = TypeVar("R", bound=BaseModel)


def _versions_of_key(
    session: Session,
    kind: versions.Kind[Any, Any, R, Any],
    organisation_id: str,
    key: str,
    number: int | None,
    *,
    shipped: bool,
) -> tuple[list[R], int]:
    """The versions of one key a search may return (`number`: one version, None: the newest ones, at most
    MAX_SEARCH_VERSIONS) and how many there are."""
    return versions.versions_of_key(
        session, kind, organisation_id, key, version=number, shipped=shipped, limit=MAX_SEARCH_VERSIONS
    )


def search_questionnaires(
    session: Session, organisation_id: str, url: str, version: str | None, public_base_url: str
) -> Found:
    """The Questionnaires whose canonical is `url` (and `version`), visible to the organisation."""
    possible, number = _version_number(version)
    resources: list[dict[str, Any]] = []
    skipped: list[str] = []
    total = 0
    if not possible:
        return Found(resources, total, skipped)
    for shipped, key in _scopes(url, "Questionnaire", public_base_url):
        if not _KEY.match(key):
            continue
        rows, count = _versions_of_key(
            session, questionnaire_service.KIND, organisation_id, key, number, shipped=shipped
        )
        total += count
        for row in rows:
            try:
                built = questionnaire_fhir(
                    session,
                    organisation_id,
                    key=row.key,
                    version=row.version,
                    status=row.status,
                    owner=row.owner,
                    document=row.document,
                    ruleset_key=None,
                    ruleset_version=None,
                    public_base_url=public_base_url,
                )
            except Conflict as exc:
                total -= 1
                skipped.append(exc.detail or f"questionnaire '{row.key}' version {row.version} fails its checks")
                continue
            resources.append(orjson.loads(built.body))
    return Found(resources, total, skipped)


def search_codesystems(
    session: Session, organisation_id: str, url: str, version: str | None, public_base_url: str
) -> Found:
    """The CodeSystems whose canonical is `url` (and `version`), visible to the organisation: yes/no/unknown, a
    choice item's options (`<questionnaire key>.<item id>`) or a rule set's levels (`<rule set key>.levels`)."""
    possible, number = _version_number(version)
    resources: list[dict[str, Any]] = []
    if not possible:
        return Found(resources, 0, [])
    if url == YES_NO_UNKNOWN_SYSTEM and version in (None, YES_NO_UNKNOWN_VERSION):
        return Found([yes_no_unknown_codesystem()], 1, [])
    total = 0
    for shipped, name in _scopes(url, "CodeSystem", public_base_url):
        key, _, item_id = name.partition(".")
        if not _KEY.match(key) or not _ITEM_ID.match(item_id):
            continue
        base = canonical_base(None if shipped else organisation_id, public_base_url)
        if item_id == LEVELS:
            rulesets, count = _versions_of_key(
                session, ruleset_service.KIND, organisation_id, key, number, shipped=shipped
            )
            total += count
            for ruleset_row in rulesets:
                ruleset = parse_ruleset(ruleset_row.document)
                resources.append(levels_codesystem(ruleset, base=base, status=ruleset_row.status))
        questionnaires, _ = _versions_of_key(
            session, questionnaire_service.KIND, organisation_id, key, number, shipped=shipped
        )
        for questionnaire_row in questionnaires:
            questionnaire = questionnaire_service.shape(questionnaire_row.document)
            item = next((i for i in choice_items(questionnaire) if i.id == item_id), None)
            if item is not None:
                total += 1
                resources.append(option_codesystem(questionnaire, item, base=base, status=questionnaire_row.status))
    return Found(resources, total, [])
