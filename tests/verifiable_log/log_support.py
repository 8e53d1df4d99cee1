"""Shared by the verifiable log's tests: an app that signs checkpoints with a test key, audit events written directly,
the worker's step (extend the tree, sign) run in place, readers of the published keys, and `audit verify` read
through the API."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import httpx
from fastapi import FastAPI

from app.audit import service as audit
from app.auth.permissions import Role
from app.core.config import Settings
from app.core.db import utcnow
from app.verifiable_log import merkle, service
from app.verifiable_log.checkpoint import OpenedCheckpoint, open_checkpoint
from app.verifiable_log.keys import verifiers_of
from app.verifiable_log.models import AuditCheckpoint
from app.verifiable_log.note import generate_signer
from app.verifiable_log.schemas import LogKeysDocument
from app.verifiable_log.service import Extended
from tests.conftest import Tenant, make_settings

# One key for the whole run: generating one is cheap, but a fixed pair keeps failures reproducible within a run.
SIGNER_KEY, VERIFIER_KEY = generate_signer("riskapi-test")


def signing_settings(database_url: str, **overrides: object) -> Settings:
    return make_settings(database_url, log_signing_key=SIGNER_KEY, **overrides)


def advance(app: FastAPI, organisation_id: str) -> int:
    """`worker_step` on an unbroken chain: the tree's size."""
    extended, _ = worker_step(app, organisation_id)
    assert extended.broken_at is None, extended
    return extended.size


def leaf_hashes(app: FastAPI, organisation_id: str, size: int) -> list[bytes]:
    """The leaves of the organisation's first `size` events, computed from the audit chain as a verifier would."""
    with app.state.sessionmaker() as session:
        events = audit.chained_events(session, organisation_id, 0, size)
    assert [e.sequence for e in events] == list(range(1, size + 1))
    return [merkle.leaf_hash(merkle.audit_entry(e.sequence, e.prev_hash, e.hash, e.body)) for e in events]


async def keys_document(client: httpx.AsyncClient) -> LogKeysDocument:
    response = await client.get("/v1/audit/keys")
    assert response.status_code == 200, response.text
    return LogKeysDocument.model_validate(response.json())


async def opened(client: httpx.AsyncClient, checkpoint: dict[str, Any], slug: str) -> OpenedCheckpoint:
    """The checkpoint's note opened with the published keys and the organisation's origin (raises if it fails)."""
    document = await keys_document(client)
    return open_checkpoint(checkpoint["note"], verifiers_of(document), origin=f"{document.origin_prefix}/{slug}")


def b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def add_events(app: FastAPI, organisation_id: str, count: int) -> None:
    """`count` audit events appended to the organisation's chain, as a background process records them."""
    with app.state.sessionmaker.begin() as session:
        for _ in range(count):
            audit.record_system(
                session, organisation_id=organisation_id, acting_user="test", action="test.event", resource_type="test"
            )


def worker_step(app: FastAPI, organisation_id: str, now: datetime | None = None) -> tuple[Extended, int | None]:
    """What a worker round does for one organisation; the size of the checkpoint signed, if one was."""
    with app.state.sessionmaker.begin() as session:
        extended, checkpoint = service.advance(session, organisation_id, app.state.log_keys, now or utcnow())
        return extended, None if checkpoint is None else checkpoint.tree_size


def latest_checkpoint(app: FastAPI, organisation_id: str) -> AuditCheckpoint:
    with app.state.sessionmaker() as session:
        return service.latest_checkpoint(session, organisation_id)


async def verify(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, object]:
    response = await client.get("/v1/audit/verify", headers=tenant.headers(Role.auditor))
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def log_problems(result: dict[str, object]) -> list[str]:
    """Each verifiable log problem as `where: problem`."""
    problems = result["log_problems"]
    assert isinstance(problems, list)
    return [f"{p['where']}: {p['problem']}" for p in problems]
