"""Rule-set use cases: resolving the version a new assessment uses, replay, the publish gate, current rule sets,
impact (the draft, list and read life cycle is shared: app.content_versions)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Protocol

from cachetools import LRUCache, TTLCache, cached
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.auth.caller import Caller
from app.content_versions import service as versions
from app.content_versions.diff import DiffLine
from app.content_versions.schemas import ContentDiff, ValidationIssue
from app.content_versions.service import DRAFT, PUBLISHED
from app.core.config import Settings
from app.core.db import utcnow
from app.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from app.events import service as events
from app.events.service import EventType
from app.questionnaires import service as questionnaire_service
from app.questionnaires.diff import diff_questionnaires
from app.rulesets import repository
from app.rulesets.diff import diff_rulesets
from app.rulesets.models import CurrentRuleSet, RuleSetVersion
from app.rulesets.schemas import (
    ContentRef,
    CurrentRuleSetList,
    CurrentRuleSetRead,
    Fixture,
    FixtureSet,
    ImpactReport,
    ImpactRequest,
    LevelChange,
    RisingAssessment,
    RuleRef,
    RuleSetValidationReport,
    RuleSetVersionPage,
    RuleSetVersionRead,
    RuleSetVersionSummary,
    TestOutcomeRead,
    UnscorableAssessment,
)
from app.scoring import (
    AnswerError,
    CompiledRuleSet,
    DefinitionError,
    Issue,
    RuleSet,
    StepBudget,
    WorkLimitExceeded,
    authoring_issues,
    check,
    compile_ruleset,
    content_hash,
    parse_questionnaire,
    parse_ruleset,
    run_tests,
)
from app.scoring.evaluator import EXPLAIN_OPTIONS
from app.scoring.labels import level_label
from app.scoring.result import HashedRef

WHAT = "rule set"
RESOURCE = "ruleset_version"


@dataclass(frozen=True)
class ResolvedRuleSet:
    compiled: CompiledRuleSet
    questionnaire_key: str
    questionnaire_version: int
    questionnaire_hash: str
    ruleset_key: str
    ruleset_version: int
    ruleset_hash: str
    override_policy: str
    levels: tuple[str, ...]
    status: str
    level_labels: Mapping[str, str]  # every level's label (app.scoring.labels.level_label)


COMPILED_CACHE_MAX_ENTRIES = 64


@dataclass(frozen=True)
class _Compiled:
    compiled: CompiledRuleSet
    override_policy: str
    levels: tuple[str, ...]
    level_labels: Mapping[str, str]


def _compiled_key(_session: Session, _organisation_id: str, row: repository.ResolvedRow) -> tuple[str, str]:
    """(rule-set hash, questionnaire hash): content-addressed, so never stale."""
    return row.ruleset_hash, row.questionnaire_hash


# Requests that miss the cache together for the same rule set wait for the first compile (the condition) instead
# of each compiling it under the GIL; a hit costs no I/O (the documents are read on a miss only).
@cached(LRUCache(maxsize=COMPILED_CACHE_MAX_ENTRIES), key=_compiled_key, condition=threading.Condition())
def _compiled_entry(session: Session, organisation_id: str, row: repository.ResolvedRow) -> _Compiled:
    docs = repository.documents(
        session, organisation_id, row.key, row.version, row.questionnaire_key, row.questionnaire_version
    )
    if docs is None:  # pragma: no cover - the row was just read in this transaction
        raise NotFound(f"No rule set '{row.key}' version {row.version}")
    ruleset = parse_ruleset(docs[0])
    compiled = compile_ruleset(ruleset, parse_questionnaire(docs[1]))
    labels = MappingProxyType({level: level_label(ruleset, level) for level in ruleset.levels})
    return _Compiled(compiled, ruleset.override_policy, tuple(ruleset.levels), labels)


def _compiled_for(session: Session, organisation_id: str, row: repository.ResolvedRow) -> ResolvedRuleSet:
    entry = _compiled_entry(session, organisation_id, row)
    return ResolvedRuleSet(
        compiled=entry.compiled,
        questionnaire_key=row.questionnaire_key,
        questionnaire_version=row.questionnaire_version,
        questionnaire_hash=row.questionnaire_hash,
        ruleset_key=row.key,
        ruleset_version=row.version,
        ruleset_hash=row.ruleset_hash,
        override_policy=entry.override_policy,
        levels=entry.levels,
        status=row.status,
        level_labels=entry.level_labels,
    )


def _invalid(pointer: str, detail: str) -> ValidationFailed:
    return ValidationFailed(detail, errors=[FieldError(pointer=pointer, detail=detail)])


# Resolutions of new assessments are cached in-process for RESOLVE_CACHE_SECONDS (ADR 0007), so the create path
# scores and renders before its first statement (on SQLite, before it takes the write lock). Publishing, retiring
# and changing a current rule set clear this process's cache when they commit; other processes follow within
# RESOLVE_CACHE_SECONDS. Only successful resolutions are cached; the compiled rule set is content-addressed.
# Requests in the threadpool share the cache: cachetools caches are not thread-safe, hence the lock.
RESOLVE_CACHE_SECONDS = 5.0
RESOLVE_CACHE_MAX_ENTRIES = 10_000
_ResolveKey = tuple[str, str, int | None, str | None, int | None]
_resolved: TTLCache[_ResolveKey, ResolvedRuleSet] = TTLCache(
    maxsize=RESOLVE_CACHE_MAX_ENTRIES, ttl=RESOLVE_CACHE_SECONDS, timer=time.monotonic
)
_resolved_lock = threading.Lock()


def invalidate_resolution_cache() -> None:
    with _resolved_lock:
        _resolved.clear()


def _invalidate_after_commit(session: Session) -> None:
    invalidate_resolution_cache()  # a request may re-cache the old state before this transaction commits
    event.listen(session, "after_commit", lambda _session: invalidate_resolution_cache(), once=True)


def cached_resolution(
    organisation_id: str,
    *,
    questionnaire_key: str,
    questionnaire_version: int | None = None,
    ruleset_key: str | None = None,
    ruleset_version: int | None = None,
) -> ResolvedRuleSet | None:
    """What `resolve_ruleset` returned for the same arguments less than RESOLVE_CACHE_SECONDS ago, without I/O."""
    with _resolved_lock:
        return _resolved.get((organisation_id, questionnaire_key, questionnaire_version, ruleset_key, ruleset_version))


def resolve_ruleset(
    session: Session,
    organisation_id: str,
    *,
    questionnaire_key: str,
    questionnaire_version: int | None = None,
    ruleset_key: str | None = None,
    ruleset_version: int | None = None,
) -> ResolvedRuleSet:
    """The published rule set a NEW assessment of `questionnaire_key` uses (see `_resolve`), cached briefly."""
    key = (organisation_id, questionnaire_key, questionnaire_version, ruleset_key, ruleset_version)
    with _resolved_lock:
        resolved = _resolved.get(key)
    if resolved is None:
        resolved = _resolve(
            session, organisation_id, questionnaire_key, questionnaire_version, ruleset_key, ruleset_version
        )
        with _resolved_lock:
            _resolved[key] = resolved
    return resolved


def _named_row(
    session: Session, organisation_id: str, key: str, version: int | None, *, in_query: bool = False
) -> repository.ResolvedRow:
    """A named rule set the organisation can see (its latest published version when no version is named); 404
    otherwise, naming the query parameters when they are where the name came from."""
    row = repository.resolve_named_row(session, organisation_id, key, version)
    if row is not None:
        return row
    if version is None:
        raise NotFound(f"No published version of rule set '{key}'" + (" (ruleset_key)" if in_query else ""))
    raise NotFound(f"No rule set '{key}' version {version}" + (" (ruleset_key, ruleset_version)" if in_query else ""))


def _resolve(
    session: Session,
    organisation_id: str,
    questionnaire_key: str,
    questionnaire_version: int | None,
    ruleset_key: str | None,
    ruleset_version: int | None,
) -> ResolvedRuleSet:
    """The published rule set a NEW assessment of `questionnaire_key` uses.

    A named rule set (latest published version when no version is named) must be visible to the organisation
    (404 otherwise) and published (422 at /ruleset/version otherwise). With no rule set named, the organisation's
    current choice for the questionnaire key applies, else the newest published system rule set targeting it.
    The rule set must target the questionnaire (and its version, when one is named): 422 otherwise.
    """
    row: repository.ResolvedRow | None
    if ruleset_key is not None:
        row = _named_row(session, organisation_id, ruleset_key, ruleset_version)
        if row.status != "published":
            raise _invalid(
                "/ruleset/version",
                f"rule set '{ruleset_key}' version {row.version} is {row.status}: new assessments need a published "
                "version",
            )
        if row.questionnaire_key != questionnaire_key:
            raise _invalid(
                "/ruleset/key",
                f"rule set '{ruleset_key}' scores questionnaire '{row.questionnaire_key}', not '{questionnaire_key}'",
            )
    else:
        row = repository.resolve_current_row(session, organisation_id, questionnaire_key, questionnaire_version)
        if row is None:
            raise _invalid(
                "/questionnaire/key" if questionnaire_version is None else "/questionnaire/version",
                f"no published rule set scores questionnaire '{questionnaire_key}'"
                + ("" if questionnaire_version is None else f" version {questionnaire_version}"),
            )
        if row.status != "published":  # pragma: no cover - retiring a current rule set is refused
            raise _invalid(
                "/ruleset/version", f"the current rule set '{row.key}' version {row.version} is {row.status}"
            )
    if questionnaire_version is not None and row.questionnaire_version != questionnaire_version:
        raise _invalid(
            "/questionnaire/version",
            f"rule set '{row.key}' version {row.version} scores version {row.questionnaire_version} of questionnaire "
            f"'{row.questionnaire_key}', "
            f"not version {questionnaire_version}",
        )
    return _compiled_for(session, organisation_id, row)


# A version's levels are part of its content, so they are cached by its content hash and never go stale; a level
# filter costs one metadata query (which versions the organisation can use) and reads a document's levels once.
LEVELS_CACHE_MAX_ENTRIES = 4096
_levels: LRUCache[str, tuple[str, ...]] = LRUCache(maxsize=LEVELS_CACHE_MAX_ENTRIES)
_levels_lock = threading.Lock()


def usable_levels(session: Session, organisation_id: str) -> tuple[str, ...]:
    """Every level of the published and retired rule-set versions the organisation can use (its own and the
    shipped ones; drafts do not count), shipped content first, each version's levels in its own order."""
    hashes = repository.usable_hashes(session, organisation_id)
    with _levels_lock:
        known = {h: _levels[h] for h in hashes if h in _levels}
    missing = [h for h in hashes if h not in known]
    if missing:
        read = {
            h: tuple(v for v in levels if isinstance(v, str)) if isinstance(levels, list) else ()
            for h, levels in repository.levels_by_hash(session, organisation_id, missing).items()
        }
        with _levels_lock:
            _levels.update(read)
        known.update(read)
    return tuple(dict.fromkeys(level for h in hashes for level in known.get(h, ())))


