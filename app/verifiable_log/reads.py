"""The verifiable log as the API's callers read it: checkpoints and proofs of the caller's organisation, each read
recorded in its audit chain in the request's transaction. Reads never sign (the worker does), so a read cannot
make a checkpoint appear for a size nobody signed."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.audit.chain import digest
from app.auth.caller import Caller
from app.core.conditional import none_match_holds
from app.core.errors import FieldError, LogStorageDamaged, ValidationFailed
from app.verifiable_log import merkle, service
from app.verifiable_log.checkpoint import CheckpointError, parse_checkpoint
from app.verifiable_log.models import AuditCheckpoint
from app.verifiable_log.note import b64encode
from app.verifiable_log.schemas import CheckpointRead, ConsistencyProofRead, InclusionProofRead

log = structlog.get_logger("riskapi.verifiable_log")

CHECKPOINT_READ = "audit.checkpoint_read"
PROOF_READ = "audit.proof_read"
RESOURCE_TYPE = "checkpoint"


@dataclass(frozen=True)
class ShownCheckpoint:
    """A checkpoint as returned, and its digest (its read's audit event's `digest`; quoted, its ETag)."""

    model: CheckpointRead
    digest: str

    @property
    def etag(self) -> str:
        return f'"{self.digest}"'


def latest_checkpoint(session: Session, caller: Caller) -> ShownCheckpoint:
    """The organisation's latest signed checkpoint (NotFound before the first)."""
    shown = _shown(service.latest_checkpoint(session, caller.organisation_id))
    _record_checkpoint_read(session, caller, shown, latest=True, status=200)
    return shown


def checkpoint_at(
    session: Session, caller: Caller, tree_size: int, *, if_none_match: str | None = None
) -> tuple[ShownCheckpoint, bool]:
    """The checkpoint signed at exactly `tree_size` (NotFound otherwise), and whether the caller's If-None-Match
    already holds it (the route then answers 304; the read is audited with that status)."""
    shown = _shown(service.checkpoint_at(session, caller.organisation_id, tree_size))
    not_modified = none_match_holds(shown.etag, if_none_match)
    _record_checkpoint_read(session, caller, shown, latest=False, status=304 if not_modified else 200)
    return shown, not_modified


def inclusion_proof(session: Session, caller: Caller, sequence: int, tree_size: int) -> InclusionProofRead:
    """The proof that event `sequence` is in the tree of the checkpoint signed at `tree_size`."""
    try:
        proof = service.inclusion_proof(session, caller.organisation_id, sequence, tree_size)
    except ValueError:
        detail = f"must be from 1 to tree_size ({tree_size})"
        raise ValidationFailed(
            f"sequence {sequence} is not in a tree of size {tree_size}",
            errors=[FieldError(pointer="/sequence", detail=detail, location="query")],
        ) from None
    except merkle.MissingNodesError as error:
        raise _storage_incomplete(caller, error) from None
    shown = InclusionProofRead(
        sequence=proof.sequence,
        leaf_index=proof.leaf_index,
        tree_size=proof.tree_size,
        leaf_hash=b64encode(proof.leaf_hash),
        hashes=[b64encode(h) for h in proof.hashes],
    )
    details = {"proof": "inclusion", "sequence": sequence, "tree_size": tree_size}
    _record_proof_read(session, caller, shown, str(tree_size), details)
    return shown


def consistency_proof(session: Session, caller: Caller, from_size: int, to_size: int) -> ConsistencyProofRead:
    """The proof that the tree of the checkpoint at `from_size` is a prefix of the one at `to_size`."""
    if from_size > to_size:
        detail = f"must be at most to ({to_size})"
        raise ValidationFailed(
            f"from ({from_size}) is larger than to ({to_size})",
            errors=[FieldError(pointer="/from", detail=detail, location="query")],
        )
    try:
        proof = service.consistency_proof(session, caller.organisation_id, from_size, to_size)
    except merkle.MissingNodesError as error:
        raise _storage_incomplete(caller, error) from None
    shown = ConsistencyProofRead(
        from_size=proof.from_size, to_size=proof.to_size, hashes=[b64encode(h) for h in proof.hashes]
    )
    details = {"proof": "consistency", "from_size": from_size, "to_size": to_size}
    _record_proof_read(session, caller, shown, str(to_size), details)
    return shown


def _shown(row: AuditCheckpoint) -> ShownCheckpoint:
    # The origin is read from the signed body, not recomputed: the slug or the prefix may have changed since.
    body, _, _ = row.note.partition("\n\n")
    try:
        origin = parse_checkpoint(body + "\n").origin
    except CheckpointError:
        log.error("verifiable_log.checkpoint_unreadable", organisation_id=row.organisation_id, size=row.tree_size)
        raise LogStorageDamaged(
            f"The checkpoint stored at tree size {row.tree_size} cannot be read; run `riskapi audit verify`"
        ) from None
    model = CheckpointRead(
        origin=origin,
        tree_size=row.tree_size,
        root_hash=b64encode(row.root_hash),
        signed_at=row.signed_at,
        note=row.note,
    )
    return ShownCheckpoint(model, digest(model.model_dump(mode="json")))


def _record_checkpoint_read(
    session: Session, caller: Caller, shown: ShownCheckpoint, *, latest: bool, status: int
) -> None:
    audit.record(
        session,
        caller=caller,
        action=CHECKPOINT_READ,
        resource_type=RESOURCE_TYPE,
        resource_id=str(shown.model.tree_size),
        details={"tree_size": shown.model.tree_size, "latest": latest},
        response_digest=shown.digest,
        status=status,
    )


def _record_proof_read(
    session: Session,
    caller: Caller,
    shown: InclusionProofRead | ConsistencyProofRead,
    resource_id: str,
    details: dict[str, object],
) -> None:
    audit.record(
        session,
        caller=caller,
        action=PROOF_READ,
        resource_type=RESOURCE_TYPE,
        resource_id=resource_id,
        details=details,
        digest_of=shown.model_dump(mode="json"),
    )


def _storage_incomplete(caller: Caller, error: merkle.MissingNodesError) -> LogStorageDamaged:
    log.error("verifiable_log.nodes_missing", organisation_id=caller.organisation_id, missing=len(error.keys))
    count = len(error.keys)
    return LogStorageDamaged(
        f"The stored tree lacks {count} subtree hash{'es' if count != 1 else ''} this proof needs; "
        "run `riskapi audit verify`"
    )
