"""RFC 9457 problem details: typed exceptions, one renderer, the handlers and the problem-type pages."""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any, ClassVar

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DataError, DBAPIError, OperationalError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.context import current_request_id

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = structlog.get_logger("riskapi.errors")


class FieldError(BaseModel):
    pointer: str = Field(
        description='JSON pointer to the invalid field: from the body\'s root (`""` is the whole body), e.g. '
        "`/answers/child_age_years`, or `/<name>` for a parameter."
    )
    detail: str = Field(description="What is wrong with the field, e.g. `must be at most 17`.")
    location: str = Field(
        default="body", description="Where the field is: `body`, `query`, `path` or `header` (default `body`)."
    )


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "type": "/problems/validation-error",
                "title": "The request has invalid fields",
                "status": 422,
                "detail": "2 fields are invalid",
                "instance": "/v1/assessments",
                "request_id": "5b0c4c1e9a2f4a4f",
                "errors": [{"pointer": "/answers/child_age_years", "detail": "must be at most 17"}],
            }
        }
    )

    type: str = Field(
        description="RFC 9457 `type`: a URI reference, relative to the service, naming the kind of problem, e.g. "
        "`/problems/validation-error`; GET it for a description."
    )
    title: str = Field(description="RFC 9457 `title`: a short summary of the problem type, the same every time.")
    status: int = Field(description="RFC 9457 `status`: the HTTP status code of this response, e.g. 422.")
    detail: str | None = Field(
        default=None, description="RFC 9457 `detail`: what went wrong this time, in plain words; absent when none."
    )
    instance: str | None = Field(
        default=None, description="RFC 9457 `instance`: the path of the request that failed, e.g. `/v1/assessments`."
    )
    request_id: str | None = Field(
        default=None, description="Extension: the request's `X-Request-ID`, to quote when reporting the problem."
    )
    errors: list[FieldError] | None = Field(
        default=None,
        description="Extension: every invalid field (on each 422 and some 400s); absent when no field is named.",
    )
    oldest_cursor: str | None = Field(
        default=None,
        description="Extension of `/problems/cursor-expired` (410): the oldest `cursor` the changes feed still "
        "accepts (it returns the oldest event kept first); absent on other problems.",
    )


class ProblemError(Exception):
    """Base of every error the API reports; subclasses fix status, kind and title."""

    status: ClassVar[int] = 500
    kind: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal server error"
    description: ClassVar[str] = "Something went wrong on our side. Quote the request id when you report it."
    example_detail: ClassVar[str | None] = None  # `detail` of this problem's example in the OpenAPI document

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[FieldError] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = list(errors) if errors else None
        self.headers = dict(headers or {})
        self.extensions: dict[str, Any] = {}  # further members of the problem document (fields of `Problem`)


class BadRequest(ProblemError):
    status, kind, title = 400, "bad-request", "The request is malformed"
    description = "The request could not be read (malformed JSON, a missing required header, a bad parameter)."
    example_detail = "The body is not valid JSON"


class Unauthenticated(ProblemError):
    status, kind, title = 401, "unauthenticated", "Authentication is required"
    description = "Send a valid, unexpired, unrevoked API key as 'Authorization: Bearer <key>'."
    example_detail = "Unknown API key"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="riskapi"'})


class Forbidden(ProblemError):
    status, kind, title = 403, "forbidden", "Your key's roles do not allow this operation"
    description = "The API key is valid but none of its roles grants this operation."
    example_detail = "This operation needs one of the roles: supervisor (operation 'supervise_assessments')"


class NotFound(ProblemError):
    status, kind, title = 404, "not-found", "Not found"
    description = "No such resource in your organisation."
    example_detail = "No assessment 0b7e4f1c-5d2a-4c1e-9a6f-3e8d2b1c4a5f"


class MethodNotAllowed(ProblemError):
    status, kind, title = 405, "method-not-allowed", "Method not allowed"
    description = "The resource exists but does not support this HTTP method."


class Conflict(ProblemError):
    status, kind, title = 409, "conflict", "The request conflicts with the current state"
    description = "For example an existing key, a published version that cannot change, or a superseded revision."
    example_detail = "This revision was amended: override the latest revision (6c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f)"


class FhirNotConfigured(ProblemError):
    status, kind, title = 409, "fhir-not-configured", "FHIR is not configured for your organisation"
    description = (
        "Subjects in FHIR are identifiers in your organisation's own pseudonymous identifier system, and none is set. "
        "An admin sets it with PUT /v1/organisation/fhir (or `riskapi org set-identifier-system`)."
    )
    example_detail = "Set your organisation's FHIR identifier system first: PUT /v1/organisation/fhir"


