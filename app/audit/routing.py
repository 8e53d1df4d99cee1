"""Router dependency for case-data routers: refused requests (401 with a known key, 403, 404) are audited,
and work that must follow the request's rollback (a stored client-error idempotency response) runs then.

It is a function-scoped yield dependency declared on the router, so it is entered before the session
dependency and exits after it: by the time it sees the error, the request's transaction has rolled back
and released its connection, and the problem response has not been sent yet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import structlog
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool

from app.audit.service import record_refusal
from app.auth.caller import Caller
from app.auth.service import KeyRefused
from app.core.errors import ProblemError, render

log = structlog.get_logger("riskapi.audit")

REFUSALS = frozenset({401, 403, 404})


class AfterRollback(Protocol):
    """Set on `request.state.after_rollback` by a route; called with the problem it ended with, rendered."""

    def __call__(self, request: Request, problem: Exception, status: int, body: bytes) -> None: ...


async def _audit_refusals(request: Request) -> AsyncIterator[None]:
    async with refusals_audited(request):
        yield


@asynccontextmanager
async def refusals_audited(request: Request) -> AsyncIterator[None]:
    """What `AuditRefusals` does, for a route that serves itself (app/assessments/create_route.py)."""
    try:
        yield
    except ProblemError as exc:
        await _after_failure(request, exc, exc.status, bytes(render(exc, request.url.path).body))
        raise
    except RequestValidationError as exc:
        handler: Any = request.app.exception_handlers.get(RequestValidationError)
        if handler is not None:
            response = await handler(request, exc)
            await _after_failure(request, exc, response.status_code, bytes(response.body))
        raise


async def _after_failure(request: Request, problem: Exception, status: int, body: bytes) -> None:
    try:
        after = getattr(request.state, "after_rollback", None)
        if after is not None:
            await run_in_threadpool(after, request, problem, status, body)
        if status in REFUSALS:
            await run_in_threadpool(_record_refusal, request, problem, status)
    except Exception as exc:  # the refusal itself must still reach the client
        log.error("after_failure_hook_failed", error_class=type(exc).__name__, status=status)


def _record_refusal(request: Request, problem: Exception, status: int) -> None:
    caller = getattr(request.state, "caller", None)
    if isinstance(problem, KeyRefused):
        organisation_id, client_id = problem.organisation_id, problem.client_id
    elif isinstance(caller, Caller):
        organisation_id, client_id = caller.organisation_id, caller.client_id
    else:
        return  # no resolvable organisation: logged and counted by the authenticator, not chained
    acting_user = request.headers.get("x-acting-user")
    route = request.scope.get("route")
    name = str(getattr(route, "name", "unknown"))
    resource_id = next((str(v) for k, v in request.path_params.items() if k.endswith("_id")), None)
    record_refusal(
        request.app.state.sessionmaker,
        organisation_id=organisation_id,
        client_id=client_id,
        acting_user=acting_user[:256] if acting_user else None,
        action=f"refused.{name}",
        resource_type="audit" if "audit" in name else "assessment",
        resource_id=resource_id[:64] if resource_id else None,
        status=status,
    )


AuditRefusals = Depends(_audit_refusals, scope="function")
