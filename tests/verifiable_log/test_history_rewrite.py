"""The attack the verifiable log exists for, on both databases: someone with write access to the database rewrites
history consistently, with SQL alone (a case row, its event's record digest, every later event's links and hashes,
the chain head, the tree's storage, and the stored checkpoints), so that `audit verify` finds nothing wrong. A
monitor that kept a checkpoint from before the rewrite still catches it: the attacker cannot sign, and the service
signs only what the database now holds, which does not extend what it signed before."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Connection, Table, delete, insert, select, update
from sqlalchemy.orm import Session

from app.assessments.models import Assessment
from app.audit import service as audit
from app.audit.chain import body_hash, link_hash, record_digest
from app.audit.models import AuditChainHead, AuditEvent
from app.auth.permissions import Role
from app.core.config import Settings
from app.rulesets.seed import seed_default_content
from app.verifiable_log import merkle
from app.verifiable_log.models import AuditCheckpoint, MerkleNode, MerkleTree
from tests.assessments.conftest import IMMEDIATE, LOW, new_body
from tests.audit.test_tamper_evidence import bypassing_triggers
from tests.conftest import Tenant
from tests.verifiable_log.log_support import advance
from tests.verifiable_log.log_support import signing_settings as _signing_settings
from tests.verifiable_log.monitor_support import BASE, monitor_in_process, save_keys, through

ASSESSMENTS = cast(Table, Assessment.__table__)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return _signing_settings(database_url)


@pytest.fixture(autouse=True)
def seeded(app: FastAPI) -> None:
    with app.state.sessionmaker.begin() as session:
        seed_default_content(session)


def create_assessments(app: FastAPI, tenant: Tenant) -> list[dict[str, Any]]:
    """Three assessments through the API, the first one the low-risk one the attacker will edit."""
    created = []
    with httpx.Client(transport=through(app), base_url=BASE) as http:
        for number, which in enumerate((LOW, IMMEDIATE, LOW)):
            body = new_body(f"case-{number}", which)
            response = http.post("/v1/assessments", json=body, headers=tenant.headers(Role.assessor))
            assert response.status_code == 201, response.text
            created.append(response.json())
    return created


def verified(app: FastAPI, tenant: Tenant) -> audit.Verification:
    with app.state.sessionmaker() as session:
        return audit.verify(session, tenant.organisation_id, app.state.case_records)


def rewrite_history(app: FastAPI, tenant: Tenant, assessment_id: str, *, keep_checkpoints: bool) -> None:
    """The attack, as a database owner: SQL only (hashes computed outside, written with plain statements)."""
    org = tenant.organisation_id
    with bypassing_triggers(app) as conn:
        # 1. the case row: a low-risk assessment becomes an immediate one, its stored result agreeing
        row = conn.execute(select(ASSESSMENTS).where(ASSESSMENTS.c.id == assessment_id)).mappings().one()
        result = copy.deepcopy(row["result"])
        result["computed_level"] = "immediate"
        conn.execute(
            update(ASSESSMENTS)
            .where(ASSESSMENTS.c.id == assessment_id)
            .values(computed_level="immediate", result=result)
        )
        edited = conn.execute(select(ASSESSMENTS).where(ASSESSMENTS.c.id == assessment_id)).mappings().one()
        new_digest = record_digest(ASSESSMENTS.name, dict(edited))

        # 2. its event's record digest, then every later event's prev_hash and hash, then the chain head
        with Session(bind=conn) as session:
            events = audit.chained_events(session, org, 0, 1_000_000)
        created_at = next(
            e.sequence
            for e in events
            if e.body["action"] == "assessment.create" and e.body["resource_id"] == assessment_id
        )
        prev_hash = events[created_at - 2].hash if created_at > 1 else events[0].prev_hash
        rewritten = events[: created_at - 1]
        for event in events[created_at - 1 :]:
            body = dict(event.body)
            if event.sequence == created_at:
                body["record_digest"] = new_digest
            new_hash = link_hash(prev_hash, event.sequence, body_hash(body))
            conn.execute(
                update(AuditEvent)
                .where(AuditEvent.organisation_id == org, AuditEvent.sequence == event.sequence)
                .values(record_digest=body.get("record_digest"), prev_hash=prev_hash, hash=new_hash)
            )
            rewritten.append(audit.ChainedEvent(event.sequence, prev_hash, new_hash, body))
            prev_hash = new_hash
        conn.execute(update(AuditChainHead).where(AuditChainHead.organisation_id == org).values(hash=prev_hash))

        # 3. the tree's storage, rebuilt over the rewritten events at the size it had
        size = conn.execute(select(MerkleTree.size).where(MerkleTree.organisation_id == org)).scalar_one()
        _rewrite_tree(conn, org, rewritten[:size])

        # 4. the checkpoints: the attacker cannot sign new ones; deleting the old lets the service sign afresh
        if not keep_checkpoints:
            conn.execute(delete(AuditCheckpoint).where(AuditCheckpoint.organisation_id == org))


def _rewrite_tree(conn: Connection, organisation_id: str, events: list[audit.ChainedEvent]) -> None:
    leaves = [merkle.leaf_hash(merkle.audit_entry(e.sequence, e.prev_hash, e.hash, e.body)) for e in events]
    store = merkle.build(leaves)
    conn.execute(delete(MerkleNode).where(MerkleNode.organisation_id == organisation_id))
    conn.execute(
        insert(MerkleNode),
        [
            {"organisation_id": organisation_id, "level": level, "node_index": index, "hash": value}
            for (level, index), value in store.nodes.items()
        ],
    )
    conn.execute(update(MerkleTree).where(MerkleTree.organisation_id == organisation_id).values(size=len(leaves)))


@pytest.mark.parametrize("keep_checkpoints", [False, True], ids=["checkpoints-deleted", "checkpoints-kept"])
def test_a_consistent_rewrite_passes_verify_but_not_the_monitor(
    app: FastAPI, tenant: Tenant, tmp_path: Path, keep_checkpoints: bool
) -> None:
    created = create_assessments(app, tenant)
    assert created[0]["computed_level"] == "low"
    before_size = advance(app, tenant.organisation_id)
    keys, state = save_keys(app, tmp_path / "keys.json"), tmp_path / "state.json"
    monitor_key = tenant.keys[str(Role.monitor)]
    first = monitor_in_process(app, tenant.slug, state, keys, monitor_key)
    assert first.exit_code == 0, first
    kept = state.read_text(encoding="utf-8")
    assert f'"tree_size": {before_size}' in kept
    assert verified(app, tenant).ok

    rewrite_history(app, tenant, created[0]["id"], keep_checkpoints=keep_checkpoints)
    after_size = advance(app, tenant.organisation_id)  # the service signs what the database now holds

    # The rewrite is consistent: the chain, the case records and the tree all agree with each other ...
    result = verified(app, tenant)
    if not keep_checkpoints:
        assert result.ok, result
        assert result.records_checked == 3
    with httpx.Client(transport=through(app), base_url=BASE) as http:
        shown = http.get(f"/v1/assessments/{created[0]['id']}", headers=tenant.headers(Role.assessor))
        latest = http.get("/v1/audit/checkpoint", headers=tenant.headers(Role.monitor, acting_user=None)).json()
    assert shown.json()["computed_level"] == "immediate"
    assert latest["tree_size"] == after_size > before_size

    # ... but not with the checkpoint the monitor kept from before it
    report = monitor_in_process(app, tenant.slug, state, keys, monitor_key)
    assert report.exit_code == 1, report
    stored_root = f"root {_kept_root(kept)}"
    assert report.err[1] == f"  stored checkpoint: size {before_size}, {stored_root}"
    assert report.err[2] == f"  server's checkpoint: size {after_size}, root {latest['root_hash']}"
    if keep_checkpoints:
        assert "the consistency proof does not verify" in report.err[0]
    else:
        assert f"the server cannot prove consistency from size {before_size}" in report.err[0]
    assert state.read_text(encoding="utf-8") == kept


def test_the_same_monitor_passes_when_nothing_was_rewritten(app: FastAPI, tenant: Tenant, tmp_path: Path) -> None:
    """The control: the same steps without the rewrite leave the monitor content."""
    create_assessments(app, tenant)
    before_size = advance(app, tenant.organisation_id)
    keys, state = save_keys(app, tmp_path / "keys.json"), tmp_path / "state.json"
    monitor_key = tenant.keys[str(Role.monitor)]
    assert monitor_in_process(app, tenant.slug, state, keys, monitor_key).exit_code == 0
    after_size = advance(app, tenant.organisation_id)
    report = monitor_in_process(app, tenant.slug, state, keys, monitor_key)
    assert report.exit_code == 0, report
    assert f"grew from size {before_size} to {after_size}" in report.out[0]


def _kept_root(state_text: str) -> str:
    root: str = json.loads(state_text)["root_hash"]
    return root
