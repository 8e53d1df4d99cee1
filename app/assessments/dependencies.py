"""Route dependencies of the assessments API."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import Depends, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from app.assessments import service
from app.assessments.schemas import AssessmentCreate, QuestionnaireRef
from app.auth.caller import Caller
from app.auth.dependencies import Authorize, AuthorizeWhen
from app.auth.permissions import Operation
from app.core.canonical_json import canonical_bytes
from app.core.config import Settings, SettingsDep
from app.core.db import utcnow
from app.core.errors import BadRequest, UnsupportedMediaType, body_required, render
from app.core.json_guard import CHECKED_DOCUMENT_KEY, CheckedDocument, media_type_of
from app.core.seams import StateReadSeam
from app.fhir.intake import read_questionnaire_response
from app.fhir.media import FHIR_JSON
from app.fhir.outcome import QUESTIONNAIRE_RESPONSE_ITEMS_KEY

# One instance per operation, so a route and its dependencies share one authenticated caller.
Writer = Annotated[Caller, Depends(Authorize(Operation.write_assessments))]
Reader = Annotated[Caller, Depends(Authorize(Operation.read_assessments))]
Supervisor = Annotated[Caller, Depends(Authorize(Operation.supervise_assessments))]


async def _explain(
    explain: Annotated[
        str | None,
        Query(
            description="Comma-separated extras: `trace` (every rule that fired, with the answers it read) and "
            "`counterfactuals` (the nearest answer changes that would change the level).",
            examples=["trace,counterfactuals"],
        ),
    ] = None,
) -> frozenset[str]:
    return service.parse_explain(explain)


ExplainDep = Annotated[frozenset[str], Depends(_explain)]

READ_ANSWERS = AuthorizeWhen(Operation.read_answers, "`include=answers`")


async def _include_answers(
    caller: Reader,
    policy: Annotated[AuthorizeWhen, Depends(READ_ANSWERS)],
    include: Annotated[
        Literal["answers"] | None,
        Query(
            description="`answers`: also show the answers stored with each revision shown (property `answers`). "
            "Needs operation `read_answers` (roles assessor, supervisor) besides this operation's own; audited as "
            "`assessment.read_answers`.",
            examples=["answers"],
        ),
    ] = None,
) -> bool:
    if include is None:
        return False
    policy.require(caller)
    return True


AnswersReader = Annotated[Caller, Depends(Authorize(Operation.read_answers))]
"""The caller of a route whose response is the stored answers: operation `read_answers`, whose roles (assessor,
supervisor) all hold `read_assessments` too."""

IncludeAnswersDep = Annotated[bool, Depends(_include_answers)]
"""Whether the request asked for the stored answers (`?include=answers`), its caller allowed to read them."""

IDEMPOTENCY_KEY_DESCRIPTION = (
    "Optional, per API client: makes a retry safe. A retry of the same request (method, path, query parameters "
    "other than `_format`, Content-Type and body) with the same key gets the first response again (kept at least "
    "24 hours) with `Idempotent-Replayed: true`: a 2xx, or a refusal due to the assessment's state (409 amended "
    "or entered in error, 422 override direction refused). Any other error leaves the key free for the corrected "
    "request. The same key with another request is a 422 `/problems/idempotency-key-reused`; a retry while the "
    "first is still running is a 409 with Retry-After."
)


IdempotencyKeyHeader = Annotated[str | None, Header(alias="Idempotency-Key", description=IDEMPOTENCY_KEY_DESCRIPTION)]


@asynccontextmanager
async def _keyed(
    request: Request, caller: Caller, settings: Settings, idempotency_key: str | None
) -> AsyncIterator[service.Idempotency | None]:
    """The request's Idempotency-Key and its fingerprint, for the four writes that honour it (create, amend,
    override, entered in error). A `service.StateRefusal` the request ends with is stored as the key's response
    once the request's transaction has rolled back: the dependency is entered before the route's session, so it
    leaves after it. Every other error leaves the key free."""
    if idempotency_key is None:
        yield None
        return
    if not 1 <= len(idempotency_key) <= 255:
        raise BadRequest("Idempotency-Key must be 1-255 characters")
    idempotency = service.Idempotency(
        client_id=caller.client_id,
        organisation_id=caller.organisation_id,
        key=idempotency_key,
        endpoint=f"{request.method} {request.url.path}",
        fingerprint=await _fingerprint(request),
        retention=timedelta(hours=settings.idempotency_retention_hours),
    )
    try:
        yield idempotency
    except service.StateRefusal as refusal:
        body = bytes(render(refusal, request.url.path).body)
        factory = request.app.state.sessionmaker
        await run_in_threadpool(service.store_refusal, factory, idempotency, refusal.status, body)
        raise


# The same dependency for the writers' routes and the supervisors', each with its route's own caller.
async def _writer_idempotency(
    request: Request, caller: Writer, settings: SettingsDep, idempotency_key: IdempotencyKeyHeader = None
) -> AsyncIterator[service.Idempotency | None]:
    async with _keyed(request, caller, settings, idempotency_key) as idempotency:
        yield idempotency


async def _supervisor_idempotency(
    request: Request, caller: Supervisor, settings: SettingsDep, idempotency_key: IdempotencyKeyHeader = None
) -> AsyncIterator[service.Idempotency | None]:
    async with _keyed(request, caller, settings, idempotency_key) as idempotency:
        yield idempotency


def request_fingerprint(
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    content_type: str | None,
    body: Any,
    *,
    floats: bool = True,
) -> str:
    """SHA-256 of the canonical JSON (RFC 8785) of the request: method, path, the query parameters as sorted
    (name, value) pairs, the media type of its Content-Type (lowercased, parameters left out; none is JSON, as the
    body guard reads it) and its body as parsed. A `charset` cannot change a JSON body: the guard reads UTF-8 only."""
    request = [method, path, sorted(query), media_type_of(content_type or ""), body]
    try:
        canonical = canonical_bytes(request, floats=floats)
    except ValueError:
        canonical = json.dumps(request, sort_keys=True).encode()
    return hashlib.sha256(canonical).hexdigest()


async def _fingerprint(request: Request) -> str:
    """The fingerprint of the request, its body as the middleware's guard parsed and checked it. `_format` picks
    the representation of the response, as `Accept` does: it is no part of the request."""
    checked: CheckedDocument | None = request.scope.get(CHECKED_DOCUMENT_KEY)
    body: Any = None  # no body: validation refuses the request
    if checked is not None and checked.is_json:
        body = checked.document
    elif checked is not None:  # another media type: validation refuses it; its text tells the requests apart
        body = (await request.body()).decode("utf-8", "replace")
    return request_fingerprint(
        request.method,
        request.url.path,
        [(name, value) for name, value in request.query_params.multi_items() if name != "_format"],
        request.headers.get("content-type"),
        body,
        floats=checked is None or checked.floats,
    )


WriterIdempotency = Annotated[service.Idempotency | None, Depends(_writer_idempotency, scope="function")]
"""The Idempotency-Key of create and amend. Declare it before the route's session (see `_keyed`)."""
SupervisorIdempotency = Annotated[service.Idempotency | None, Depends(_supervisor_idempotency, scope="function")]
"""The Idempotency-Key of override and entered in error. Declare it before the route's session."""


