"""Who is calling: the organisation, client, key and roles an authenticated request acts with."""

from __future__ import annotations

from dataclasses import dataclass

from app.auth.permissions import Role


@dataclass(frozen=True)
class Caller:
    organisation_id: str
    client_id: str
    key_id: str
    roles: frozenset[Role]
    acting_user: str | None = None
