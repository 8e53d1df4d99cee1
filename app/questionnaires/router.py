"""HTTP endpoints for questionnaire versions (the shared version routes come from app.content_versions)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse

from app.auth.caller import Caller
from app.content_versions.http import KEY_PATTERN, ContentKey, DocumentBody, VersionNumber, document_request_body
from app.content_versions.router import (
    COMMON,
    Author,
    OtherRepresentation,
    Reader,
    VersionRoutes,
    add_version_routes,
)
from app.content_versions.schemas import ValidationReport
from app.core.conditional import none_match_holds
from app.core.config import Settings
from app.core.db import SessionDep
from app.core.errors import (
    BadRequest,
    Conflict,
    FieldError,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    problem_responses,
)
from app.fhir import service as fhir_service
from app.fhir.media import FHIR_JSON, FormatQuery, wants_fhir
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
    "get": (
        "One version with its document; `Accept: application/yaml` returns the document alone, as YAML;\n"
        "`Accept: application/fhir+json` (or `_format=json`) returns it as a FHIR R4 Questionnaire (docs/fhir.md),\n"
        "with `required` under a rule set as in the answers schema (`ruleset_key`, `ruleset_version`)."
    ),
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


RULESET_KEY_DESCRIPTION = (
    "The rule set whose triggers' items the schema requires; default: your organisation's current rule set for "
    "this questionnaire."
)
RULESET_VERSION_DESCRIPTION = "The rule set's version (needs `ruleset_key`); default: its latest published version."

FHIR_QUESTIONNAIRE_EXAMPLE: dict[str, Any] = {  # an excerpt of the shipped questionnaire, as exported
    "resourceType": "Questionnaire",
    "extension": [
        {
            "url": "https://riskapi.org.uk/fhir/StructureDefinition/required-by-ruleset",
            "valueCanonical": "https://riskapi.org.uk/fhir/RuleSet/online-harm-england|2",
        }
    ],
    "url": "https://riskapi.org.uk/fhir/Questionnaire/online-exposure",
    "version": "2",
    "name": "OnlineExposure",
    "title": "Online exposure of a child",
    "status": "active",
    "item": [
        {
            "linkId": "context.section",
            "text": "About this assessment",
            "type": "group",
            "item": [
                {
                    "extension": [
                        {"url": "http://hl7.org/fhir/StructureDefinition/minValue", "valueInteger": 0},
                        {"url": "http://hl7.org/fhir/StructureDefinition/maxValue", "valueInteger": 17},
                    ],
                    "linkId": "child_age_years",
                    "text": "Child's age in years",
                    "type": "integer",
                    "enableWhen": [{"question": "child_age_years.unknown", "operator": "!=", "answerBoolean": True}],
                    "required": True,
                },
                {"linkId": "child_age_years.unknown", "text": "Not known", "type": "boolean"},
                {
                    "linkId": "immediate_danger_now",
                    "text": "Is the child in danger right now?",
                    "type": "choice",
                    "required": True,
                    "answerOption": [
                        {
                            "valueCoding": {
                                "system": "https://riskapi.org.uk/fhir/CodeSystem/yes-no-unknown",
                                "version": "1",
                                "code": code,
                                "display": display,
                            }
                        }
                        for code, display in (("yes", "Yes"), ("no", "No"), ("unknown", "Unknown"))
                    ],
                },
            ],
        }
    ],
}


@dataclass(frozen=True)
class FhirParameters:
    ruleset_key: str | None
    ruleset_version: int | None
    if_none_match: str | None


def fhir_parameters(
    request: Request,
    format_: FormatQuery,
    ruleset_key: Annotated[
        str | None,
        Query(
            pattern=KEY_PATTERN,
            description=f"FHIR representation only. {RULESET_KEY_DESCRIPTION}",
        ),
    ] = None,
    ruleset_version: Annotated[
        int | None,
        Query(ge=1, le=2_147_483_647, description=f"FHIR representation only. {RULESET_VERSION_DESCRIPTION}"),
    ] = None,
    if_none_match: Annotated[
        str | None,
        Header(description="FHIR representation: the ETag of an earlier read; a 304 when it is unchanged."),
    ] = None,
) -> FhirParameters:
    """The FHIR representation's own parameters; refused when that representation is not asked for."""
    if not wants_fhir(request):
        given = [name for name, value in (("ruleset_key", ruleset_key), ("ruleset_version", ruleset_version)) if value]
        if given:
            raise BadRequest(
                f"{' and '.join(given)} apply only to the FHIR representation (Accept: application/fhir+json)",
                errors=[
                    FieldError(pointer=f"/{name}", detail="FHIR representation only", location="query")
                    for name in given
                ],
            )
    return FhirParameters(ruleset_key, ruleset_version, if_none_match)


def render_fhir(
    found: QuestionnaireVersionRead, caller: Caller, session: SessionDep, settings: Settings, parameters: FhirParameters
) -> Response:
    built = fhir_service.questionnaire_fhir(
        session,
        caller.organisation_id,
        key=found.key,
        version=found.version,
        status=found.status,
        owner=found.owner,
        document=found.document,
        ruleset_key=parameters.ruleset_key,
        ruleset_version=parameters.ruleset_version,
        public_base_url=settings.base_url,
    )
    headers = {"ETag": built.etag, "Vary": "Accept"}
    if none_match_holds(built.etag, parameters.if_none_match):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(built.body, media_type=FHIR_JSON, headers=headers)


