"""person links: who a person belongs to, demographic-match evidence, held mismatches; referral
identifiers scoped to their sender

Revision ID: 0010_person_links
Revises: 0009_visit_judgement
Create Date: 2026-12-08 00:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010_person_links"
down_revision: str | None = "0009_visit_judgement"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PERSON_LINK_BASIS = postgresql.ENUM(
    "registered", "demographic_match", name="person_link_basis", create_type=False
)


def _timestamps() -> list[sa.Column[object]]:
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


def upgrade() -> None:
    PERSON_LINK_BASIS.create(op.get_bind(), checkfirst=False)
    op.create_table(
        "person_links",
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("basis", PERSON_LINK_BASIS, nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column(
            "matched_fields",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("actor", sa.Text(), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_person_links_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_person_links_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_links")),
        sa.UniqueConstraint(
            "person_id", "organisation_id", name=op.f("uq_person_links_person_id_organisation_id")
        ),
    )
    op.create_table(
        "person_link_holds",
        sa.Column("existing_person_id", sa.Uuid(), nullable=False),
        sa.Column("receiving_organisation_id", sa.Uuid(), nullable=True),
        sa.Column("sender_organisation_id", sa.Uuid(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("submitted", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["existing_person_id"],
            ["people.id"],
            name=op.f("fk_person_link_holds_existing_person_id_people"),
        ),
        sa.ForeignKeyConstraint(
            ["receiving_organisation_id"],
            ["organisations.id"],
            name=op.f("fk_person_link_holds_receiving_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["sender_organisation_id"],
            ["organisations.id"],
            name=op.f("fk_person_link_holds_sender_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_link_holds")),
    )
    op.create_index(
        "ix_person_link_holds_existing_person_id",
        "person_link_holds",
        ["existing_person_id"],
        unique=False,
    )
    # Registration already recorded its owner; make it a link too, so the table answers
    # "which organisations hold this person, and on what evidence" on its own.
    op.execute(
        "INSERT INTO person_links (id, person_id, organisation_id, basis, source, "
        "matched_fields, actor) SELECT gen_random_uuid(), id, registered_by_id, 'registered', "
        "'office', '{}'::text[], 'migration' FROM people WHERE registered_by_id IS NOT NULL"
    )

    op.add_column("referrals", sa.Column("sent_by_organisation_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_referrals_sent_by_organisation_id_organisations"),
        "referrals",
        "organisations",
        ["sent_by_organisation_id"],
        ["id"],
    )
    # Who sent the referrals already held: a partner's have it as referrer; an office's own
    # entries are keyed by the office.
    op.execute(
        "UPDATE referrals SET sent_by_organisation_id = "
        "COALESCE(referrer_organisation_id, provider_id)"
    )
    op.drop_constraint(
        op.f("uq_referrals_source_system_source_identifier"), "referrals", type_="unique"
    )
    op.create_index(
        "uq_referrals_sender_source_identifier",
        "referrals",
        ["sent_by_organisation_id", "source_system", "source_identifier"],
        unique=True,
        postgresql_nulls_not_distinct=True,
        postgresql_where=sa.text("source_identifier IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_referrals_sender_source_identifier", table_name="referrals")
    op.create_unique_constraint(
        op.f("uq_referrals_source_system_source_identifier"),
        "referrals",
        ["source_system", "source_identifier"],
    )
    op.drop_constraint(
        op.f("fk_referrals_sent_by_organisation_id_organisations"), "referrals", type_="foreignkey"
    )
    op.drop_column("referrals", "sent_by_organisation_id")
    op.drop_index("ix_person_link_holds_existing_person_id", table_name="person_link_holds")
    op.drop_table("person_link_holds")
    op.drop_table("person_links")
    PERSON_LINK_BASIS.drop(op.get_bind(), checkfirst=False)
