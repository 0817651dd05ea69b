"""intake: FHIR referral messages and local-authority portal imports

Revision ID: 0008_intake
Revises: 0007_integrations
Create Date: 2026-11-23 12:00:00

Owned by: issue 7 (fhir, la_imports).
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_intake"
down_revision: str | None = "0007_integrations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Enum types are created and dropped explicitly (see 0003).
FHIR_INTERACTION = postgresql.ENUM(
    "create", "process_message", name="fhir_interaction", create_type=False
)
FHIR_SUBMISSION_OUTCOME = postgresql.ENUM(
    "created", "duplicate", name="fhir_submission_outcome", create_type=False
)
PORTAL_IMPORT_FORMAT = postgresql.ENUM(
    "csv", "json", name="portal_import_format", create_type=False
)
PORTAL_IMPORT_STATUS = postgresql.ENUM(
    "processing", "completed", "rejected", name="portal_import_status", create_type=False
)
PORTAL_IMPORT_ROW_STATUS = postgresql.ENUM(
    "applied",
    "unchanged",
    "invalid",
    "superseded",
    name="portal_import_row_status",
    create_type=False,
)
ENUMS = (
    FHIR_INTERACTION,
    FHIR_SUBMISSION_OUTCOME,
    PORTAL_IMPORT_FORMAT,
    PORTAL_IMPORT_STATUS,
    PORTAL_IMPORT_ROW_STATUS,
)


def _timestamps() -> list[sa.Column[Any]]:
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


def _count(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.Integer(), server_default=sa.text("0"), nullable=False)


def upgrade() -> None:
    for enum in ENUMS:
        enum.create(op.get_bind())
    op.create_table(
        "fhir_submissions",
        sa.Column("payload_id", sa.Uuid(), nullable=False),
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=True),
        sa.Column("client_id", sa.Text(), nullable=True),
        sa.Column("interaction", FHIR_INTERACTION, nullable=False),
        sa.Column("outcome", FHIR_SUBMISSION_OUTCOME, nullable=False),
        sa.Column("priority", sa.Text(), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=True),
        sa.Column(
            "warnings",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_fhir_submissions_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["payload_id"],
            ["inbound_payloads.id"],
            name=op.f("fk_fhir_submissions_payload_id_inbound_payloads"),
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_fhir_submissions_referral_id_referrals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_submissions")),
        sa.UniqueConstraint("payload_id", name=op.f("uq_fhir_submissions_payload_id")),
    )
    op.create_index(
        "ix_fhir_submissions_referral_id", "fhir_submissions", ["referral_id"], unique=False
    )
    op.create_table(
        "portal_import_batches",
        sa.Column("contract_id", sa.Uuid(), nullable=False),
        sa.Column("commissioner_id", sa.Uuid(), nullable=False),
        sa.Column("payload_id", sa.Uuid(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("format", PORTAL_IMPORT_FORMAT, nullable=False),
        sa.Column("status", PORTAL_IMPORT_STATUS, nullable=False),
        sa.Column("file_hash", sa.Text(), nullable=True),
        _count("total_rows"),
        _count("processed_rows"),
        _count("applied_rows"),
        _count("unchanged_rows"),
        _count("invalid_rows"),
        _count("warning_rows"),
        sa.Column(
            "ignored_columns",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("error_code", sa.Text(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("imported_by", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["commissioner_id"],
            ["organisations.id"],
            name=op.f("fk_portal_import_batches_commissioner_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_portal_import_batches_contract_id_contracts"),
        ),
        sa.ForeignKeyConstraint(
            ["payload_id"],
            ["inbound_payloads.id"],
            name=op.f("fk_portal_import_batches_payload_id_inbound_payloads"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_import_batches")),
    )
    op.create_index(
        "ix_portal_import_batches_commissioner_id",
        "portal_import_batches",
        ["commissioner_id"],
        unique=False,
    )
    op.create_index(
        "ix_portal_import_batches_contract_id_started_at",
        "portal_import_batches",
        ["contract_id", "started_at"],
        unique=False,
    )
    op.create_table(
        "portal_import_rows",
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("contract_id", sa.Uuid(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("row_hash", sa.Text(), nullable=False),
        sa.Column("status", PORTAL_IMPORT_ROW_STATUS, nullable=False),
        sa.Column("package_reference", sa.Text(), nullable=True),
        sa.Column("change_type", sa.Text(), nullable=True),
        sa.Column("effective_date", sa.Date(), nullable=True),
        sa.Column(
            "raw",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "terms",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "problems",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("package_id", sa.Uuid(), nullable=True),
        sa.Column("person_id", sa.Uuid(), nullable=True),
        sa.Column("applied_row_id", sa.Uuid(), nullable=True),
        sa.Column("superseded_by_id", sa.Uuid(), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["applied_row_id"],
            ["portal_import_rows.id"],
            name=op.f("fk_portal_import_rows_applied_row_id_portal_import_rows"),
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["portal_import_batches.id"],
            name=op.f("fk_portal_import_rows_batch_id_portal_import_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_portal_import_rows_contract_id_contracts"),
        ),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["care_packages.id"],
            name=op.f("fk_portal_import_rows_package_id_care_packages"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_portal_import_rows_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["superseded_by_id"],
            ["portal_import_rows.id"],
            name=op.f("fk_portal_import_rows_superseded_by_id_portal_import_rows"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_import_rows")),
        sa.UniqueConstraint(
            "batch_id", "row_number", name=op.f("uq_portal_import_rows_batch_id_row_number")
        ),
    )
    op.create_index(
        "ix_portal_import_rows_batch_id_status",
        "portal_import_rows",
        ["batch_id", "status"],
        unique=False,
    )
    op.create_index(
        "ix_portal_import_rows_open_invalid",
        "portal_import_rows",
        ["contract_id", "package_reference"],
        unique=False,
        postgresql_where=sa.text("status = 'invalid'"),
    )
    op.create_index(
        "ix_portal_import_rows_open_invalid_hash",
        "portal_import_rows",
        ["contract_id", "row_hash"],
        unique=False,
        postgresql_where=sa.text("status = 'invalid'"),
    )
    op.create_index(
        "uq_portal_import_rows_applied_hash",
        "portal_import_rows",
        ["contract_id", "row_hash"],
        unique=True,
        postgresql_where=sa.text("status = 'applied'"),
    )


def downgrade() -> None:
    op.drop_index("uq_portal_import_rows_applied_hash", table_name="portal_import_rows")
    op.drop_index("ix_portal_import_rows_open_invalid_hash", table_name="portal_import_rows")
    op.drop_index("ix_portal_import_rows_open_invalid", table_name="portal_import_rows")
    op.drop_index("ix_portal_import_rows_batch_id_status", table_name="portal_import_rows")
    op.drop_table("portal_import_rows")
    op.drop_index(
        "ix_portal_import_batches_contract_id_started_at", table_name="portal_import_batches"
    )
    op.drop_index("ix_portal_import_batches_commissioner_id", table_name="portal_import_batches")
    op.drop_table("portal_import_batches")
    op.drop_index("ix_fhir_submissions_referral_id", table_name="fhir_submissions")
    op.drop_table("fhir_submissions")
    for enum in reversed(ENUMS):
        enum.drop(op.get_bind())