FHIR_REPRESENTATION = OtherRepresentation(
    wanted=wants_fhir,
    parameters=fhir_parameters,
    render=render_fhir,
    responses={
        **problem_responses(Conflict),
        200: {
            "description": "The version (JSON); its document as YAML (`Accept: application/yaml`); or a FHIR R4 "
            "Questionnaire (`Accept: application/fhir+json` or `_format=json`). Varies by Accept.",
            "content": {FHIR_JSON: {"schema": {"type": "object"}, "example": FHIR_QUESTIONNAIRE_EXAMPLE}},
            "headers": {
                "ETag": {
                    "description": "Send as If-Match to replace a draft; of the FHIR representation, as If-None-Match",
                    "schema": {"type": "string"},
                },
                "Vary": {"description": "Accept", "schema": {"type": "string"}},
            },
        },
        304: {"description": "Not modified (FHIR representation, If-None-Match)"},
    },
)


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
        other_representation=FHIR_REPRESENTATION,
    ),
)


class SchemaJSONResponse(JSONResponse):
    media_type = service.ANSWERS_SCHEMA_MEDIA_TYPE


ANSWERS_SCHEMA_EXAMPLE: dict[str, Any] = {  # an excerpt of the schema of the shipped content
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Answers to Online exposure of a child",
    "type": "object",
    "properties": {
        "child_age_years": {
            "title": "Child's age in years",
            "type": "integer",
            "minimum": 0,
            "maximum": 17,
            "x-riskapi-type": "integer",
            "x-riskapi-section": "context",
            "x-riskapi-presence": {
                "required": True,
                "required_by_rules": "trigger 'T4_under_13_sexual_acts' reads it",
            },
        },
        "image_created_self": {
            "title": "Has the child made a nude or semi-nude image, video or live stream of themselves?",
            "enum": ["yes", "no", "unknown"],
            "x-riskapi-type": "yes_no_unknown",
            "x-riskapi-section": "image_sharing",
            "x-riskapi-presence": {"required": True, "required_by_rules": "trigger 'T3b_capacity_to_consent' reads it"},
        },
        "image_coerced": {
            "title": "Was the child pressured, tricked, coerced, groomed or blackmailed into making or sharing the "
            "image?",
            "enum": ["yes", "no", "unknown"],
            "x-riskapi-type": "yes_no_unknown",
            "x-riskapi-section": "image_sharing",
            "x-riskapi-presence": {
                "enable_when": {"q": "image_created_self", "eq": "yes"},
                "required": True,
                "required_by_rules": "trigger 'T2_coercion_blackmail_grooming' reads it",
            },
        },
    },
    "required": ["child_age_years", "image_created_self"],
    "additionalProperties": False,
    "allOf": [
        {
            "if": {"required": ["image_created_self"], "properties": {"image_created_self": {"const": "yes"}}},
            "then": {"required": ["image_coerced"]},
            "else": {"properties": {"image_coerced": False}},
        }
    ],
    "x-riskapi-inexact-presence": {},
    "x-riskapi-questionnaire": {
        "key": "online-exposure",
        "version": 1,
        "content_hash": "<the SHA-256 of the document>",
    },
    "x-riskapi-ruleset": {"key": "online-harm-england", "version": 1, "content_hash": "<the SHA-256 of the document>"},
}


@router.get(
    "/{key}/versions/{version}/answers-schema",
    response_class=SchemaJSONResponse,
    responses={
        **COMMON,
        **problem_responses(NotFound, Conflict),
        200: {
            "description": "The JSON Schema (draft 2020-12) of the `answers` object, as `application/schema+json`",
            "content": {
                service.ANSWERS_SCHEMA_MEDIA_TYPE: {
                    "schema": {"type": "object", "additionalProperties": True},
                    "example": ANSWERS_SCHEMA_EXAMPLE,
                }
            },
            "headers": {
                "ETag": {
                    "description": "Send as If-None-Match to revalidate: the same schema answers 304",
                    "schema": {"type": "string"},
                }
            },
        },
        304: {"description": "Not modified (If-None-Match)"},
    },
)
def get_answers_schema(
    key: ContentKey,
    version: VersionNumber,
    caller: Reader,
    session: SessionDep,
    ruleset_key: Annotated[
        str | None,
        Query(
            pattern=KEY_PATTERN,
            description=RULESET_KEY_DESCRIPTION,
            examples=["online-harm-england"],
        ),
    ] = None,
    ruleset_version: Annotated[
        int | None,
        Query(
            ge=1,
            le=2_147_483_647,
            description=RULESET_VERSION_DESCRIPTION,
            examples=[1],
        ),
    ] = None,
    if_none_match: Annotated[
        str | None,
        Header(description="The ETag of an earlier read; a 304 without a body when the schema is the same."),
    ] = None,
) -> Response:
    """The answer contract of a questionnaire version: a JSON Schema (draft 2020-12) of the `answers` object that
    accepts exactly what the service accepts under a rule set (its triggers make the items they read required),
    with `enable_when` and `required_when` as `if`/`then`/`else` and each item's question as its title. Validate
    with format assertion on (dates); the few listed differences are in docs/answers.md ("The answers schema").
    A rule set that scores another questionnaire or version, or none current, is a 422 naming the parameter."""
    service.ensure_visible(session, caller.organisation_id, key, version)
    resolved = ruleset_service.ruleset_for_answers_schema(
        session, caller.organisation_id, key, version, ruleset_key, ruleset_version
    )
    built = service.answers_schema_of(resolved.compiled.questionnaire, resolved.compiled.ruleset)
    if none_match_holds(built.etag, if_none_match):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": built.etag})
    return Response(built.body, media_type=service.ANSWERS_SCHEMA_MEDIA_TYPE, headers={"ETag": built.etag})