def levels_of_ruleset(session: Session, organisation_id: str, ruleset_key: str) -> tuple[str, ...] | None:
    """Every level of the published and retired versions of one rule set the organisation can use (drafts do not
    count), oldest version first, each in its own order; None when it has no such version."""
    found = repository.levels_of_key(session, organisation_id, ruleset_key)
    if not found:
        return None
    levels = (level for stored in found if isinstance(stored, list) for level in stored if isinstance(level, str))
    return tuple(dict.fromkeys(levels))


def get_ruleset_for_replay(
    session: Session, organisation_id: str, ruleset_key: str, ruleset_version: int
) -> ResolvedRuleSet:
    """Any visible version of a rule set, whatever its status (stored assessments replay with their own)."""
    row = repository.resolve_named_row(session, organisation_id, ruleset_key, ruleset_version)
    if row is None:
        raise NotFound(f"No rule set '{ruleset_key}' version {ruleset_version}")
    return _compiled_for(session, organisation_id, row)


@dataclass(frozen=True)
class RuleSetForFhir:
    """A stored assessment's rule-set version as its FHIR RiskAssessment names it: its owner (None: shipped content,
    whose canonicals are the fixed ones), its compiled content and its levels' labels."""

    owner_organisation_id: str | None
    compiled: CompiledRuleSet
    level_labels: Mapping[str, str]


