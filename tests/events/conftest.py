"""Fixtures of the events tests: shipped content seeded, and the outbox read straight from the database."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.auth.permissions import Role
from app.events.models import Event
from app.rulesets.seed import seed_default_content
from tests.conftest import Tenant

POLLER = "case-system-poller"


@pytest.fixture(autouse=True)
def seeded(app: FastAPI) -> None:
    with app.state.sessionmaker.begin() as session:
        seed_default_content(session)


def stored_events(app: FastAPI, organisation_id: str) -> list[Event]:
    """The organisation's outbox rows, in sequence order."""
    with app.state.sessionmaker() as session:
        return list(
            session.scalars(select(Event).where(Event.organisation_id == organisation_id).order_by(Event.sequence))
        )


async def feed(client: httpx.AsyncClient, tenant: Tenant, role: Role = Role.auditor, **params: Any) -> httpx.Response:
    return await client.get("/v1/events", params=params, headers=tenant.headers(role, acting_user=POLLER))
