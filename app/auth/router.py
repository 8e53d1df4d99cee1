"""Admin HTTP endpoints for the organisation's client keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from app.auth import service
from app.auth.dependencies import AdminCaller
from app.auth.schemas import ClientCreate, ClientList, ClientRead, IssuedKey, KeyRead, KeyRotate
from app.core.config import SettingsDep
from app.core.db import SessionDep
from app.core.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    Unauthenticated,
    ValidationFailed,
    problem_responses,
)
from app.core.pagination import DEFAULT_PAGE_SIZE, CursorQuery, LimitQuery

router = APIRouter(prefix="/v1/clients", tags=["clients"])
COMMON = problem_responses(BadRequest, Unauthenticated, Forbidden, ValidationFailed)
ClientId = Annotated[str, Path(description="The client's id (a UUID), as `id` in the client list.")]
KeyId = Annotated[str, Path(description="The key's id (a UUID), as `id` in the client's `keys`.")]


@router.post("", status_code=status.HTTP_201_CREATED, responses=COMMON)
def create_client(body: ClientCreate, caller: AdminCaller, session: SessionDep, settings: SettingsDep) -> IssuedKey:
    """Create an API client with roles and issue its first key (shown once)."""
    return service.create_client(
        session,
        caller.organisation_id,
        body.name,
        body.roles,
        body.expires_at,
        secret_key=settings.secret_key,
        actor=caller,
    )


@router.get("", responses=COMMON)
def list_clients(
    caller: AdminCaller, session: SessionDep, cursor: CursorQuery = None, limit: LimitQuery = DEFAULT_PAGE_SIZE
) -> ClientList:
    """List the organisation's clients and their keys, with when each key was last used; oldest first."""
    return service.list_clients(session, caller.organisation_id, cursor=cursor, limit=limit)


@router.post(
    "/{client_id}/rotate",
    status_code=status.HTTP_201_CREATED,
    responses={**COMMON, **problem_responses(NotFound, Conflict)},
)
def rotate_key(
    client_id: ClientId, caller: AdminCaller, session: SessionDep, settings: SettingsDep, body: KeyRotate | None = None
) -> IssuedKey:
    """Issue a new key; the client's older keys stay valid for a grace period, then expire."""
    body = body or KeyRotate()
    return service.rotate_key(
        session,
        caller.organisation_id,
        client_id,
        settings.key_rotation_grace_hours if body.grace_hours is None else body.grace_hours,
        body.expires_at,
        secret_key=settings.secret_key,
        actor=caller,
    )


@router.post("/{client_id}/revoke", responses={**COMMON, **problem_responses(NotFound, Conflict)})
def revoke_client(client_id: ClientId, caller: AdminCaller, session: SessionDep) -> ClientRead:
    """Revoke a client and every key it holds, at once."""
    return service.revoke_client(session, caller.organisation_id, client_id, actor=caller)


@router.post("/{client_id}/keys/{key_id}/revoke", responses={**COMMON, **problem_responses(NotFound)})
def revoke_key(client_id: ClientId, key_id: KeyId, caller: AdminCaller, session: SessionDep) -> KeyRead:
    """Revoke one key of a client."""
    return service.revoke_key(session, caller.organisation_id, client_id, key_id, actor=caller)
