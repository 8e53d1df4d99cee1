"""The verifiable log's tables: each organisation's Merkle tree (its complete subtrees and its size) and the
checkpoints signed over it. All three are derived from the audit events and can be rebuilt from them; what a
rewrite cannot rebuild is a signature, so the checkpoints kept outside are what detect one (ADR 0017)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, SmallInteger, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, utcnow


class MerkleNode(Base):
    """The hash of one complete subtree: `(level, node_index)` covers leaves
    `[node_index * 2**level, (node_index + 1) * 2**level)`; level 0 holds the leaf hashes. Written once, never
    updated."""

    __tablename__ = "merkle_nodes"

    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    node_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class MerkleTree(Base):
    """How many of the organisation's audit events its tree holds (leaves 0 .. size - 1 = sequences 1 .. size).
    Its row is the lock that serialises whoever extends the tree or signs a checkpoint of it."""

    __tablename__ = "merkle_trees"

    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditCheckpoint(Base):
    """A checkpoint signed at exactly `tree_size`: the signed note as served, and its root for queries."""

    __tablename__ = "audit_checkpoints"

    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text, comment="the C2SP signed note: checkpoint body and signature lines")
    signed_at: Mapped[datetime] = mapped_column(default=utcnow)
