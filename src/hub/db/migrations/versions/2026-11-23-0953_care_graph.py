"""care graph

Revision ID: 0003_care_graph
Revises: 0002_accounts_access_log
Create Date: 2026-11-23 09:53:16.121327
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_care_graph"
down_revision: str | None = "0002_accounts_access_log"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Enum types are created and dropped explicitly: several tables share some of them.
NHS_NUMBER_STATUS = postgresql.ENUM(
    "verified", "unverified", "failed_check", "absent", name="nhs_number_status", create_type=False
)
MEDICATION_SUPPORT = postgresql.ENUM(
    "none", "prompt", "assist", "administer", name="medication_support", create_type=False
)
SERVICE_TYPE = postgresql.ENUM(
    "homecare",
    "reablement",
    "community_nursing",
    "supported_living",
    "other",
    name="service_type",
    create_type=False,
)
STAFF_ROLE = postgresql.ENUM(
    "carer",
    "senior_carer",
    "nurse",
    "coordinator",
    "registered_manager",
    "other",
    name="staff_role",
    create_type=False,
)
PACKAGE_STATUS = postgresql.ENUM(
    "referred",
    "accepted",
    "planned",
    "live",
    "suspended",
    "ended",
    name="package_status",
    create_type=False,
)
RAG_RATING = postgresql.ENUM("red", "amber", "green", name="rag_rating", create_type=False)
CHANGE_REQUEST_KIND = postgresql.ENUM(
    "supplier_software_update",
    "contract_variation",
    "commissioner_amendment",
    name="change_request_kind",
    create_type=False,
)
CHANGE_REQUEST_STATUS = postgresql.ENUM(
    "proposed",
    "assessed",
    "approved",
    "rejected",
    "implemented",
    "reviewed",
    name="change_request_status",
    create_type=False,
)
COMPETENCY_STATUS = postgresql.ENUM(
    "evidenced", "revalidated", "restricted", "expired", name="competency_status", create_type=False
)
REFERRAL_SOURCE = postgresql.ENUM(
    "gp",
    "hospital_discharge",
    "social_care",
    "self",
    "third_sector",
    "other",
    name="referral_source",
    create_type=False,
)
REFERRAL_STATUS = postgresql.ENUM(
    "received",
    "triaged",
    "accepted",
    "excluded",
    "converted",
    "withdrawn",
    name="referral_status",
    create_type=False,
)
RISK_TIER = postgresql.ENUM("high", "medium", "low", name="risk_tier", create_type=False)
ENUMS = (
    NHS_NUMBER_STATUS,
    MEDICATION_SUPPORT,
    SERVICE_TYPE,
    STAFF_ROLE,
    PACKAGE_STATUS,
    RAG_RATING,
    CHANGE_REQUEST_KIND,
    CHANGE_REQUEST_STATUS,
    COMPETENCY_STATUS,
    REFERRAL_SOURCE,
    REFERRAL_STATUS,
    RISK_TIER,
)


def upgrade() -> None:
    for enum in ENUMS:
        enum.create(op.get_bind())
    op.create_table(
        "people",
        sa.Column("nhs_number", sa.Text(), nullable=True),
        sa.Column("nhs_number_status", NHS_NUMBER_STATUS, nullable=False),
        sa.Column("nhs_number_source", sa.Text(), nullable=True),
        sa.Column("given_name", sa.Text(), nullable=False),
        sa.Column("family_name", sa.Text(), nullable=False),
        sa.Column("preferred_name", sa.Text(), nullable=True),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        sa.Column("address_line_1", sa.Text(), nullable=False),
        sa.Column("address_line_2", sa.Text(), nullable=True),
        sa.Column("town", sa.Text(), nullable=False),
        sa.Column("postcode", sa.Text(), nullable=False),
        sa.Column("latitude", sa.Double(), nullable=True),
        sa.Column("longitude", sa.Double(), nullable=True),
        sa.Column("access_details_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("key_safe_sealed", sa.LargeBinary(), nullable=True),
        sa.Column(
            "contacts",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("falls_risk", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "safeguarding_history", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("dnar", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("escalation_preferences", sa.Text(), nullable=True),
        sa.Column(
            "lone_working_risk", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("environmental_risks", sa.Text(), nullable=True),
        sa.Column("lives_alone", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("registered_by_id", sa.Uuid(), nullable=True),
        sa.Column("medication_support", MEDICATION_SUPPORT, nullable=False),
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
            ["registered_by_id"],
            ["organisations.id"],
            name=op.f("fk_people_registered_by_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people")),
    )
    op.create_index("ix_people_family_name", "people", ["family_name"], unique=False)
    op.create_index(
        "uq_people_nhs_number",
        "people",
        ["nhs_number"],
        unique=True,
        postgresql_where=sa.text("nhs_number_status IN ('verified', 'unverified')"),
    )
    op.create_table(
        "contracts",
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("commissioner_id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("service_type", SERVICE_TYPE, nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("late_after_minutes", sa.Integer(), nullable=False),
        sa.Column("time_critical_late_after_minutes", sa.Integer(), nullable=False),
        sa.Column("missed_after_minutes", sa.Integer(), nullable=False),
        sa.Column("minimum_stay_percent", sa.Integer(), nullable=False),
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
        sa.CheckConstraint(
            "ends_on IS NULL OR ends_on >= starts_on", name=op.f("ck_contracts_dates_in_order")
        ),
        sa.CheckConstraint(
            "minimum_stay_percent BETWEEN 1 AND 100", name=op.f("ck_contracts_stay_percent_range")
        ),
        sa.CheckConstraint(
            "time_critical_late_after_minutes <= late_after_minutes AND late_after_minutes < missed_after_minutes",
            name=op.f("ck_contracts_tolerances_in_order"),
        ),
        sa.ForeignKeyConstraint(
            ["commissioner_id"],
            ["organisations.id"],
            name=op.f("fk_contracts_commissioner_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["organisations.id"],
            name=op.f("fk_contracts_provider_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts")),
        sa.UniqueConstraint("reference", name=op.f("uq_contracts_reference")),
    )
    op.create_index("ix_contracts_commissioner_id", "contracts", ["commissioner_id"], unique=False)
    op.create_index("ix_contracts_provider_id", "contracts", ["provider_id"], unique=False)
    op.create_table(
        "staff_members",
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("given_name", sa.Text(), nullable=False),
        sa.Column("family_name", sa.Text(), nullable=False),
        sa.Column("role", STAFF_ROLE, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("tupe_origin_id", sa.Uuid(), nullable=True),
        sa.Column("tupe_transferred_on", sa.Date(), nullable=True),
        sa.Column("external_source", sa.Text(), nullable=True),
        sa.Column("external_id", sa.Text(), nullable=True),
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
            name=op.f("fk_staff_members_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["tupe_origin_id"],
            ["organisations.id"],
            name=op.f("fk_staff_members_tupe_origin_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_members")),
        sa.UniqueConstraint(
            "external_source",
            "external_id",
            name=op.f("uq_staff_members_external_source_external_id"),
        ),
    )
    op.create_index(
        "ix_staff_members_organisation_id", "staff_members", ["organisation_id"], unique=False
    )
    op.create_table(
        "care_packages",
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("contract_id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("status", PACKAGE_STATUS, nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("rag", RAG_RATING, nullable=True),
        sa.Column(
            "rag_reasons",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "held_out_of_rota", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column(
            "information_gaps",
            sa.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("incumbent_provider_id", sa.Uuid(), nullable=True),
        sa.Column("transferred_on", sa.Date(), nullable=True),
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
        sa.CheckConstraint(
            "ends_on IS NULL OR ends_on >= starts_on", name=op.f("ck_care_packages_dates_in_order")
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["contracts.id"], name=op.f("fk_care_packages_contract_id_contracts")
        ),
        sa.ForeignKeyConstraint(
            ["incumbent_provider_id"],
            ["organisations.id"],
            name=op.f("fk_care_packages_incumbent_provider_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_care_packages_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["organisations.id"],
            name=op.f("fk_care_packages_provider_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_packages")),
        sa.UniqueConstraint("reference", name=op.f("uq_care_packages_reference")),
    )
    op.create_index(
        "ix_care_packages_contract_id_status",
        "care_packages",
        ["contract_id", "status"],
        unique=False,
    )
    op.create_index("ix_care_packages_person_id", "care_packages", ["person_id"], unique=False)
    op.create_index("ix_care_packages_provider_id", "care_packages", ["provider_id"], unique=False)
    op.create_table(
        "change_requests",
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("kind", CHANGE_REQUEST_KIND, nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("raised_by_organisation_id", sa.Uuid(), nullable=False),
        sa.Column("contract_id", sa.Uuid(), nullable=True),
        sa.Column(
            "affected_package_ids",
            sa.ARRAY(sa.Uuid()),
            server_default=sa.text("'{}'::uuid[]"),
            nullable=False,
        ),
        sa.Column(
            "affected_workflows",
            sa.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("capacity_impact", sa.Text(), nullable=True),
        sa.Column("risk_impact", sa.Text(), nullable=True),
        sa.Column("cost_impact_pence", sa.Integer(), nullable=True),
        sa.Column("assurance_plan", sa.Text(), nullable=True),
        sa.Column("status", CHANGE_REQUEST_STATUS, nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=True),
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
            ["contract_id"], ["contracts.id"], name=op.f("fk_change_requests_contract_id_contracts")
        ),
        sa.ForeignKeyConstraint(
            ["raised_by_organisation_id"],
            ["organisations.id"],
            name=op.f("fk_change_requests_raised_by_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_requests")),
        sa.UniqueConstraint("reference", name=op.f("uq_change_requests_reference")),
    )
    op.create_index(
        "ix_change_requests_contract_id", "change_requests", ["contract_id"], unique=False
    )
    op.create_index(
        "ix_change_requests_raised_by_organisation_id",
        "change_requests",
        ["raised_by_organisation_id"],
        unique=False,
    )
    op.create_table(
        "competencies",
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("status", COMPETENCY_STATUS, nullable=False),
        sa.Column("evidence_reference", sa.Text(), nullable=True),
        sa.Column("assessed_by", sa.Text(), nullable=True),
        sa.Column("assessed_on", sa.Date(), nullable=True),
        sa.Column("expires_on", sa.Date(), nullable=True),
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
            ["staff_id"],
            ["staff_members.id"],
            name=op.f("fk_competencies_staff_id_staff_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_competencies")),
        sa.UniqueConstraint("staff_id", "code", name=op.f("uq_competencies_staff_id_code")),
    )
    op.create_table(
        "kpi_definitions",
        sa.Column("contract_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("source_event_types", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("quality_rule", sa.Text(), nullable=False),
        sa.Column("exception_rule", sa.Text(), nullable=False),
        sa.Column("governance_action", sa.Text(), nullable=False),
        sa.Column(
            "target_percent", sa.Numeric(precision=5, scale=2, asdecimal=False), nullable=True
        ),
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
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_kpi_definitions_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_definitions")),
        sa.UniqueConstraint(
            "contract_id", "code", name=op.f("uq_kpi_definitions_contract_id_code")
        ),
    )
    op.create_table(
        "resolution_outcomes",
        sa.Column("contract_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("required_fields", sa.ARRAY(sa.Text()), nullable=False),
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
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_resolution_outcomes_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resolution_outcomes")),
        sa.UniqueConstraint(
            "contract_id", "code", name=op.f("uq_resolution_outcomes_contract_id_code")
        ),
    )
    op.create_table(
        "change_decisions",
        sa.Column("change_request_id", sa.Uuid(), nullable=False),
        sa.Column("from_status", CHANGE_REQUEST_STATUS, nullable=True),
        sa.Column("to_status", CHANGE_REQUEST_STATUS, nullable=False),
        sa.Column("decided_by", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
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
            ["change_request_id"],
            ["change_requests.id"],
            name=op.f("fk_change_decisions_change_request_id_change_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_decisions")),
    )
    op.create_index(
        op.f("ix_change_decisions_change_request_id"),
        "change_decisions",
        ["change_request_id"],
        unique=False,
    )
    op.create_table(
        "referrals",
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("source", REFERRAL_SOURCE, nullable=False),
        sa.Column("referrer_organisation_id", sa.Uuid(), nullable=True),
        sa.Column("provider_id", sa.Uuid(), nullable=True),
        sa.Column("contract_id", sa.Uuid(), nullable=True),
        sa.Column("person_id", sa.Uuid(), nullable=True),
        sa.Column("source_system", sa.Text(), nullable=True),
        sa.Column("source_identifier", sa.Text(), nullable=True),
        sa.Column(
            "minimum_dataset",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "missing_fields",
            sa.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("status", REFERRAL_STATUS, nullable=False),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("risk_tier", RISK_TIER, nullable=True),
        sa.Column("maximum_safe_wait_days", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("package_id", sa.Uuid(), nullable=True),
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
            ["contract_id"], ["contracts.id"], name=op.f("fk_referrals_contract_id_contracts")
        ),
        sa.ForeignKeyConstraint(
            ["package_id"], ["care_packages.id"], name=op.f("fk_referrals_package_id_care_packages")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_referrals_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["organisations.id"],
            name=op.f("fk_referrals_provider_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["referrer_organisation_id"],
            ["organisations.id"],
            name=op.f("fk_referrals_referrer_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
        sa.UniqueConstraint("reference", name=op.f("uq_referrals_reference")),
        sa.UniqueConstraint(
            "source_system",
            "source_identifier",
            name=op.f("uq_referrals_source_system_source_identifier"),
        ),
    )
    op.create_index(
        "ix_referrals_provider_id_status", "referrals", ["provider_id", "status"], unique=False
    )
    op.create_index(
        "ix_referrals_referrer_organisation_id",
        "referrals",
        ["referrer_organisation_id"],
        unique=False,
    )
    op.create_table(
        "schedule_entries",
        sa.Column("package_id", sa.Uuid(), nullable=False),
        sa.Column("weekdays", sa.ARRAY(sa.SmallInteger()), nullable=False),
        sa.Column("start_time", sa.Time(), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("time_critical", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("double_handed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "tasks",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
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
        sa.CheckConstraint(
            "duration_minutes BETWEEN 5 AND 1440", name=op.f("ck_schedule_entries_duration_range")
        ),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["care_packages.id"],
            name=op.f("fk_schedule_entries_package_id_care_packages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_entries")),
    )
    op.create_index(
        "ix_schedule_entries_package_id", "schedule_entries", ["package_id"], unique=False
    )
    op.create_table(
        "visits",
        sa.Column("package_id", sa.Uuid(), nullable=False),
        sa.Column("schedule_entry_id", sa.Uuid(), nullable=True),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("planned_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("planned_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("start_resolution", sa.Text(), server_default=sa.text("'exact'"), nullable=False),
        sa.Column("time_critical", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("double_handed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "tasks",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancellation_reason", sa.Text(), nullable=True),
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
        sa.CheckConstraint("planned_end > planned_start", name=op.f("ck_visits_planned_in_order")),
        sa.ForeignKeyConstraint(
            ["package_id"], ["care_packages.id"], name=op.f("fk_visits_package_id_care_packages")
        ),
        sa.ForeignKeyConstraint(
            ["schedule_entry_id"],
            ["schedule_entries.id"],
            name=op.f("fk_visits_schedule_entry_id_schedule_entries"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visits")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_visits_idempotency_key")),
    )
    op.create_index(
        "ix_visits_package_id_planned_start",
        "visits",
        ["package_id", "planned_start"],
        unique=False,
    )
    op.create_index("ix_visits_planned_start", "visits", ["planned_start"], unique=False)
    op.create_table(
        "visit_assignments",
        sa.Column("visit_id", sa.Uuid(), nullable=False),
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("assigned_by", sa.Text(), nullable=False),
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
            ["staff_id"],
            ["staff_members.id"],
            name=op.f("fk_visit_assignments_staff_id_staff_members"),
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["visits.id"],
            name=op.f("fk_visit_assignments_visit_id_visits"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_assignments")),
        sa.UniqueConstraint(
            "visit_id", "staff_id", name=op.f("uq_visit_assignments_visit_id_staff_id")
        ),
    )
    op.create_index(
        "ix_visit_assignments_staff_id", "visit_assignments", ["staff_id"], unique=False
    )
    op.create_foreign_key(
        op.f("fk_accounts_staff_id_staff_members"),
        "accounts",
        "staff_members",
        ["staff_id"],
        ["id"],
    )


def downgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    op.drop_constraint(op.f("fk_accounts_staff_id_staff_members"), "accounts", type_="foreignkey")
    op.drop_index("ix_visit_assignments_staff_id", table_name="visit_assignments")
    op.drop_table("visit_assignments")
    op.drop_index("ix_visits_planned_start", table_name="visits")
    op.drop_index("ix_visits_package_id_planned_start", table_name="visits")
    op.drop_table("visits")
    op.drop_index("ix_schedule_entries_package_id", table_name="schedule_entries")
    op.drop_table("schedule_entries")
    op.drop_index("ix_referrals_referrer_organisation_id", table_name="referrals")
    op.drop_index("ix_referrals_provider_id_status", table_name="referrals")
    op.drop_table("referrals")
    op.drop_index(op.f("ix_change_decisions_change_request_id"), table_name="change_decisions")
    op.drop_table("change_decisions")
    op.drop_table("resolution_outcomes")
    op.drop_table("kpi_definitions")
    op.drop_table("competencies")
    op.drop_index("ix_change_requests_raised_by_organisation_id", table_name="change_requests")
    op.drop_index("ix_change_requests_contract_id", table_name="change_requests")
    op.drop_table("change_requests")
    op.drop_index("ix_care_packages_provider_id", table_name="care_packages")
    op.drop_index("ix_care_packages_person_id", table_name="care_packages")
    op.drop_index("ix_care_packages_contract_id_status", table_name="care_packages")
    op.drop_table("care_packages")
    op.drop_index("ix_staff_members_organisation_id", table_name="staff_members")
    op.drop_table("staff_members")
    op.drop_index("ix_contracts_provider_id", table_name="contracts")
    op.drop_index("ix_contracts_commissioner_id", table_name="contracts")
    op.drop_table("contracts")
    op.drop_index(
        "uq_people_nhs_number",
        table_name="people",
        postgresql_where=sa.text("nhs_number_status IN ('verified', 'unverified')"),
    )
    op.drop_index("ix_people_family_name", table_name="people")
    op.drop_table("people")
    for enum in reversed(ENUMS):
        enum.drop(op.get_bind())
