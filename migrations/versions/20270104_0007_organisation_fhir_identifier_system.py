"""organisations gain fhir_identifier_system: the identifier system of their pseudonymous case ids in FHIR

Revision ID: 0007
Revises: 0006
Create Date: 2027-01-04 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organisations") as batch:
        batch.add_column(sa.Column("fhir_identifier_system", sa.String(length=2048), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("organisations") as batch:
        batch.drop_column("fhir_identifier_system")