def ruleset_for_fhir(session: Session, organisation_id: str, ruleset_key: str, ruleset_version: int) -> RuleSetForFhir:
    found, owner = repository.owner_of_version(session, organisation_id, ruleset_key, ruleset_version)
    if not found:
        raise NotFound(f"No rule set '{ruleset_key}' version {ruleset_version}")
    resolved = get_ruleset_for_replay(session, organisation_id, ruleset_key, ruleset_version)
    return RuleSetForFhir(owner, resolved.compiled, resolved.level_labels)


def labels_of(level_labels: Mapping[str, str], level: str, computed_level: str) -> dict[str, str]:
    """`level_label` and `computed_level_label` of a result, from its rule-set version's labels (a level the
    version does not name, which only a damaged record could hold, is labelled from its id)."""

    def label(value: str) -> str:
        if value in level_labels:
            return level_labels[value]
        spaced = value.replace("_", " ")
        return spaced[:1].upper() + spaced[1:]

    return {"level_label": label(level), "computed_level_label": label(computed_level)}


# The labels of a version's levels are part of its content: cached by its content hash, they never go stale, and a
# read that finds them costs no statement.
LABELS_CACHE_MAX_ENTRIES = 4096
_labels: LRUCache[str, Mapping[str, str]] = LRUCache(maxsize=LABELS_CACHE_MAX_ENTRIES)
_labels_lock = threading.Lock()


