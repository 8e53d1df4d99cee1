"""The worker's checkpoint round: it extends each organisation's tree with the new audit events and signs a
checkpoint when the tree grew (never twice for one size, nothing when it did not grow); one organisation failing
leaves the others; without a key it extends but signs nothing; a bad key stops it, naming the setting only."""

from __future__ import annotations

import io
import json
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.audit import service as audit_service
from app.auth import service as auth_service
from app.core.config import Settings
from app.core.db import utcnow
from app.verifiable_log import merkle
from app.verifiable_log import service as log_service
from app.verifiable_log.checkpoint import open_checkpoint
from app.verifiable_log.keys import LogKeyError, load_log_keys, new_signer_key
from app.verifiable_log.models import AuditCheckpoint, MerkleNode, MerkleTree
from app.worker import checkpoints
from app.worker.checkpoints import advance_all
from app.worker.main import Worker, run
from tests.worker.conftest import fast_settings

SIGNER_KEY = new_signer_key("riskapi-test-log")


@pytest.fixture
def settings(database_url: str) -> Settings:
    return fast_settings(database_url, log_signing_key=SIGNER_KEY, checkpoint_seconds=3600.0)


def add_audit_events(sessions: sessionmaker[Session], organisation_id: str, count: int) -> None:
    with sessions.begin() as session:
        for _ in range(count):
            audit_service.record_system(
                session, organisation_id=organisation_id, acting_user="test", action="test.event", resource_type="test"
            )


def stored_checkpoints(sessions: sessionmaker[Session], organisation_id: str) -> list[AuditCheckpoint]:
    with sessions() as session:
        return list(
            session.scalars(
                select(AuditCheckpoint)
                .where(AuditCheckpoint.organisation_id == organisation_id)
                .order_by(AuditCheckpoint.tree_size)
            )
        )


def tree_size(sessions: sessionmaker[Session], organisation_id: str) -> int | None:
    with sessions() as session:
        return session.scalar(select(MerkleTree.size).where(MerkleTree.organisation_id == organisation_id))


def test_a_round_signs_a_checkpoint_when_events_were_added_and_nothing_when_the_tree_did_not_grow(
    settings: Settings, sessions: sessionmaker[Session], organisation_id: str, make_worker: Callable[..., Worker]
) -> None:
    worker = make_worker(settings)
    add_audit_events(sessions, organisation_id, 5)
    worker.run_round()
    first = stored_checkpoints(sessions, organisation_id)
    assert [c.tree_size for c in first] == [5]
    assert tree_size(sessions, organisation_id) == 5

    keys = load_log_keys(settings)
    with sessions() as session:
        origin = keys.origin(auth_service.organisation_slug(session, organisation_id))
    opened = open_checkpoint(first[0].note, keys.verifiers, origin=origin)
    assert opened.checkpoint.size == 5
    assert opened.checkpoint.root_hash == first[0].root_hash

    # Due again, but the tree did not grow: nothing is signed.
    worker._due_at["checkpoints"] = 0.0
    worker.run_round()
    assert [c.tree_size for c in stored_checkpoints(sessions, organisation_id)] == [5]

    add_audit_events(sessions, organisation_id, 3)
    worker.run_round()  # not due yet (checkpoint_seconds is an hour): the tree waits
    assert tree_size(sessions, organisation_id) == 5
    worker._due_at["checkpoints"] = 0.0
    worker.run_round()
    assert [c.tree_size for c in stored_checkpoints(sessions, organisation_id)] == [5, 8]


def test_a_size_is_never_signed_twice(
    settings: Settings, sessions: sessionmaker[Session], organisation_id: str
) -> None:
    keys = load_log_keys(settings)
    add_audit_events(sessions, organisation_id, 4)
    now = utcnow()
    first = advance_all(sessions, keys, now)
    again = advance_all(sessions, keys, now + timedelta(seconds=30))
    assert first.signed == [(organisation_id, 4)]
    assert again.signed == []
    assert [c.tree_size for c in stored_checkpoints(sessions, organisation_id)] == [4]


