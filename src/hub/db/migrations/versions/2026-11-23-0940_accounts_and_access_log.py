"""accounts (who may use the hub, as what) and the append-only access log

Revision ID: 0002_accounts_access_log
Revises: 0001_foundation
Create Date: 2026-11-23 09:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_accounts_access_log"
down_revision: str | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACCOUNT_ROLE = postgresql.ENUM(
    "carer",
    "coordinator",
    "registered_manager",
    "commissioner",
    "partner_client",
    "supplier_client",
    "admin",
    name="account_role",
    create_type=False,
)


def upgrade() -> None:
    ACCOUNT_ROLE.create(op.get_bind())
    op.create_table(
        "accounts",
        sa.Column("issuer", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("role", ACCOUNT_ROLE, nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=True),
        sa.Column("staff_id", sa.Uuid(), nullable=True),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column(
            "allowed_scopes",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
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
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_accounts_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("issuer", "subject", name=op.f("uq_accounts_issuer_subject")),
    )
    op.create_table(
        "access_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("client_id", sa.Text(), nullable=True),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=True),
        sa.Column("operation_name", sa.Text(), nullable=True),
        sa.Column("fields", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=True),
        sa.Column("person_ids", postgresql.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_log")),
    )
    op.create_index(
        "ix_access_log_person_ids", "access_log", ["person_ids"], postgresql_using="gin"
    )
    op.create_index("ix_access_log_occurred_at", "access_log", ["occurred_at"])
    op.execute(
        """
        CREATE FUNCTION access_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the access log is append-only: % on access_log is refused', TG_OP
                USING ERRCODE = 'restrict_violation';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON access_log "
        "FOR EACH ROW EXECUTE FUNCTION access_log_refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION access_log_refuse_change()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER access_log_no_truncate ON access_log")
    op.execute("DROP TRIGGER access_log_append_only ON access_log")
    op.execute("DROP FUNCTION access_log_refuse_change()")
    op.drop_table("access_log")
    op.drop_table("accounts")
    ACCOUNT_ROLE.drop(op.get_bind())
