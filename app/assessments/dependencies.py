"""Route dependencies of the assessments API."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request
from starlette.concurrency import run_in_threadpool

from app.assessments import service
from app.audit.chain import canonical_bytes
from app.auth.caller import Caller
from app.auth.dependencies import Authorize
from app.auth.permissions import Operation
from app.core.config import SettingsDep
from app.core.errors import BadRequest, problem_of
from app.core.json_guard import CHECKED_DOCUMENT_KEY, CheckedDocument
from app.core.seams import StateReadSeam

STORED_ERROR_STATUSES = frozenset({400, 404, 422})

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


async def _idempotency(
    request: Request,
    caller: Writer,
    settings: SettingsDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Optional, per client: a retry with the same key and body replays the first completed "
            "response (kept at least 24 hours); the same key with another body is a 422; a retry while the first "
            "is still running is a 409 with Retry-After.",
        ),
    ] = None,
) -> AsyncIterator[service.Idempotency | None]:
    """The request's Idempotency-Key, fingerprinted from the raw body. A client error the request ends with (400,
    404, 422) is stored as the key's response once the request's transaction has rolled back: this dependency is
    entered before the route's session, so it leaves after it."""
    if idempotency_key is None:
        yield None
        return
    if not 1 <= len(idempotency_key) <= 255:
        raise BadRequest("Idempotency-Key must be 1-255 characters")
    idempotency = service.Idempotency(
        client_id=caller.client_id,
        organisation_id=caller.organisation_id,
        key=idempotency_key,
        fingerprint=await _fingerprint(request),
        retention=timedelta(hours=settings.idempotency_retention_hours),
    )
    try:
        yield idempotency
    except (service.IdempotencyKeyReused, service.IdempotencyInFlight):
        raise
    except Exception as exc:
        problem = await problem_of(request, exc)
        if problem is not None and problem.status_code in STORED_ERROR_STATUSES:
            body = bytes(problem.body)
            factory = request.app.state.sessionmaker
            await run_in_threadpool(service.store_idempotent_error, factory, idempotency, problem.status_code, body)
        raise


async def _fingerprint(request: Request) -> str:
    """SHA-256 of the canonical form of the body the middleware's guard parsed and checked."""
    checked: CheckedDocument | None = request.scope.get(CHECKED_DOCUMENT_KEY)
    body: Any = None  # no body: validation refuses the request
    if checked is not None and checked.is_json:
        body = checked.document
    elif checked is not None:  # another media type: validation refuses it; its text tells the requests apart
        body = (await request.body()).decode("utf-8", "replace")
    try:
        canonical = canonical_bytes(body, floats=checked is None or checked.floats)
    except ValueError:
        canonical = json.dumps(body, sort_keys=True).encode()
    return hashlib.sha256(canonical).hexdigest()


IdempotencyDep = Annotated[service.Idempotency | None, Depends(_idempotency, scope="function")]


async def _state_read_seam(settings: SettingsDep) -> StateReadSeam | None:
    return settings.state_read_seam


StateReadSeamDep = Annotated[StateReadSeam | None, Depends(_state_read_seam)]
"""The app's `Settings.state_read_seam` (app/core/seams.py), for the routes that change an assessment's state."""
