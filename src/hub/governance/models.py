"""Tables of the governance domain (see ../shared/DESIGN.md §4): exception cases, the events
that evidence them, the actions attached to them, each contract's escalation ladder and rule
settings, the rule runners' cursors, and the events the rules failed on."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Entity, pg_enum
from hub.governance.lifecycle import ActionKind, CaseSeverity, CaseStatus


class ExceptionCase(Entity):
    """One exception a rule detected, owned until it is resolved with an outcome and closed.

    Idempotent on (rule, subject): a rule that runs twice over the same facts finds its case.
    `contract_id` and `provider_id` drive tenancy (commissioners see their contracts' cases,
    the provider's office its own); both may be null only for a data-quality case whose
    upstream could not be attributed."""

    __tablename__ = "exception_cases"

    rule: Mapped[str] = mapped_column(Text)
    subject_type: Mapped[str] = mapped_column(Text)
    subject_id: Mapped[uuid.UUID]
    contract_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contracts.id"))
    provider_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id"))
    visit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("visits.id"))
    title: Mapped[str] = mapped_column(Text)
    severity: Mapped[CaseSeverity] = mapped_column(pg_enum(CaseSeverity, "case_severity"))
    status: Mapped[CaseStatus] = mapped_column(pg_enum(CaseStatus, "case_status"))
    # The rung of the escalation ladder (0 = first owner) and who holds the case there.
    level: Mapped[int] = mapped_column(server_default=text("0"))
    owner_role: Mapped[str] = mapped_column(Text)
    # The person who took it (acknowledged or was assigned), as the event log names actors.
    owner: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime]
    opened_event_id: Mapped[int | None] = mapped_column(BigInteger)
    acknowledge_due_at: Mapped[datetime]
    due_at: Mapped[datetime]
    next_escalation_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(Text)
    outcome_code: Mapped[str | None] = mapped_column(Text)
    outcome_fields: Mapped[dict[str, Any]] = mapped_column(
        JSONB, server_default=text("'{}'::jsonb")
    )
    resolution_note: Mapped[str | None] = mapped_column(Text)
    # What a late-arriving fact said about the case (kind, both times, ...), if one did.
    reconciliation: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # Safeguarding cases: whether a referral was made, why, by whom, when.
    safeguarding_decision: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # What the rule saw: thresholds, planned times, flags, values.
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))

    __table_args__ = (
        UniqueConstraint("rule", "subject_type", "subject_id"),
        CheckConstraint("level >= 0", name="level_not_negative"),
        Index("ix_exception_cases_contract_id_opened_at", "contract_id", "opened_at", "id"),
        Index("ix_exception_cases_provider_id_opened_at", "provider_id", "opened_at", "id"),
        Index("ix_exception_cases_opened_at", "opened_at", "id"),
        Index("ix_exception_cases_person_id_opened_at", "person_id", "opened_at"),
        Index("ix_exception_cases_visit_id", "visit_id"),
        # The escalation timer reads only cases with a next rung due.
        Index(
            "ix_exception_cases_next_escalation_at",
            "next_escalation_at",
            postgresql_where=text("next_escalation_at IS NOT NULL"),
        ),
    )


class CaseEvidence(Entity):
    """An event that opened, evidences or reconciled a case: the audit pack's source rows.
    (The case's own `case.*` events are found by subject; these are the others.)"""

    __tablename__ = "case_events"

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exception_cases.id", ondelete="CASCADE"))
    # No foreign key: the event log is append-only and may be partitioned by month.
    event_id: Mapped[int] = mapped_column(BigInteger)
    # opened | evidence | reconciled
    relation: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("case_id", "event_id"),
        Index("ix_case_events_event_id", "event_id"),
    )


class CaseAction(Entity):
    """A review, learning or governance action attached to a case, tracked to completion."""

    __tablename__ = "case_actions"

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exception_cases.id", ondelete="CASCADE"))
    kind: Mapped[ActionKind] = mapped_column(pg_enum(ActionKind, "case_action_kind"))
    description: Mapped[str] = mapped_column(Text)
    owner_role: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(Text)
    completed_at: Mapped[datetime | None]
    completed_by: Mapped[str | None] = mapped_column(Text)
    completion_note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_case_actions_case_id", "case_id"),)


class EscalationStepRow(Entity):
    """One rung of a contract's escalation ladder (see `hub.governance.policy`)."""

    __tablename__ = "escalation_steps"

    contract_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"))
    level: Mapped[int]
    target: Mapped[str] = mapped_column(Text)
    after_minutes: Mapped[int]

    __table_args__ = (
        UniqueConstraint("contract_id", "level"),
        CheckConstraint("level >= 1", name="level_positive"),
        CheckConstraint("after_minutes >= 0", name="after_minutes_not_negative"),
    )


class CaseRuleSettingsRow(Entity):
    """A contract's rule thresholds; a contract without a row uses the defaults."""

    __tablename__ = "case_rule_settings"

    contract_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), unique=True
    )
    pain_threshold: Mapped[int]
    low_fluid_ml: Mapped[int]
    repeat_count: Mapped[int]
    repeat_window_days: Mapped[int]
    acknowledge_within_minutes: Mapped[int]
    resolve_within_minutes: Mapped[int]


class RuleCursor(Entity):
    """Where a rule runner has got to: the last event it judged, as a feed position (its
    writing transaction `txid`, then `event_id`: see `hub.events.feed.FeedPosition`), or the
    instant the due-visit scan last judged. Locked while a runner works, so two workers never
    run one at once."""

    __tablename__ = "governance_cursors"

    name: Mapped[str] = mapped_column(Text, unique=True)
    txid: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    event_id: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    scanned_to: Mapped[datetime | None]


class RuleFailure(Entity):
    """An event the rules failed on: kept, retried, and shown to admins and the provider's
    registered manager until a retry judges it (`resolved_at`). Nothing is dropped silently.

    One row per event. `next_attempt_at` is when the runner tries again; null once resolved or
    once `attempts` reached the limit (the row then stays unresolved and visible; setting
    `next_attempt_at` again, once the cause is fixed, has the runner retry it).
    `contract_id`/`provider_id` come from the event's contract when the hub knows it (no foreign
    keys: an unknown contract may be the very cause); without a provider the failure is for
    admins only."""

    __tablename__ = "governance_rule_failures"

    # No foreign key: the event log is append-only and may be partitioned by month.
    event_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    event_type: Mapped[str] = mapped_column(Text)
    contract_id: Mapped[uuid.UUID | None]
    provider_id: Mapped[uuid.UUID | None]
    error_class: Mapped[str] = mapped_column(Text)
    error_message: Mapped[str] = mapped_column(Text)
    first_failed_at: Mapped[datetime]
    last_failed_at: Mapped[datetime]
    attempts: Mapped[int]
    next_attempt_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("attempts >= 1", name="attempts_positive"),
        Index("ix_governance_rule_failures_first_failed_at", "first_failed_at", "id"),
        Index(
            "ix_governance_rule_failures_provider_id_first_failed_at",
            "provider_id",
            "first_failed_at",
            "id",
        ),
        # The runner reads only failures with a retry due.
        Index(
            "ix_governance_rule_failures_next_attempt_at",
            "next_attempt_at",
            postgresql_where=text("next_attempt_at IS NOT NULL"),
        ),
    )
