"""field facts (visits) and the mobile command log

Revision ID: 0004_field_facts_mobile
Revises: 0003_care_graph
Create Date: 2026-11-23 12:00:00

Owned by: issue 5 (visits facts, mobile).

`visit_facts`, `command_log` and `command_resolutions` are append-only, enforced by the database
like the event log: whatever the role, UPDATE, DELETE and TRUNCATE fail. Corrections of facts are
new facts that supersede; a command once received stays as it was received.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_field_facts_mobile"
down_revision: str | None = "0003_care_graph"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VISIT_FACT_KIND = postgresql.ENUM(
    "check_in",
    "check_out",
    "task_confirmation",
    "observation",
    "concern",
    name="visit_fact_kind",
    create_type=False,
)
PRESENCE_TAG_KIND = postgresql.ENUM("nfc", "qr", name="presence_tag_kind", create_type=False)
DEVICE_STATUS = postgresql.ENUM("active", "revoked", name="device_status", create_type=False)
COMMAND_STATUS = postgresql.ENUM(
    "applied", "quarantined", "duplicate", name="command_status", create_type=False
)
RESOLUTION_OUTCOME = postgresql.ENUM(
    "recorded_elsewhere",
    "not_required",
    "escalated",
    name="command_resolution_outcome",
    create_type=False,
)
ENUMS = (VISIT_FACT_KIND, PRESENCE_TAG_KIND, DEVICE_STATUS, COMMAND_STATUS, RESOLUTION_OUTCOME)
APPEND_ONLY = ("visit_facts", "command_log", "command_resolutions")


def _timestamps() -> list[sa.Column[object]]:
    return [
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


def upgrade() -> None:
    for enum in ENUMS:
        enum.create(op.get_bind())

    op.create_table(
        "visit_facts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("visit_id", sa.Uuid(), nullable=False),
        sa.Column("kind", VISIT_FACT_KIND, nullable=False),
        sa.Column("staff_id", sa.Uuid(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("device_occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("time_basis", sa.Text(), server_default=sa.text("'server'"), nullable=False),
        sa.Column("device_boot_id", sa.Text(), nullable=True),
        sa.Column("device_monotonic_ms", sa.BigInteger(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.Column("verification_method", sa.Text(), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("distance_m", sa.Float(), nullable=True),
        sa.Column(
            "evidence",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "flags",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("supersedes_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "supersedes_id IS NULL OR supersedes_id <> id",
            name=op.f("ck_visit_facts_not_self_superseding"),
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["visits.id"], name=op.f("fk_visit_facts_visit_id_visits")
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_members.id"],
            name=op.f("fk_visit_facts_staff_id_staff_members"),
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["visit_facts.id"],
            name=op.f("fk_visit_facts_supersedes_id_visit_facts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_facts")),
    )
    op.create_index(
        "ix_visit_facts_visit_id_kind", "visit_facts", ["visit_id", "kind", "occurred_at"]
    )
    op.create_index("ix_visit_facts_staff_id", "visit_facts", ["staff_id", "occurred_at"])
    op.create_index("ix_visit_facts_supersedes_id", "visit_facts", ["supersedes_id"])

    op.create_table(
        "presence_tags",
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("kind", PRESENCE_TAG_KIND, nullable=False),
        sa.Column("value_sha256", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("registered_by", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_presence_tags_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_presence_tags")),
        sa.UniqueConstraint(
            "kind", "value_sha256", name=op.f("uq_presence_tags_kind_value_sha256")
        ),
    )
    op.create_index("ix_presence_tags_person_id", "presence_tags", ["person_id"])

    op.create_table(
        "devices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("registered_by", sa.Text(), nullable=False),
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("model", sa.Text(), nullable=True),
        sa.Column("app_version", sa.Text(), nullable=False),
        sa.Column("protocol_version", sa.Integer(), nullable=False),
        sa.Column("status", DEVICE_STATUS, server_default=sa.text("'active'"), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.Text(), nullable=True),
        sa.Column("revoked_reason", sa.Text(), nullable=True),
        sa.Column("last_seq", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_command_hash", sa.Text(), nullable=True),
        sa.Column("clock_offset_ms", sa.BigInteger(), nullable=True),
        sa.Column("clock_boot_id", sa.Text(), nullable=True),
        sa.Column("clock_anchor_server_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("clock_anchor_monotonic_ms", sa.BigInteger(), nullable=True),
        sa.Column("clock_measured_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outbox_depth", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("oldest_pending_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outbox_reported_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff_members.id"], name=op.f("fk_devices_staff_id_staff_members")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_devices_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
    )
    op.create_index("ix_devices_staff_id", "devices", ["staff_id"])
    op.create_index(
        "ix_devices_organisation_id_outbox", "devices", ["organisation_id", "oldest_pending_at"]
    )

    op.create_table(
        "command_log",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("server_seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("command_id", sa.Uuid(), nullable=False),
        sa.Column("original", sa.Boolean(), nullable=False),
        sa.Column("body_type", sa.Text(), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("payload_sha256", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.Text(), nullable=True),
        sa.Column("status", COMMAND_STATUS, nullable=False),
        sa.Column("code", sa.Text(), nullable=True),
        sa.Column(
            "flags",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=True),
        sa.Column("visit_id", sa.Uuid(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("device_occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("app_version", sa.Text(), nullable=False),
        sa.Column("protocol_version", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_command_log_device_id_devices")
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff_members.id"], name=op.f("fk_command_log_staff_id_staff_members")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_command_log_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_command_log")),
        sa.UniqueConstraint("server_seq", name=op.f("uq_command_log_server_seq")),
        sa.UniqueConstraint("device_id", "seq", name=op.f("uq_command_log_device_id_seq")),
    )
    op.create_index(
        "uq_command_log_command_id_original",
        "command_log",
        ["command_id"],
        unique=True,
        postgresql_where=sa.text("original"),
    )
    op.create_index("ix_command_log_command_id", "command_log", ["command_id"])
    op.create_index(
        "ix_command_log_organisation_id_status",
        "command_log",
        ["organisation_id", "status", "server_seq"],
    )

    op.create_table(
        "command_resolutions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("command_log_id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("outcome", RESOLUTION_OUTCOME, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("resolved_by", sa.Text(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["command_log_id"],
            ["command_log.id"],
            name=op.f("fk_command_resolutions_command_log_id_command_log"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_command_resolutions_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_command_resolutions")),
        sa.UniqueConstraint("command_log_id", name=op.f("uq_command_resolutions_command_log_id")),
    )

    # Append-only, enforced by the database itself (as for `events`): a recorded fact or a
    # received command is evidence; corrections are new rows.
    op.execute(
        """
        CREATE FUNCTION field_records_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: % is refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'restrict_violation';
        END
        $$
        """
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION field_records_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION field_records_refuse_change()"
        )


def downgrade() -> None:
    for table in reversed(APPEND_ONLY):
        op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
    op.execute("DROP FUNCTION field_records_refuse_change()")
    op.drop_table("command_resolutions")
    op.drop_index("ix_command_log_organisation_id_status", table_name="command_log")
    op.drop_index("ix_command_log_command_id", table_name="command_log")
    op.drop_index("uq_command_log_command_id_original", table_name="command_log")
    op.drop_table("command_log")
    op.drop_index("ix_devices_organisation_id_outbox", table_name="devices")
    op.drop_index("ix_devices_staff_id", table_name="devices")
    op.drop_table("devices")
    op.drop_index("ix_presence_tags_person_id", table_name="presence_tags")
    op.drop_table("presence_tags")
    op.drop_index("ix_visit_facts_supersedes_id", table_name="visit_facts")
    op.drop_index("ix_visit_facts_staff_id", table_name="visit_facts")
    op.drop_index("ix_visit_facts_visit_id_kind", table_name="visit_facts")
    op.drop_table("visit_facts")
    for enum in reversed(ENUMS):
        enum.drop(op.get_bind())