def level_labels(
    session: Session, organisation_id: str, ruleset_key: str, ruleset_version: int, ruleset_hash: str
) -> Mapping[str, str]:
    """The labels of the levels of the rule-set version a stored assessment was scored with (`ruleset_hash`: its
    content hash as the assessment recorded it), by level id; empty when the version cannot be found."""
    with _labels_lock:
        found = _labels.get(ruleset_hash)
    if found is not None:
        return found
    try:
        resolved = get_ruleset_for_replay(session, organisation_id, ruleset_key, ruleset_version)
    except NotFound:
        return {}
    with _labels_lock:
        _labels[resolved.ruleset_hash] = resolved.level_labels
    return resolved.level_labels


def _query_problem(parameter: str, detail: str) -> ValidationFailed:
    return ValidationFailed(detail, errors=[FieldError(pointer=f"/{parameter}", detail=detail, location="query")])


def ruleset_for_answers_schema(
    session: Session,
    organisation_id: str,
    questionnaire_key: str,
    questionnaire_version: int,
    ruleset_key: str | None,
    ruleset_version: int | None,
) -> ResolvedRuleSet:
    """The rule set whose required items the answers schema of a questionnaire version includes.

    Named: `ruleset_key` alone is its latest published version, with `ruleset_version` any visible version (a
    draft too, like a dry run: one that fails its checks is a 409); unknown is a 404. Not named: the
    organisation's current rule set for the questionnaire key, else the newest published shipped one for the
    version. A rule set that scores another questionnaire or version, or no rule set at all, is a 422 naming the
    query parameter to send."""
    if ruleset_key is None and ruleset_version is not None:
        raise _query_problem("ruleset_version", "ruleset_version needs ruleset_key: name the rule set too")
    asked = f"questionnaire '{questionnaire_key}' version {questionnaire_version}"
    row: repository.ResolvedRow | None
    if ruleset_key is not None:
        row = _named_row(session, organisation_id, ruleset_key, ruleset_version, in_query=True)
        if (row.questionnaire_key, row.questionnaire_version) != (questionnaire_key, questionnaire_version):
            same_key = row.questionnaire_key == questionnaire_key
            parameter = "ruleset_version" if ruleset_version is not None and same_key else "ruleset_key"
            raise _query_problem(
                parameter,
                f"rule set '{row.key}' version {row.version} scores questionnaire '{row.questionnaire_key}' version "
                f"{row.questionnaire_version}, not {asked}",
            )
    else:
        row = repository.resolve_current_row(session, organisation_id, questionnaire_key, questionnaire_version)
        if row is None:
            raise _query_problem(
                "ruleset_key", f"no rule set is current for {asked}: name one with ruleset_key (and ruleset_version)"
            )
        if row.questionnaire_version != questionnaire_version:
            raise _query_problem(
                "ruleset_key",
                f"your current rule set for questionnaire '{questionnaire_key}', '{row.key}' version {row.version}, "
                f"scores version {row.questionnaire_version}: name a rule set for version {questionnaire_version} "
                "with ruleset_key (and ruleset_version)",
            )
    try:
        return _compiled_for(session, organisation_id, row)
    except DefinitionError as exc:
        raise Conflict(
            f"rule set '{row.key}' version {row.version} does not pass its static checks ({len(exc.issues)} "
            f"errors); POST /v1/rulesets/{row.key}/versions/{row.version}/validate lists them"
        ) from None


# --- reads ------------------------------------------------------------------------------------------------------


def shape(document: dict[str, Any]) -> RuleSet:
    try:
        return parse_ruleset(document)
    except DefinitionError as exc:
        raise versions.invalid_document(exc.issues, "rule set") from None


def _target(ruleset: RuleSet) -> dict[str, Any]:
    return {"questionnaire_key": ruleset.questionnaire.key, "questionnaire_version": ruleset.questionnaire.version}


def _target_ref(row: RuleSetVersion) -> dict[str, Any]:
    return {"questionnaire": ContentRef(key=row.questionnaire_key, version=row.questionnaire_version)}


KIND = versions.Kind(
    model=RuleSetVersion,
    what=WHAT,
    action="ruleset",
    resource=RESOURCE,
    shape=shape,
    summary=RuleSetVersionSummary,
    read=RuleSetVersionRead,
    page=RuleSetVersionPage,
    columns=_target,
    fields=_target_ref,
)


def to_read(row: RuleSetVersion) -> RuleSetVersionRead:
    return versions.to_read(KIND, row)


def _visible(session: Session, organisation_id: str, key: str, version: int) -> RuleSetVersion:
    return versions.visible(session, KIND, organisation_id, key, version)


