"""`POST /v1/assessments` served by one hand-written handler instead of FastAPI's per-request dependency solving.

The create route is what case management systems call all day. FastAPI re-walks a route's dependency tree on
every request (cache keys, scopes, parameter extraction): for this route's five dependencies that was about 40 %
of the request's CPU (ADR 0001, round 3). `CreateAssessmentRoute` keeps the endpoint's signature, so
OpenAPI documents exactly the same body, headers, query parameter and security as before; only the handler that
serves requests is replaced by `handle`, which runs the same steps in the same order as the dependencies would:

1. refusals audited and client errors stored under the Idempotency-Key (`AuditRefusals`);
2. authentication, role and rate limit (`Writer`);
3. `explain`;
4. the Idempotency-Key, fingerprinted from the raw body (`IdempotencyDep`);
5. the body, validated by the route's own body field (the same 422 as FastAPI's);
6. the create, awaited on PostgreSQL's asyncio pool, so the event loop serves other requests meanwhile with no
   thread handoff (usually one autocommit statement on the psycopg connection:
   `service.create_directly_on_postgres`); on SQLite, whose single connection per process would block the loop,
   in one threadpool hop, usually on the DBAPI cursor (`service.create_directly_on_sqlite`). Otherwise both run
   the same synchronous storage code (`AsyncSession.run_sync` on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State

from app.assessments import service
from app.assessments.dependencies import WRITE, idempotency_for
from app.assessments.responses import json_response
from app.assessments.schemas import AssessmentCreate
from app.audit.routing import refusals_audited
from app.auth.caller import Caller
from app.auth.dependencies import bearer_scheme
from app.core.json_guard import CHECKED_DOCUMENT_KEY, CheckedDocument

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class CreateAssessmentRoute(APIRoute):
    def get_route_handler(self) -> Handler:
        assert self.body_field is not None
        body_field = self.body_field

        async def handle(request: Request) -> Response:
            async with refusals_audited(request):
                caller = await WRITE(request, await bearer_scheme(request), request.headers.get("x-acting-user"))
                explain = service.parse_explain(request.query_params.get("explain"))
                idempotency = await idempotency_for(request, caller, request.headers.get("idempotency-key"))
                body, errors = body_field.validate(await _body(request), {}, loc=("body",))
                if errors:
                    raise RequestValidationError(errors, body=body)
                state = request.app.state
                if state.async_engine is not None:
                    rendered = await service.create_directly_on_postgres(
                        state.async_engine, caller, body, explain, idempotency
                    )
                    if rendered is None:
                        async with state.async_sessionmaker() as session:
                            rendered = await session.run_sync(_create_and_commit, caller, body, explain, idempotency)
                else:
                    rendered = await run_in_threadpool(_create_on_sqlite, state, caller, body, explain, idempotency)
            return json_response(rendered)

        return handle


async def _body(request: Request) -> Any:
    """The JSON document the middleware's guard parsed and checked (the route never reads the body again); a
    body of another media type reaches validation as bytes and is refused there, as on FastAPI's routes."""
    checked: CheckedDocument | None = request.scope.get(CHECKED_DOCUMENT_KEY)
    if checked is None:
        missing = {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}
        raise RequestValidationError([missing])
    if checked.is_json:
        return checked.document
    return await request.body()


def _create_and_commit(
    session: Session,
    caller: Caller,
    body: AssessmentCreate,
    explain: frozenset[str],
    idempotency: service.Idempotency | None,
) -> service.Rendered:
    rendered = service.create_assessment(session, caller, body, explain=explain, idempotency=idempotency)
    session.commit()
    return rendered


def _create_on_sqlite(
    state: State,
    caller: Caller,
    body: AssessmentCreate,
    explain: frozenset[str],
    idempotency: service.Idempotency | None,
) -> service.Rendered:
    timeout = state.settings.db_timeout_seconds
    rendered = service.create_directly_on_sqlite(state.engine, timeout, caller, body, explain, idempotency)
    if rendered is not None:
        return rendered
    with state.sessionmaker() as session:
        return _create_and_commit(session, caller, body, explain, idempotency)
