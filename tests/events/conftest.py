"""Fixtures of the events tests: shipped content seeded, and the outbox read straight from the database."""

from __future__ import annotations

import json
import re
from pathlib import Path
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


EVENTS_DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def documented_envelopes() -> dict[str, dict[str, Any]]:
    """The example envelope of each event type in docs/events.md, by type."""
    found: dict[str, dict[str, Any]] = {}
    for block in re.findall(r"```json\n(.*?)```", EVENTS_DOC.read_text(encoding="utf-8"), re.DOTALL):
        try:
            example = json.loads(block)
        except ValueError:
            continue
        if isinstance(example, dict) and {"type", "sequence", "data"} <= example.keys():
            found[example["type"]] = example
    return found


def shape(value: Any) -> Any:
    """A JSON value's shape: its objects' keys, all the way down, and the type of every other value."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    return type(value).__name__
