"""Canonical resolution: GET /v1/fhir/CodeSystem?url= and GET /v1/fhir/Questionnaire?url= (searchset Bundles).

Our canonicals are identities, not addresses (nothing is served at them): these searches are how any deployment
resolves them, to the content the caller can see (shipped, and its organisation's own)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response

from app.content_versions.router import COMMON, Reader
from app.core.config import SettingsDep
from app.core.db import SessionDep
from app.core.errors import BadRequest, FieldError
from app.fhir import service
from app.fhir.media import FHIR_JSON, FormatQuery

router = APIRouter(prefix="/v1/fhir", tags=["fhir"])

URL_DESCRIPTION = "The canonical URL to resolve (required)."
QuestionnaireUrl = Annotated[
    str | None,
    Query(
        alias="url",
        max_length=2000,
        description=URL_DESCRIPTION,
        examples=["https://riskapi.org.uk/fhir/Questionnaire/online-exposure"],
    ),
]
CodeSystemUrl = Annotated[
    str | None,
    Query(
        alias="url",
        max_length=2000,
        description=URL_DESCRIPTION,
        examples=["https://riskapi.org.uk/fhir/CodeSystem/yes-no-unknown"],
    ),
]
Version = Annotated[
    str | None,
    Query(max_length=20, description="The canonical's version (ours are whole numbers); default: every version."),
]


def _bundle(found: service.Found, request: Request, base_url: str) -> Response:
    """A searchset Bundle of what was found: the shell validated by the R4B model, the resources (each already
    validated when built) spliced in as they are, so a large Questionnaire is not validated twice."""
    from fhir.resources.R4B.bundle import Bundle

    self_url = f"{base_url.rstrip('/')}{request.url.path}"
    if request.url.query:
        self_url += f"?{request.url.query}"
    shell = Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": found.total,
            "link": [{"relation": "self", "url": self_url}],
        }
    ).model_dump(mode="json", exclude_none=True)
    entries: list[dict[str, Any]] = [
        {"resource": resource, "search": {"mode": "match"}} for resource in found.resources
    ]
    for detail in found.skipped:
        entries.append({"resource": _outcome(detail), "search": {"mode": "outcome"}})
    if entries:
        shell["entry"] = entries
    return Response(orjson.dumps(shell), media_type=FHIR_JSON, headers={"Vary": "Accept"})


def _outcome(detail: str) -> dict[str, Any]:
    from fhir.resources.R4B.operationoutcome import OperationOutcome

    return OperationOutcome.model_validate(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "warning", "code": "processing", "diagnostics": detail}],
        }
    ).model_dump(mode="json", exclude_none=True)


def _required(url: str | None) -> str:
    if not url:
        raise BadRequest(
            "url is required: the canonical URL to resolve",
            errors=[FieldError(pointer="/url", detail="give the canonical URL to resolve", location="query")],
        )
    return url


BUNDLE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A FHIR searchset Bundle (`application/fhir+json`): `total` matches, each `entry` with its "
        "`resource` and `search.mode` `match`; empty when nothing you can see has that canonical.",
        "content": {
            FHIR_JSON: {
                "schema": {"type": "object"},
                "example": {
                    "resourceType": "Bundle",
                    "type": "searchset",
                    "total": 1,
                    "link": [
                        {
                            "relation": "self",
                            "url": "https://riskapi.example.org/v1/fhir/CodeSystem?url=https%3A%2F%2Friskapi.org.uk"
                            "%2Ffhir%2FCodeSystem%2Fyes-no-unknown",
                        }
                    ],
                    "entry": [
                        {
                            "resource": {
                                "resourceType": "CodeSystem",
                                "url": "https://riskapi.org.uk/fhir/CodeSystem/yes-no-unknown",
                                "version": "1",
                                "name": "YesNoUnknown",
                                "status": "active",
                                "content": "complete",
                                "concept": [
                                    {"code": "yes", "display": "Yes"},
                                    {"code": "no", "display": "No"},
                                    {"code": "unknown", "display": "Unknown"},
                                ],
                            },
                            "search": {"mode": "match"},
                        }
                    ],
                },
            }
        },
    }
}


@router.get("/Questionnaire", responses={**COMMON, **BUNDLE_RESPONSE}, response_class=Response)
def search_fhir_questionnaires(
    caller: Reader,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    format_: FormatQuery,
    url: QuestionnaireUrl = None,
    version: Version = None,
) -> Response:
    """Resolve a Questionnaire canonical (`https://riskapi.org.uk/fhir/Questionnaire/{key}` for shipped content,
    `<RISKAPI_PUBLIC_BASE_URL>/fhir/Questionnaire/{key}` for your own): the versions of it that you can see
    (shipped content and your organisation's own), as a FHIR searchset Bundle; `version` narrows to one. A URL that
    names nothing gives an empty Bundle."""
    found = service.search_questionnaires(session, caller.organisation_id, _required(url), version, settings.base_url)
    return _bundle(found, request, settings.base_url)


@router.get("/CodeSystem", responses={**COMMON, **BUNDLE_RESPONSE}, response_class=Response)
def search_fhir_codesystems(
    caller: Reader,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    format_: FormatQuery,
    url: CodeSystemUrl = None,
    version: Version = None,
) -> Response:
    """Resolve a CodeSystem canonical (yes-no-unknown, a choice item's options `{questionnaire key}.{item id}`, a
    rule set's levels `{rule set key}.levels`): the versions of it that you can see (shipped content and your
    organisation's own), as a FHIR searchset Bundle; `version` narrows to one. A URL that names nothing gives an
    empty Bundle."""
    found = service.search_codesystems(session, caller.organisation_id, _required(url), version, settings.base_url)
    return _bundle(found, request, settings.base_url)