def published_rulesets_targeting(
    session: Session, organisation_id: str, questionnaire_key: str, questionnaire_version: int
) -> list[str]:
    rows = repository.published_targeting(session, organisation_id, questionnaire_key, questionnaire_version)
    return [f"{r.key} v{r.version}" for r in rows]


def fixtures(session: Session, organisation_id: str, key: str, version: int) -> FixtureSet:
    row = _visible(session, organisation_id, key, version)
    ruleset = parse_ruleset(row.document)
    return FixtureSet(
        ruleset=HashedRef(key=row.key, version=row.version, content_hash=row.content_hash),
        questionnaire=ContentRef(key=row.questionnaire_key, version=row.questionnaire_version),
        items=[
            Fixture(
                name=test.name,
                description=test.description,
                answers=test.answers,
                expect=test.expect.model_dump(mode="json", exclude_none=True),
            )
            for test in ruleset.tests
        ],
    )


# --- checks -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Checked:
    issues: list[Issue]
    questionnaire_status: str | None
    compiled: CompiledRuleSet | None


def _too_much_work(exc: WorkLimitExceeded, location: str) -> ValidationFailed:
    return ValidationFailed(
        f"The rule set exceeds a limit: {exc}",
        errors=[
            FieldError(
                pointer=exc.pointer,
                detail=f"{exc} (the server setting ruleset_check_max_steps)",
                location=location,
            )
        ],
    )


def _check_against_target(
    session: Session, organisation_id: str, ruleset: RuleSet, budget: StepBudget, authoring: bool = True
) -> _Checked:
    """Static checks of a rule set against the questionnaire version it names (as the caller sees it); with
    `authoring` (a draft or a posted document, not a published version) the authoring checks too."""
    ref = ruleset.questionnaire
    try:
        loaded = questionnaire_service.load_model(session, organisation_id, ref.key, ref.version)
    except DefinitionError as exc:
        first = "; ".join(str(issue) for issue in exc.issues[:3])
        return _Checked([Issue("/questionnaire", f"the target questionnaire has errors: {first}")], DRAFT, None)
    if loaded is None:
        return _Checked(
            [Issue("/questionnaire", f"no questionnaire '{ref.key}' version {ref.version} (or not visible to you)")],
            None,
            None,
        )
    status, questionnaire = loaded
    issues, new_content = check(ruleset, questionnaire, budget), authoring_issues(ruleset) if authoring else []
    if issues:
        return _Checked(issues + new_content, status, None)
    return _Checked(new_content, status, compile_ruleset(ruleset, questionnaire))


def _outcomes(compiled: CompiledRuleSet, budget: StepBudget) -> list[TestOutcomeRead]:
    outcomes = run_tests(compiled, budget)
    return [TestOutcomeRead(name=o.name, passed=o.passed, failures=list(o.failures)) for o in outcomes]


def validate_document(
    session: Session,
    organisation_id: str,
    document: dict[str, Any],
    max_steps: int,
    location: str = "body",
    authoring: bool = True,
) -> RuleSetValidationReport:
    """Static checks (and, when clean, the embedded tests) of a posted or stored document; nothing is stored.
    Checks that need more than `max_steps` (the setting ruleset_check_max_steps) are a 422 naming the limit.
    `authoring`: the authoring checks too (not for a published version: they are exempt)."""
    document, complete = versions.complete_for_validation(document)
    try:
        ruleset = parse_ruleset(document)
    except DefinitionError as exc:
        return RuleSetValidationReport(
            valid=False, content_hash=None, errors=[_issue(i) for i in exc.issues], tests=None
        )
    budget = StepBudget(max_steps)
    try:
        checked = _check_against_target(session, organisation_id, ruleset, budget, authoring)
        tests = _outcomes(checked.compiled, budget) if checked.compiled is not None else None
    except WorkLimitExceeded as exc:
        raise _too_much_work(exc, location) from None
    return RuleSetValidationReport(
        valid=not checked.issues,
        content_hash=content_hash(ruleset) if complete else None,
        errors=[_issue(i) for i in checked.issues],
        tests=tests,
    )


def validate_version(
    session: Session, organisation_id: str, key: str, version: int, settings: Settings
) -> RuleSetValidationReport:
    row = _visible(session, organisation_id, key, version)
    return validate_document(
        session,
        organisation_id,
        row.document,
        settings.ruleset_check_max_steps,
        location="document",
        authoring=row.status == DRAFT,
    )


def _issue(issue: Issue) -> ValidationIssue:
    return ValidationIssue(pointer=issue.pointer, detail=issue.message)


# --- writes -----------------------------------------------------------------------------------------------------


