"""Content negotiation for FHIR: who asked for `application/fhir+json`, and the response that answers them."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Query, Request, Response

from app.core.errors import FieldError, ValidationFailed

FHIR_JSON = "application/fhir+json"
# What FHIR tools send as `_format` for JSON (FHIR R4, section 3.1.0.1.9 of the RESTful API).
FHIR_FORMATS = frozenset({"json", "application/json", FHIR_JSON, "application/json+fhir"})


def wants_fhir(request: Request) -> bool:
    """True when `_format` names JSON (a FHIR tool's request) or `Accept` lists application/fhir+json."""
    requested_format = request.query_params.get("_format")
    if requested_format is not None:
        return requested_format.strip().lower() in FHIR_FORMATS
    accept = request.headers.get("accept", "")
    return any(part.split(";", 1)[0].strip().lower() == FHIR_JSON for part in accept.split(","))


def fhir_etag(etag: str) -> str:
    """The ETag of the FHIR representation of what `etag` tags as JSON: another representation, another tag."""
    weak = etag.startswith("W/")
    opaque = etag.removeprefix("W/").strip('"')
    return f'{"W/" if weak else ""}"{opaque}-fhir"'


def fhir_response(
    resource: dict[str, Any], *, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A FHIR resource (already a JSON-ready dict) as `application/fhir+json`, varying by Accept."""
    return Response(
        orjson.dumps(resource),
        status_code=status_code,
        media_type=FHIR_JSON,
        headers={"Vary": "Accept", **(headers or {})},
    )


def _format_parameter(
    format_: Annotated[
        str | None,
        Query(
            alias="_format",
            max_length=64,
            description="FHIR's `_format`, as FHIR tools send it: `json`, `application/json`, "
            "`application/fhir+json` or `application/json+fhir` asks for the FHIR representation (as `Accept: "
            "application/fhir+json` does; `_format` wins over `Accept`). Only JSON is served: any other value is "
            "a 422.",
        ),
    ] = None,
) -> str | None:
    if format_ is not None and format_.strip().lower() not in FHIR_FORMATS:
        detail = f"_format '{format_}' is not served; use one of {', '.join(sorted(FHIR_FORMATS))}"
        raise ValidationFailed(detail, errors=[FieldError(pointer="/_format", detail=detail, location="query")])
    return format_


# Declares `_format` on an operation (unknown query parameters are a 400) and refuses formats not served.
FormatQuery = Annotated[str | None, Depends(_format_parameter)]
