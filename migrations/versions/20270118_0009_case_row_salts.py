"""assessments, assessment_overrides and assessment_entered_in_error gain salt: the random 256-bit salt of the
commitments a decision receipt proves (record form version 2); rows written before keep a null salt

Revision ID: 0009
Revises: 0008
Create Date: 2027-01-18 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("assessments", "assessment_overrides", "assessment_entered_in_error")
COMMENT = "random salt of the receipt commitments; null before migration 0009"


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy on SQLite): the append-only tables keep their rows and their triggers.
    for table in TABLES:
        op.add_column(table, sa.Column("salt", sa.LargeBinary(length=32), nullable=True, comment=COMMENT))


def downgrade() -> None:
    # Rows written since the upgrade were recorded with record form version 2, which includes their salt: the code
    # of revision 0008 cannot verify them.
    for table in TABLES:
        op.drop_column(table, "salt")
