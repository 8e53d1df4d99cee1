"""HTTP endpoints of the verifiable log: the public keys document, signed checkpoints and the inclusion and
consistency proofs between them (docs/verifiable-log.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status

from app.audit.routing import AuditRefusals
from app.auth.caller import Caller
from app.auth.dependencies import PUBLIC, Authorize
from app.auth.permissions import Operation
from app.core.db import SessionDep
from app.core.errors import (
    BadRequest,
    Forbidden,
    LogStorageDamaged,
    NotFound,
    Unauthenticated,
    ValidationFailed,
    problem_responses,
)
from app.verifiable_log import reads
from app.verifiable_log.keys import LogKeys
from app.verifiable_log.schemas import CheckpointRead, ConsistencyProofRead, InclusionProofRead, LogKeysDocument

router = APIRouter(prefix="/v1/audit", tags=["verifiable log"], dependencies=[AuditRefusals])
CheckpointReader = Annotated[Caller, Depends(Authorize(Operation.read_checkpoints))]

# Tree sizes and sequences are 64-bit in the database; anything larger is refused before it reaches a query.
MAX_BIGINT = 2**63 - 1
COMMON = problem_responses(BadRequest, Unauthenticated, Forbidden, ValidationFailed)
ONE = {**COMMON, **problem_responses(NotFound, LogStorageDamaged)}
# A checkpoint signed at a size never changes, so its ETag never does: a monitor may keep it and revalidate. (Every
# /v1 response is `Cache-Control: no-store`, app/core/security_headers.py: keeping it is the client's own choice.)
ETAG_HEADER = {"ETag": {"description": "The checkpoint's tag (it never changes).", "schema": {"type": "string"}}}

TreeSize = Annotated[
    int,
    Path(ge=1, le=MAX_BIGINT, description="The tree size a checkpoint was signed at.", examples=[7]),
]


@router.get("/keys", dependencies=[PUBLIC])
def get_audit_log_keys(request: Request) -> LogKeysDocument:
    """The public keys that sign this deployment's checkpoints, as the document `riskapi audit monitor --keys`
    reads as is.

    Pin it: fetch it once over a channel you trust, keep the file, and verify every checkpoint against the keys
    you kept, never against keys fetched again later: a compromised server could serve keys of its own. A rotation
    adds a new `signing` key and keeps the old one as `retired`, so checkpoints signed earlier still verify; update
    your pinned copy when the deployment announces a rotation. Each organisation's checkpoints name the origin
    `<origin_prefix>/<organisation slug>`: check it too, as one key signs every organisation's log."""
    keys: LogKeys = request.app.state.log_keys
    return keys.document()


@router.get("/checkpoint", responses=ONE)
def get_audit_checkpoint(caller: CheckpointReader, session: SessionDep) -> CheckpointRead:
    """The latest signed checkpoint of your organisation's log (404 before the first is signed).

    The worker signs one at most every `RISKAPI_CHECKPOINT_SECONDS` when the log grew; reading never signs. Open
    `note` with your pinned keys (GET /v1/audit/keys) and your origin; keep it, and ask for a consistency proof from
    it next time."""
    return reads.latest_checkpoint(session, caller).model


@router.get(
    "/checkpoints/{tree_size}",
    response_model=CheckpointRead,
    responses={
        **ONE,
        200: {"description": "The checkpoint signed at that size", "headers": ETAG_HEADER},
        304: {"description": "Not modified (If-None-Match)", "headers": ETAG_HEADER},
    },
)
def get_audit_checkpoint_at(
    tree_size: TreeSize,
    caller: CheckpointReader,
    session: SessionDep,
    response: Response,
    if_none_match: Annotated[
        str | None, Header(description="The ETag of an earlier read; a 304 without a body when it still matches.")
    ] = None,
) -> CheckpointRead | Response:
    """The checkpoint signed at exactly `tree_size` (404 if none was: checkpoints are never signed for a past
    size). It never changes: keep it, and revalidate with its ETag (If-None-Match) if you like."""
    shown, not_modified = reads.checkpoint_at(session, caller, tree_size, if_none_match=if_none_match)
    if not_modified:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": shown.etag})
    response.headers["ETag"] = shown.etag
    return shown.model


@router.get("/proofs/inclusion", responses=ONE)
def get_audit_inclusion_proof(
    caller: CheckpointReader,
    session: SessionDep,
    sequence: Annotated[
        int, Query(ge=1, le=MAX_BIGINT, description="The audit event's sequence number.", examples=[3])
    ],
    tree_size: Annotated[
        int,
        Query(ge=1, le=MAX_BIGINT, description="The tree size of a signed checkpoint (404 otherwise).", examples=[7]),
    ],
) -> InclusionProofRead:
    """The proof that audit event `sequence` is in the tree of the checkpoint signed at `tree_size` (RFC 9162
    inclusion proof): hashing `leaf_hash` up with `hashes` must give that checkpoint's root hash.

    404 when no checkpoint was signed at `tree_size`; 422 naming `sequence` when it is not from 1 to `tree_size`;
    409 `/problems/log-storage-damaged` when the stored tree lacks a hash the proof needs."""
    return reads.inclusion_proof(session, caller, sequence, tree_size)


@router.get("/proofs/consistency", responses=ONE)
def get_audit_consistency_proof(
    caller: CheckpointReader,
    session: SessionDep,
    from_size: Annotated[
        int,
        Query(
            alias="from",
            ge=1,
            le=MAX_BIGINT,
            description="The tree size of the older signed checkpoint (the one you kept).",
            examples=[4],
        ),
    ],
    to_size: Annotated[
        int,
        Query(
            alias="to",
            ge=1,
            le=MAX_BIGINT,
            description="The tree size of the newer signed checkpoint (e.g. the latest).",
            examples=[7],
        ),
    ],
) -> ConsistencyProofRead:
    """The proof that the tree of the checkpoint at `from` is a prefix of the one at `to` (RFC 9162 consistency
    proof): the log only grew between them, nothing before `from` was changed, removed or reordered.

    The response names the sizes `from_size` and `to_size`; `hashes` is empty when they are equal. 404 when either
    size has no signed checkpoint; 422 naming `from` when it is larger than `to`; 409
    `/problems/log-storage-damaged` when the stored tree lacks a hash the proof needs."""
    return reads.consistency_proof(session, caller, from_size, to_size)
