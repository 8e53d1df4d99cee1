"""HTTP endpoints for questionnaire versions."""

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
from app.questionnaires import service
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
from app.questionnaires.schemas import (
    ContentDiff,
    ContentStatus,
    QuestionnaireVersionPage,
    QuestionnaireVersionRead,
    ValidationReport,
)
from app.rulesets import service as ruleset_service
from app.scoring import questionnaire_json_schema

router = APIRouter(prefix="/v1/questionnaires", tags=["questionnaires"])
COMMON = problem_responses(BadRequest, Unauthenticated, Forbidden, ValidationFailed)
WRITE = problem_responses(NotFound, Conflict, PayloadTooLarge, UnsupportedMediaType)

EXAMPLE_DOCUMENT: dict[str, Any] = {
    "key": "school-online-safety",
    "title": "Online safety check-in",
    "sections": [{"id": "context", "title": "Context"}],
    "items": [
        {
            "id": "child_age_years",
            "section": "context",
            "type": "integer",
            "question": "Child's age in years",
            "required": True,
            "min": 0,
            "max": 17,
        }
    ],
}
BODY = document_request_body("A questionnaire document (JSON Schema: GET /v1/questionnaires/schema)", EXAMPLE_DOCUMENT)

Reader = Annotated[Caller, Depends(Authorize(Operation.read_content))]
Author = Annotated[Caller, Depends(Authorize(Operation.author_content))]
Publisher = Annotated[Caller, Depends(Authorize(Operation.publish_content))]


@router.get("", responses=COMMON)
def list_questionnaires(
    caller: Reader,
    session: SessionDep,
    status_filter: Annotated[ContentStatus | None, Query(alias="status")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> QuestionnaireVersionPage:
    """Every questionnaire version you can see (shipped and your own), by key then version."""
    return service.list_versions(session, caller.organisation_id, status=status_filter, cursor=cursor, limit=limit)


@router.get("/schema", responses=COMMON)
def get_questionnaire_schema(caller: Reader) -> dict[str, Any]:
    """The JSON Schema of the questionnaire language (point your editor at it for validation as you type)."""
    return questionnaire_json_schema()


@router.post(
    "/validate", responses={**COMMON, **problem_responses(PayloadTooLarge, UnsupportedMediaType)}, openapi_extra=BODY
)
def validate_questionnaire_document(caller: Author, document: DocumentBody) -> ValidationReport:
    """Static checks of a posted questionnaire (JSON or YAML); every error with its JSON pointer; nothing stored."""
    return service.validate_document(document)


@router.get("/{key}/versions", responses={**COMMON, **problem_responses(NotFound)})
def list_questionnaire_versions(
    key: ContentKey,
    caller: Reader,
    session: SessionDep,
    status_filter: Annotated[ContentStatus | None, Query(alias="status")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> QuestionnaireVersionPage:
    """The versions of one questionnaire key."""
    return service.list_versions(
        session, caller.organisation_id, key=key, status=status_filter, cursor=cursor, limit=limit
    )


@router.post(
    "/{key}/versions",
    status_code=status.HTTP_201_CREATED,
    responses={**COMMON, **WRITE},
    openapi_extra=BODY,
)
def create_questionnaire_draft(
    key: ContentKey, document: DocumentBody, caller: Author, session: SessionDep, response: Response
) -> QuestionnaireVersionRead:
    """Create a new draft version (the server assigns the number). A key held by the system or another
    organisation is a 409."""
    created = service.create_draft(session, caller, key, document)
    response.headers["ETag"] = etag(created)
    response.headers["Location"] = f"/v1/questionnaires/{key}/versions/{created.version}"
    return created


@router.get(
    "/{key}/versions/{version}",
    response_model=QuestionnaireVersionRead,
    responses={**COMMON, **problem_responses(NotFound), **YAML_RESPONSE},
)
def get_questionnaire_version(
    key: ContentKey, version: VersionNumber, caller: Reader, session: SessionDep, request: Request, response: Response
) -> QuestionnaireVersionRead | Response:
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
def replace_questionnaire_draft(
    key: ContentKey,
    version: VersionNumber,
    document: DocumentBody,
    caller: Author,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> QuestionnaireVersionRead:
    """Replace a draft's document. Needs If-Match with the current ETag (412 if missing or stale); a published
    or retired version is a 409."""
    replaced = service.replace_draft(session, caller, key, version, document, if_match)
    response.headers["ETag"] = etag(replaced)
    return replaced


@router.post("/{key}/versions/{version}/validate", responses={**COMMON, **problem_responses(NotFound)})
def validate_questionnaire_version(
    key: ContentKey, version: VersionNumber, caller: Author, session: SessionDep
) -> ValidationReport:
    """Static checks of a stored version; nothing changes."""
    return service.validate_version(session, caller.organisation_id, key, version)


@router.post(
    "/{key}/versions/{version}/publish",
    responses={**COMMON, **problem_responses(NotFound, Conflict, PreconditionFailed)},
)
def publish_questionnaire_version(
    key: ContentKey,
    version: VersionNumber,
    caller: Publisher,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> QuestionnaireVersionRead:
    """Publish a draft that passes every static check (422 lists what fails); it never changes again."""
    published = service.publish(session, caller, key, version, if_match)
    response.headers["ETag"] = etag(published)
    return published


@router.post("/{key}/versions/{version}/retire", responses={**COMMON, **problem_responses(NotFound, Conflict)})
def retire_questionnaire_version(
    key: ContentKey, version: VersionNumber, caller: Publisher, session: SessionDep, response: Response
) -> QuestionnaireVersionRead:
    """Retire a published version: stored assessments still replay with it; no new rule set may target it.
    Refused (409) while a published rule set scores it."""
    users = ruleset_service.published_rulesets_targeting(session, caller.organisation_id, key, version)
    retired = service.retire(session, caller, key, version, users)
    response.headers["ETag"] = etag(retired)
    return retired


@router.get("/{key}/diff", responses={**COMMON, **problem_responses(NotFound)})
def diff_questionnaire_versions(
    key: ContentKey,
    caller: Author,
    session: SessionDep,
    from_version: Annotated[int, Query(alias="from", ge=1, le=2_147_483_647)],
    to_version: Annotated[int, Query(alias="to", ge=1, le=2_147_483_647)],
) -> ContentDiff:
    """Sections, items and options added, removed and changed between two versions, with readable lines."""
    return service.diff(session, caller.organisation_id, key, from_version, to_version)
