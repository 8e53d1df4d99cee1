"""HTTP endpoints for questionnaire versions (the shared version routes come from app.content_versions)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.auth.caller import Caller
from app.content_versions.http import DocumentBody, document_request_body
from app.content_versions.router import COMMON, Author, Reader, VersionRoutes, add_version_routes
from app.content_versions.schemas import ValidationReport
from app.core.config import Settings
from app.core.db import SessionDep
from app.core.errors import PayloadTooLarge, UnsupportedMediaType, problem_responses
from app.questionnaires import service
from app.questionnaires.schemas import QuestionnaireVersionRead
from app.rulesets import service as ruleset_service
from app.scoring import questionnaire_json_schema

router = APIRouter(prefix="/v1/questionnaires", tags=["questionnaires"])

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


def _validate_version(
    session: SessionDep, organisation_id: str, key: str, version: int, _settings: Settings
) -> ValidationReport:
    """A questionnaire's checks depend on no server setting."""
    return service.validate_version(session, organisation_id, key, version)


def _retire(session: SessionDep, caller: Caller, key: str, version: int) -> QuestionnaireVersionRead:
    users = ruleset_service.published_rulesets_targeting(session, caller.organisation_id, key, version)
    return service.retire(session, caller, key, version, users)


DOCS = {  # the routes' descriptions (line breaks included: they are part of the OpenAPI document)
    "list": "Every questionnaire version you can see (shipped and your own), by key then version.",
    "list_versions": "The versions of one questionnaire key.",
    "create": (
        "Create a new draft version (the server assigns the number). A key held by the system or another\n"
        "organisation is a 409."
    ),
    "get": "One version with its document; `Accept: application/yaml` returns the document alone, as YAML.",
    "replace": (
        "Replace a draft's document. Needs If-Match with the current ETag (412 if missing or stale); a "
        "published\n"
        "or retired version is a 409."
    ),
    "validate": "Static checks of a stored version; nothing changes.",
    "publish": "Publish a draft that passes every static check (422 lists what fails); it never changes again.",
    "retire": (
        "Retire a published version: stored assessments still replay with it; no new rule set may target it.\n"
        "Refused (409) while a published rule set scores it."
    ),
    "diff": "Sections, items and options added, removed and changed between two versions, with readable lines.",
}


add_version_routes(
    router,
    VersionRoutes(
        noun="questionnaire",
        body=BODY,
        kind=service.KIND,
        report=ValidationReport,
        validate_version=_validate_version,
        publish=service.publish,
        retire=_retire,
        diff=service.diff,
        key_not_found=True,
        docs=DOCS,
    ),
)