class LogStorageDamaged(ProblemError):
    status, kind, title = 409, "log-storage-damaged", "The verifiable log's storage is damaged"
    description = (
        "The server cannot answer from the verifiable log's storage: subtree hashes a proof needs are missing, or a "
        "stored checkpoint cannot be read. It was damaged or edited behind the application's back, and retrying "
        "will not help. An auditor should run `riskapi audit verify` (or GET /v1/audit/verify); the checkpoints "
        "already collected remain valid evidence."
    )
    example_detail = "The stored tree lacks 2 subtree hashes this proof needs; run `riskapi audit verify`"


class ReceiptUnavailable(ProblemError):
    status, kind, title = 409, "receipt-unavailable", "No receipt can be issued for this assessment"
    description = (
        "A decision receipt commits to the assessment's stored rows with the random salt stored with each, and "
        "proves its audit events are in a signed checkpoint. Rows written before receipts existed have no salt and "
        "their events no commitments, so they have neither receipt nor record; nor does an assessment whose events "
        "no signed checkpoint can cover (no signing key configured, or the audit chain broken before them). "
        "`detail` says which."
    )
    example_detail = "The assessment was stored before receipts existed: it has no salt and no commitments"


class PreconditionFailed(ProblemError):
    status, kind, title = 412, "precondition-failed", "The resource has changed since you read it"
    description = "The If-Match ETag is stale: read the resource again and reapply your change."
    example_detail = 'online-harm-england version 2 has changed since you read it (current ETag "e3723e4a.draft")'


class PayloadTooLarge(ProblemError):
    status, kind, title = 413, "payload-too-large", "The request body is too large"
    description = "The body exceeds the configured limit (RISKAPI_MAX_BODY_BYTES, default 1 MiB)."
    example_detail = "Limit is 1048576 bytes"


class UnsupportedMediaType(ProblemError):
    status, kind, title = 415, "unsupported-media-type", "Unsupported media type"
    description = "Send request bodies as application/json (or application/yaml where documented)."
    example_detail = "'text/plain' is not accepted; send application/json"


class ValidationFailed(ProblemError):
    status, kind, title = 422, "validation-error", "The request has invalid fields"
    description = "Each entry of 'errors' names an invalid field with a JSON pointer and says what is wrong."
    example_detail = "1 field is invalid"


class IdempotencyKeyReused(ProblemError):
    status, kind, title = 422, "idempotency-key-reused", "The Idempotency-Key was first used for another request"
    description = (
        "An Idempotency-Key names one request: the same method and path, query parameters (but `_format`), "
        "Content-Type and body. "
        "This key was first used for a different one, whose response it keeps. Send this request with a new key."
    )


class CursorExpired(ProblemError):
    status, kind, title = 410, "cursor-expired", "The cursor points before the oldest event kept"
    description = (
        "Events older than the retention period (RISKAPI_EVENT_RETENTION_DAYS) are deleted, and some this cursor "
        "would have returned are gone. `oldest_cursor` is the oldest cursor still accepted; reconcile through the "
        "API what may have changed meanwhile, then poll from it."
    )
    example_detail = "Events after this cursor up to sequence 1041 are no longer kept (retention: 30 days)"

    def __init__(self, detail: str, *, oldest_cursor: str) -> None:
        super().__init__(detail)
        self.extensions["oldest_cursor"] = oldest_cursor


class RateLimited(ProblemError):
    status, kind, title = 429, "rate-limited", "Too many requests"
    description = "Your client exceeded its request rate; retry after the number of seconds in Retry-After."
    example_detail = "Limit is 600 requests per minute per client"


class HeadersTooLarge(ProblemError):
    status, kind, title = 431, "headers-too-large", "The request headers are too large"
    description = "The request's header names and values exceed the configured total (RISKAPI_MAX_HEADER_BYTES)."
    example_detail = "Limit is 16384 bytes of header names and values"


class ServiceUnavailable(ProblemError):
    status, kind, title = 503, "service-unavailable", "The service is temporarily unavailable"
    description = "The database cannot be reached right now. Retry after the number of seconds in Retry-After."
    example_detail = "The database is not reachable; retry shortly."

    def __init__(self, detail: str | None = None, retry_after: int = 5) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


