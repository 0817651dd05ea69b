"""governance: exception cases, escalation, actions

Revision ID: 0005_governance
Revises: 0004_field_facts_mobile
Create Date: 2026-11-23 12:00:00

Owned by: issue 6 (governance). Exception cases (idempotent on rule + subject), the events
that evidence them, their review/learning/governance actions, each contract's escalation ladder
and rule settings, the rule runners' cursors (feed positions: transaction id, event id), and
the events the rules failed on (kept and retried, never dropped).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_governance"
down_revision: str | None = "0004_field_facts_mobile"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CASE_SEVERITY = postgresql.ENUM(
    "low", "medium", "high", "critical", name="case_severity", create_type=False
)
CASE_STATUS = postgresql.ENUM(
    "open", "acknowledged", "escalated", "resolved", "closed", name="case_status", create_type=False
)
CASE_ACTION_KIND = postgresql.ENUM(
    "review", "learning", "governance", name="case_action_kind", create_type=False
)
ENUMS = (CASE_SEVERITY, CASE_STATUS, CASE_ACTION_KIND)


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


def upgrade() -> None:
    for enum in ENUMS:
        enum.create(op.get_bind())
    op.create_table(
        "exception_cases",
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("subject_type", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("contract_id", sa.Uuid(), nullable=True),
        sa.Column("provider_id", sa.Uuid(), nullable=True),
        sa.Column("person_id", sa.Uuid(), nullable=True),
        sa.Column("visit_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("severity", CASE_SEVERITY, nullable=False),
        sa.Column("status", CASE_STATUS, nullable=False),
        sa.Column("level", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("owner_role", sa.Text(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_event_id", sa.BigInteger(), nullable=True),
        sa.Column("acknowledge_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_escalation_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.Text(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.Text(), nullable=True),
        sa.Column("outcome_code", sa.Text(), nullable=True),
        sa.Column(
            "outcome_fields",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.Column("reconciliation", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("safeguarding_decision", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        *_entity_columns(),
        sa.CheckConstraint("level >= 0", name=op.f("ck_exception_cases_level_not_negative")),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["contracts.id"], name=op.f("fk_exception_cases_contract_id_contracts")
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["organisations.id"],
            name=op.f("fk_exception_cases_provider_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_exception_cases_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["visits.id"], name=op.f("fk_exception_cases_visit_id_visits")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exception_cases")),
        sa.UniqueConstraint(
            "rule",
            "subject_type",
            "subject_id",
            name=op.f("uq_exception_cases_rule_subject_type_subject_id"),
        ),
    )
    op.create_index(
        "ix_exception_cases_contract_id_opened_at",
        "exception_cases",
        ["contract_id", "opened_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_exception_cases_provider_id_opened_at",
        "exception_cases",
        ["provider_id", "opened_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_exception_cases_opened_at", "exception_cases", ["opened_at", "id"], unique=False
    )
    op.create_index(
        "ix_exception_cases_person_id_opened_at",
        "exception_cases",
        ["person_id", "opened_at"],
        unique=False,
    )
    op.create_index("ix_exception_cases_visit_id", "exception_cases", ["visit_id"], unique=False)
    op.create_index(
        "ix_exception_cases_next_escalation_at",
        "exception_cases",
        ["next_escalation_at"],
        unique=False,
        postgresql_where=sa.text("next_escalation_at IS NOT NULL"),
    )
    op.create_table(
        "case_events",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("relation", sa.Text(), nullable=False),
        *_entity_columns(),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["exception_cases.id"],
            name=op.f("fk_case_events_case_id_exception_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_events")),
        sa.UniqueConstraint("case_id", "event_id", name=op.f("uq_case_events_case_id_event_id")),
    )
    op.create_index("ix_case_events_event_id", "case_events", ["event_id"], unique=False)
    op.create_table(
        "case_actions",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("kind", CASE_ACTION_KIND, nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owner_role", sa.Text(), nullable=True),
        sa.Column("owner", sa.Text(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_by", sa.Text(), nullable=True),
        sa.Column("completion_note", sa.Text(), nullable=True),
        *_entity_columns(),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["exception_cases.id"],
            name=op.f("fk_case_actions_case_id_exception_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_actions")),
    )
    op.create_index("ix_case_actions_case_id", "case_actions", ["case_id"], unique=False)
    op.create_table(
        "escalation_steps",
        sa.Column("contract_id", sa.Uuid(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("after_minutes", sa.Integer(), nullable=False),
        *_entity_columns(),
        sa.CheckConstraint("level >= 1", name=op.f("ck_escalation_steps_level_positive")),
        sa.CheckConstraint(
            "after_minutes >= 0", name=op.f("ck_escalation_steps_after_minutes_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_escalation_steps_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation_steps")),
        sa.UniqueConstraint(
            "contract_id", "level", name=op.f("uq_escalation_steps_contract_id_level")
        ),
    )
    op.create_table(
        "case_rule_settings",
        sa.Column("contract_id", sa.Uuid(), nullable=False),
        sa.Column("pain_threshold", sa.Integer(), nullable=False),
        sa.Column("low_fluid_ml", sa.Integer(), nullable=False),
        sa.Column("repeat_count", sa.Integer(), nullable=False),
        sa.Column("repeat_window_days", sa.Integer(), nullable=False),
        sa.Column("acknowledge_within_minutes", sa.Integer(), nullable=False),
        sa.Column("resolve_within_minutes", sa.Integer(), nullable=False),
        *_entity_columns(),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_case_rule_settings_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_rule_settings")),
        sa.UniqueConstraint("contract_id", name=op.f("uq_case_rule_settings_contract_id")),
    )
    op.create_table(
        "governance_cursors",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("txid", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("event_id", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("scanned_to", sa.DateTime(timezone=True), nullable=True),
        *_entity_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_cursors")),
        sa.UniqueConstraint("name", name=op.f("uq_governance_cursors_name")),
    )
    op.create_table(
        "governance_rule_failures",
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("contract_id", sa.Uuid(), nullable=True),
        sa.Column("provider_id", sa.Uuid(), nullable=True),
        sa.Column("error_class", sa.Text(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=False),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        *_entity_columns(),
        sa.CheckConstraint(
            "attempts >= 1", name=op.f("ck_governance_rule_failures_attempts_positive")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_rule_failures")),
        sa.UniqueConstraint("event_id", name=op.f("uq_governance_rule_failures_event_id")),
    )
    op.create_index(
        "ix_governance_rule_failures_first_failed_at",
        "governance_rule_failures",
        ["first_failed_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_governance_rule_failures_provider_id_first_failed_at",
        "governance_rule_failures",
        ["provider_id", "first_failed_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_governance_rule_failures_next_attempt_at",
        "governance_rule_failures",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("next_attempt_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_governance_rule_failures_next_attempt_at",
        table_name="governance_rule_failures",
        postgresql_where=sa.text("next_attempt_at IS NOT NULL"),
    )
    op.drop_index(
        "ix_governance_rule_failures_provider_id_first_failed_at",
        table_name="governance_rule_failures",
    )
    op.drop_index(
        "ix_governance_rule_failures_first_failed_at", table_name="governance_rule_failures"
    )
    op.drop_table("governance_rule_failures")
    op.drop_table("governance_cursors")
    op.drop_table("case_rule_settings")
    op.drop_table("escalation_steps")
    op.drop_index("ix_case_actions_case_id", table_name="case_actions")
    op.drop_table("case_actions")
    op.drop_index("ix_case_events_event_id", table_name="case_events")
    op.drop_table("case_events")
    op.drop_index(
        "ix_exception_cases_next_escalation_at",
        table_name="exception_cases",
        postgresql_where=sa.text("next_escalation_at IS NOT NULL"),
    )
    op.drop_index("ix_exception_cases_visit_id", table_name="exception_cases")
    op.drop_index("ix_exception_cases_person_id_opened_at", table_name="exception_cases")
    op.drop_index("ix_exception_cases_opened_at", table_name="exception_cases")
    op.drop_index("ix_exception_cases_provider_id_opened_at", table_name="exception_cases")
    op.drop_index("ix_exception_cases_contract_id_opened_at", table_name="exception_cases")
    op.drop_table("exception_cases")
    for enum in reversed(ENUMS):
        enum.drop(op.get_bind())
