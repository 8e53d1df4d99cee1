"""Tampering with the audit log or the verifiable log's storage, done with SQL behind the application's back, is
reported by `audit verify` on both databases: an edited, deleted or reordered event (the chain and the tree both
say where), an edited tree node (and the proofs then served no longer verify against the signed checkpoint), a
deleted tree row, an edited checkpoint note or root. The whole history rewritten consistently is the monitor's to
catch (tests of `riskapi audit monitor`)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from app.core.config import Settings
from app.core.db import utcnow
from app.core.errors import NotFound
from app.verifiable_log import merkle
from app.verifiable_log import service as log_service
from app.verifiable_log.checkpoint import open_checkpoint
from tests.audit.test_tamper_evidence import bypassing_triggers
from tests.conftest import Tenant, make_settings
from tests.verifiable_log.log_support import (
    SIGNER_KEY,
    add_events,
    latest_checkpoint,
    log_problems,
    verify,
    worker_step,
)

EVENTS = 12


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, log_signing_key=SIGNER_KEY)


async def signed_log(client: httpx.AsyncClient, tenant: Tenant, app: FastAPI) -> int:
    """Events, the tree over them and a signed checkpoint that verifies; the checkpoint's size."""
    add_events(app, tenant.organisation_id, EVENTS)
    size = worker_step(app, tenant.organisation_id)[1]
    assert size is not None
    assert size >= EVENTS  # the tenant's key events come first
    result = await verify(client, tenant)
    assert result["ok"] is True, result
    assert result["checkpoints_checked"] == 1
    return size


def run_sql(app: FastAPI, tenant: Tenant, *statements: str, **params: object) -> None:
    with bypassing_triggers(app) as conn:
        for statement in statements:
            conn.execute(text(statement), {"org": tenant.organisation_id, **params})


