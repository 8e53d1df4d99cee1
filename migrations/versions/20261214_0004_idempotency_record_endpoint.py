"""idempotency records name the endpoint (method and path) their key was first used for

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-14 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENDPOINT_COMMENT = "method and path the key was first used for, e.g. POST /v1/assessments/<id>/override"
FINGERPRINT_COMMENT = "SHA-256 of the request: method, path, sorted query, media type, canonical body"
OLD_FINGERPRINT_COMMENT = "SHA-256 of the canonical request body"


def upgrade() -> None:
    # Before this revision a key was read on the create only. Its records keep their body-only fingerprint, which no
    # request matches any more: a retry of such a key is refused as a reused key (422) until the record expires,
    # rather than creating a second assessment.
    op.add_column("idempotency_records", sa.Column("endpoint", sa.String(length=200), nullable=True))
    op.execute("UPDATE idempotency_records SET endpoint = 'POST /v1/assessments'")
    with op.batch_alter_table("idempotency_records", schema=None) as batch_op:
        batch_op.alter_column(
            "endpoint", existing_type=sa.String(length=200), nullable=False, comment=ENDPOINT_COMMENT
        )
        batch_op.alter_column(
            "fingerprint",
            existing_type=sa.String(length=64),
            existing_nullable=False,
            comment=FINGERPRINT_COMMENT,
            existing_comment=OLD_FINGERPRINT_COMMENT,
        )


def downgrade() -> None:
    with op.batch_alter_table("idempotency_records", schema=None) as batch_op:
        batch_op.alter_column(
            "fingerprint",
            existing_type=sa.String(length=64),
            existing_nullable=False,
            comment=OLD_FINGERPRINT_COMMENT,
            existing_comment=FINGERPRINT_COMMENT,
        )
        batch_op.drop_column("endpoint")