PROBLEM_TYPES: dict[str, type[ProblemError]] = {
    cls.kind: cls
    for cls in (
        ProblemError,
        BadRequest,
        Unauthenticated,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        LogStorageDamaged,  # before Conflict: the one an HTTPException with status 409 is shown as
        ReceiptUnavailable,
        Conflict,
        PreconditionFailed,
        PayloadTooLarge,
        UnsupportedMediaType,
        IdempotencyKeyReused,
        ValidationFailed,  # after the other 422: the one an HTTPException with status 422 is shown as
        CursorExpired,
        RateLimited,
        ServiceUnavailable,
        HeadersTooLarge,
    )
}


EXAMPLE_INSTANCE = "/v1/assessments"
EXAMPLE_REQUEST_ID = "5b0c4c1e9a2f4a4f"
EXAMPLE_BODY_ERRORS = [FieldError(pointer="/answers/child_age_years", detail="18 is outside the allowed range 0..17")]
EXAMPLE_PARAMETER_ERRORS = [
    FieldError(pointer="/limit", detail="Input should be less than or equal to 200", location="query")
]


def problem_example(error: type[ProblemError], *, errors: Sequence[FieldError] = EXAMPLE_BODY_ERRORS) -> dict[str, Any]:
    """An OpenAPI `examples` entry: a body that `render` could send for `error` (field errors only on a 422)."""
    body = Problem(
        type=f"/problems/{error.kind}",
        title=error.title,
        status=error.status,
        detail=error.example_detail,
        instance=EXAMPLE_INSTANCE,
        request_id=EXAMPLE_REQUEST_ID,
        errors=list(errors) if issubclass(error, ValidationFailed) else None,
    )
    return {"summary": error.title, "value": body.model_dump(exclude_none=True)}


def body_required(detail: str) -> BadRequest:
    """The 400 of an operation that needs a body and got none; its one error points at the whole body."""
    return BadRequest(detail, errors=[FieldError(pointer="", detail=detail)])


def problem_responses(*errors: type[ProblemError]) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries so the OpenAPI document shows each problem a route can return, each with its example.
    Problems of one status share its entry: one example each, and a description that names each one's type."""
    by_status: dict[int, list[type[ProblemError]]] = {}
    for cls in errors:
        by_status.setdefault(cls.status, []).append(cls)
    responses: dict[int | str, dict[str, Any]] = {}
    for status, problems in by_status.items():
        description = (
            problems[0].title
            if len(problems) == 1
            else "; ".join(f"{p.title} (`/problems/{p.kind}`)" for p in problems)
        )
        examples = {p.kind: problem_example(p) for p in problems}
        responses[status] = {
            "model": Problem,
            "description": description,
            "content": {PROBLEM_MEDIA_TYPE: {"examples": examples}},
        }
    return responses