def test_a_tree_far_behind_is_extended_in_bounded_rounds_and_the_worker_comes_back_at_once(
    settings: Settings,
    sessions: sessionmaker[Session],
    organisation_id: str,
    make_worker: Callable[..., Worker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        "app.worker.main.advance_all", lambda sessions, keys, now: advance_all(sessions, keys, now, limit=3)
    )
    add_audit_events(sessions, organisation_id, 7)
    worker = make_worker(settings)
    worker.run_round()
    assert tree_size(sessions, organisation_id) == 3
    assert worker._idle_timeout() == 0.0  # more to do: the next round comes at once, not after the interval
    worker.run_round()
    worker.run_round()
    assert tree_size(sessions, organisation_id) == 7
    assert [c.tree_size for c in stored_checkpoints(sessions, organisation_id)] == [3, 6, 7]
    assert worker._idle_timeout() > 0.0


def test_one_organisation_failing_does_not_stop_the_others(
    settings: Settings,
    sessions: sessionmaker[Session],
    organisation_id: str,
    monkeypatch: pytest.MonkeyPatch,
    captured_logs: io.StringIO,
) -> None:
    with sessions.begin() as session:
        slug = f"org-{uuid.uuid4().hex[:10]}"
        other_id = auth_service.create_organisation(session, slug, "Other").id
    add_audit_events(sessions, organisation_id, 2)
    add_audit_events(sessions, other_id, 2)
    real_advance = checkpoints.log_service.advance

    def failing_for_one(session: Session, org: str, *args: object, **kwargs: object) -> object:
        if org == organisation_id:
            raise RuntimeError("the database went away")
        return real_advance(session, org, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(checkpoints.log_service, "advance", failing_for_one)
    done = advance_all(sessions, load_log_keys(settings), utcnow())
    assert done.failed == [organisation_id]
    assert done.signed == [(other_id, 2)]
    records = [json.loads(line) for line in captured_logs.getvalue().splitlines() if line.startswith("{")]
    failed = [r for r in records if r["event"] == "worker.checkpoint_failed"]
    assert failed == [failed[0]]
    assert failed[0]["organisation_id"] == organisation_id
    assert failed[0]["error"] == "RuntimeError"  # the type only: an exception's text may carry data
    signed = [r for r in records if r["event"] == "worker.checkpoint_signed"]
    assert [(r["organisation_id"], r["tree_size"]) for r in signed] == [(other_id, 2)]
    assert set(signed[0]) <= {"event", "organisation_id", "tree_size", "level", "timestamp", "request_id", "logger"}


def test_without_a_signing_key_the_worker_extends_trees_signs_nothing_and_warns_once(
    database_url: str,
    sessions: sessionmaker[Session],
    organisation_id: str,
    make_worker: Callable[..., Worker],
    captured_logs: io.StringIO,
) -> None:
    worker = make_worker(fast_settings(database_url))
    add_audit_events(sessions, organisation_id, 3)
    worker.run_round()
    assert tree_size(sessions, organisation_id) == 3
    assert stored_checkpoints(sessions, organisation_id) == []
    worker.stop.set()
    worker.run()  # the start-up warning, then the loop ends at once
    events = [json.loads(line)["event"] for line in captured_logs.getvalue().splitlines() if line.startswith("{")]
    assert events.count("worker.checkpoints_unsigned") == 1


def test_a_bad_signing_key_stops_the_worker_naming_the_setting_never_the_key(database_url: str) -> None:
    bad = SIGNER_KEY[:-6] + "AAAAAA"
    settings = fast_settings(database_url, log_signing_key=bad)
    with pytest.raises(LogKeyError, match="RISKAPI_LOG_SIGNING_KEY"):
        Worker(settings)
    with pytest.raises(SystemExit) as stopped:
        run(settings)
    message = str(stopped.value.code)
    assert "RISKAPI_LOG_SIGNING_KEY" in message
    assert bad not in message
    assert bad.split("+")[-1] not in message


def test_the_stored_tree_is_the_tree_of_the_events(
    settings: Settings, sessions: sessionmaker[Session], organisation_id: str
) -> None:
    add_audit_events(sessions, organisation_id, 6)
    advance_all(sessions, load_log_keys(settings), utcnow())
    with sessions() as session:
        events = audit_service.chained_events(session, organisation_id, 0, 100)
        count = session.scalar(
            select(func.count()).select_from(MerkleNode).where(MerkleNode.organisation_id == organisation_id)
        )
    leaves = [merkle.leaf_hash(merkle.audit_entry(e.sequence, e.prev_hash, e.hash, e.body)) for e in events]
    (checkpoint,) = stored_checkpoints(sessions, organisation_id)
    assert checkpoint.root_hash == merkle.root(merkle.build(leaves), 6)
    assert count == 2 * 6 - bin(6).count("1")  # every complete subtree once


def test_concurrent_extenders_on_postgresql_leave_one_tree_and_one_checkpoint_per_size(
    settings: Settings, sessions: sessionmaker[Session], organisation_id: str
) -> None:
    if settings.is_sqlite:
        pytest.skip("SQLite serialises writers itself; the row lock is PostgreSQL's to prove")
    keys = load_log_keys(settings)
    extenders, rounds = 4, 8
    barrier = threading.Barrier(extenders + 1)
    errors: list[BaseException] = []

    def extend() -> None:
        for _ in range(rounds):
            barrier.wait()
            try:
                with sessions.begin() as session:
                    log_service.advance(session, organisation_id, keys, utcnow())
            except BaseException as exc:  # collected: the assertion below names it
                errors.append(exc)

    threads = [threading.Thread(target=extend) for _ in range(extenders)]
    for thread in threads:
        thread.start()
    for _ in range(rounds):
        add_audit_events(sessions, organisation_id, 3)
        barrier.wait()  # every extender starts at once, while the next events are being written
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    with sessions.begin() as session:
        log_service.advance(session, organisation_id, keys, utcnow())
    events = rounds * 3
    assert tree_size(sessions, organisation_id) == events
    with sessions() as session:
        keys_stored = session.execute(
            select(MerkleNode.level, MerkleNode.node_index).where(MerkleNode.organisation_id == organisation_id)
        ).all()
        chained = audit_service.chained_events(session, organisation_id, 0, events + 1)
    assert len(keys_stored) == len(set(keys_stored)) == 2 * events - bin(events).count("1")
    sizes = [c.tree_size for c in stored_checkpoints(sessions, organisation_id)]
    assert sizes == sorted(set(sizes))
    assert sizes[-1] == events
    leaves = [merkle.leaf_hash(merkle.audit_entry(e.sequence, e.prev_hash, e.hash, e.body)) for e in chained]
    expected = merkle.build(leaves)
    for checkpoint in stored_checkpoints(sessions, organisation_id):
        assert checkpoint.root_hash == merkle.root(expected, checkpoint.tree_size)
