"""HTTP endpoints of assessments: create, read, list, amend, override, mark in error, rescore, replay, report."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Query, Request, Response, status
from fastapi.responses import HTMLResponse
from pydantic import AwareDatetime

from app.assessments import service
from app.assessments.dependencies import (
    AnswersReader,
    CreateBody,
    ExplainDep,
    IncludeAnswersDep,
    Reader,
    StateReadSeamDep,
    Supervisor,
    SupervisorIdempotency,
    TodayDep,
    Writer,
    WriterIdempotency,
)
from app.assessments.report import CSP as REPORT_CSP
from app.assessments.schemas import (
    AssessmentPage,
    AssessmentRead,
    EnteredInErrorCreate,
    OverrideCreate,
    ReplayRead,
    RescoreRead,
    RevisionChain,
    RevisionCreate,
)
from app.audit.routing import AuditRefusals
from app.content import examples
from app.core.conditional import none_match_holds
from app.core.config import SettingsDep
from app.core.db import SessionDep
from app.core.errors import (
    PROBLEM_MEDIA_TYPE,
    BadRequest,
    Conflict,
    FhirNotConfigured,
    Forbidden,
    IdempotencyKeyReused,
    NotFound,
    Unauthenticated,
    ValidationFailed,
    negotiated,
    problem_responses,
)
from app.core.pagination import DEFAULT_PAGE_SIZE, CursorQuery, LimitQuery
from app.fhir.media import FHIR_JSON, FormatQuery, fhir_response, wants_fhir
from app.fhir.risk_assessment import EXAMPLE as RISK_ASSESSMENT_EXAMPLE

# A body without Content-Type is JSON, as the middleware's guard reads it (app/core/json_guard.py `media_type_of`).
router = APIRouter(
    prefix="/v1/assessments", tags=["assessments"], dependencies=[AuditRefusals], strict_content_type=False
)

AssessmentId = Annotated[
    str, Path(max_length=64, description="The assessment's id (a UUID); every revision has its own.")
]
COMMON = problem_responses(BadRequest, Unauthenticated, Forbidden, ValidationFailed)
ONE = {**COMMON, **problem_responses(NotFound)}
# The writes that honour an Idempotency-Key: their 422 may also be a reused key, their 409 a key still in flight.
IDEMPOTENT = {**ONE, **problem_responses(Conflict, ValidationFailed, IdempotencyKeyReused)}
IDEMPOTENT[409] = {
    **IDEMPOTENT[409],
    "description": f"{Conflict.title} (or a request with this Idempotency-Key is still running: Retry-After)",
}
# POST /v1/assessments: its 409 may also be FHIR not configured (a FHIR Accept, no identifier system).
_CREATE_CONFLICTS = problem_responses(Conflict, FhirNotConfigured)[409]
CREATE = {
    **IDEMPOTENT,
    409: {
        **_CREATE_CONFLICTS,
        "description": f"{_CREATE_CONFLICTS['description']}; or a request with this Idempotency-Key is still "
        "running: Retry-After",
    },
}


VARY = {"Vary": {"description": "`Accept`: the representation depends on it.", "schema": {"type": "string"}}}


def _with_fhir(description: str) -> dict[str, Any]:
    """The FHIR representation of a response whose JSON one FastAPI documents from the response model."""
    return {
        "description": description,
        "headers": VARY,
        "content": {
            FHIR_JSON: {
                "schema": {
                    "type": "object",
                    "description": "A FHIR R4 RiskAssessment (docs/fhir.md, RiskAssessment), with `Accept: "
                    "application/fhir+json` or `_format=json`.",
                },
                "example": RISK_ASSESSMENT_EXAMPLE,
            }
        },
    }


REVISION_EXAMPLES = {
    "answers": {
        "summary": "The complete answers",
        "description": "Vignette V1 again, corrected with what was learned later (result: medium).",
        "value": examples.revision_request(),
    },
    "answers_patch": {
        "summary": "Only the changes (JSON Merge Patch)",
        "description": "What was learned later about vignette V1, merged into the amended revision's answers; "
        '`"<item>": null` would remove an answer.',
        "value": examples.revision_patch_request(),
    },
}


QUESTIONNAIRE_RESPONSE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ONE,
    **problem_responses(FhirNotConfigured),
    200: {
        "description": "The stored answers as a FHIR R4 QuestionnaireResponse",
        "content": {FHIR_JSON: {"schema": {"type": "object"}, "example": examples.questionnaire_response_request()}},
        "headers": {"ETag": {"description": "The representation's tag", "schema": {"type": "string"}}},
    },
}

# The create body, JSON or FHIR, is read by a dependency (CreateBody): declared here for the OpenAPI document.
CREATE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/AssessmentCreate"}},
            FHIR_JSON: {
                "schema": {
                    "type": "object",
                    "description": "A FHIR R4 QuestionnaireResponse (status completed) to one of our questionnaires "
                    "(`questionnaire`: canonical URL|version), its subject `identifier` in your organisation's "
                    "identifier system (GET /v1/organisation/fhir); answers by linkId (docs/fhir.md).",
                },
                "example": examples.questionnaire_response_request(),
            },
        },
    }
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=AssessmentRead,
    responses={**CREATE, 201: _with_fhir("The assessment (as a RiskAssessment under FHIR Accept)")},
    openapi_extra=CREATE_BODY,
)
def create_assessment(
    request: Request,
    format_: FormatQuery,
    caller: Writer,
    explain: ExplainDep,
    idempotency: WriterIdempotency,
    body: CreateBody,
    session: SessionDep,
    today: TodayDep,
    settings: SettingsDep,
    response: Response,
) -> AssessmentRead | Response:
    """Score a questionnaire about one child and store the assessment (201 with Location).

    The body is JSON (`application/json`) or a FHIR QuestionnaireResponse (`Content-Type: application/fhir+json`,
    docs/fhir.md): the same scoring, storage, audit and Idempotency-Key. A QuestionnaireResponse holding a direct
    identifier (an NHS number, `contained`, `text`, `author`, `source`, a literal reference) is a 422 naming the
    element, and nothing is stored; without an identifier system set for the organisation it is a 409
    `/problems/fhir-not-configured`. Errors are an OperationOutcome under `Accept: application/fhir+json`.

    Answers are validated first: a 422 lists every invalid answer with a pointer such as
    `/answers/child_age_years`, a date answer after today among them (the UK's date, with one day's tolerance).
    With no `ruleset`, the organisation's current rule set for the questionnaire is used and echoed back in
    `ruleset`. Send an `Idempotency-Key` to make retries safe: a retry gets the first 201
    again; a refusal (invalid answers, a rule set that does not exist) leaves the key free for the corrected request.

    With `Accept: application/fhir+json` (or `_format=json`) the 201 is the FHIR RiskAssessment, with the ETag of
    that representation (409 while your organisation has no FHIR identifier system, and nothing is stored); a
    retry with the key gets the assessment first returned in the representation the retry asks for.
    """
    created = service.create_assessment(
        session, caller, body, today=today, base_url=settings.base_url, explain=explain, idempotency=idempotency
    )
    # Rendered before the commit: a FHIR create the organisation cannot render (no identifier system) stores nothing.
    fhir = (
        service.created_as_fhir(session, caller, created, base_url=settings.base_url) if wants_fhir(request) else None
    )
    session.commit()  # 201 only once stored
    if isinstance(created, service.Replay):
        return _replayed(created, request, fhir, vary=True)
    if fhir is not None:
        headers = {"Location": created.location, "ETag": fhir.etag}
        return fhir_response(fhir.resource, status_code=status.HTTP_201_CREATED, headers=headers)
    response.headers["Location"] = created.location
    response.headers["ETag"] = created.etag
    response.headers["Vary"] = "Accept"
    return created.model


def _replayed(
    replay: service.Replay, request: Request, fhir: service.FhirShown | None = None, *, vary: bool = False
) -> Response:
    """The response first sent for the Idempotency-Key: byte for byte, or (`fhir`) the assessment it returned in
    the FHIR representation the retry asks for; a refusal as the retry's Accept asks (problem+json or an
    OperationOutcome). `vary`: the first response's route negotiates its representation."""
    headers = {"Idempotent-Replayed": "true"}
    if replay.location:
        headers["Location"] = replay.location
    if fhir is not None:
        return fhir_response(fhir.resource, status_code=replay.status, headers=headers)
    if vary:
        headers["Vary"] = "Accept"
    if replay.status >= 400:
        problem = Response(replay.body, status_code=replay.status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)
        return negotiated(request.scope, problem)
    return Response(replay.body, status_code=replay.status, headers=headers, media_type="application/json")


