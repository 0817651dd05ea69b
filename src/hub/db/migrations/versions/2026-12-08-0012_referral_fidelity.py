"""referral fidelity: priority, the referrer as the referral names it, and who delivered it

Revision ID: 0012_referral_fidelity
Revises: 0011_account_lifecycle
Create Date: 2026-12-08 00:30:00

A referral sent by one organisation's system on behalf of another (e-RS, a discharge hub, a
GP federation's system) keeps both: `referrer_organisation_id` / `referrer_ods_code` are the
referrer the referral itself names, `delivered_by_organisation_id` is whose client delivered it.
The request priority moves onto the referral so the worklist can show an urgent one as urgent.
Existing FHIR referrals take both from the message that created them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012_referral_fidelity"
down_revision: str | None = "0011_account_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFERRAL_PRIORITY = postgresql.ENUM(
    "routine", "urgent", "asap", "stat", name="referral_priority", create_type=False
)


def upgrade() -> None:
    REFERRAL_PRIORITY.create(op.get_bind())
    op.add_column(
        "referrals",
        sa.Column(
            "priority",
            REFERRAL_PRIORITY,
            server_default=sa.text("'routine'"),
            nullable=False,
        ),
    )
    op.add_column("referrals", sa.Column("referrer_ods_code", sa.Text(), nullable=True))
    op.add_column("referrals", sa.Column("delivered_by_organisation_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_referrals_delivered_by_organisation_id_organisations"),
        "referrals",
        "organisations",
        ["delivered_by_organisation_id"],
        ["id"],
    )
    op.create_index(
        "ix_referrals_delivered_by_organisation_id",
        "referrals",
        ["delivered_by_organisation_id"],
    )
    # The first message of each FHIR referral says how urgent it was and who delivered it.
    op.execute(
        """
        UPDATE referrals AS r
           SET priority = first.priority::referral_priority,
               delivered_by_organisation_id = first.organisation_id
          FROM (
                SELECT DISTINCT ON (referral_id) referral_id, priority, organisation_id
                  FROM fhir_submissions
                 ORDER BY referral_id, received_at, id
               ) AS first
         WHERE first.referral_id = r.id
           AND first.priority IN ('routine', 'urgent', 'asap', 'stat')
        """
    )


def downgrade() -> None:
    op.drop_index("ix_referrals_delivered_by_organisation_id", table_name="referrals")
    op.drop_constraint(
        op.f("fk_referrals_delivered_by_organisation_id_organisations"),
        "referrals",
        type_="foreignkey",
    )
    op.drop_column("referrals", "delivered_by_organisation_id")
    op.drop_column("referrals", "referrer_ods_code")
    op.drop_column("referrals", "priority")
    REFERRAL_PRIORITY.drop(op.get_bind())
