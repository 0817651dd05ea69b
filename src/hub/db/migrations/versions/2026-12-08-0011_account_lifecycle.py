"""account lifecycle and attributable reads of unlinked person data

Revision ID: 0011_account_lifecycle
Revises: 0010_person_links
Create Date: 2026-12-08 00:10:00

The access log names records that carry person data before any person record exists (an
unlinked referral's minimum dataset, an inbound payload body, a portal import row) and the NHS
numbers they carry, so a subject-access search by NHS number finds those reads too. Accounts
are listed by organisation for registered managers.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011_account_lifecycle"
down_revision: str | None = "0010_person_links"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "access_log",
        sa.Column(
            "records",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
    )
    op.add_column(
        "access_log",
        sa.Column(
            "nhs_numbers",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
    )
    op.create_index(
        "ix_access_log_nhs_numbers", "access_log", ["nhs_numbers"], postgresql_using="gin"
    )
    op.create_index("ix_access_log_records", "access_log", ["records"], postgresql_using="gin")
    op.create_index("ix_accounts_organisation_id", "accounts", ["organisation_id"])


def downgrade() -> None:
    op.drop_index("ix_accounts_organisation_id", table_name="accounts")
    op.drop_index("ix_access_log_records", table_name="access_log")
    op.drop_index("ix_access_log_nhs_numbers", table_name="access_log")
    op.drop_column("access_log", "nhs_numbers")
    op.drop_column("access_log", "records")