@router.get("", response_model=AssessmentPage, responses=COMMON)
def list_assessments(
    caller: Reader,
    session: SessionDep,
    explain: ExplainDep,
    subject_ref: Annotated[
        str | None, Query(max_length=256, description="Only assessments of this child's case id (exact match).")
    ] = None,
    level: Annotated[str | None, Query(max_length=32, description="Final level (after overrides)")] = None,
    created_from: Annotated[
        AwareDatetime | None, Query(description="Only assessments created at or after this time (ISO 8601 with zone).")
    ] = None,
    created_to: Annotated[
        AwareDatetime | None, Query(description="Only assessments created before this time (ISO 8601 with zone).")
    ] = None,
    ruleset_key: Annotated[
        str | None, Query(max_length=64, description="Only assessments scored with this rule set's key.")
    ] = None,
    ruleset_version: Annotated[
        int | None, Query(ge=1, le=2_147_483_647, description="Only assessments scored with this rule-set version.")
    ] = None,
    include_superseded: Annotated[
        bool, Query(description="Also list revisions that were amended (default false: latest revisions only).")
    ] = False,
    include_entered_in_error: Annotated[
        bool, Query(description="Also list assessments entered in error (default false).")
    ] = False,
    review_by_before: Annotated[
        AwareDatetime | None,
        Query(
            description="The reviews due: only assessments whose review date in force (`review_by`: the latest "
            "override's, else the assessment's own) is before this time (ISO 8601 with zone), ordered by that date, "
            "earliest first, then by id. Lists latest revisions not entered in error only: sending "
            "`include_superseded` or `include_entered_in_error` as true with it is a 422."
        ),
    ] = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_PAGE_SIZE,
) -> AssessmentPage:
    """List the organisation's assessments, newest first, with filters and cursor pagination.

    With `review_by_before`, list the reviews due instead: the assessments whose review date in force falls before
    that time, earliest first (ties by id). An assessment without a review date is never due. The other filters
    still apply; a cursor pages only the list it came from.
    """
    filters = service.ListFilters(
        subject_ref=subject_ref,
        level=level,
        created_from=created_from,
        created_to=created_to,
        ruleset_key=ruleset_key,
        ruleset_version=ruleset_version,
        include_superseded=include_superseded,
        include_entered_in_error=include_entered_in_error,
        review_by_before=review_by_before,
    )
    return service.list_assessments(session, caller, filters, cursor=cursor, limit=limit, explain=explain)


