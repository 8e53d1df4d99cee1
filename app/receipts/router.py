"""HTTP endpoints of decision receipts: an assessment's receipt (signed, checkable offline) and the stored record it
commits to (docs/verifiable-log.md). Under /v1/assessments, with the assessments' policies: case data, so every
request names its X-Acting-User and refusals are audited."""

from __future__ import annotations

from fastapi import APIRouter, Request

from app.assessments import service as assessments
from app.assessments.dependencies import AnswersReader, Reader
from app.assessments.router import AssessmentId
from app.audit.routing import AuditRefusals
from app.core.db import SessionDep, utcnow
from app.core.errors import (
    BadRequest,
    Forbidden,
    LogStorageDamaged,
    NotFound,
    ReceiptUnavailable,
    Unauthenticated,
    ValidationFailed,
    problem_responses,
)
from app.receipts import service
from app.receipts.schemas import AssessmentRecord, Receipt

router = APIRouter(prefix="/v1/assessments", tags=["assessments"], dependencies=[AuditRefusals])

ONE = problem_responses(BadRequest, Unauthenticated, Forbidden, ValidationFailed, NotFound)
RECEIPT_RESPONSES = {**ONE, **problem_responses(ReceiptUnavailable, LogStorageDamaged)}
RECORD_RESPONSES = {**ONE, **problem_responses(ReceiptUnavailable)}


@router.get("/{assessment_id}/receipt", response_model=Receipt, responses=RECEIPT_RESPONSES)
def get_assessment_receipt(
    assessment_id: AssessmentId, request: Request, caller: Reader, session: SessionDep
) -> Receipt:
    """The decision receipt of this revision (format `riskapi.receipt.v1`): proof of what was decided, from which
    answers, under which rule set and engine, and that the decision is in your organisation's verifiable log, which
    anyone can check offline with `riskapi receipt verify RECEIPT.json --public-key KEYS.json` (the document of
    GET /v1/audit/keys).

    It holds the audit events of the revision, whole: its creation (`assessment.create`, or `assessment.amend` for
    an amended revision), then its overrides and entered-in-error mark recorded so far (ask again after one for a
    receipt that shows it), each with its inclusion proof to one signed checkpoint. When no checkpoint covers them
    yet, one is signed now. The events hold salted commitments to the answers and the result, never the answers:
    the receipt reveals neither, and cannot be used to test guesses about them. Audited as `assessment.receipt`.

    409 `/problems/receipt-unavailable` for an assessment stored before receipts existed (no salt, no
    commitments), or when no checkpoint can cover its events (no signing key; an audit chain broken before them).
    """
    return service.assessment_receipt(session, caller, assessment_id, request.app.state.log_keys, utcnow())


@router.get("/{assessment_id}/record", response_model=AssessmentRecord, responses=RECORD_RESPONSES)
def get_assessment_record(assessment_id: AssessmentId, caller: AnswersReader, session: SessionDep) -> AssessmentRecord:
    """The stored rows of this revision with their salts (format `riskapi.assessment-record.v1`): the assessment
    row, its overrides in the order they were made, its entered-in-error mark, every column as stored (times as
    `YYYY-MM-DDTHH:MM:SS.ffffffZ`, the salt in hex). It is what `riskapi receipt verify RECEIPT.json --record
    RECORD.json` checks against the commitments of a receipt: that these answers and this result are what was
    decided.

    It holds the answers and the salts that keep the receipt's commitments unguessable, so it needs operation
    `read_answers` (roles assessor and supervisor), which guards the answers everywhere else, rather than
    `read_assessments` alone: an auditor may check a receipt but not read the record. Keep it with the case file,
    never with the receipt you hand on. Audited as `assessment.read_record`.

    409 `/problems/receipt-unavailable` for rows stored before receipts existed (no salt).
    """
    return assessments.assessment_record(session, caller, assessment_id)
