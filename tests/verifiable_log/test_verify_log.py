"""`audit verify` covers the verifiable log: the compact range it recomputes the tree with, a healthy log (tree
behind the events, several checkpoints, windows of stored nodes) that passes through the API and the CLI, and
checkpoints that do not verify with the published keys or under the organisation's origin."""

from __future__ import annotations

import itertools

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from typer.testing import CliRunner

from app.cli import cli
from app.core.config import Settings, get_settings
from app.verifiable_log import merkle, verification
from app.verifiable_log.checkpoint import Checkpoint, sign_checkpoint
from app.verifiable_log.keys import load_log_keys, new_signer_key
from app.verifiable_log.note import Signer
from app.verifiable_log.verification import CompactRange
from tests.conftest import Tenant, make_settings
from tests.verifiable_log.log_support import (
    SIGNER_KEY,
    add_events,
    latest_checkpoint,
    log_problems,
    verify,
    worker_step,
)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, log_signing_key=SIGNER_KEY)


@pytest.mark.parametrize("size", [*range(0, 40), 63, 64, 65, 100])
def test_the_compact_range_completes_every_stored_node_once_and_gives_every_root(size: int) -> None:
    leaves = [merkle.leaf_hash(b"entry %d" % i) for i in range(size)]
    reference = merkle.build(leaves)
    compact = CompactRange()
    completed: dict[merkle.NodeKey, bytes] = {}

    def record(level: int, index: int, value: bytes, _child_differs: bool) -> bool:
        assert (level, index) not in completed
        completed[(level, index)] = value
        return False

    for n, leaf in enumerate(leaves, start=1):
        compact.append(leaf, record)
        assert compact.root() == merkle.root(reference, n)
    assert completed == reference.nodes
    assert CompactRange().root() == merkle.EMPTY_ROOT


async def test_a_healthy_log_verifies_with_its_tree_behind_the_events_and_several_checkpoints(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verification, "READ_BATCH", 3)  # stored nodes and checkpoints read in many small windows
    before = await verify(client, tenant)
    assert before["ok"] is True
    assert before["tree_size"] is None  # no tree yet: nothing to check, nothing wrong
    signed: list[int] = []
    for count in (5, 4, 9, 1):
        add_events(app, tenant.organisation_id, count)
        size = worker_step(app, tenant.organisation_id)[1]
        assert size is not None
        signed.append(size)
    add_events(app, tenant.organisation_id, 3)  # not in the tree yet: the tree is built after the fact
    result = await verify(client, tenant)
    assert result["ok"] is True, result
    assert result["tree_size"] == signed[-1]
    assert [b - a for a, b in itertools.pairwise(signed)] == [4, 9, 1]
    assert result["checkpoints_checked"] == 4
    assert result["log_problems"] == []
    assert result["log_problems_total"] == 0


async def test_the_cli_reports_the_tree_and_the_checkpoints(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_events(app, tenant.organisation_id, 6)
    size = worker_step(app, tenant.organisation_id)[0].size
    monkeypatch.setenv("RISKAPI_DATABASE_URL", database_url)
    monkeypatch.setenv("RISKAPI_ENVIRONMENT", "test")
    monkeypatch.setenv("RISKAPI_LOG_SIGNING_KEY", SIGNER_KEY)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        ok = runner.invoke(cli, ["audit", "verify", "--org", tenant.slug])
        assert ok.exit_code == 0, ok.output
        assert f"tree at size {size}, 1 checkpoints verified" in ok.output
        with app.state.engine.begin() as conn:
            conn.execute(
                text("UPDATE merkle_nodes SET hash = :h WHERE organisation_id = :org AND level = 0 AND node_index = 1"),
                {"h": b"\x00" * 32, "org": tenant.organisation_id},
            )
        broken = runner.invoke(cli, ["audit", "verify", "--org", tenant.slug])
        assert broken.exit_code == 1
        assert "leaf of sequence 2: the stored leaf hash is not the event's" in broken.output
    finally:
        get_settings.cache_clear()


async def test_a_checkpoint_signed_with_an_unpublished_key_or_for_another_origin_is_reported(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    add_events(app, tenant.organisation_id, 4)
    worker_step(app, tenant.organisation_id)
    stored = latest_checkpoint(app, tenant.organisation_id)
    size = stored.tree_size
    origin = app.state.log_keys.origin(tenant.slug)
    stranger = Signer.from_key(new_signer_key("someone-else"))
    notes = {
        "unpublished key": sign_checkpoint(Checkpoint(origin, size, stored.root_hash), [stranger]),
        "other origin": sign_checkpoint(
            Checkpoint(origin + "-other", size, stored.root_hash), app.state.log_keys.signers
        ),
    }
    for what, note in notes.items():
        with app.state.engine.begin() as conn:
            conn.execute(
                text("UPDATE audit_checkpoints SET note = :note WHERE organisation_id = :org AND tree_size = :size"),
                {"note": note, "org": tenant.organisation_id, "size": size},
            )
        result = await verify(client, tenant)
        assert result["ok"] is False, what
        [problem] = log_problems(result)
        assert problem.startswith(f"checkpoint at tree size {size}: its signed note does not verify"), (what, problem)


def test_without_published_keys_a_stored_checkpoint_cannot_be_trusted(app: FastAPI, database_url: str) -> None:
    from app.audit import service as audit_service
    from app.verifiable_log.verification import TreeCheck
    from tests.conftest import make_tenant

    tenant = make_tenant(app)
    add_events(app, tenant.organisation_id, 2)
    size = worker_step(app, tenant.organisation_id)[1]
    unkeyed = TreeCheck(load_log_keys(make_settings(database_url)))
    with app.state.sessionmaker() as session:
        result = audit_service.verify(session, tenant.organisation_id, (), unkeyed)
    assert result.ok is False
    assert [p.where for p in result.log_problems] == [f"checkpoint at tree size {size}"]
    assert "no published key" in result.log_problems[0].problem
