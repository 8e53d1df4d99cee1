"""HTTP endpoints for rule-set versions: authoring, the publish gate, dry runs, impact, diff, fixtures, schema."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from app.assessments.service import stored_answers_for_impact
from app.auth.caller import Caller
from app.auth.dependencies import Authorize
from app.auth.permissions import Operation
from app.content import examples
from app.content_versions.http import ContentKey, DocumentBody, IfMatch, VersionNumber, document_request_body
from app.content_versions.router import COMMON, Author, Publisher, Reader, VersionRoutes, add_version_routes
from app.content_versions.service import etag
from app.core.config import SettingsDep
from app.core.db import SessionDep
from app.core.errors import (
    Conflict,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    UnsupportedMediaType,
    problem_responses,
)
from app.rulesets import service
from app.rulesets.schemas import (
    EvaluateRequest,
    EvaluationResult,
    FixtureSet,
    ImpactReport,
    ImpactRequest,
    PublishOptions,
    RuleSetValidationReport,
    RuleSetVersionRead,
)
from app.scoring import ruleset_json_schema

router = APIRouter(prefix="/v1/rulesets", tags=["rule sets"])

BODY = document_request_body("A rule-set document (JSON Schema: GET /v1/rulesets/schema)", examples.ruleset_document())
EXPLAIN = Annotated[
    str | None,
    Query(
        max_length=64,
        description="Comma-separated extras to add to the result: `trace` (every rule that fired, with the answers "
        "it read) and `counterfactuals` (the nearest answer changes that would change the level).",
        examples=["trace"],
    ),
]

Evaluator = Annotated[Caller, Depends(Authorize(Operation.evaluate))]
Analyst = Annotated[Caller, Depends(Authorize(Operation.impact_analysis))]


@router.get("/schema", responses=COMMON)
def get_ruleset_schema(caller: Reader) -> dict[str, Any]:
    """The JSON Schema of the rule-set language (point your editor at it for validation as you type)."""
    return ruleset_json_schema()


@router.post(
    "/validate",
    responses={**COMMON, **problem_responses(PayloadTooLarge, UnsupportedMediaType)},
    openapi_extra=BODY,
)
def validate_ruleset_document(
    caller: Author, session: SessionDep, settings: SettingsDep, document: DocumentBody
) -> RuleSetValidationReport:
    """Static checks of a posted rule set (JSON or YAML) against the questionnaire it names, then its embedded
    tests; every error with its JSON pointer. Nothing is stored."""
    return service.validate_document(session, caller.organisation_id, document, settings.ruleset_check_max_steps)


@router.post(
    "/{key}/versions/{version}/publish",
    responses={**COMMON, **problem_responses(NotFound, Conflict, PreconditionFailed)},
)
def publish_ruleset_version(
    key: ContentKey,
    version: VersionNumber,
    caller: Publisher,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    body: PublishOptions | None = None,
    if_match: IfMatch = None,
) -> RuleSetVersionRead:
    """The publish gate: static checks clean (monotonicity proved when declared), every embedded test passes and
    the target questionnaire version is published; otherwise 422 listing every failure. Records who and when;
    `make_current: true` also makes it your current rule set for new assessments."""
    options = body or PublishOptions()
    published = service.publish(
        session,
        caller,
        key,
        version,
        if_match,
        settings.ruleset_check_max_steps,
        base_url=settings.base_url,
        make_current=options.make_current,
    )
    response.headers["ETag"] = etag(published)
    return published


@router.post(
    "/{key}/versions/{version}/evaluate",
    response_model_exclude_unset=True,
    responses={**COMMON, **problem_responses(NotFound, Conflict)},
)
def evaluate_ruleset_version(
    key: ContentKey,
    version: VersionNumber,
    body: EvaluateRequest,
    caller: Evaluator,
    session: SessionDep,
    explain: EXPLAIN = None,
) -> EvaluationResult:
    """Dry run: score answers against any version you can see (drafts included). Nothing is stored. Invalid
    answers are a 422 with pointers such as /answers/child_age_years."""
    options = service.parse_explain(explain)
    result = service.evaluate(session, caller.organisation_id, key, version, body.answers, options)
    return EvaluationResult.model_validate(result)


@router.post("/{key}/versions/{version}/impact", responses={**COMMON, **problem_responses(NotFound, Conflict)})
def analyse_ruleset_impact(
    key: ContentKey,
    version: VersionNumber,
    caller: Analyst,
    session: SessionDep,
    body: ImpactRequest | None = None,
) -> ImpactReport:
    """Re-score your stored assessments of the questionnaire this version scores (the latest `limit`, max 10,000,
    in an optional time window) with this version and count the level changes. Assessments that answered an earlier
    version of the same questionnaire are included: their answers are scored when they validate against this
    version's questionnaire, and listed in `unscorable` with the items at fault when they do not (an item the new
    version requires, an option it no longer offers). Returns ids and levels only, never answers or subject
    references; writes nothing but the audit event. Needs X-Acting-User."""
    return service.impact(session, caller, key, version, body or ImpactRequest(), stored_answers_for_impact)


@router.get("/{key}/versions/{version}/fixtures", responses={**COMMON, **problem_responses(NotFound)})
def get_ruleset_fixtures(key: ContentKey, version: VersionNumber, caller: Reader, session: SessionDep) -> FixtureSet:
    """The version's embedded test cases (answers and expected results), to build contract tests from."""
    return service.fixtures(session, caller.organisation_id, key, version)


DOCS = {  # the routes' descriptions (line breaks included: they are part of the OpenAPI document)
    "list": "Every rule-set version you can see (shipped and your own), by key then version.",
    "list_versions": "The versions of one rule-set key.",
    "create": (
        "Create a new draft version from JSON or YAML (the server assigns the number). The document must "
        "have the\n"
        "language's shape (422 otherwise); its meaning is checked by validate and by the publish gate. A key "
        "held by\n"
        "the system or another organisation is a 409."
    ),
    "get": "One version with its document; `Accept: application/yaml` returns the document alone, as YAML.",
    "replace": (
        "Replace a draft's document. Needs If-Match with the current ETag (412 if missing or stale); a "
        "published or\n"
        "retired version is a 409."
    ),
    "validate": "Static checks and embedded tests of a stored version; nothing changes.",
    "retire": (
        "Retire a published version: stored assessments still replay with it; new ones cannot use it. "
        "Refused (409)\n"
        "while it is your current rule set."
    ),
    "diff": (
        "Rules, weights, bands, triggers, floors, actions, levels and tests added, removed and changed "
        "between two\n"
        "versions (and the questionnaire's items when the target changed), each with a readable summary line."
    ),
}


add_version_routes(
    router,
    VersionRoutes(
        noun="ruleset",
        body=BODY,
        kind=service.KIND,
        report=RuleSetValidationReport,
        validate_version=service.validate_version,
        retire=service.retire,
        diff=service.diff,
        docs=DOCS,
    ),
)