@router.get(
    "/{assessment_id}",
    response_model=AssessmentRead,
    responses={
        **ONE,
        **problem_responses(FhirNotConfigured),
        200: _with_fhir("The assessment (as a RiskAssessment under FHIR Accept)"),
        304: {"description": "Not modified (If-None-Match)", "headers": VARY},
    },
)
def get_assessment(
    assessment_id: AssessmentId,
    request: Request,
    format_: FormatQuery,
    settings: SettingsDep,
    caller: Reader,
    session: SessionDep,
    explain: ExplainDep,
    include_answers: IncludeAnswersDep,
    response: Response,
    if_none_match: Annotated[
        str | None, Header(description="The ETag of an earlier read; a 304 without a body when it still matches.")
    ] = None,
) -> AssessmentRead | Response:
    """Read one assessment (any revision) with its overrides and entered-in-error mark; ETag for caching.

    With `include=answers`, the answers stored with the revision too (property `answers`, absent otherwise); that
    representation has its own ETag.

    With `Accept: application/fhir+json` (or `_format=json`), the assessment as a FHIR RiskAssessment, with its own
    ETag (`"<digest>-fhir"`); `explain` and `include` do not apply to it (its `basis` points at the answers as a
    QuestionnaireResponse). 409 while your organisation has no FHIR identifier system.
    """
    if wants_fhir(request):
        fhir, not_modified = service.get_assessment_fhir(
            session, caller, assessment_id, base_url=settings.base_url, if_none_match=if_none_match
        )
        if not_modified:
            return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": fhir.etag, "Vary": "Accept"})
        return fhir_response(fhir.resource, headers={"ETag": fhir.etag})
    shown, not_modified = service.get_assessment(
        session, caller, assessment_id, explain=explain, with_answers=include_answers, if_none_match=if_none_match
    )
    if not_modified:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": shown.etag, "Vary": "Accept"})
    response.headers["ETag"] = shown.etag
    response.headers["Vary"] = "Accept"
    return shown.model


