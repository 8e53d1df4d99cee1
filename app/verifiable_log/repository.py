"""All SQL of the verifiable log: stored subtree hashes, the tree's size row (the lock), signed checkpoints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.verifiable_log.merkle import NodeKey
from app.verifiable_log.models import AuditCheckpoint, MerkleNode, MerkleTree


class DbNodeStore:
    """One organisation's tree in `merkle_nodes`: a `merkle.NodeStore`, one statement per call."""

    def __init__(self, session: Session, organisation_id: str) -> None:
        self.session = session
        self.organisation_id = organisation_id

    def get_many(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        if not keys:
            return {}
        # One primary-key lookup per key, each term whole: SQLite plans `(level, node_index) IN (VALUES ...)` as a
        # scan of every node of the organisation, which made a proof cost O(n) there.
        rows = self.session.execute(
            select(MerkleNode.level, MerkleNode.node_index, MerkleNode.hash).where(
                or_(
                    *(
                        and_(
                            MerkleNode.organisation_id == self.organisation_id,
                            MerkleNode.level == level,
                            MerkleNode.node_index == index,
                        )
                        for level, index in keys
                    )
                )
            )
        )
        return {(row.level, row.node_index): bytes(row.hash) for row in rows}

    def put_many(self, nodes: Mapping[NodeKey, bytes]) -> None:
        if nodes:
            self.session.execute(
                insert(MerkleNode),
                [
                    {"organisation_id": self.organisation_id, "level": level, "node_index": index, "hash": value}
                    for (level, index), value in nodes.items()
                ],
            )


def lock_tree(session: Session, organisation_id: str, now: datetime) -> int:
    """The tree's size, its row locked until the transaction ends (created at size 0 if missing). On PostgreSQL
    FOR UPDATE queues every other extender or signer of this organisation; SQLite's writer lock does the same."""
    dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        dialect_insert(MerkleTree)
        .values(organisation_id=organisation_id, size=0, updated_at=now)
        .on_conflict_do_nothing()
    )
    size = session.scalar(
        select(MerkleTree.size).where(MerkleTree.organisation_id == organisation_id).with_for_update()
    )
    assert size is not None
    return int(size)


def stored_tree_size(session: Session, organisation_id: str) -> int | None:
    """The size its row records, None when the organisation has no tree row (never built, or the row deleted)."""
    size = session.scalar(select(MerkleTree.size).where(MerkleTree.organisation_id == organisation_id))
    return None if size is None else int(size)


def nodes_in_ranges(
    session: Session, organisation_id: str, ranges: Mapping[int, tuple[int, int]]
) -> dict[NodeKey, bytes]:
    """The stored nodes of each level's index range (`{level: (first, last)}`, both included), in one statement."""
    if not ranges:
        return {}
    rows = session.execute(
        select(MerkleNode.level, MerkleNode.node_index, MerkleNode.hash).where(
            or_(
                *(
                    and_(
                        MerkleNode.organisation_id == organisation_id,
                        MerkleNode.level == level,
                        MerkleNode.node_index.between(first, last),
                    )
                    for level, (first, last) in ranges.items()
                )
            ),
        )
    )
    return {(int(row.level), int(row.node_index)): bytes(row.hash) for row in rows}


def set_tree_size(session: Session, organisation_id: str, size: int, now: datetime) -> None:
    session.execute(
        update(MerkleTree).where(MerkleTree.organisation_id == organisation_id).values(size=size, updated_at=now)
    )


def latest_checkpoint(session: Session, organisation_id: str) -> AuditCheckpoint | None:
    return session.scalar(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.organisation_id == organisation_id)
        .order_by(AuditCheckpoint.tree_size.desc())
        .limit(1)
    )


def checkpoint_at(session: Session, organisation_id: str, tree_size: int) -> AuditCheckpoint | None:
    return session.get(AuditCheckpoint, (organisation_id, tree_size))


def checkpoints(session: Session, organisation_id: str) -> list[AuditCheckpoint]:
    """Every stored checkpoint of the organisation, by size."""
    return list(
        session.scalars(
            select(AuditCheckpoint)
            .where(AuditCheckpoint.organisation_id == organisation_id)
            .order_by(AuditCheckpoint.tree_size)
        )
    )


def checkpoints_after(
    session: Session, organisation_id: str, after_size: int, up_to_size: int, limit: int
) -> list[tuple[int, bytes, str]]:
    """Up to `limit` stored checkpoints with after_size < tree_size <= up_to_size, by size: (tree_size, root_hash,
    note)."""
    rows = session.execute(
        select(AuditCheckpoint.tree_size, AuditCheckpoint.root_hash, AuditCheckpoint.note)
        .where(
            AuditCheckpoint.organisation_id == organisation_id,
            AuditCheckpoint.tree_size > after_size,
            AuditCheckpoint.tree_size <= up_to_size,
        )
        .order_by(AuditCheckpoint.tree_size)
        .limit(limit)
    )
    return [(int(row.tree_size), bytes(row.root_hash), str(row.note)) for row in rows]


def add_checkpoint(
    session: Session, organisation_id: str, tree_size: int, root_hash: bytes, note: str, now: datetime
) -> AuditCheckpoint:
    row = AuditCheckpoint(
        organisation_id=organisation_id, tree_size=tree_size, root_hash=root_hash, note=note, signed_at=now
    )
    session.add(row)
    session.flush()
    return row
