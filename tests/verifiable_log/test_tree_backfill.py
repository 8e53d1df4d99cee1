"""`riskapi audit backfill` on both databases: it builds the trees of events written before the tree existed (and
finishes a half-built one) in committed batches, signs a checkpoint, prints each organisation's size and time, adds
nothing on a second run, and stops at a broken chain naming the sequence."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from typer.testing import CliRunner, Result

from app.auth.permissions import Role
from app.cli import cli
from app.core.config import Settings, get_settings
from app.core.db import utcnow
from app.verifiable_log import merkle
from app.verifiable_log import service as log_service
from app.verifiable_log.models import AuditCheckpoint, MerkleTree
from tests.audit.test_tamper_evidence import bypassing_triggers
from tests.conftest import Tenant, make_settings, make_tenant
from tests.verifiable_log.log_support import SIGNER_KEY, verify


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, log_signing_key=SIGNER_KEY)


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The CLI's settings from the environment: the test's database and signing key."""
    monkeypatch.setenv("RISKAPI_DATABASE_URL", database_url)
    monkeypatch.setenv("RISKAPI_ENVIRONMENT", "test")
    monkeypatch.setenv("RISKAPI_LOG_SIGNING_KEY", SIGNER_KEY)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def backfill(*args: str) -> Result:
    return CliRunner().invoke(cli, ["audit", "backfill", *args])


async def requests(client: httpx.AsyncClient, tenant: Tenant, count: int) -> None:
    """Audited requests: each list of the audit trail is itself an event."""
    for _ in range(count):
        response = await client.get("/v1/audit/events", headers=tenant.headers(Role.auditor))
        assert response.status_code == 200


def head(app: FastAPI, organisation_id: str) -> int:
    from app.audit import repository as audit_repository

    with app.state.sessionmaker() as session:
        found = audit_repository.head(session, organisation_id)
    return 0 if found is None else found[0]


def tree_size(app: FastAPI, organisation_id: str) -> int | None:
    with app.state.sessionmaker() as session:
        return session.scalar(select(MerkleTree.size).where(MerkleTree.organisation_id == organisation_id))


def checkpoint_sizes(app: FastAPI, organisation_id: str) -> list[int]:
    with app.state.sessionmaker() as session:
        return list(
            session.scalars(
                select(AuditCheckpoint.tree_size)
                .where(AuditCheckpoint.organisation_id == organisation_id)
                .order_by(AuditCheckpoint.tree_size)
            )
        )


def expected_root(app: FastAPI, organisation_id: str, size: int) -> bytes:
    with app.state.sessionmaker() as session:
        events = log_service.audit.chained_events(session, organisation_id, 0, size)
    leaves = [merkle.leaf_hash(merkle.audit_entry(e.sequence, e.prev_hash, e.hash, e.body)) for e in events]
    return merkle.root(merkle.build(leaves), size)


async def test_backfill_builds_every_organisations_tree_signs_and_a_second_run_adds_nothing(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, app: FastAPI, cli_env: pytest.MonkeyPatch
) -> None:
    await requests(client, tenant, 6)
    await requests(client, other_tenant, 2)
    sizes = {tenant.slug: head(app, tenant.organisation_id), other_tenant.slug: head(app, other_tenant.organisation_id)}
    first = backfill("--batch", "4")  # several committed batches per organisation
    assert first.exit_code == 0, first.output
    for current, size in ((tenant, sizes[tenant.slug]), (other_tenant, sizes[other_tenant.slug])):
        line = re.search(
            rf"^{current.slug}: tree at size (\d+) \((\d+) events added\) in [0-9.]+s(.*)$", first.output, re.M
        )
        assert line is not None, first.output
        assert (int(line[1]), int(line[2])) == (size, size)
        assert line[3] == f", checkpoint signed at size {size}"
        assert tree_size(app, current.organisation_id) == size
        assert checkpoint_sizes(app, current.organisation_id) == [size]
        with app.state.sessionmaker() as session:
            stored = log_service.latest_checkpoint(session, current.organisation_id).root_hash
        assert stored == expected_root(app, current.organisation_id, size)

    again = backfill()
    assert again.exit_code == 0, again.output
    assert f"{tenant.slug}: tree at size {sizes[tenant.slug]} (0 events added)" in again.output
    assert "checkpoint signed" not in again.output
    assert checkpoint_sizes(app, tenant.organisation_id) == [sizes[tenant.slug]]
    assert (await verify(client, tenant))["ok"] is True


async def test_backfill_finishes_a_half_built_tree_for_one_organisation(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, app: FastAPI, cli_env: pytest.MonkeyPatch
) -> None:
    await requests(client, tenant, 9)
    with app.state.sessionmaker.begin() as session:
        assert log_service.extend_tree(session, tenant.organisation_id, utcnow(), limit=5).size == 5
    size = head(app, tenant.organisation_id)
    done = backfill("--org", tenant.slug, "--batch", "3")
    assert done.exit_code == 0, done.output
    assert f"{tenant.slug}: tree at size {size} ({size - 5} events added)" in done.output
    assert other_tenant.slug not in done.output
    assert tree_size(app, other_tenant.organisation_id) is None
    with app.state.sessionmaker() as session:
        stored = merkle.root(log_service.DbNodeStore(session, tenant.organisation_id), size)
    assert stored == expected_root(app, tenant.organisation_id, size)
    result = await verify(client, tenant)
    assert result["ok"] is True, result
    assert result["checkpoints_checked"] == 1


async def test_backfill_stops_at_a_broken_chain_naming_the_sequence(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI, cli_env: pytest.MonkeyPatch
) -> None:
    await requests(client, tenant, 4)
    broken = 7
    with bypassing_triggers(app) as conn:
        conn.execute(
            text("UPDATE audit_events SET action = 'edited' WHERE organisation_id = :org AND sequence = :sequence"),
            {"org": tenant.organisation_id, "sequence": broken},
        )
    done = backfill("--org", tenant.slug)
    assert done.exit_code == 1
    assert f"{tenant.slug}: STOPPED at sequence {broken}" in done.output
    assert tree_size(app, tenant.organisation_id) == broken - 1
    assert checkpoint_sizes(app, tenant.organisation_id) == [broken - 1]  # the good prefix, never past the break


def test_backfill_without_a_key_builds_and_signs_nothing_and_refuses_an_unknown_organisation(
    app: FastAPI, cli_env: pytest.MonkeyPatch
) -> None:
    tenant = make_tenant(app)
    cli_env.delenv("RISKAPI_LOG_SIGNING_KEY")
    get_settings.cache_clear()
    done = backfill("--org", tenant.slug)
    assert done.exit_code == 0, done.output
    assert "no checkpoint signing key is configured" in done.output
    assert tree_size(app, tenant.organisation_id) == head(app, tenant.organisation_id)
    assert checkpoint_sizes(app, tenant.organisation_id) == []
    unknown = backfill("--org", "no-such-org")
    assert unknown.exit_code == 1
    assert "no organisation 'no-such-org'" in unknown.output
