"""Router dependency for case-data routers: refused requests (401 with a known key, 403, 404) are audited.

It is a function-scoped yield dependency declared on the router, so it is entered before the session
dependency and exits after it: by the time it sees the error, the request's transaction has rolled back
and released its connection, and the problem response has not been sent yet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog
from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from app.audit.service import record_refusal
from app.auth.caller import Caller
from app.auth.service import KeyRefused
from app.core.errors import problem_of

log = structlog.get_logger("riskapi.audit")

REFUSALS = frozenset({401, 403, 404})


async def _audit_refusals(request: Request) -> AsyncIterator[None]:
    try:
        yield
    except Exception as exc:
        problem = await problem_of(request, exc)
        if problem is not None and problem.status_code in REFUSALS:
            try:
                await run_in_threadpool(_record_refusal, request, exc, problem.status_code)
            except Exception as failure:  # the refusal itself must still reach the client
                log.error("refusal_audit_failed", error_class=type(failure).__name__, status=problem.status_code)
        raise


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
