"""overrides store the review date in force from them on; indexes for the reviews-due list and the latest override

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-21 09:00:00.000000
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REVIEW_BY_COMMENT = (
    "the review date in force from this override on: the earlier of the one before it and created_at plus the "
    "review interval of its level (app/scoring/reviews.py)"
)
# As migration 0002 created it.
SQLITE_NO_UPDATE = (
    "CREATE TRIGGER assessment_overrides_no_update BEFORE UPDATE ON assessment_overrides "
    "BEGIN SELECT RAISE(ABORT, 'riskapi: UPDATE on assessment_overrides is refused: the table is append-only'); END"
)

_assessments = sa.table(
    "assessments",
    sa.column("id", sa.String()),
    sa.column("review_by", app.core.db.UTCDateTime(timezone=True)),
    sa.column("ruleset_key", sa.String()),
    sa.column("ruleset_version", sa.Integer()),
)
_overrides = sa.table(
    "assessment_overrides",
    sa.column("id", sa.Integer()),
    sa.column("assessment_id", sa.String()),
    sa.column("level", sa.String()),
    sa.column("created_at", app.core.db.UTCDateTime(timezone=True)),
    sa.column("review_by", app.core.db.UTCDateTime(timezone=True)),
)
_rulesets = sa.table(
    "ruleset_versions", sa.column("key", sa.String()), sa.column("version", sa.Integer()), sa.column("document", sa.JSON())
)


def upgrade() -> None:
    # Plain ADD COLUMN and CREATE INDEX (no batch copy on SQLite): the tables keep their rows and their triggers.
    op.add_column(
        "assessment_overrides",
        sa.Column("review_by", app.core.db.UTCDateTime(timezone=True), nullable=True, comment=REVIEW_BY_COMMENT),
    )
    op.create_index(
        "ix_assessment_overrides_org_review_by",
        "assessment_overrides",
        ["organisation_id", "review_by", "assessment_id"],
        unique=False,
    )
    op.create_index("ix_assessments_org_review_by", "assessments", ["organisation_id", "review_by", "id"], unique=False)
    # The latest override of an assessment (its level and review date in force) as one backward index step; it
    # serves every lookup by assessment_id that the index it replaces served.
    op.create_index(
        "ix_assessment_overrides_assessment_id_id", "assessment_overrides", ["assessment_id", "id"], unique=False
    )
    op.drop_index("ix_assessment_overrides_assessment_id", table_name="assessment_overrides")
    _backfill()


def _review_days(document: Any, level: str) -> int | None:
    policies = document.get("level_policies") if isinstance(document, dict) else None
    policy = policies.get(level) if isinstance(policies, dict) else None
    days = policy.get("review_within_days") if isinstance(policy, dict) else None
    return days if isinstance(days, int) and not isinstance(days, bool) else None


def _backfill() -> None:
    """Each existing override gets the review date the application now writes (app/scoring/reviews.py, frozen here
    as it was at this revision), from the stored rows and the stored rule-set documents: overrides of one assessment
    in id order, starting from the assessment's own review date. Their record digests, written without the column,
    still verify: ADR 0010."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            _overrides.c.id,
            _overrides.c.assessment_id,
            _overrides.c.level,
            _overrides.c.created_at,
            _assessments.c.review_by.label("assessment_review_by"),
            _assessments.c.ruleset_key,
            _assessments.c.ruleset_version,
        )
        .select_from(_overrides.join(_assessments, _assessments.c.id == _overrides.c.assessment_id))
        .order_by(_overrides.c.assessment_id, _overrides.c.id)
    ).all()
    if not rows:
        return
    documents = {(r.key, r.version): r.document for r in bind.execute(sa.select(_rulesets))}
    values: list[dict[str, Any]] = []
    in_force: datetime | None = None
    assessment_id = None
    for row in rows:
        if row.assessment_id != assessment_id:
            assessment_id, in_force = row.assessment_id, row.assessment_review_by
        days = _review_days(documents.get((row.ruleset_key, row.ruleset_version)), row.level)
        own = row.created_at + timedelta(days=days) if days is not None else None
        defined = [date for date in (in_force, own) if date is not None]
        in_force = min(defined) if defined else None
        values.append({"override_id": row.id, "new_review_by": in_force})
    dialect = bind.dialect.name
    if dialect == "postgresql":
        op.execute("ALTER TABLE assessment_overrides DISABLE TRIGGER assessment_overrides_append_only")
    else:
        op.execute("DROP TRIGGER assessment_overrides_no_update")
    bind.execute(
        _overrides.update()
        .where(_overrides.c.id == sa.bindparam("override_id"))
        .values(review_by=sa.bindparam("new_review_by", type_=app.core.db.UTCDateTime(timezone=True))),
        values,
    )
    if dialect == "postgresql":
        op.execute("ALTER TABLE assessment_overrides ENABLE TRIGGER assessment_overrides_append_only")
    else:
        op.execute(SQLITE_NO_UPDATE)


def downgrade() -> None:
    # Overrides written since the upgrade hold a record digest over review_by too: the code of revision 0004 cannot
    # verify them (ADR 0010).
    op.create_index(
        "ix_assessment_overrides_assessment_id", "assessment_overrides", ["assessment_id"], unique=False
    )
    op.drop_index("ix_assessment_overrides_assessment_id_id", table_name="assessment_overrides")
    op.drop_index("ix_assessments_org_review_by", table_name="assessments")
    op.drop_index("ix_assessment_overrides_org_review_by", table_name="assessment_overrides")
    op.drop_column("assessment_overrides", "review_by")
