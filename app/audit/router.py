"""HTTP endpoints of the audit trail: list events with filters, verify the organisation's hash chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime

from app.audit import service
from app.audit.routing import AuditRefusals
from app.audit.schemas import (
    MAX_LISTED_PROBLEMS,
    AuditEventPage,
    AuditEventRead,
    LogProblemRead,
    RecordProblemRead,
    VerificationRead,
)
from app.auth.caller import Caller
from app.auth.dependencies import Authorize
from app.auth.permissions import Operation
from app.core.db import SessionDep
from app.core.errors import BadRequest, Forbidden, Unauthenticated, ValidationFailed, problem_responses
from app.core.pagination import DEFAULT_PAGE_SIZE, CursorQuery, LimitQuery

router = APIRouter(prefix="/v1/audit", tags=["audit"], dependencies=[AuditRefusals])
Auditor = Annotated[Caller, Depends(Authorize(Operation.read_audit))]
COMMON = problem_responses(BadRequest, Unauthenticated, Forbidden, ValidationFailed)


@router.get("/events", responses=COMMON)
def list_audit_events(
    caller: Auditor,
    session: SessionDep,
    subject_ref: Annotated[
        str | None,
        Query(
            max_length=256,
            description="Only events about this child's case id, lists that returned it included: who saw or "
            "changed the record.",
        ),
    ] = None,
    resource_id: Annotated[
        str | None,
        Query(max_length=64, description="Only events about this resource id, lists that returned it included."),
    ] = None,
    resource_type: Annotated[
        str | None, Query(max_length=64, description="Only events about this kind of resource, e.g. `assessment`.")
    ] = None,
    acting_user: Annotated[
        str | None, Query(max_length=256, description="Only events of requests with this `X-Acting-User`.")
    ] = None,
    client_id: Annotated[
        str | None, Query(max_length=36, description="Only events of requests by this API client id.")
    ] = None,
    action: Annotated[
        str | None,
        Query(max_length=64, description="Only events of this action (exact match).", examples=["assessment.read"]),
    ] = None,
    since: Annotated[
        AwareDatetime | None, Query(description="Only events at or after this time (ISO 8601 with zone).")
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(description="Only events before this time (ISO 8601 with zone).")
    ] = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_PAGE_SIZE,
) -> AuditEventPage:
    """The organisation's audit events in chain order, filtered (auditor or admin)."""
    found = service.search(
        session,
        caller,
        subject_ref=subject_ref,
        resource_id=resource_id,
        resource_type=resource_type,
        acting_user=acting_user,
        client_id=client_id,
        action=action,
        since=since,
        until=until,
        cursor=cursor,
        limit=limit,
    )
    return AuditEventPage(
        items=[AuditEventRead.model_validate(event, from_attributes=True) for event in found.items],
        next_cursor=found.next_cursor,
    )


@router.get("/verify", responses=COMMON)
def verify_audit_chain(caller: Auditor, session: SessionDep, request: Request) -> VerificationRead:
    """Verify the organisation's hash chain from genesis to its head (names the first broken sequence number), every
    case record against the event that created it (names each row that does not match), and the verifiable log: the
    stored Merkle tree and every signed checkpoint against the events (names each leaf, checkpoint or tree problem)."""
    result = service.verify_for(session, caller, request.app.state.case_records, request.app.state.log_check)
    return VerificationRead(
        ok=result.ok,
        events=result.events,
        head_sequence=result.head_sequence,
        first_broken_sequence=result.first_broken_sequence,
        problem=result.problem,
        records_checked=result.records_checked,
        records_legacy=result.records_legacy,
        record_problems=[
            RecordProblemRead(record=p.record, problem=p.problem, sequence=p.sequence)
            for p in result.record_problems[:MAX_LISTED_PROBLEMS]
        ],
        record_problems_total=len(result.record_problems),
        tree_size=result.tree_size,
        checkpoints_checked=result.checkpoints_checked,
        log_problems=[
            LogProblemRead(where=p.where, problem=p.problem, sequence=p.sequence)
            for p in result.log_problems[:MAX_LISTED_PROBLEMS]
        ],
        log_problems_total=result.log_problems_total,
    )