def publish(
    session: Session,
    caller: Caller,
    key: str,
    version: int,
    if_match: str | None,
    max_steps: int,
    *,
    base_url: str,
    make_current: bool = False,
) -> RuleSetVersionRead:
    """The publish gate: static checks clean (monotonicity included when declared), at least one embedded test and
    every one passing, and the target questionnaire version published. Otherwise 422 listing every failure. The
    checks and tests may take `max_steps` (the setting ruleset_check_max_steps). A published version of the
    organisation's emits `ruleset.published` (links under `base_url`)."""
    row = versions.publish(
        session,
        KIND,
        caller,
        key,
        version,
        if_match,
        gate=lambda row: _publish_gate(session, caller.organisation_id, row, max_steps),
        details={"make_current": make_current},
    )
    if row.owner_organisation_id is not None:
        events.emit(
            session,
            organisation_id=row.owner_organisation_id,
            type=EventType.ruleset_published,
            data={
                "ruleset": {"key": row.key, "version": row.version},
                "questionnaire": {"key": row.questionnaire_key, "version": row.questionnaire_version},
                "links": {"ruleset": _version_link(base_url, row)},
            },
        )
    _invalidate_after_commit(session)
    if make_current:
        _make_current(session, caller, row, base_url)
    return to_read(row)


def _version_link(base_url: str, row: RuleSetVersion) -> str:
    return f"{base_url}/v1/rulesets/{row.key}/versions/{row.version}"


def _publish_gate(session: Session, organisation_id: str, row: RuleSetVersion, max_steps: int) -> None:
    ruleset = parse_ruleset(row.document)
    budget = StepBudget(max_steps)
    try:
        checked = _check_against_target(session, organisation_id, ruleset, budget)
        outcomes = _outcomes(checked.compiled, budget) if checked.compiled is not None else []
    except WorkLimitExceeded as exc:
        raise _too_much_work(exc, "document") from None
    failures = versions.issues_to_errors(checked.issues, location="document")
    ref = ruleset.questionnaire
    if checked.questionnaire_status not in (None, PUBLISHED):
        failures.append(
            FieldError(
                pointer="/questionnaire/version",
                detail=f"questionnaire '{ref.key}' version {ref.version} is {checked.questionnaire_status}; "
                "a rule set can only be published against a published questionnaire",
                location="document",
            )
        )
    if not ruleset.tests:
        failures.append(
            FieldError(
                pointer="/tests", detail="at least one embedded test is required to publish", location="document"
            )
        )
    for index, outcome in enumerate(outcomes):
        if not outcome.passed:
            failures.append(
                FieldError(
                    pointer=f"/tests/{index}",
                    detail=f"test '{outcome.name}' fails: {'; '.join(outcome.failures)}",
                    location="document",
                )
            )
    if failures:
        raise ValidationFailed(
            f"rule set '{row.key}' version {row.version} cannot be published: {len(failures)} "
            f"problem{'s' if len(failures) != 1 else ''}",
            errors=failures,
        )


def retire(session: Session, caller: Caller, key: str, version: int) -> RuleSetVersionRead:
    """Retire a published version: stored assessments still replay with it; new assessments cannot name it."""

    def not_current(row: RuleSetVersion) -> None:
        if repository.is_current_for(session, caller.organisation_id, key, version):
            raise Conflict(
                f"rule set '{key}' version {version} is your current rule set for questionnaire "
                f"'{row.questionnaire_key}'; adopt another version first (PUT /v1/organisation/current-rulesets)"
            )

    row = versions.retire(session, KIND, caller, key, version, guard=not_current)
    _invalidate_after_commit(session)
    return to_read(row)


# --- current rule sets ------------------------------------------------------------------------------------------


def current_rulesets(session: Session, organisation_id: str) -> CurrentRuleSetList:
    """Per questionnaire key: the organisation's choice, else the default (newest published shipped rule set)."""
    items: dict[str, CurrentRuleSetRead] = {}
    for default in repository.latest_published_system(session, organisation_id):
        items[default.questionnaire_key] = CurrentRuleSetRead(
            questionnaire_key=default.questionnaire_key,
            ruleset=ContentRef(key=default.key, version=default.version),
            source="default",
            updated_at=None,
            updated_by=None,
        )
    for choice in repository.current_choices(session, organisation_id):
        items[choice.questionnaire_key] = _current_read(choice)
    return CurrentRuleSetList(items=[items[k] for k in sorted(items)])


def _current_read(choice: CurrentRuleSet) -> CurrentRuleSetRead:
    return CurrentRuleSetRead(
        questionnaire_key=choice.questionnaire_key,
        ruleset=ContentRef(key=choice.ruleset_key, version=choice.ruleset_version),
        source="organisation",
        updated_at=choice.updated_at,
        updated_by=choice.updated_by,
    )