async def _state_read_seam(settings: SettingsDep) -> StateReadSeam | None:
    return settings.state_read_seam


StateReadSeamDep = Annotated[StateReadSeam | None, Depends(_state_read_seam)]
"""The app's `Settings.state_read_seam` (app/core/seams.py), for the routes that change an assessment's state."""


async def today_in_the_uk() -> date:
    """The UK's date now: the clock of the check that refuses date answers after today (a test overrides this
    dependency to fix the day)."""
    return service.uk_date(utcnow())


TodayDep = Annotated[date, Depends(today_in_the_uk)]
"""Today's date in the UK, for the writes that record answers (create, amend)."""


async def _create_body(request: Request, caller: Writer, settings: SettingsDep) -> AssessmentCreate:
    """The create request's body by its media type, from the document the middleware's guard parsed and checked:
    JSON (`application/json` and the other JSON types) validated as AssessmentCreate, with the same 422s as any
    body; a FHIR QuestionnaireResponse (`application/fhir+json`) read into one (app/fhir/intake.py), in a short
    transaction of its own that ends before the route's."""
    checked: CheckedDocument | None = request.scope.get(CHECKED_DOCUMENT_KEY)
    if checked is None:  # no body, or zero bytes (`null` is a body: of the wrong type)
        raise body_required("A JSON body is required")
    if not checked.is_json:
        raise UnsupportedMediaType(f"'{checked.media_type}' is not accepted; send application/json or {FHIR_JSON}")
    if checked.media_type == FHIR_JSON:
        request.scope[QUESTIONNAIRE_RESPONSE_ITEMS_KEY] = {}
        read = await run_in_threadpool(_read_response, request, caller, settings, checked.document)
        request.scope[QUESTIONNAIRE_RESPONSE_ITEMS_KEY] = read.item_pointers
        return AssessmentCreate(
            questionnaire=QuestionnaireRef(key=read.questionnaire_key, version=read.questionnaire_version),
            subject_ref=read.subject_ref,
            answers=read.answers,
        )
    try:
        return AssessmentCreate.model_validate(checked.document)
    except ValidationError as exc:
        raise RequestValidationError([{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]) from None


def _read_response(request: Request, caller: Caller, settings: Settings, document: Any) -> Any:
    with request.app.state.sessionmaker() as session:
        return read_questionnaire_response(session, caller.organisation_id, document, public_base_url=settings.base_url)


CreateBody = Annotated[AssessmentCreate, Depends(_create_body)]
"""The body of POST /v1/assessments, JSON or a FHIR QuestionnaireResponse. Declare it after the Idempotency-Key."""
