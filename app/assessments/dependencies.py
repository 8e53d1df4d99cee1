"""Route dependencies of the assessments API."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request

from app.assessments import service
from app.audit.chain import canonical_bytes
from app.auth.caller import Caller
from app.auth.dependencies import Authorize
from app.auth.permissions import Operation
from app.core.config import Settings
from app.core.errors import BadRequest
from app.core.json_guard import CHECKED_DOCUMENT_KEY, CheckedDocument
from app.core.seams import StateReadSeam

STORED_ERROR_STATUSES = frozenset({400, 404, 422})

# One instance per operation, so a route and its dependencies share one authenticated caller.
WRITE = Authorize(Operation.write_assessments)
Writer = Annotated[Caller, Depends(WRITE)]
Reader = Annotated[Caller, Depends(Authorize(Operation.read_assessments))]
Supervisor = Annotated[Caller, Depends(Authorize(Operation.supervise_assessments))]


async def _explain(
    explain: Annotated[
        str | None,
        Query(
            description="Comma-separated extras: `trace` (every rule that fired, with the answers it read) and "
            "`counterfactuals` (the smallest answer changes that would change the level)",
            examples=["trace,counterfactuals"],
        ),
    ] = None,
) -> frozenset[str]:
    return service.parse_explain(explain)


ExplainDep = Annotated[frozenset[str], Depends(_explain)]


async def _idempotency(
    request: Request,
    caller: Writer,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Optional, per client: a retry with the same key and body replays the first completed "
            "response (kept at least 24 hours); the same key with another body is a 422; a retry while the first "
            "is still running is a 409 with Retry-After.",
        ),
    ] = None,
) -> service.Idempotency | None:
    return await idempotency_for(request, caller, idempotency_key)


async def idempotency_for(request: Request, caller: Caller, idempotency_key: str | None) -> service.Idempotency | None:
    """The request's Idempotency-Key, fingerprinted from the raw body, with the hook that stores a client error."""
    if idempotency_key is None:
        return None
    if not 1 <= len(idempotency_key) <= 255:
        raise BadRequest("Idempotency-Key must be 1-255 characters")
    checked: CheckedDocument | None = request.scope.get(CHECKED_DOCUMENT_KEY)  # from the middleware's guard
    body: Any = None  # no body: validation refuses the request
    if checked is not None and checked.is_json:
        body = checked.document
    elif checked is not None:  # another media type: validation refuses it; its text tells the requests apart
        body = (await request.body()).decode("utf-8", "replace")
    try:
        canonical = canonical_bytes(body, floats=checked is None or checked.floats)
    except ValueError:
        canonical = json.dumps(body, sort_keys=True).encode()
    idempotency = service.Idempotency(
        client_id=caller.client_id,
        organisation_id=caller.organisation_id,
        key=idempotency_key,
        fingerprint=hashlib.sha256(canonical).hexdigest(),
    )

    def store_client_error(request: Request, problem: Exception, status: int, problem_body: bytes) -> None:
        if status not in STORED_ERROR_STATUSES or isinstance(problem, service.IdempotencyKeyReused):
            return
        service.store_idempotent_error(request.app.state.sessionmaker, idempotency, status, problem_body)

    request.state.after_rollback = store_client_error
    return idempotency


IdempotencyDep = Annotated[service.Idempotency | None, Depends(_idempotency)]


async def _state_read_seam(request: Request) -> StateReadSeam | None:
    settings: Settings = request.app.state.settings
    return settings.state_read_seam


StateReadSeamDep = Annotated[StateReadSeam | None, Depends(_state_read_seam)]
"""The app's `Settings.state_read_seam` (app/core/seams.py), for the routes that change an assessment's state."""
