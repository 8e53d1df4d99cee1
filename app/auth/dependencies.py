"""Route dependencies: every route declares exactly one access policy (Authorize or Public)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.dependencies.models import Dependant
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from app.auth import service
from app.auth.caller import Caller
from app.auth.permissions import CASE_DATA_OPERATIONS, Operation, allowed, granting_roles
from app.core.config import Settings
from app.core.errors import BadRequest, Forbidden, Unauthenticated
from app.core.ratelimit import RateLimiter, failure_counter_id, source_address

bearer_scheme = HTTPBearer(auto_error=False, description="An API key issued by `riskapi` (shown once on creation)")


class Authorize:
    """Authenticates the key, checks that one of its roles grants `operation`, and applies the rate limit."""

    def __init__(self, operation: Operation) -> None:
        self.operation = operation
        self.case_data = operation in CASE_DATA_OPERATIONS

    async def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
        x_acting_user: Annotated[
            str | None,
            Header(
                description="Opaque id of the professional on whose behalf the system calls (1-256 characters);"
                " required on case-data routes"
            ),
        ] = None,
    ) -> Caller:
        header = (
            f"{credentials.scheme} {credentials.credentials}" if credentials else request.headers.get("authorization")
        )
        caller = await _authenticate(request, header)
        if x_acting_user is not None and not 1 <= len(x_acting_user) <= 256:
            raise BadRequest("X-Acting-User must be 1-256 characters")
        caller = Caller(
            organisation_id=caller.organisation_id,
            client_id=caller.client_id,
            key_id=caller.key_id,
            roles=caller.roles,
            acting_user=x_acting_user,
        )
        request.state.caller = caller
        await _limit(request.app.state.rate_limiter.check, request.app.state.rate_limiter, caller.client_id)
        if not allowed(caller.roles, self.operation):
            raise _forbidden(self.operation)
        if self.case_data and x_acting_user is None:
            raise BadRequest("X-Acting-User header is required for case data")
        return caller


def _forbidden(operation: Operation) -> Forbidden:
    roles = ", ".join(granting_roles(operation))
    return Forbidden(f"This operation needs one of the roles: {roles} (operation '{operation.value}')")


class AuthorizeWhen:
    """A further operation a route needs only for some requests (`when`, e.g. `` `include=answers` ``), on top of
    the operation its Authorize policy names. The dependency that reads the condition depends on this marker (so
    the route declares it, and app/auth/openapi.py and docs/roles.md name it) and calls `require` with the
    route's caller when the condition holds: the same 403 as Authorize, naming this operation."""

    def __init__(self, operation: Operation, when: str) -> None:
        self.operation = operation
        self.when = when

    def __call__(self) -> AuthorizeWhen:
        return self

    def require(self, caller: Caller) -> None:
        if not allowed(caller.roles, self.operation):
            raise _forbidden(self.operation)


async def _authenticate(request: Request, header: str | None) -> Caller:
    """The key's caller. Failed authentications count against the source address; once an address has used up
    RISKAPI_AUTH_FAILURES_PER_MINUTE, its keys are refused (429) before any lookup (ADR 0006)."""
    failures: RateLimiter = request.app.state.auth_failure_limiter
    settings: Settings = request.app.state.settings
    source = failure_counter_id(
        source_address(
            request.client.host if request.client else None,
            request.headers.getlist("x-forwarded-for"),
            settings.trusted_proxies,
        )
    )
    try:
        # Async on purpose: a cached key costs no threadpool hop and no connection; a miss is looked up in its own
        # short transaction, so no connection is held while the request waits for its handler's thread (ADR 0007).
        digest = service.presented_digest(header, settings.secret_key)
        caller = service.cached_caller(digest)
        if caller is not None:
            return caller
        await _limit(failures.refuse_if_exhausted, failures, source)
        return await run_in_threadpool(service.authenticate_in_own_transaction, request.app.state.sessionmaker, digest)
    except Unauthenticated:
        await _limit(failures.check, failures, source)
        raise


async def _limit(step: Callable[[str], None], limiter: RateLimiter, counter_id: str) -> None:
    if limiter.blocking:
        await run_in_threadpool(step, counter_id)
    else:
        step(counter_id)


class Public:
    """Explicit marker for routes that need no key (health, metrics, problem types)."""

    def __call__(self) -> None:
        return None


PUBLIC = Depends(Public())


def route_policy(dependant: Dependant) -> Authorize | Public | None:
    """The access policy a route declares, found anywhere in its dependency tree (None if it declares none)."""
    for sub in dependant.dependencies:
        if isinstance(sub.call, Authorize | Public):
            return sub.call
        found = route_policy(sub)
        if found is not None:
            return found
    return None


def conditional_policies(dependant: Dependant) -> list[AuthorizeWhen]:
    """The further operations a route declares for some of its requests, anywhere in its dependency tree."""
    found: list[AuthorizeWhen] = []
    for sub in dependant.dependencies:
        if isinstance(sub.call, AuthorizeWhen) and sub.call not in found:
            found.append(sub.call)
        found += [policy for policy in conditional_policies(sub) if policy not in found]
    return found


AdminCaller = Annotated[Caller, Depends(Authorize(Operation.manage_keys))]