@router.get(
    "/{assessment_id}/questionnaire-response",
    response_class=Response,
    responses={**QUESTIONNAIRE_RESPONSE_RESPONSES, 304: {"description": "Not modified (If-None-Match)"}},
)
def get_questionnaire_response(
    assessment_id: AssessmentId,
    caller: AnswersReader,
    session: SessionDep,
    settings: SettingsDep,
    format_: FormatQuery,
    if_none_match: Annotated[
        str | None, Header(description="The ETag of an earlier read; a 304 without a body when it still matches.")
    ] = None,
) -> Response:
    """The answers stored with this revision as a FHIR R4 QuestionnaireResponse (`application/fhir+json`): status
    completed, our questionnaire's canonical|version, the subject as an identifier in your organisation's identifier
    system, `authored` = when the assessment was created, items in their section groups (docs/fhir.md). Audited as
    `assessment.read_answers`, like `include=answers`. A 409
    `/problems/fhir-not-configured` while your organisation has no identifier system."""
    resource, etag = service.questionnaire_response(session, caller, assessment_id, public_base_url=settings.base_url)
    if none_match_holds(etag, if_none_match):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag, "Vary": "Accept"})
    return fhir_response(resource, headers={"ETag": etag})


@router.get("/{assessment_id}/revisions", response_model=RevisionChain, responses=ONE)
def list_revisions(
    assessment_id: AssessmentId,
    caller: Reader,
    session: SessionDep,
    explain: ExplainDep,
    include_answers: IncludeAnswersDep,
) -> RevisionChain:
    """The whole chain of revisions that holds this assessment, oldest first.

    With `include=answers`, each revision with the answers stored with it (property `answers`, absent otherwise).
    """
    return service.revision_chain(session, caller, assessment_id, explain=explain, with_answers=include_answers)


@router.post(
    "/{assessment_id}/revisions",
    status_code=status.HTTP_201_CREATED,
    response_model=AssessmentRead,
    responses=IDEMPOTENT,
)
def amend_assessment(
    assessment_id: AssessmentId,
    body: Annotated[RevisionCreate, Body(openapi_examples=REVISION_EXAMPLES)],
    request: Request,
    caller: Writer,
    idempotency: WriterIdempotency,
    session: SessionDep,
    explain: ExplainDep,
    seam: StateReadSeamDep,
    today: TodayDep,
    settings: SettingsDep,
    response: Response,
) -> AssessmentRead | Response:
    """Amend an assessment: a new assessment that supersedes it (only the latest revision: 409 otherwise).

    Send the revision's complete `answers`, or `answers_patch`: a JSON Merge Patch (RFC 7396) of the amended
    revision's stored answers (`null` removes an answer). The merged set is validated as a whole and stored in
    full; a 422 points at `/answers_patch/<item>` and says when the answer at fault was carried over, and lists
    the answers the patch leaves that are no longer asked (send each as `null`); a date answer after today (UK date,
    one day's tolerance) is refused like any invalid answer. Keeps the original's subject,
    questionnaire and rule-set versions unless the body names others; overrides do not carry over. The original
    stays readable. With an `Idempotency-Key`, a retry gets the first response again: the 201 (same Location), or
    the 409 if the assessment had already been amended or entered in error.
    """
    amended = service.amend_assessment(
        session,
        caller,
        assessment_id,
        body,
        today=today,
        base_url=settings.base_url,
        explain=explain,
        state_read_seam=seam,
        idempotency=idempotency,
    )
    if isinstance(amended, service.Replay):
        return _replayed(amended, request)
    response.headers["Location"] = amended.location
    return amended.model