def problem_response(
    status: int,
    kind: str,
    title: str,
    *,
    detail: str | None = None,
    instance: str | None = None,
    errors: Sequence[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> JSONResponse:
    body = Problem(
        type=f"/problems/{kind}",
        title=title,
        status=status,
        detail=detail,
        instance=instance,
        request_id=current_request_id(),
        errors=list(errors) if errors else None,
        **(extensions or {}),
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        headers=dict(headers or {}),
        media_type=PROBLEM_MEDIA_TYPE,
    )


def render(error: ProblemError, instance: str | None) -> JSONResponse:
    return problem_response(
        error.status,
        error.kind,
        error.title,
        detail=error.detail,
        instance=instance,
        errors=error.errors,
        headers=error.headers,
        extensions=error.extensions,
    )


def pointer_from_loc(loc: Sequence[int | str]) -> tuple[str, str]:
    """Pydantic's loc ('body', 'answers', 'child_age_years') -> ('/answers/child_age_years', 'body')."""
    if not loc:
        return "", "body"
    location, *rest = loc
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in rest]
    if location not in ("body", "query", "path", "header", "cookie"):
        return "/" + "/".join([str(location), *parts]), "body"
    return ("/" + "/".join(parts)) if parts else "", str(location)


def field_errors_from_pydantic(errors: Sequence[Mapping[str, Any]], prefix: Sequence[str] = ()) -> list[FieldError]:
    out: list[FieldError] = []
    for err in errors:
        pointer, location = pointer_from_loc([*prefix, *err.get("loc", ())])
        out.append(FieldError(pointer=pointer, detail=str(err.get("msg", "invalid")), location=location))
    return out


async def problem_of(request: Request, exc: Exception) -> Response | None:
    """The problem response the app's handlers render for `exc` (a ProblemError or a request validation error),
    or None for any other exception."""
    if isinstance(exc, ProblemError):
        return render(exc, request.url.path)
    if isinstance(exc, RequestValidationError):
        handler: Any = request.app.exception_handlers[RequestValidationError]
        response: Response = await handler(request, exc)
        return response
    return None


ProblemNegotiator = Callable[[MutableMapping[str, Any], Response], Response]
"""Turns a problem response into the representation the request asked for (app/fhir/outcome.py `negotiate`);
installed as `app.state.problem_negotiator` by the application factory."""


def negotiated(scope: MutableMapping[str, Any], problem: Response) -> Response:
    """The problem in the representation the request asked for: problem+json, or what the app's negotiator makes
    of it (an OperationOutcome under FHIR's Accept)."""
    app = scope.get("app")
    negotiator: ProblemNegotiator | None = getattr(getattr(app, "state", None), "problem_negotiator", None)
    return problem if negotiator is None else negotiator(scope, problem)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> Response:
        return negotiated(request.scope, render(exc, request.url.path))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return negotiated(request.scope, render(BadRequest("The body is not valid JSON"), request.url.path))
        if any(e.get("type") == "missing" and tuple(e.get("loc", ())) == ("body",) for e in errors):
            # No body, zero bytes or `null` where the operation needs one: unreadable, like malformed JSON.
            return negotiated(request.scope, render(body_required("A JSON body is required"), request.url.path))
        fields = field_errors_from_pydantic(errors)
        missing_headers = [f for f in fields if f.location == "header"]
        if missing_headers and len(missing_headers) == len(fields):
            names = ", ".join(f.pointer.lstrip("/").replace("_", "-") for f in missing_headers)
            return negotiated(
                request.scope,
                render(BadRequest(f"Missing or invalid header: {names}", errors=fields), request.url.path),
            )
        detail = f"{len(fields)} field{'s are' if len(fields) != 1 else ' is'} invalid"
        return negotiated(request.scope, render(ValidationFailed(detail, errors=fields), request.url.path))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        by_status: dict[int, type[ProblemError]] = {cls.status: cls for cls in PROBLEM_TYPES.values()}
        cls = by_status.get(exc.status_code, ProblemError)
        detail = exc.detail if isinstance(exc.detail, str) and exc.status_code != 404 else None
        return negotiated(
            request.scope,
            problem_response(
                exc.status_code,
                cls.kind if cls is not ProblemError else "http-error",
                cls.title if cls is not ProblemError else "HTTP error",
                detail=detail,
                instance=request.url.path,
                headers=getattr(exc, "headers", None),
            ),
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeoutError)
    async def _db_unavailable(request: Request, exc: Exception) -> Response:
        log.warning("database_unavailable", error_class=type(exc).__name__)
        return negotiated(
            request.scope, render(ServiceUnavailable("The database is not reachable; retry shortly."), request.url.path)
        )

    @app.exception_handler(DataError)
    @app.exception_handler(OverflowError)
    async def _out_of_range(request: Request, exc: Exception) -> Response:
        # A value the database cannot hold (an integer past 64 bits, say) that no schema bound caught: the
        # caller's input, so a 422 rather than a 500. Routes should bound such fields; this is the safety net.
        log.warning("value_out_of_range", error_class=type(exc).__name__)
        return negotiated(
            request.scope, render(ValidationFailed("A value is out of the range that can be stored"), request.url.path)
        )

    @app.exception_handler(StatementError)
    async def _statement_error(request: Request, exc: StatementError) -> Response:
        # Raised while binding a parameter, before the database saw it: a date-time at the edge of the
        # calendar whose offset takes it past year 1 or 9999 in UTC overflows there.
        if isinstance(exc.orig, OverflowError):
            return await _out_of_range(request, exc.orig)
        log.error("statement_error", error_class=type(exc.orig).__name__ if exc.orig else type(exc).__name__)
        return negotiated(request.scope, render(ProblemError(), request.url.path))

    @app.exception_handler(DBAPIError)
    async def _db_error(request: Request, exc: DBAPIError) -> Response:
        if exc.connection_invalidated:
            return negotiated(
                request.scope,
                render(ServiceUnavailable("The database connection was lost; retry shortly."), request.url.path),
            )
        log.error("database_error", error_class=type(exc.orig).__name__ if exc.orig else type(exc).__name__)
        return negotiated(request.scope, render(ProblemError(), request.url.path))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error("unhandled_error", error_class=type(exc).__name__)
        return negotiated(request.scope, render(ProblemError(), request.url.path))