def set_current_ruleset(
    session: Session, caller: Caller, key: str, version: int, *, base_url: str
) -> CurrentRuleSetRead:
    """Adopt a published version (or roll back to an earlier published one) for new assessments; a change of the
    version in force emits `organisation.current_ruleset_changed` (links under `base_url`)."""
    row = _visible(session, caller.organisation_id, key, version)
    if row.status != PUBLISHED:
        raise ValidationFailed(
            f"rule set '{key}' version {version} is {row.status}: only a published version can be current",
            errors=[FieldError(pointer="/ruleset/version", detail=f"version {version} is {row.status}")],
        )
    return _make_current(session, caller, row, base_url)


def _make_current(session: Session, caller: Caller, row: RuleSetVersion, base_url: str) -> CurrentRuleSetRead:
    choice = repository.current_choice(session, caller.organisation_id, row.questionnaire_key)
    previous = None if choice is None else {"key": choice.ruleset_key, "version": choice.ruleset_version}
    now = utcnow()
    _invalidate_after_commit(session)
    if choice is None:
        choice = CurrentRuleSet(
            organisation_id=caller.organisation_id,
            questionnaire_key=row.questionnaire_key,
            ruleset_key=row.key,
            ruleset_version=row.version,
            updated_at=now,
            updated_by=versions.actor(caller),
        )
        repository.add_choice(session, choice)
    else:
        choice.ruleset_key = row.key
        choice.ruleset_version = row.version
        choice.updated_at = now
        choice.updated_by = versions.actor(caller)
        session.flush()
    versions.audit(
        session,
        caller,
        "ruleset.current_set",
        "current_ruleset",
        row.questionnaire_key,
        {
            "questionnaire_key": row.questionnaire_key,
            "ruleset": {"key": row.key, "version": row.version},
            "previous": previous,
        },
    )
    if previous != {"key": row.key, "version": row.version}:
        events.emit(
            session,
            organisation_id=caller.organisation_id,
            type=EventType.organisation_current_ruleset_changed,
            data={
                "questionnaire": {"key": row.questionnaire_key, "version": row.questionnaire_version},
                "ruleset": {"key": row.key, "version": row.version},
                "previous": previous,
                "links": {
                    "ruleset": _version_link(base_url, row),
                    "current_rulesets": f"{base_url}/v1/organisation/current-rulesets",
                },
            },
        )
    return _current_read(choice)


# --- dry-run evaluation, impact, diff ------------------------------------------------------------------------


def _compiled_version(
    session: Session, organisation_id: str, key: str, version: int
) -> tuple[RuleSetVersion, ResolvedRuleSet]:
    """Any visible version, compiled; a draft that does not pass its checks is a 409 (validate shows why)."""
    row = _visible(session, organisation_id, key, version)
    resolved_row = repository.resolve_named_row(session, organisation_id, key, version)
    if resolved_row is None:
        raise Conflict(
            f"rule set '{key}' version {version} targets questionnaire '{row.questionnaire_key}' version "
            f"{row.questionnaire_version}, which does not exist or is not visible to you"
        )
    try:
        return row, _compiled_for(session, organisation_id, resolved_row)
    except DefinitionError as exc:
        raise Conflict(
            f"rule set '{key}' version {version} does not pass its static checks ({len(exc.issues)} errors); "
            f"POST /v1/rulesets/{key}/versions/{version}/validate lists them"
        ) from None


def parse_explain(explain: str | None) -> frozenset[str]:
    options = frozenset(o.strip() for o in (explain or "").split(",") if o.strip())
    unknown = options - EXPLAIN_OPTIONS
    if unknown:
        raise ValidationFailed(
            f"unknown explain option(s): {', '.join(sorted(unknown))}",
            errors=[
                FieldError(
                    pointer="/explain", detail="a comma-separated list of trace, counterfactuals", location="query"
                )
            ],
        )
    return options


def evaluate(
    session: Session, organisation_id: str, key: str, version: int, answers: dict[str, Any], explain: frozenset[str]
) -> dict[str, Any]:
    """Dry run against any visible version; nothing is stored. Bad answers: 422 with /answers/<item> pointers."""
    _row, resolved = _compiled_version(session, organisation_id, key, version)
    try:
        result = resolved.compiled.evaluate(answers, explain=explain)
    except AnswerError as exc:
        raise answers_invalid(exc.issues) from None
    return {**result, **labels_of(resolved.level_labels, result["level"], result["computed_level"])}