@router.post(
    "/{assessment_id}/override",
    status_code=status.HTTP_201_CREATED,
    response_model=AssessmentRead,
    responses=IDEMPOTENT,
)
def override_assessment(
    assessment_id: AssessmentId,
    body: OverrideCreate,
    request: Request,
    caller: Supervisor,
    idempotency: SupervisorIdempotency,
    session: SessionDep,
    explain: ExplainDep,
    seam: StateReadSeamDep,
    settings: SettingsDep,
) -> AssessmentRead | Response:
    """Set the final level by professional judgement, with a rationale (supervisor).

    The rule set's override policy says which directions are allowed, measured against `computed_level`
    (default content: raise only); a refused direction is a 422 that says why. The latest override wins. With an
    `Idempotency-Key`, a retry gets the first response again: the 201, the 409 if the assessment had been amended
    or entered in error, or the 422 of a refused direction. A level the rule set does not have leaves the key free.
    """
    overridden = service.override_assessment(
        session,
        caller,
        assessment_id,
        body,
        base_url=settings.base_url,
        explain=explain,
        state_read_seam=seam,
        idempotency=idempotency,
    )
    return _replayed(overridden, request) if isinstance(overridden, service.Replay) else overridden


@router.post(
    "/{assessment_id}/entered-in-error",
    status_code=status.HTTP_201_CREATED,
    response_model=AssessmentRead,
    responses=IDEMPOTENT,
)
def mark_entered_in_error(
    assessment_id: AssessmentId,
    body: EnteredInErrorCreate,
    request: Request,
    caller: Supervisor,
    idempotency: SupervisorIdempotency,
    session: SessionDep,
    seam: StateReadSeamDep,
    settings: SettingsDep,
) -> AssessmentRead | Response:
    """Mark an assessment as entered in error, with a reason (supervisor). Nothing is deleted; lists hide it.

    With an `Idempotency-Key`, a retry gets the first response again: the 201, or the 409 if the assessment was
    already marked.
    """
    marked = service.mark_entered_in_error(
        session, caller, assessment_id, body, base_url=settings.base_url, state_read_seam=seam, idempotency=idempotency
    )
    return _replayed(marked, request) if isinstance(marked, service.Replay) else marked


@router.post("/{assessment_id}/rescore", response_model=RescoreRead, responses=ONE)
def rescore_assessment(
    assessment_id: AssessmentId,
    caller: Writer,
    session: SessionDep,
    explain: ExplainDep,
    ruleset_version: Annotated[
        int,
        Query(
            ge=1,
            le=2_147_483_647,
            description="The rule-set version to re-score the stored answers with.",
            examples=[1],
        ),
    ],
    ruleset_key: Annotated[
        str | None, Query(max_length=64, description="The rule set's key; default: the assessment's rule set.")
    ] = None,
) -> RescoreRead:
    """Dry run: score the stored answers against another rule-set version and say what changed (nothing stored)."""
    return service.rescore_assessment(
        session, caller, assessment_id, ruleset_version=ruleset_version, ruleset_key=ruleset_key, explain=explain
    )


@router.get("/{assessment_id}/replay", response_model=ReplayRead, responses=ONE)
def replay_assessment(
    assessment_id: AssessmentId, caller: Reader, session: SessionDep, explain: ExplainDep
) -> ReplayRead:
    """Re-evaluate the stored answers with the stored rule-set version and confirm the stored result.

    Every field the engine version that computed the stored result produced is compared, except `level` (an
    override's) and `engine_version`; `differences` lists any change by JSON pointer. `engine` reports the engine
    versions apart: when a later engine replays, the replay either reproduces every compared field or says, in
    `differences`, what differs from what `engine.stored` computed. Fields a later engine added
    (`engine.not_compared`) are shown in `replayed`, with their defaults in `stored`, and never count as a
    difference.
    """
    return service.replay_assessment(session, caller, assessment_id, explain=explain)


@router.get(
    "/{assessment_id}/report",
    response_class=HTMLResponse,
    responses={**ONE, 200: {"content": {"text/html": {}}, "description": "A printable HTML page"}},
)
def assessment_report(assessment_id: AssessmentId, caller: Reader, session: SessionDep) -> HTMLResponse:
    """A printable summary for the case file: level, triggers, reasons, scores, actions, gaps, protective factors,
    overrides, rule set and disclaimer, with questions and titles rather than ids.

    Every printed page repeats the level and when it was set; a superseded or entered-in-error revision says so
    on every page. Times are UK local time with the zone (GMT or BST). The page loads nothing and runs no script.
    """
    return HTMLResponse(service.report(session, caller, assessment_id), headers={"Content-Security-Policy": REPORT_CSP})
