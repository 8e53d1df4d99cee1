"""HTTP endpoints for rule-set versions: authoring, the publish gate, dry runs, impact, diff, fixtures, schema."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from app.auth.dependencies import Authorize
from app.auth.permissions import Operation
from app.auth.service import Caller
from app.core.db import SessionDep
from app.core.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    Unauthenticated,
    UnsupportedMediaType,
    ValidationFailed,
    problem_responses,
)
from app.questionnaires.common import etag
from app.questionnaires.http import (
    YAML_RESPONSE,
    ContentKey,
    Cursor,
    DocumentBody,
    IfMatch,
    Limit,
    VersionNumber,
    document_request_body,
    wants_yaml,
    yaml_response,
)
from app.questionnaires.schemas import ContentDiff, ContentStatus
from app.rulesets import service
from app.rulesets.schemas import (
    EvaluateRequest,
    EvaluationResult,
    FixtureSet,
    ImpactReport,
    ImpactRequest,
    PublishOptions,
    RuleSetValidationReport,
    RuleSetVersionPage,
    RuleSetVersionRead,
)
from app.scoring import ruleset_json_schema

router = APIRouter(prefix="/v1/rulesets", tags=["rule sets"])
COMMON = problem_responses(BadRequest, Unauthenticated, Forbidden, ValidationFailed)
WRITE = problem_responses(NotFound, Conflict, PayloadTooLarge, UnsupportedMediaType)

EXAMPLE_DOCUMENT: dict[str, Any] = {
    "key": "my-online-harm-rules",
    "title": "Our online-harm rules",
    "questionnaire": {"key": "online-exposure", "version": 1},
    "levels": ["low", "medium", "high", "immediate"],
    "disclaimer": "This result supports, and does not replace, professional judgement.",
    "scores": [],
    "tests": [],
}
BODY = document_request_body("A rule-set document (JSON Schema: GET /v1/rulesets/schema)", EXAMPLE_DOCUMENT)
EXPLAIN = Annotated[
    str | None,
    Query(max_length=64, description="Comma-separated extras: trace, counterfactuals", examples=["trace"]),
]

Reader = Annotated[Caller, Depends(Authorize(Operation.read_content))]
Evaluator = Annotated[Caller, Depends(Authorize(Operation.evaluate))]
Author = Annotated[Caller, Depends(Authorize(Operation.author_content))]
Analyst = Annotated[Caller, Depends(Authorize(Operation.impact_analysis))]
Publisher = Annotated[Caller, Depends(Authorize(Operation.publish_content))]


@router.get("", responses=COMMON)
def list_rulesets(
    caller: Reader,
    session: SessionDep,
    status_filter: Annotated[ContentStatus | None, Query(alias="status")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> RuleSetVersionPage:
    """Every rule-set version you can see (shipped and your own), by key then version."""
    return service.list_versions(session, caller.organisation_id, status=status_filter, cursor=cursor, limit=limit)


@router.get("/schema", responses=COMMON)
def get_ruleset_schema(caller: Reader) -> dict[str, Any]:
    """The JSON Schema of the rule-set language (point your editor at it for validation as you type)."""
    return ruleset_json_schema()


@router.post(
    "/validate",
    responses={**COMMON, **problem_responses(PayloadTooLarge, UnsupportedMediaType)},
    openapi_extra=BODY,
)
def validate_ruleset_document(caller: Author, session: SessionDep, document: DocumentBody) -> RuleSetValidationReport:
    """Static checks of a posted rule set (JSON or YAML) against the questionnaire it names, then its embedded
    tests; every error with its JSON pointer. Nothing is stored."""
    return service.validate_document(session, caller.organisation_id, document)


@router.get("/{key}/versions", responses=COMMON)
def list_ruleset_versions(
    key: ContentKey,
    caller: Reader,
    session: SessionDep,
    status_filter: Annotated[ContentStatus | None, Query(alias="status")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> RuleSetVersionPage:
    """The versions of one rule-set key."""
    return service.list_versions(
        session, caller.organisation_id, key=key, status=status_filter, cursor=cursor, limit=limit
    )


@router.post("/{key}/versions", status_code=status.HTTP_201_CREATED, responses={**COMMON, **WRITE}, openapi_extra=BODY)
def create_ruleset_draft(
    key: ContentKey, document: DocumentBody, caller: Author, session: SessionDep, response: Response
) -> RuleSetVersionRead:
    """Create a new draft version from JSON or YAML (the server assigns the number). The document must have the
    language's shape (422 otherwise); its meaning is checked by validate and by the publish gate. A key held by
    the system or another organisation is a 409."""
    created = service.create_draft(session, caller, key, document)
    response.headers["ETag"] = etag(created)
    response.headers["Location"] = f"/v1/rulesets/{key}/versions/{created.version}"
    return created


@router.get(
    "/{key}/versions/{version}",
    response_model=RuleSetVersionRead,
    responses={**COMMON, **problem_responses(NotFound), **YAML_RESPONSE},
)
def get_ruleset_version(
    key: ContentKey, version: VersionNumber, caller: Reader, session: SessionDep, request: Request, response: Response
) -> RuleSetVersionRead | Response:
    """One version with its document; `Accept: application/yaml` returns the document alone, as YAML."""
    found = service.get_version(session, caller.organisation_id, key, version)
    if wants_yaml(request):
        return yaml_response(found.document, etag(found))
    response.headers["ETag"] = etag(found)
    return found


@router.put(
    "/{key}/versions/{version}",
    responses={**COMMON, **WRITE, **problem_responses(PreconditionFailed)},
    openapi_extra=BODY,
)
def replace_ruleset_draft(
    key: ContentKey,
    version: VersionNumber,
    document: DocumentBody,
    caller: Author,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> RuleSetVersionRead:
    """Replace a draft's document. Needs If-Match with the current ETag (412 if missing or stale); a published or
    retired version is a 409."""
    replaced = service.replace_draft(session, caller, key, version, document, if_match)
    response.headers["ETag"] = etag(replaced)
    return replaced


@router.post("/{key}/versions/{version}/validate", responses={**COMMON, **problem_responses(NotFound)})
def validate_ruleset_version(
    key: ContentKey, version: VersionNumber, caller: Author, session: SessionDep
) -> RuleSetValidationReport:
    """Static checks and embedded tests of a stored version; nothing changes."""
    return service.validate_version(session, caller.organisation_id, key, version)


@router.post(
    "/{key}/versions/{version}/publish",
    responses={**COMMON, **problem_responses(NotFound, Conflict, PreconditionFailed)},
)
def publish_ruleset_version(
    key: ContentKey,
    version: VersionNumber,
    caller: Publisher,
    session: SessionDep,
    response: Response,
    body: PublishOptions | None = None,
    if_match: IfMatch = None,
) -> RuleSetVersionRead:
    """The publish gate: static checks clean (monotonicity proved when declared), every embedded test passes and
    the target questionnaire version is published; otherwise 422 listing every failure. Records who and when;
    `make_current: true` also makes it your current rule set for new assessments."""
    options = body or PublishOptions()
    published = service.publish(session, caller, key, version, if_match, make_current=options.make_current)
    response.headers["ETag"] = etag(published)
    return published


@router.post("/{key}/versions/{version}/retire", responses={**COMMON, **problem_responses(NotFound, Conflict)})
def retire_ruleset_version(
    key: ContentKey, version: VersionNumber, caller: Publisher, session: SessionDep, response: Response
) -> RuleSetVersionRead:
    """Retire a published version: stored assessments still replay with it; new ones cannot use it. Refused (409)
    while it is your current rule set."""
    retired = service.retire(session, caller, key, version)
    response.headers["ETag"] = etag(retired)
    return retired


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
    """Re-score your stored assessments of the same questionnaire version (the latest `limit`, max 10,000, in an
    optional time window) with this version and count the level changes. Returns ids and levels only, never
    answers or subject references; writes nothing but the audit event. Needs X-Acting-User."""
    return service.impact(session, caller, key, version, body or ImpactRequest())


@router.get("/{key}/versions/{version}/fixtures", responses={**COMMON, **problem_responses(NotFound)})
def get_ruleset_fixtures(key: ContentKey, version: VersionNumber, caller: Reader, session: SessionDep) -> FixtureSet:
    """The version's embedded test cases (answers and expected results), to build contract tests from."""
    return service.fixtures(session, caller.organisation_id, key, version)


@router.get("/{key}/diff", responses={**COMMON, **problem_responses(NotFound)})
def diff_ruleset_versions(
    key: ContentKey,
    caller: Author,
    session: SessionDep,
    from_version: Annotated[int, Query(alias="from", ge=1, le=2_147_483_647)],
    to_version: Annotated[int, Query(alias="to", ge=1, le=2_147_483_647)],
) -> ContentDiff:
    """Rules, weights, bands, triggers, floors, actions, levels and tests added, removed and changed between two
    versions (and the questionnaire's items when the target changed), each with a readable summary line."""
    return service.diff(session, caller.organisation_id, key, from_version, to_version)