def answers_invalid(issues: list[Issue]) -> ValidationFailed:
    count = len(issues)
    return ValidationFailed(
        f"{count} answer{'s are' if count != 1 else ' is'} invalid",
        errors=versions.issues_to_errors(issues, prefix="/answers"),
    )


class StoredAnswers(Protocol):
    """The assessments feature's reader of stored answers (the router passes it: that feature depends on this one)."""

    def __call__(
        self,
        session: Session,
        organisation_id: str,
        questionnaire_key: str,
        up_to_questionnaire_version: int,
        *,
        since: datetime | None,
        until: datetime | None,
        limit: int,
    ) -> list[tuple[str, str, dict[str, Any]]]: ...


def impact(
    session: Session,
    caller: Caller,
    key: str,
    version: int,
    request: ImpactRequest,
    stored_answers_for_impact: StoredAnswers,
) -> ImpactReport:
    """Re-score the organisation's stored assessments of the questionnaire this version scores, at its version or
    an earlier one (answers of an earlier version that do not validate against this one are listed as unscorable,
    with the items at fault), with this version.

    Reads answers, writes nothing but the audit event, and returns ids and levels only.
    """
    started = time.perf_counter()
    row, resolved = _compiled_version(session, caller.organisation_id, key, version)
    stored = stored_answers_for_impact(
        session,
        caller.organisation_id,
        resolved.questionnaire_key,
        resolved.questionnaire_version,
        since=request.since,
        until=request.until,
        limit=request.limit + 1,
    )
    truncated = len(stored) > request.limit
    stored = stored[: request.limit]
    compiled = resolved.compiled
    levels = resolved.levels
    rank = {level: index for index, level in enumerate(levels)}
    rules = compiled.code.rules
    fired_ever = [False] * len(rules)
    matrix: Counter[tuple[str, str]] = Counter()
    rises: list[RisingAssessment] = []
    unscorable: list[UnscorableAssessment] = []
    for assessment_id, before, answers in stored:
        if not isinstance(answers, dict) or not compiled.is_valid(answers):
            problems = compiled.validate_answers(answers)
            unscorable.append(
                UnscorableAssessment(assessment_id=str(assessment_id), errors=[p.pointer.lstrip("/") for p in problems])
            )
            continue
        level_index, _scores, fired = compiled.decide(answers)
        for index in fired:
            fired_ever[index] = True
        after = levels[level_index]
        matrix[(str(before), after)] += 1
        if before in rank and level_index > rank[before]:
            rises.append(RisingAssessment(assessment_id=str(assessment_id), from_level=str(before), to_level=after))
    never = [RuleRef(id=rule.id, kind=rule.kind) for rule, fired in zip(rules, fired_ever, strict=True) if not fired]
    order = {level: index for index, level in enumerate(levels)}
    cells = sorted(matrix.items(), key=lambda cell: (order.get(cell[0][0], -1), cell[0][0], order[cell[0][1]]))
    report = ImpactReport(
        ruleset=ContentRef(key=key, version=version),
        questionnaire=ContentRef(key=resolved.questionnaire_key, version=resolved.questionnaire_version),
        assessed=sum(matrix.values()),
        changed=sum(count for (before, after), count in matrix.items() if before != after),
        matrix=[LevelChange(from_level=b, to_level=a, count=count) for (b, a), count in cells],
        rises=rises,
        unscorable=unscorable,
        rules_never_fired=never,
        limit=request.limit,
        truncated=truncated,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    versions.audit(
        session,
        caller,
        "ruleset.impact_analysed",
        RESOURCE,
        row.id,
        {
            "key": key,
            "version": version,
            "since": request.since.isoformat() if request.since else None,
            "until": request.until.isoformat() if request.until else None,
            "limit": request.limit,
            "assessed": report.assessed,
            "changed": report.changed,
            "rises": len(rises),
        },
        digest_of=report.model_dump(mode="json", by_alias=True),
    )
    return report


def diff(session: Session, organisation_id: str, key: str, from_version: int, to_version: int) -> ContentDiff:
    def lines(before: RuleSetVersion, after: RuleSetVersion) -> list[DiffLine]:
        found = diff_rulesets(before.document, after.document)
        if (before.questionnaire_key, before.questionnaire_version) != (
            after.questionnaire_key,
            after.questionnaire_version,
        ):
            old_q = questionnaire_service.document_of(
                session, organisation_id, before.questionnaire_key, before.questionnaire_version
            )
            new_q = questionnaire_service.document_of(
                session, organisation_id, after.questionnaire_key, after.questionnaire_version
            )
            if old_q is not None and new_q is not None:
                found += diff_questionnaires(old_q, new_q)
        return found

    return versions.diff(session, KIND, organisation_id, key, from_version, to_version, lines)
