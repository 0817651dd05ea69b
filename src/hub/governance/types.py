"""GraphQL output types of the governance domain and their `from_model` mappers.

A case's `details`, `timeline` and `auditPack` can carry what a carer recorded about a person
(an observation's note, a concern's description): reading them writes the access log like any
other person field."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

from hub.contracts.loaders import contract_loader, contract_type, outcomes_loader
from hub.contracts.types import Contract
from hub.db.uow import read_only
from hub.governance import lifecycle, service
from hub.governance.lifecycle import ActionKind as ActionKindValue
from hub.governance.lifecycle import CaseCommand as CommandValue
from hub.governance.lifecycle import CaseSeverity as SeverityValue
from hub.governance.lifecycle import CaseStatus as StatusValue
from hub.governance.loaders import case_actions_loader, case_timeline_loader
from hub.governance.models import CaseAction as CaseActionRow
from hub.governance.models import ExceptionCase as ExceptionCaseRow
from hub.governance.models import RuleFailure as RuleFailureRow
from hub.governance.policy import EscalationTarget as TargetValue
from hub.governance.rules import CaseRule as RuleValue
from hub.governance.service import BUILTIN_OUTCOMES, GovernancePolicy
from hub.graphql.context import Info
from hub.graphql.ids import encode_global_id
from hub.graphql.node import Node
from hub.tenancy import AccessScope
from hub.visits.loaders import request_now, visit_loader
from hub.visits.types import Visit


@strawberry.enum(description="open → acknowledged → escalated (level n) → resolved → closed.")
class CaseStatus(Enum):
    OPEN = StatusValue.OPEN.value
    ACKNOWLEDGED = StatusValue.ACKNOWLEDGED.value
    ESCALATED = StatusValue.ESCALATED.value
    RESOLVED = StatusValue.RESOLVED.value
    CLOSED = StatusValue.CLOSED.value


@strawberry.enum(description="How much harm the exception risks, set by the rule that opened it.")
class CaseSeverity(Enum):
    LOW = SeverityValue.LOW.value
    MEDIUM = SeverityValue.MEDIUM.value
    HIGH = SeverityValue.HIGH.value
    CRITICAL = SeverityValue.CRITICAL.value


@strawberry.enum(description="The rule that opened a case (DESIGN.md §5).")
class CaseRule(Enum):
    VISIT_LATE = RuleValue.VISIT_LATE.value
    VISIT_MISSED = RuleValue.VISIT_MISSED.value
    VISIT_SHORT = RuleValue.VISIT_SHORT.value
    VISIT_UNVERIFIED = RuleValue.VISIT_UNVERIFIED.value
    DOUBLE_HANDED_SINGLE = RuleValue.DOUBLE_HANDED_SINGLE.value
    COMPETENCY_BREACH = RuleValue.COMPETENCY_BREACH.value
    OBSERVATION_TRIGGER = RuleValue.OBSERVATION_TRIGGER.value
    REPEAT_PATTERN = RuleValue.REPEAT_PATTERN.value
    SAFEGUARDING_CONCERN = RuleValue.SAFEGUARDING_CONCERN.value
    DATA_QUALITY = RuleValue.DATA_QUALITY.value


@strawberry.enum(
    description="review (opened by a rule), learning (supervision, training, rota or care-plan "
    "change) or governance (e.g. an improvement notice)."
)
class CaseActionKind(Enum):
    REVIEW = ActionKindValue.REVIEW.value
    LEARNING = ActionKindValue.LEARNING.value
    GOVERNANCE = ActionKindValue.GOVERNANCE.value


@strawberry.enum(description="What may be done to a case in its current status.")
class CaseCommand(Enum):
    ACKNOWLEDGE = CommandValue.ACKNOWLEDGE.value
    ASSIGN = CommandValue.ASSIGN.value
    ESCALATE = CommandValue.ESCALATE.value
    RESOLVE = CommandValue.RESOLVE.value
    RECONCILE = CommandValue.RECONCILE.value
    CLOSE = CommandValue.CLOSE.value
    ADD_ACTION = CommandValue.ADD_ACTION.value
    COMPLETE_ACTION = CommandValue.COMPLETE_ACTION.value
    RECORD_SAFEGUARDING_DECISION = CommandValue.RECORD_SAFEGUARDING_DECISION.value


@strawberry.enum(
    description="Who holds a case at a rung of the escalation ladder; COMMISSIONER is a "
    "notification to the contract's commissioner."
)
class EscalationTarget(Enum):
    COORDINATOR = TargetValue.COORDINATOR.value
    ON_CALL_MANAGER = TargetValue.ON_CALL_MANAGER.value
    REGISTERED_MANAGER = TargetValue.REGISTERED_MANAGER.value
    COMMISSIONER = TargetValue.COMMISSIONER.value


def _iso_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


@strawberry.type(description="How a case was resolved, in the contract's words.")
class CaseOutcome:
    code: str
    label: str | None
    fields: JSON = strawberry.field(description="The fields the outcome requires, as recorded.")
    note: str | None


@strawberry.type(
    description="What a fact that arrived late (e.g. synced from an offline phone) said about "
    "the case. Both times are kept: when it happened and when the hub received it."
)
class CaseReconciliation:
    kind: str = strawberry.field(
        description="on_time_synced_late, attended_late, attended_arrival_unknown or "
        "second_carer_synced_late."
    )
    resolved_case: bool = strawberry.field(description="Whether it resolved the case.")
    fact_occurred_at: datetime | None = strawberry.field(description="Business time.")
    fact_received_at: datetime | None = strawberry.field(description="When the hub got it.")
    case_opened_at: datetime | None
    minutes_late: float | None
    details: JSON


@strawberry.type(description="A safeguarding decision: referral made or not, and why.")
class SafeguardingDecision:
    referral_made: bool
    reason: str
    referral_reference: str | None
    decided_by: str
    decided_at: datetime


@strawberry.type(description="A review, learning or governance action, tracked to completion.")
class CaseAction:
    id: strawberry.ID
    kind: CaseActionKind
    description: str
    owner_role: str | None
    owner: str | None
    due_at: datetime | None
    created_by: str
    created_at: datetime
    completed_at: datetime | None
    completed_by: str | None
    completion_note: str | None

    @classmethod
    def from_model(cls, row: CaseActionRow) -> CaseAction:
        return cls(
            id=strawberry.ID(encode_global_id("CaseAction", row.id)),
            kind=CaseActionKind(row.kind.value),
            description=row.description,
            owner_role=row.owner_role,
            owner=row.owner,
            due_at=row.due_at,
            created_by=row.created_by,
            created_at=row.created_at,
            completed_at=row.completed_at,
            completed_by=row.completed_by,
            completion_note=row.completion_note,
        )


@strawberry.type(description="One event in a case's timeline, in the order the log holds them.")
class CaseTimelineEntry:
    event_id: str
    type: str = strawberry.field(description="e.g. visit.checked_in, case.escalated.")
    relation: str = strawberry.field(
        description="opened, evidence, reconciled (facts about the case) or lifecycle (the "
        "case's own events)."
    )
    occurred_at: datetime = strawberry.field(description="Business time.")
    recorded_at: datetime = strawberry.field(description="When the hub recorded it.")
    actor: str
    payload: JSON


@strawberry.type(
    description="An exception a rule detected: owned, due, escalated by timers up the "
    "contract's ladder, resolved with an outcome from the contract's list, closed once its "
    "actions are complete."
)
class ExceptionCase(Node):
    id: strawberry.ID
    rule: CaseRule
    title: str
    severity: CaseSeverity
    status: CaseStatus
    level: int = strawberry.field(description="Rung of the escalation ladder; 0 = first owner.")
    owner_role: str = strawberry.field(description="Who holds the case at this level.")
    owner: str | None = strawberry.field(description="Who took it (acknowledged or assigned).")
    subject_type: str
    subject_id: str = strawberry.field(description="The raw id of what the rule judged.")
    person_id: strawberry.ID | None = strawberry.field(description="The person, if any.")
    opened_at: datetime
    acknowledge_due_at: datetime
    due_at: datetime = strawberry.field(description="When it must be resolved by.")
    next_escalation_at: datetime | None
    acknowledged_at: datetime | None
    escalated_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    closed_at: datetime | None
    closed_by: str | None
    reconciliation: CaseReconciliation | None
    safeguarding_decision: SafeguardingDecision | None
    requires_safeguarding_decision: bool
    allowed_commands: list[CaseCommand]
    overdue: bool = strawberry.field(
        description="Still open and past its due time (or unacknowledged past its "
        "acknowledgement time), judged at the time of the request."
    )

    row: strawberry.Private[ExceptionCaseRow]

    @strawberry.field(description="The contract, if visible to you.")
    async def contract(self, info: Info) -> Contract | None:
        if self.row.contract_id is None:
            return None
        found = await contract_loader(info).load(self.row.contract_id)
        return contract_type(found) if found is not None else None

    @strawberry.field(description="The visit the case is about, if any and visible to you.")
    async def visit(self, info: Info) -> Visit | None:
        if self.row.visit_id is None:
            return None
        found = await visit_loader(info).load(self.row.visit_id)
        return Visit.resolve(info, found) if found is not None else None

    @strawberry.field(description="How it was resolved: the outcome and its fields.")
    async def outcome(self, info: Info) -> CaseOutcome | None:
        row = self.row
        if not row.outcome_code:
            return None
        label = BUILTIN_OUTCOMES.get(row.outcome_code, (None,))[0]
        if row.contract_id is not None:
            for outcome in await outcomes_loader(info).load(row.contract_id):
                if outcome.code == row.outcome_code:
                    label = outcome.label
        return CaseOutcome(
            code=row.outcome_code,
            label=label,
            fields=JSON(dict(row.outcome_fields or {})),
            note=row.resolution_note,
        )

    @strawberry.field(description="What the rule saw: thresholds, planned times, values.")
    def details(self, info: Info) -> JSON:
        _audit(info, "details", self.row)
        return JSON(dict(self.row.details or {}))

    @strawberry.field(description="Review, learning and governance actions, oldest first.")
    async def actions(self, info: Info) -> list[CaseAction]:
        rows = await case_actions_loader(info).load(self.row.id)
        return [CaseAction.from_model(row) for row in rows]

    @strawberry.field(
        description="Every event, decision and action on the case, in order: the facts that "
        "opened and evidence it, and its own lifecycle events."
    )
    async def timeline(self, info: Info) -> list[CaseTimelineEntry]:
        _audit(info, "timeline", self.row)
        entries = await case_timeline_loader(info).load(self.row.id)
        return [
            CaseTimelineEntry(
                event_id=str(event.id),
                type=event.type,
                relation=relation,
                occurred_at=event.occurred_at,
                recorded_at=event.recorded_at,
                actor=event.actor,
                payload=JSON(dict(event.payload or {})),
            )
            for event, relation in entries
        ]

    @strawberry.field(
        description="The case's audit pack: one JSON document (format care-hub/audit-pack, "
        "version 1) with the case, its full timeline and its actions, for export."
    )
    async def audit_pack(self, info: Info) -> JSON:
        _audit(info, "auditPack", self.row)
        context = info.context
        scope = AccessScope.of(context.require_principal())
        async with read_only(context.sessions) as session:
            pack = await service.audit_pack(
                session, scope, self.row, now=context.clock.now(), actor=context.actor
            )
        return JSON(pack)

    @classmethod
    def from_model(cls, row: ExceptionCaseRow, now: datetime) -> ExceptionCase:
        status = StatusValue(row.status)
        safeguarding = row.rule == RuleValue.SAFEGUARDING_CONCERN.value
        return cls(
            id=strawberry.ID(encode_global_id("ExceptionCase", row.id)),
            rule=CaseRule(row.rule),
            title=row.title,
            severity=CaseSeverity(row.severity.value),
            status=CaseStatus(status.value),
            level=row.level,
            owner_role=row.owner_role,
            owner=row.owner,
            subject_type=row.subject_type,
            subject_id=str(row.subject_id),
            person_id=(
                strawberry.ID(encode_global_id("Person", row.person_id)) if row.person_id else None
            ),
            opened_at=row.opened_at,
            acknowledge_due_at=row.acknowledge_due_at,
            due_at=row.due_at,
            next_escalation_at=row.next_escalation_at,
            acknowledged_at=row.acknowledged_at,
            escalated_at=row.escalated_at,
            resolved_at=row.resolved_at,
            resolved_by=row.resolved_by,
            closed_at=row.closed_at,
            closed_by=row.closed_by,
            reconciliation=_reconciliation(row.reconciliation),
            safeguarding_decision=_decision(row.safeguarding_decision),
            requires_safeguarding_decision=safeguarding,
            allowed_commands=[
                CaseCommand(command.value) for command in _offered(status, safeguarding)
            ],
            overdue=status in lifecycle.ACTIVE_STATUSES
            and (
                row.due_at < now or (row.acknowledged_at is None and row.acknowledge_due_at < now)
            ),
            row=row,
        )

    @classmethod
    def resolve(cls, info: Info, row: ExceptionCaseRow) -> ExceptionCase:
        return cls.from_model(row, request_now(info))


@strawberry.type(description="One rung of a contract's escalation ladder.")
class EscalationStep:
    level: int
    target: EscalationTarget
    after_minutes: int = strawberry.field(
        description="Minutes after the case opened, if it is still not resolved."
    )


@strawberry.type(description="A contract's exception-rule thresholds.")
class CaseRuleSettings:
    pain_threshold: int = strawberry.field(description="Pain score (0-10) that opens a review.")
    low_fluid_ml: int = strawberry.field(description="Fluid per visit under which a review opens.")
    repeat_count: int = strawberry.field(
        description="Incidents for one person that make a pattern."
    )
    repeat_window_days: int
    acknowledge_within_minutes: int
    resolve_within_minutes: int


@strawberry.type(
    name="GovernancePolicy", description="A contract's escalation ladder and rule settings."
)
class GovernancePolicyType:
    contract_id: strawberry.ID
    ladder: list[EscalationStep]
    ladder_is_default: bool
    settings: CaseRuleSettings
    settings_are_default: bool

    @classmethod
    def from_policy(cls, found: GovernancePolicy) -> GovernancePolicyType:
        settings = found.settings
        return cls(
            contract_id=strawberry.ID(encode_global_id("Contract", found.contract_id)),
            ladder=[
                EscalationStep(
                    level=step.level,
                    target=EscalationTarget(step.target.value),
                    after_minutes=step.after_minutes,
                )
                for step in found.ladder
            ],
            ladder_is_default=found.ladder_is_default,
            settings=CaseRuleSettings(
                pain_threshold=settings.pain_threshold,
                low_fluid_ml=settings.low_fluid_ml,
                repeat_count=settings.repeat_count,
                repeat_window_days=settings.repeat_window_days,
                acknowledge_within_minutes=settings.acknowledge_within_minutes,
                resolve_within_minutes=settings.resolve_within_minutes,
            ),
            settings_are_default=found.settings_are_default,
        )


@strawberry.type(
    description="An event the governance rules failed on. It is never dropped: the hub retries "
    "it (with growing gaps) until the rules judge it (resolvedAt) or the attempts run out "
    "(retriesExhausted: fix the cause, then have it retried)."
)
class GovernanceRuleFailure:
    id: strawberry.ID
    event_id: str = strawberry.field(description="The event in the log the rules failed on.")
    event_type: str = strawberry.field(description="e.g. visit.observation_recorded.")
    contract_id: strawberry.ID | None = strawberry.field(
        description="The event's contract, if the hub knows it."
    )
    error_class: str
    error_message: str = strawberry.field(description="One line, cut to 500 characters.")
    first_failed_at: datetime
    last_failed_at: datetime
    attempts: int
    next_attempt_at: datetime | None = strawberry.field(
        description="When the hub tries again; null once resolved or out of attempts."
    )
    resolved_at: datetime | None = strawberry.field(description="When a retry judged it.")
    retries_exhausted: bool = strawberry.field(
        description="Unresolved, and the hub will not try again on its own."
    )

    @classmethod
    def from_model(cls, row: RuleFailureRow) -> GovernanceRuleFailure:
        return cls(
            id=strawberry.ID(encode_global_id("GovernanceRuleFailure", row.id)),
            event_id=str(row.event_id),
            event_type=row.event_type,
            contract_id=(
                strawberry.ID(encode_global_id("Contract", row.contract_id))
                if row.contract_id
                else None
            ),
            error_class=row.error_class,
            error_message=row.error_message,
            first_failed_at=row.first_failed_at,
            last_failed_at=row.last_failed_at,
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            resolved_at=row.resolved_at,
            retries_exhausted=row.resolved_at is None and row.next_attempt_at is None,
        )


# --- helpers ----------------------------------------------------------------------------------


def _offered(status: StatusValue, safeguarding: bool) -> list[CommandValue]:
    """What a person may do now: reconciling is the system's move, and only safeguarding
    cases take a safeguarding decision."""
    return [
        command
        for command in lifecycle.allowed_commands(status)
        if command is not CommandValue.RECONCILE
        and (safeguarding or command is not CommandValue.RECORD_SAFEGUARDING_DECISION)
    ]


def _audit(info: Info, field_name: str, row: ExceptionCaseRow) -> None:
    if row.person_id is not None:
        info.context.audit.person_read(field_name, [row.person_id])


def _reconciliation(value: dict[str, Any] | None) -> CaseReconciliation | None:
    if not value:
        return None
    minutes = value.get("minutes_late")
    return CaseReconciliation(
        kind=str(value.get("kind")),
        resolved_case=bool(value.get("resolved_case")),
        fact_occurred_at=_iso_time(value.get("fact_occurred_at")),
        fact_received_at=_iso_time(value.get("fact_received_at")),
        case_opened_at=_iso_time(value.get("case_opened_at")),
        minutes_late=float(minutes) if isinstance(minutes, int | float) else None,
        details=JSON(dict(value)),
    )


def _decision(value: dict[str, Any] | None) -> SafeguardingDecision | None:
    if not value:
        return None
    decided_at = _iso_time(value.get("decided_at"))
    assert decided_at is not None
    return SafeguardingDecision(
        referral_made=bool(value.get("referral_made")),
        reason=str(value.get("reason")),
        referral_reference=value.get("referral_reference"),
        decided_by=str(value.get("decided_by")),
        decided_at=decided_at,
    )


def case_global_id(case_id: uuid.UUID) -> str:
    return encode_global_id("ExceptionCase", case_id)