async def test_an_edited_event_is_named_by_the_chain_and_by_its_leaf(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    await signed_log(client, tenant, app)
    run_sql(
        app,
        tenant,
        "UPDATE audit_events SET acting_user = 'someone-else' WHERE organisation_id = :org AND sequence = 5",
    )
    result = await verify(client, tenant)
    assert result["ok"] is False
    assert result["first_broken_sequence"] == 5
    problems = log_problems(result)
    assert "leaf of sequence 5: the stored leaf hash is not the event's" in problems
    assert result["log_problems"][0]["sequence"] == 5  # type: ignore[index]
    # The changed leaf changes every node above it: one problem, not one per level.
    assert not any(p.startswith("tree node") for p in problems), problems
    assert any(p.startswith("checkpoint at tree size") and "not the root of events" in p for p in problems)


async def test_the_tree_is_never_extended_past_an_edited_event_it_does_not_hold_yet(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    size = await signed_log(client, tenant, app)
    add_events(app, tenant.organisation_id, 5)
    after = size + 2  # the verify above added one event
    run_sql(
        app,
        tenant,
        "UPDATE audit_events SET action = 'test.other' WHERE organisation_id = :org AND sequence = :sequence",
        sequence=after,
    )
    extended, signed = worker_step(app, tenant.organisation_id)
    assert extended.broken_at == after
    assert extended.size == after - 1
    assert signed == after - 1  # the good prefix is signed, never the edited event
    again, _ = worker_step(app, tenant.organisation_id)
    assert (again.size, again.added, again.broken_at) == (after - 1, 0, after)


async def test_a_deleted_event_is_reported(client: httpx.AsyncClient, tenant: Tenant, app: FastAPI) -> None:
    size = await signed_log(client, tenant, app)
    run_sql(app, tenant, "DELETE FROM audit_events WHERE organisation_id = :org AND sequence = 4")
    result = await verify(client, tenant)
    assert result["ok"] is False
    assert result["first_broken_sequence"] == 4
    problems = log_problems(result)
    assert f"checkpoint at tree size {size}: its root cannot be recomputed: sequence 4 is missing or out of order" in (
        problems
    )
    assert f"tree: the tree holds {size} events but sequence 4 is missing or out of order" in problems


async def test_reordered_events_are_reported(client: httpx.AsyncClient, tenant: Tenant, app: FastAPI) -> None:
    await signed_log(client, tenant, app)
    run_sql(
        app,
        tenant,
        "UPDATE audit_events SET sequence = -3 WHERE organisation_id = :org AND sequence = 3",
        "UPDATE audit_events SET sequence = 3 WHERE organisation_id = :org AND sequence = 4",
        "UPDATE audit_events SET sequence = 4 WHERE organisation_id = :org AND sequence = -3",
    )
    result = await verify(client, tenant)
    assert result["ok"] is False
    assert result["first_broken_sequence"] == 3
    problems = log_problems(result)
    assert "leaf of sequence 3: the stored leaf hash is not the event's" in problems
    assert "leaf of sequence 4: the stored leaf hash is not the event's" in problems


def edit_node(app: FastAPI, tenant: Tenant, level: int, index: int, value: bytes = b"\x07" * 32) -> bytes:
    """Set a stored node's hash; the hash it had."""
    with app.state.sessionmaker() as session:
        [before] = log_service.DbNodeStore(session, tenant.organisation_id).get_many([(level, index)]).values()
    run_sql(
        app,
        tenant,
        "UPDATE merkle_nodes SET hash = :h WHERE organisation_id = :org AND level = :level AND node_index = :index",
        h=value,
        level=level,
        index=index,
    )
    return before


def node_problem(level: int, index: int) -> str:
    """The one problem `verify` reports for a stored node edited behind its back."""
    first, last = (index << level) + 1, (index + 1) << level
    if level == 0:
        return f"leaf of sequence {first}: the stored leaf hash is not the event's"
    return (
        f"tree node at level {level} index {index} (sequences {first} to {last}): the stored hash is not its children's"
    )


def signed_root(app: FastAPI, tenant: Tenant, size: int) -> bytes:
    """The root the checkpoint at `size` signs, read from its note (as a holder of the checkpoint has it)."""
    with app.state.sessionmaker() as session:
        note = log_service.checkpoint_at(session, tenant.organisation_id, size).note
    keys = app.state.log_keys
    return open_checkpoint(note, keys.verifiers, origin=keys.origin(tenant.slug)).checkpoint.root_hash


@pytest.mark.parametrize(("level", "index"), [(0, 2), (1, 1), (2, 0)])
async def test_an_edited_tree_node_is_reported_and_the_inclusion_proofs_served_through_it_no_longer_verify(
    level: int, index: int, client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    size = await signed_log(client, tenant, app)
    edit_node(app, tenant, level, index)
    result = await verify(client, tenant)
    assert result["ok"] is False
    assert result["first_broken_sequence"] is None  # the chain itself is intact
    assert log_problems(result) == [node_problem(level, index)]

    root = signed_root(app, tenant, size)
    sibling_leaf = (index ^ 1) << level  # its proof carries the edited node (a leaf's own proof carries the leaf)
    for leaf_index in {sibling_leaf, index << level}:
        with app.state.sessionmaker() as session:
            proof = log_service.inclusion_proof(session, tenant.organisation_id, leaf_index + 1, size)
        verified = merkle.verify_inclusion(proof.leaf_hash, proof.leaf_index, size, proof.hashes, root)
        assert verified is (level > 0 and leaf_index != sibling_leaf)


async def test_an_edited_node_of_a_consistency_proof_is_reported_and_the_proof_no_longer_verifies(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    size = await signed_log(client, tenant, app)
    add_events(app, tenant.organisation_id, 7)
    later = worker_step(app, tenant.organisation_id)[1]
    assert later is not None
    keys = merkle.consistency_proof_keys(size, later)
    assert keys
    old_root, new_root = signed_root(app, tenant, size), signed_root(app, tenant, later)
    for level, index in keys:
        before = edit_node(app, tenant, level, index)
        result = await verify(client, tenant)
        assert result["ok"] is False
        problems = log_problems(result)
        assert problems[0] == node_problem(level, index)
        # A node that is also a peak of the whole tree changes the root the stored nodes give, too.
        assert set(problems[1:]) <= {
            f"tree: the stored nodes' root at size {result['tree_size']} is not the root of the events"
        }
        with app.state.sessionmaker() as session:
            proof = log_service.consistency_proof(session, tenant.organisation_id, size, later)
        assert not merkle.verify_consistency(size, later, proof.hashes, old_root, new_root)
        edit_node(app, tenant, level, index, before)  # put back: each node of the proof is tried alone


async def test_a_deleted_tree_row_is_reported(client: httpx.AsyncClient, tenant: Tenant, app: FastAPI) -> None:
    await signed_log(client, tenant, app)
    run_sql(app, tenant, "DELETE FROM merkle_trees WHERE organisation_id = :org")
    result = await verify(client, tenant)
    assert result["ok"] is False
    assert result["tree_size"] is None
    assert "tree: the tree's size row is missing but checkpoints of the tree exist" in log_problems(result)


async def test_a_tree_row_set_back_is_reported(client: httpx.AsyncClient, tenant: Tenant, app: FastAPI) -> None:
    size = await signed_log(client, tenant, app)
    run_sql(app, tenant, "UPDATE merkle_trees SET size = 3 WHERE organisation_id = :org")
    result = await verify(client, tenant)
    assert result["ok"] is False
    assert f"checkpoint at tree size {size}: larger than the tree, which holds 3 events" in log_problems(result)


async def test_an_edited_checkpoint_note_or_root_is_reported(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    size = await signed_log(client, tenant, app)
    note = latest_checkpoint(app, tenant.organisation_id).note
    body, signatures = note.split("\n\n")
    origin = body.split("\n")[0]
    forged = f"{origin}\n{size}\n{'A' * 43}=\n\n{signatures}"
    run_sql(
        app,
        tenant,
        "UPDATE audit_checkpoints SET note = :note WHERE organisation_id = :org AND tree_size = :size",
        note=forged,
        size=size,
    )
    result = await verify(client, tenant)
    assert result["ok"] is False
    [problem] = log_problems(result)
    assert problem.startswith(f"checkpoint at tree size {size}: its signed note does not verify"), problem

    run_sql(
        app,
        tenant,
        "UPDATE audit_checkpoints SET note = :note, root_hash = :h WHERE organisation_id = :org AND tree_size = :size",
        note=note,
        h=b"\x01" * 32,
        size=size,
    )
    result = await verify(client, tenant)
    assert result["ok"] is False
    assert log_problems(result) == [
        f"checkpoint at tree size {size}: its signed note names another root hash than the stored one",
        f"checkpoint at tree size {size}: its root is not the root of events 1 to {size}",
    ]


async def test_a_deleted_checkpoint_row_leaves_no_trace_in_the_database_but_its_proofs_are_gone(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    """Nothing in the database records that a checkpoint was signed (signing is not audited: it would grow the
    tree), so a deleted checkpoint row passes `verify`; what was lost is a size to prove from, which the copies
    kept outside (the monitor's state, receipts) still hold and then cannot get a proof for."""
    first = await signed_log(client, tenant, app)
    add_events(app, tenant.organisation_id, 3)
    _extended, second = worker_step(app, tenant.organisation_id, utcnow())
    assert second is not None
    run_sql(app, tenant, "DELETE FROM audit_checkpoints WHERE organisation_id = :org AND tree_size = :size", size=first)
    result = await verify(client, tenant)
    assert result["ok"] is True
    assert result["checkpoints_checked"] == 1
    with app.state.sessionmaker() as session, pytest.raises(NotFound):
        log_service.consistency_proof(session, tenant.organisation_id, first, second)
