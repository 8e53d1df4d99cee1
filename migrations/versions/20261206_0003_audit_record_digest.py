"""audit events record the digest of the case row they create

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 23:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN (no batch copy on SQLite): the table keeps its rows, its triggers and its hashes.
    op.add_column(
        "audit_events",
        sa.Column(
            "record_digest",
            sa.String(length=64),
            nullable=True,
            comment="SHA-256 of the canonical form of the case row this event created",
        ),
    )


def downgrade() -> None:
    op.drop_column("audit_events", "record_digest")
