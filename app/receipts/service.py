"""Building a decision receipt: the audit events about one assessment row, each with its inclusion proof to one
signed checkpoint (signed now, in the request's transaction, when none covers the newest event yet)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.assessments import service as assessments
from app.audit import service as audit
from app.audit.chain import digest
from app.auth.caller import Caller
from app.core import errors
from app.receipts.schemas import Receipt, ReceiptEntry, ReceiptInclusion
from app.verifiable_log import merkle
from app.verifiable_log import service as log_service
from app.verifiable_log.checkpoint import parse_checkpoint
from app.verifiable_log.keys import LogKeys
from app.verifiable_log.models import AuditCheckpoint
from app.verifiable_log.note import b64encode

# The events a receipt carries: what created the row, then what was recorded about it later.
RECEIPT_ACTIONS = (
    "assessment.create",
    "assessment.amend",
    "assessment.override",
    "assessment.entered_in_error",
)


RECEIPT_READ = "assessment.receipt"


class ReceiptUnavailable(Exception):
    """No receipt can be made: `reason` says why (no commitments recorded, no event, no checkpoint possible)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _latest_covering(session: Session, organisation_id: str, sequence: int) -> AuditCheckpoint | None:
    try:
        latest = log_service.latest_checkpoint(session, organisation_id)
    except errors.NotFound:
        return None
    return latest if latest.tree_size >= sequence else None


def build_receipt(session: Session, organisation_id: str, assessment_id: str, keys: LogKeys, now: datetime) -> Receipt:
    """The receipt of the assessment row `assessment_id` (the caller has checked it exists, is the caller's and has
    a salt). Raises ReceiptUnavailable when its events carry no commitments or no checkpoint can cover them."""
    events = audit.chained_events_about(session, organisation_id, assessment_id, RECEIPT_ACTIONS)
    if not events or "commitments" not in (events[0].body.get("details") or {}):
        raise ReceiptUnavailable("the assessment's events carry no commitments (written before receipts existed)")
    checkpoint = log_service.checkpoint_covering(session, organisation_id, events[-1].sequence, keys, now)
    if checkpoint is None:
        # Another transaction (the worker, another receipt) may have signed one covering the events while this one
        # waited for the tree's lock: nothing was left to sign here, but that checkpoint, read now, covers them.
        checkpoint = _latest_covering(session, organisation_id, events[-1].sequence)
    if checkpoint is None:
        raise ReceiptUnavailable("no signed checkpoint can cover the assessment's events")
    entries = []
    for event in events:
        proof = log_service.inclusion_proof(session, organisation_id, event.sequence, checkpoint.tree_size)
        entries.append(
            ReceiptEntry(
                sequence=event.sequence,
                prev_hash=event.prev_hash,
                hash=event.hash,
                body=event.body,
                inclusion=ReceiptInclusion(leaf_index=proof.leaf_index, hashes=[b64encode(h) for h in proof.hashes]),
            )
        )
    body, _, _ = checkpoint.note.partition("\n\n")
    return Receipt(
        assessment_id=assessment_id,
        origin=parse_checkpoint(body + "\n").origin,
        tree_size=checkpoint.tree_size,
        root_hash=b64encode(checkpoint.root_hash),
        checkpoint=checkpoint.note,
        entries=entries,
    )


def assessment_receipt(session: Session, caller: Caller, assessment_id: str, keys: LogKeys, now: datetime) -> Receipt:
    """The receipt of the caller's assessment `assessment_id`, audited as `assessment.receipt` with its digest.
    NotFound for another organisation's or no assessment; 409 `/problems/receipt-unavailable` when it has no salt or
    no receipt can be built (the detail says why); 409 `/problems/log-storage-damaged` when the stored tree lacks
    nodes a proof needs. May sign a checkpoint in the caller's transaction (`build_receipt`)."""
    subject = assessments.receipt_subject(session, caller, assessment_id)
    try:
        receipt = build_receipt(session, caller.organisation_id, subject.id, keys, now)
    except ReceiptUnavailable as unavailable:
        raise errors.ReceiptUnavailable(f"No receipt for assessment {assessment_id}: {unavailable.reason}") from None
    except merkle.MissingNodesError as missing:
        raise errors.LogStorageDamaged(
            f"The stored tree lacks {len(missing.keys)} subtree hashes this receipt's proofs need; run "
            "`riskapi audit verify`"
        ) from None
    audit.record(
        session,
        caller=caller,
        action=RECEIPT_READ,
        resource_type=assessments.RESOURCE,
        resource_id=subject.id,
        subject_ref=subject.subject_ref,
        response_digest=digest(receipt.model_dump(mode="json")),
    )
    return receipt
