"""the events outbox (numbered per organisation), webhook endpoints, deliveries and attempts

On PostgreSQL a statement trigger on events sends NOTIFY riskapi_events, delivered at the writer's COMMIT, which wakes
the workers (LISTEN riskapi_events); SQLite's worker polls. event_log_start records when events began to be kept.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-28 09:00:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOTIFY_CHANNEL = "riskapi_events"
POSTGRESQL_NOTIFY = (
    "CREATE FUNCTION riskapi_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN PERFORM pg_notify('{NOTIFY_CHANNEL}', ''); RETURN NULL; END $$",
    "CREATE TRIGGER events_notify AFTER INSERT ON events FOR EACH STATEMENT EXECUTE FUNCTION riskapi_notify_events()",
)


def upgrade() -> None:
    op.create_table(
        "event_log_start",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("started_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_event_log_start_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_log_start")),
    )
    op.create_table(
        "event_heads",
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_event_heads_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("organisation_id", name=op.f("pk_event_heads")),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.String(length=36), nullable=False, comment="also the webhook-id"),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column(
            "sequence",
            sa.BigInteger(),
            nullable=False,
            comment="per organisation, allocated under the event_heads row lock: commit order",
        ),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("assessment_id", sa.String(length=36), nullable=True),
        sa.Column("subject_ref", sa.String(length=256), nullable=True, comment="never sent out"),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column(
            "fanned_out_at",
            app.core.db.UTCDateTime(timezone=True),
            nullable=True,
            comment="when the worker made this event's deliveries (NULL: not yet)",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_events_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("organisation_id", "dedupe_key", name=op.f("uq_events_organisation_id_dedupe_key")),
        sa.UniqueConstraint("organisation_id", "sequence", name=op.f("uq_events_organisation_id_sequence")),
    )
    op.create_index("ix_events_fanned_out_at", "events", ["fanned_out_at"], unique=False)
    op.create_index("ix_events_org_occurred_at", "events", ["organisation_id", "occurred_at"], unique=False)

    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False, comment="may carry a token: never logged"),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("min_levels", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=32), nullable=True, comment="'manual' or 'failing'"),
        sa.Column("secret_ciphertext", sa.Text(), nullable=False),
        sa.Column("previous_secret_ciphertext", sa.Text(), nullable=True),
        sa.Column("previous_secret_expires_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_webhook_endpoints_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_index(
        "ix_webhook_endpoints_org_created", "webhook_endpoints", ["organisation_id", "created_at", "id"], unique=False
    )

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("endpoint_id", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False, comment="pending, delivered or dead"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "leased_until",
            app.core.db.UTCDateTime(timezone=True),
            nullable=True,
            comment="claimed by a worker until then",
        ),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["endpoint_id"], ["webhook_endpoints.id"], name=op.f("fk_webhook_deliveries_endpoint_id_webhook_endpoints")
        ),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name=op.f("fk_webhook_deliveries_event_id_events")),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_webhook_deliveries_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint("endpoint_id", "event_id", name=op.f("uq_webhook_deliveries_endpoint_id_event_id")),
    )
    op.create_index("ix_webhook_deliveries_event_id", "webhook_deliveries", ["event_id"], unique=False)
    op.create_index(
        "ix_webhook_deliveries_status_next_attempt_at",
        "webhook_deliveries",
        ["status", "next_attempt_at"],
        unique=False,
    )

    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("endpoint_id", sa.String(length=36), nullable=False),
        sa.Column("delivery_id", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("attempted_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column(
            "outcome",
            sa.String(length=32),
            nullable=False,
            comment="delivered, http_error, timeout, connect_error, refused_address, tls_error, ...",
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["webhook_deliveries.id"], name=op.f("fk_webhook_attempts_delivery_id_webhook_deliveries")
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id"], ["webhook_endpoints.id"], name=op.f("fk_webhook_attempts_endpoint_id_webhook_endpoints")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_webhook_attempts_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
    )
    op.create_index("ix_webhook_attempts_delivery_id", "webhook_attempts", ["delivery_id"], unique=False)
    op.create_index(
        "ix_webhook_attempts_endpoint_attempted",
        "webhook_attempts",
        ["endpoint_id", "attempted_at", "id"],
        unique=False,
    )

    event_log_start = sa.table(
        "event_log_start",
        sa.column("id", sa.Integer()),
        sa.column("started_at", app.core.db.UTCDateTime(timezone=True)),
    )
    op.bulk_insert(event_log_start, [{"id": 1, "started_at": datetime.now(UTC)}])
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRESQL_NOTIFY:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER events_notify ON events")
        op.execute("DROP FUNCTION riskapi_notify_events()")
    op.drop_index("ix_webhook_attempts_endpoint_attempted", table_name="webhook_attempts")
    op.drop_index("ix_webhook_attempts_delivery_id", table_name="webhook_attempts")

    op.drop_table("webhook_attempts")
    op.drop_index("ix_webhook_deliveries_status_next_attempt_at", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_event_id", table_name="webhook_deliveries")

    op.drop_table("webhook_deliveries")
    op.drop_index("ix_webhook_endpoints_org_created", table_name="webhook_endpoints")

    op.drop_table("webhook_endpoints")
    op.drop_index("ix_events_org_occurred_at", table_name="events")
    op.drop_index("ix_events_fanned_out_at", table_name="events")

    op.drop_table("events")
    op.drop_table("event_heads")
    op.drop_table("event_log_start")
