"""the verifiable log: merkle_nodes (complete subtrees), merkle_trees (size per organisation), audit_checkpoints

Revision ID: 0008
Revises: 0007
Create Date: 2027-01-11 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column(
            "note", sa.Text(), nullable=False, comment="the C2SP signed note: checkpoint body and signature lines"
        ),
        sa.Column("signed_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_audit_checkpoints_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("organisation_id", "tree_size", name=op.f("pk_audit_checkpoints")),
    )
    op.create_table(
        "merkle_nodes",
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("node_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_merkle_nodes_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("organisation_id", "level", "node_index", name=op.f("pk_merkle_nodes")),
    )
    op.create_table(
        "merkle_trees",
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_merkle_trees_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("organisation_id", name=op.f("pk_merkle_trees")),
    )


def downgrade() -> None:
    op.drop_table("merkle_trees")
    op.drop_table("merkle_nodes")
    op.drop_table("audit_checkpoints")
