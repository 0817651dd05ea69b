"""integrations: connector instances, raw archive, webhook inbox, cursors

Revision ID: 0007_integrations
Revises: 0006_event_notify
Create Date: 2026-11-23 12:00:00

Owned by: issue 7 (integrations). The raw inbound archive (`inbound_payloads`, whose unique
(connector, delivery_key) is the replay guard for webhooks and the re-import guard for polls,
uploads and FHIR messages), connector instances configured per organisation (secrets named by
environment variable, never stored), their cursors, shared breaker/health state, poll runs
with progress, and external-id mappings.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007_integrations"
down_revision: str | None = "0006_event_notify"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INBOUND_CHANNEL = postgresql.ENUM(
    "webhook", "poll", "upload", "fhir", name="inbound_channel", create_type=False
)
INBOUND_STATUS = postgresql.ENUM(
    "received", "applied", "rejected", name="inbound_status", create_type=False
)
CONNECTOR_KIND = postgresql.ENUM("supplier_rest", name="connector_kind", create_type=False)
CONNECTOR_RUN_STATUS = postgresql.ENUM(
    "running", "succeeded", "failed", name="connector_run_status", create_type=False
)
ENUMS = (INBOUND_CHANNEL, INBOUND_STATUS, CONNECTOR_KIND, CONNECTOR_RUN_STATUS)


def _entity_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    ]


def _instance_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["instance_id"],
        ["connector_instances.id"],
        name=op.f(f"fk_{table}_instance_id_connector_instances"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    for enum in ENUMS:
        enum.create(op.get_bind())
    op.create_table(
        "inbound_payloads",
        sa.Column("connector", sa.Text(), nullable=False),
        sa.Column("channel", INBOUND_CHANNEL, nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=True),
        sa.Column("delivery_key", sa.Text(), nullable=False),
        sa.Column("content_type", sa.Text(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", INBOUND_STATUS, server_default=sa.text("'received'"), nullable=False),
        sa.Column(
            "errors",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("outcome", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        *_entity_columns(),
        sa.CheckConstraint("length(sha256) = 64", name=op.f("ck_inbound_payloads_sha256_hex")),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_inbound_payloads_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_payloads")),
        sa.UniqueConstraint(
            "connector", "delivery_key", name=op.f("uq_inbound_payloads_connector_delivery_key")
        ),
    )
    op.create_index(
        "ix_inbound_payloads_status_received_at",
        "inbound_payloads",
        ["status", "received_at"],
    )
    op.create_index(
        "ix_inbound_payloads_organisation_id_received_at",
        "inbound_payloads",
        ["organisation_id", "received_at"],
    )
    op.create_table(
        "connector_instances",
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("kind", CONNECTOR_KIND, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("base_url", sa.Text(), nullable=False),
        sa.Column("webhook_secrets_env", sa.Text(), nullable=False),
        sa.Column("credentials_env", sa.Text(), nullable=True),
        sa.Column(
            "poll_interval_seconds", sa.Integer(), server_default=sa.text("300"), nullable=False
        ),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("registered_by", sa.Text(), nullable=False),
        *_entity_columns(),
        sa.CheckConstraint(
            "name ~ '^[a-z0-9][a-z0-9-]{1,62}$'", name=op.f("ck_connector_instances_name_slug")
        ),
        sa.CheckConstraint(
            "poll_interval_seconds >= 30",
            name=op.f("ck_connector_instances_poll_interval_floor"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_connector_instances_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connector_instances")),
        sa.UniqueConstraint("name", name=op.f("uq_connector_instances_name")),
    )
    op.create_index(
        "ix_connector_instances_organisation_id", "connector_instances", ["organisation_id"]
    )
    op.create_table(
        "connector_cursors",
        sa.Column("instance_id", sa.Uuid(), nullable=False),
        sa.Column("feed", sa.Text(), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("advanced_at", sa.DateTime(timezone=True), nullable=True),
        *_entity_columns(),
        _instance_fk("connector_cursors"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connector_cursors")),
        sa.UniqueConstraint(
            "instance_id", "feed", name=op.f("uq_connector_cursors_instance_id_feed")
        ),
    )
    op.create_table(
        "connector_health",
        sa.Column("instance_id", sa.Uuid(), nullable=False),
        sa.Column(
            "consecutive_failures", sa.Integer(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column("open_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("probe_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error_code", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_poll_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("poll_lease_until", sa.DateTime(timezone=True), nullable=True),
        *_entity_columns(),
        _instance_fk("connector_health"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connector_health")),
        sa.UniqueConstraint("instance_id", name=op.f("uq_connector_health_instance_id")),
    )
    op.create_table(
        "connector_runs",
        sa.Column("instance_id", sa.Uuid(), nullable=False),
        sa.Column("trigger", sa.Text(), nullable=False),
        sa.Column("status", CONNECTOR_RUN_STATUS, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pages", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("records_applied", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("records_rejected", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "progress",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("error_code", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        *_entity_columns(),
        _instance_fk("connector_runs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connector_runs")),
    )
    op.create_index(
        "ix_connector_runs_instance_id_started_at",
        "connector_runs",
        ["instance_id", "started_at"],
    )
    op.create_table(
        "external_refs",
        sa.Column("instance_id", sa.Uuid(), nullable=False),
        sa.Column("entity_type", sa.Text(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=False),
        sa.Column("hub_id", sa.Uuid(), nullable=False),
        sa.Column("upstream_updated_at", sa.DateTime(timezone=True), nullable=True),
        *_entity_columns(),
        _instance_fk("external_refs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_external_refs")),
        sa.UniqueConstraint(
            "instance_id",
            "entity_type",
            "external_id",
            name=op.f("uq_external_refs_instance_id_entity_type_external_id"),
        ),
    )
    op.create_index(
        "ix_external_refs_instance_id_entity_type_hub_id",
        "external_refs",
        ["instance_id", "entity_type", "hub_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_external_refs_instance_id_entity_type_hub_id", table_name="external_refs")
    op.drop_table("external_refs")
    op.drop_index("ix_connector_runs_instance_id_started_at", table_name="connector_runs")
    op.drop_table("connector_runs")
    op.drop_table("connector_health")
    op.drop_table("connector_cursors")
    op.drop_index("ix_connector_instances_organisation_id", table_name="connector_instances")
    op.drop_table("connector_instances")
    op.drop_index("ix_inbound_payloads_organisation_id_received_at", table_name="inbound_payloads")
    op.drop_index("ix_inbound_payloads_status_received_at", table_name="inbound_payloads")
    op.drop_table("inbound_payloads")
    for enum in reversed(ENUMS):
        enum.drop(op.get_bind())
