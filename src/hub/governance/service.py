"""Governance writes: opening cases from rule specs, every lifecycle command, reconciliation by
late facts, timed escalation, actions, safeguarding decisions, and each contract's policy.

Every write moves through `hub.governance.lifecycle` and records exactly one event per
transition (`case.opened`, `case.acknowledged`, `case.assigned`, `case.escalated`,
`case.reconciled`, `case.resolved`, `case.closed`, `case.action_added`,
`case.action_completed`, `case.safeguarding_decision_recorded`) in the caller's transaction,
with subject `exception_case`, the contract, the person and the provider set, so the
commissioners' feed and its tenancy need nothing else. Nothing here commits.

Who does what: the provider's office (coordinator, registered manager) and admins handle
cases; closing a case and the safeguarding decision are the registered manager's (the person
accountable to CQC); commissioners read, export audit packs and set their contracts' policy.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.models import Role
from hub.contracts import repository as contracts
from hub.contracts.errors import ContractChangeForbidden, ContractNotFound
from hub.contracts.models import Contract
from hub.errors import InvalidInput
from hub.events.log import NewEvent, record
from hub.events.models import Event
from hub.governance import repository
from hub.governance.audit_pack import build_audit_pack
from hub.governance.errors import (
    ActionAlreadyCompleted,
    ActionsOutstanding,
    CaseActionNotFound,
    CaseChangeForbidden,
    CaseNotFound,
    NoFurtherEscalation,
    NotASafeguardingCase,
    SafeguardingDecisionRequired,
)
from hub.governance.lifecycle import (
    ActionKind,
    CaseCommand,
    CaseSeverity,
    CaseStatus,
    can,
    check,
)
from hub.governance.models import (
    CaseAction,
    CaseRuleSettingsRow,
    EscalationStepRow,
    ExceptionCase,
)
from hub.governance.policy import (
    DEFAULT_LADDER,
    DEFAULT_RULE_SETTINGS,
    EscalationStep,
    EscalationTarget,
    RuleSettings,
    next_escalation_at,
    step_at,
    validate_ladder,
)
from hub.governance.rules import (
    FALSE_ALARMS,
    REPEATABLE_RULES,
    CaseRule,
    CaseSpec,
    FactEvent,
    Reconciliation,
    repeat_pattern,
)
from hub.kit.time import Clock, require_aware
from hub.staff import service as staff
from hub.tenancy import AccessScope

SYSTEM_ACTOR = "system:governance"
MAX_TEXT_LENGTH = 4000
MAX_FIELD_VALUE_LENGTH = 2000

# Cases a rule could not attribute to a contract (a rejected payload from an unknown sender)
# have no contract list to resolve against; data-quality cases may always use these.
BUILTIN_OUTCOMES: Mapping[str, tuple[str, tuple[str, ...]]] = MappingProxyType(
    {
        "payload_corrected": ("Corrected at source and sent again", ("correctionReference",)),
        "payload_discarded": ("Discarded: not needed by the hub", ("reason",)),
    }
)


@dataclass(frozen=True, slots=True)
class Opened:
    case: ExceptionCase
    created: bool


@dataclass(frozen=True, slots=True)
class GovernancePolicy:
    """A contract's ladder and rule settings, and whether each is the hub default."""

    contract_id: uuid.UUID
    ladder: tuple[EscalationStep, ...]
    ladder_is_default: bool
    settings: RuleSettings
    settings_are_default: bool


# --- reads ------------------------------------------------------------------------------------


async def get_case(session: AsyncSession, scope: AccessScope, case_id: uuid.UUID) -> ExceptionCase:
    case = await repository.get(session, scope, case_id)
    if case is None:
        raise CaseNotFound(f"no case {case_id}")
    return case


async def ladder_for(
    session: AsyncSession, contract_id: uuid.UUID | None
) -> tuple[EscalationStep, ...]:
    if contract_id is None:
        # Nobody to notify without a contract: the provider's own rungs only.
        return tuple(s for s in DEFAULT_LADDER if s.target is not EscalationTarget.COMMISSIONER)
    rows = await repository.ladder_rows(session, [contract_id])
    if not rows:
        return DEFAULT_LADDER
    return tuple(
        EscalationStep(row.level, EscalationTarget(row.target), row.after_minutes) for row in rows
    )


async def settings_for(session: AsyncSession, contract_id: uuid.UUID | None) -> RuleSettings:
    row = await repository.rule_settings_row(session, contract_id) if contract_id else None
    return _settings(row) if row is not None else DEFAULT_RULE_SETTINGS


async def policy(
    session: AsyncSession, scope: AccessScope, contract_id: uuid.UUID
) -> GovernancePolicy:
    """The contract's ladder and settings, if the caller sees the contract."""
    if await contracts.get(session, scope, contract_id) is None:
        raise ContractNotFound(f"no contract {contract_id}")
    rows = await repository.ladder_rows(session, [contract_id])
    settings_row = await repository.rule_settings_row(session, contract_id)
    return GovernancePolicy(
        contract_id=contract_id,
        ladder=await ladder_for(session, contract_id),
        ladder_is_default=not rows,
        settings=_settings(settings_row) if settings_row else DEFAULT_RULE_SETTINGS,
        settings_are_default=settings_row is None,
    )


async def audit_pack(
    session: AsyncSession, scope: AccessScope, case: ExceptionCase, *, now: datetime, actor: str
) -> dict[str, Any]:
    """The case's audit pack (`hub.governance.audit_pack`), as the caller may see it."""
    entries = await repository.timelines_for(session, scope, [case.id])
    actions = await repository.actions_for(session, scope, [case.id])
    reference = None
    builtin = BUILTIN_OUTCOMES.get(case.outcome_code or "")
    label = builtin[0] if builtin is not None else None
    if case.contract_id is not None:
        contract = await contracts.get(session, AccessScope.system(), case.contract_id)
        reference = contract.reference if contract is not None else None
        if case.outcome_code:
            outcome = await contracts.get_outcome(session, case.contract_id, case.outcome_code)
            label = outcome.label if outcome is not None else label
    return build_audit_pack(
        case,
        [(event, relation) for _, event, relation in entries],
        actions,
        contract_reference=reference,
        outcome_label=label,
        generated_at=now,
        generated_by=actor,
    )


# --- opening ----------------------------------------------------------------------------------


async def open_case(
    session: AsyncSession, spec: CaseSpec, *, clock: Clock, actor: str = SYSTEM_ACTOR
) -> Opened:
    """Open the case a rule asked for, once: a second call for the same (rule, subject) adds
    its evidence to the existing case and opens nothing. A new case gets its due times and
    first escalation from the contract's policy, its review task if the rule opens one, and —
    when it is about a person — a check for a repeat pattern."""
    now = clock.now()
    settings = await settings_for(session, spec.contract_id)
    ladder = await ladder_for(session, spec.contract_id)
    created_id = await repository.insert_case(
        session,
        {
            "rule": spec.rule.value,
            "subject_type": spec.subject_type,
            "subject_id": spec.subject_id,
            "contract_id": spec.contract_id,
            "provider_id": spec.provider_id,
            "person_id": spec.person_id,
            "visit_id": spec.visit_id,
            "title": spec.title,
            "severity": spec.severity,
            "status": CaseStatus.OPEN,
            "level": 0,
            "owner_role": spec.owner_role.value,
            "opened_at": now,
            "acknowledge_due_at": now + timedelta(minutes=settings.acknowledge_within_minutes),
            "due_at": now + timedelta(minutes=settings.resolve_within_minutes),
            "next_escalation_at": next_escalation_at(ladder, now, 0),
            "details": dict(spec.details),
        },
    )
    if created_id is None:
        existing = await repository.find_case(
            session, spec.rule, spec.subject_type, spec.subject_id
        )
        if existing is None:  # pragma: no cover - the conflict proves it exists
            raise CaseNotFound(f"no {spec.rule} case for {spec.subject_type} {spec.subject_id}")
        await repository.link_evidence(session, existing.id, spec.evidence, "evidence")
        return Opened(existing, False)

    case = await repository.load(session, created_id)
    await repository.link_evidence(session, case.id, spec.evidence, "opened")
    event = await _record(
        session,
        case,
        "case.opened",
        actor,
        now,
        {
            "title": case.title,
            "subject_type": case.subject_type,
            "subject_id": str(case.subject_id),
            "evidence_event_ids": list(spec.evidence),
            "acknowledge_due_at": case.acknowledge_due_at.isoformat(),
            "due_at": case.due_at.isoformat(),
            "next_escalation_at": _iso(case.next_escalation_at),
            "details": dict(spec.details),
        },
    )
    case.opened_event_id = event.id
    await session.flush()
    if spec.review is not None:
        await _add_action(
            session,
            case,
            kind=spec.review.kind,
            description=spec.review.description,
            owner_role=spec.review.owner_role.value,
            owner=None,
            due_at=now + spec.review.due_after,
            actor=actor,
            now=now,
        )
    if case.person_id is not None and CaseRule(case.rule) in REPEATABLE_RULES:
        await _check_repeat_pattern(session, case, settings, clock)
    return Opened(case, True)


async def _check_repeat_pattern(
    session: AsyncSession, case: ExceptionCase, settings: RuleSettings, clock: Clock
) -> None:
    assert case.person_id is not None
    since = case.opened_at - settings.repeat_window
    if await repository.person_cases_since(
        session, case.person_id, since, (CaseRule.REPEAT_PATTERN,)
    ):
        return  # one review per window: it is already with the registered manager
    cases = await repository.person_cases_since(session, case.person_id, since, REPEATABLE_RULES)
    counted = [c for c in cases if not _false_alarm(c)]
    spec = repeat_pattern(
        tipping_case_id=case.id,
        person_id=case.person_id,
        contract_id=case.contract_id,
        provider_id=case.provider_id,
        counted=[(c.id, c.rule, f"{c.subject_type}:{c.subject_id}") for c in counted],
        settings=settings,
        evidence=[c.opened_event_id for c in counted if c.opened_event_id is not None],
    )
    if spec is not None:
        await open_case(session, spec, clock=clock)


def _false_alarm(case: ExceptionCase) -> bool:
    kind = (case.reconciliation or {}).get("kind")
    return isinstance(kind, str) and kind in FALSE_ALARMS


QUARANTINE_SUBJECT = "carer_app_quarantine"
_FINISHED = (CaseStatus.RESOLVED, CaseStatus.CLOSED)


async def open_quarantine_case(
    session: AsyncSession, event: FactEvent, *, clock: Clock
) -> Opened | None:
    """A carer's command the hub quarantined (`mobile.command_quarantined`): a data-quality case
    for the carer's office, so a phone whose recordings wait for review is seen without anyone
    opening the quarantine list. One case per office while it is unfinished — every later
    quarantine links its event to that case as evidence; once the office has resolved or
    closed it, the next quarantine opens a new one (its subject is derived from the case
    before, so replaying an event still finds the same case)."""
    office = event.organisation_id
    if office is None:
        return None
    subject = office
    while True:
        existing = await repository.find_case(
            session, CaseRule.DATA_QUALITY, QUARANTINE_SUBJECT, subject
        )
        if existing is None or existing.status not in _FINISHED:
            break
        if await repository.has_evidence(session, existing.id, event.id):
            return Opened(existing, False)  # a replay of an event the finished case holds
        subject = uuid.uuid5(existing.id, "next")
    payload = event.payload
    code = str(payload.get("code") or "UNKNOWN")
    spec = CaseSpec(
        rule=CaseRule.DATA_QUALITY,
        subject_type=QUARANTINE_SUBJECT,
        subject_id=subject,
        severity=CaseSeverity.MEDIUM,
        title="Carers' app recordings are waiting for review (quarantined commands)",
        contract_id=None,
        provider_id=office,
        details={
            "channel": "carer_app",
            "summary": f"a command from a carer's phone was kept for review ({code}); see "
            "quarantinedCommands(resolved: false)",
            "first_code": code,
            "first_command_log_id": payload.get("command_log_id"),
            "first_device_id": str(event.subject_id),
            "first_staff_id": payload.get("staff_id"),
        },
        evidence=(event.id,),
    )
    return await open_case(session, spec, clock=clock)


# --- lifecycle commands -----------------------------------------------------------------------


async def acknowledge(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    case_id: uuid.UUID,
    note: str | None = None,
) -> ExceptionCase:
    """Take the case: the caller becomes its owner. An escalated case is acknowledged by the
    person it was escalated to; its level stays. Timers keep running until it is resolved."""
    case = await _handleable(session, scope, case_id)
    previous = case.status
    case.status = check(CaseCommand.ACKNOWLEDGE, case.status)
    now = clock.now()
    if case.acknowledged_at is None:
        case.acknowledged_at = now
    case.owner = actor
    await _record(
        session,
        case,
        "case.acknowledged",
        actor,
        now,
        {"from_status": previous.value, "note": _optional_text(note, "note")},
    )
    return case


async def assign(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    case_id: uuid.UUID,
    staff_id: uuid.UUID,
    note: str | None = None,
) -> ExceptionCase:
    """Give the case to a named member of the provider's staff (no change of status)."""
    case = await _handleable(session, scope, case_id)
    check(CaseCommand.ASSIGN, case.status)
    member = await staff.get_staff(session, scope, staff_id)
    if case.provider_id is not None and member.organisation_id != case.provider_id:
        raise InvalidInput(
            "staffId", "must be a member of the provider's staff", code="NOT_PROVIDER_STAFF"
        )
    previous = case.owner
    case.owner = f"staff:{member.id}"
    await _record(
        session,
        case,
        "case.assigned",
        actor,
        clock.now(),
        {
            "previous_owner": previous,
            "staff_id": str(member.id),
            "note": _optional_text(note, "note"),
        },
    )
    return case


async def escalate(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    case_id: uuid.UUID,
    reason: str,
) -> ExceptionCase:
    """Move the case up one rung of its contract's ladder now, saying why."""
    why = _text(reason, "reason")
    case = await _handleable(session, scope, case_id)
    check(CaseCommand.ESCALATE, case.status)
    ladder = await ladder_for(session, case.contract_id)
    step = step_at(ladder, case.level + 1)
    if step is None:
        raise NoFurtherEscalation(
            f"the case is at level {case.level}, the top of its escalation ladder "
            f"({case.owner_role}); resolve it or add a governance action"
        )
    await _escalate(session, case, ladder, step, at=clock.now(), actor=actor, reason=why)
    return case


async def resolve(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    case_id: uuid.UUID,
    outcome_code: str,
    fields: Mapping[str, Any],
    note: str | None = None,
) -> ExceptionCase:
    """Resolve with an outcome from the contract's list (seed 003: "covered by alternative
    worker within X minutes", "family supported", ...) and every field that outcome requires.
    A safeguarding case needs its documented decision first."""
    case = await _handleable(session, scope, case_id)
    previous = case.status
    target = check(CaseCommand.RESOLVE, case.status)
    if case.rule == CaseRule.SAFEGUARDING_CONCERN.value and case.safeguarding_decision is None:
        raise SafeguardingDecisionRequired(
            "record the safeguarding decision first: whether a referral was made, and why"
        )
    label, required = await _outcome(session, case, outcome_code.strip())
    recorded = _outcome_fields(fields, required, outcome_code.strip())
    now = clock.now()
    case.status = target
    case.outcome_code = outcome_code.strip()
    case.outcome_fields = recorded
    case.resolution_note = _optional_text(note, "note")
    case.resolved_at = now
    case.resolved_by = actor
    case.next_escalation_at = None
    await _record(
        session,
        case,
        "case.resolved",
        actor,
        now,
        {
            "from_status": previous.value,
            "outcome_code": case.outcome_code,
            "outcome_label": label,
            "outcome_fields": recorded,
            "note": case.resolution_note,
            "minutes_open": _minutes(now - case.opened_at),
        },
    )
    return case


async def close(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    case_id: uuid.UUID,
    note: str | None = None,
) -> ExceptionCase:
    """The registered manager's sign-off: resolved, and every action attached is complete."""
    _require_manager(scope, "closes a case")
    case = await _handleable(session, scope, case_id)
    target = check(CaseCommand.CLOSE, case.status)
    outstanding = await repository.incomplete_actions(session, case.id)
    if outstanding:
        listed = "; ".join(f"{a.kind}: {a.description[:80]}" for a in outstanding)
        raise ActionsOutstanding(
            f"{len(outstanding)} action(s) still open ({listed}); complete them before closing"
        )
    now = clock.now()
    case.status = target
    case.closed_at = now
    case.closed_by = actor
    await _record(
        session,
        case,
        "case.closed",
        actor,
        now,
        {"from_status": CaseStatus.RESOLVED.value, "note": _optional_text(note, "note")},
    )
    return case


async def add_action(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    case_id: uuid.UUID,
    kind: ActionKind,
    description: str,
    owner_role: EscalationTarget | None = None,
    owner_staff_id: uuid.UUID | None = None,
    due_at: datetime | None = None,
) -> CaseAction:
    """Attach a learning or governance action (seed 003: supervision, refresher training, rota
    change, care-plan update), tracked until someone completes it."""
    what = _text(description, "description")
    now = clock.now()
    if due_at is not None and require_aware(due_at, "dueAt") <= now:
        raise InvalidInput("dueAt", "must be in the future", code="DUE_IN_PAST")
    case = await _handleable(session, scope, case_id)
    check(CaseCommand.ADD_ACTION, case.status)
    owner = None
    if owner_staff_id is not None:
        member = await staff.get_staff(session, scope, owner_staff_id)
        owner = f"staff:{member.id}"
    return await _add_action(
        session,
        case,
        kind=kind,
        description=what,
        owner_role=owner_role.value if owner_role else None,
        owner=owner,
        due_at=due_at,
        actor=actor,
        now=now,
    )


async def complete_action(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    action_id: uuid.UUID,
    note: str,
) -> tuple[CaseAction, ExceptionCase]:
    """Record that an action was done, and what was done (the note is required)."""
    what = _text(note, "note")
    action = await repository.get_action(session, scope, action_id)
    if action is None:
        raise CaseActionNotFound(f"no case action {action_id}")
    case = await _handleable(session, scope, action.case_id)
    check(CaseCommand.COMPLETE_ACTION, case.status)
    if action.completed_at is not None:
        raise ActionAlreadyCompleted(
            f"the action was completed at {action.completed_at.isoformat()} by "
            f"{action.completed_by}"
        )
    now = clock.now()
    action.completed_at = now
    action.completed_by = actor
    action.completion_note = what
    await session.flush()
    await _record(
        session,
        case,
        "case.action_completed",
        actor,
        now,
        {"action_id": str(action.id), "kind": action.kind.value, "note": what},
    )
    return action, case


async def record_safeguarding_decision(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    case_id: uuid.UUID,
    referral_made: bool,
    reason: str,
    referral_reference: str | None = None,
) -> ExceptionCase:
    """The documented decision on a safeguarding concern: referral made or not, and why. A
    later decision replaces the current one; the timeline keeps every one."""
    _require_manager(scope, "records a safeguarding decision")
    why = _text(reason, "reason")
    reference = _optional_text(referral_reference, "referralReference")
    case = await _handleable(session, scope, case_id)
    if case.rule != CaseRule.SAFEGUARDING_CONCERN.value:
        raise NotASafeguardingCase(f"the case is a {case.rule} case, not a safeguarding concern")
    check(CaseCommand.RECORD_SAFEGUARDING_DECISION, case.status)
    now = clock.now()
    previous = case.safeguarding_decision
    case.safeguarding_decision = {
        "referral_made": referral_made,
        "reason": why,
        "referral_reference": reference,
        "decided_by": actor,
        "decided_at": now.isoformat(),
        "revision": int(previous.get("revision", 0)) + 1 if previous else 1,
    }
    await _record(
        session,
        case,
        "case.safeguarding_decision_recorded",
        actor,
        now,
        {"decision": case.safeguarding_decision, "replaces": previous},
    )
    return case


# --- the system's own moves -------------------------------------------------------------------


async def reconcile(
    session: AsyncSession,
    case: ExceptionCase,
    reconciliation: Reconciliation,
    *,
    evidence_event_id: int,
    clock: Clock,
) -> bool:
    """Record what a late fact says about the case (keeping both times), and resolve the case
    when the fact shows no exception happened. A case already resolved by a person keeps its
    outcome; the reconciliation is still recorded and shown. False if nothing was new."""
    current = case.reconciliation or {}
    if current.get("kind") == reconciliation.kind:
        return False
    await repository.link_evidence(session, case.id, [evidence_event_id], "reconciled")
    now = clock.now()
    previous = case.status
    resolves = reconciliation.resolves and can(CaseCommand.RECONCILE, case.status)
    case.reconciliation = {
        "kind": reconciliation.kind,
        "resolved_case": resolves,
        "reconciled_at": now.isoformat(),
        **reconciliation.details,
    }
    if resolves:
        case.status = check(CaseCommand.RECONCILE, case.status)
        case.resolved_at = now
        case.resolved_by = SYSTEM_ACTOR
        case.next_escalation_at = None
    await _record(
        session,
        case,
        "case.reconciled",
        SYSTEM_ACTOR,
        now,
        {"from_status": previous.value, "reconciliation": case.reconciliation},
    )
    return True


async def escalate_due(session: AsyncSession, *, clock: Clock, limit: int = 500) -> int:
    """The escalation timer: every active case whose next rung is due goes up, one event per
    rung (occurred at the instant the rung fell due, so a worker that was down catches up
    honestly). Returns the number of rungs climbed."""
    now = clock.now()
    ladders: dict[uuid.UUID | None, tuple[EscalationStep, ...]] = {}
    climbed = 0
    for case in await repository.due_escalations(session, now, limit):
        if case.contract_id not in ladders:
            ladders[case.contract_id] = await ladder_for(session, case.contract_id)
        ladder = ladders[case.contract_id]
        while case.next_escalation_at is not None and case.next_escalation_at <= now:
            step = step_at(ladder, case.level + 1)
            if step is None:  # the ladder was shortened since the case was scheduled
                case.next_escalation_at = None
                break
            due = case.next_escalation_at
            await _escalate(
                session,
                case,
                ladder,
                step,
                at=due,
                actor=SYSTEM_ACTOR,
                reason=f"not resolved {step.after_minutes} minutes after opening",
            )
            climbed += 1
    await session.flush()
    return climbed


async def _escalate(
    session: AsyncSession,
    case: ExceptionCase,
    ladder: Sequence[EscalationStep],
    step: EscalationStep,
    *,
    at: datetime,
    actor: str,
    reason: str,
) -> None:
    previous = case.status
    case.status = check(CaseCommand.ESCALATE, case.status)
    case.level = step.level
    case.owner_role = step.target.value
    case.escalated_at = at
    case.next_escalation_at = next_escalation_at(ladder, case.opened_at, step.level)
    await _record(
        session,
        case,
        "case.escalated",
        actor,
        at,
        {
            "from_status": previous.value,
            "target": step.target.value,
            "after_minutes": step.after_minutes,
            "reason": reason,
            "by_timer": actor == SYSTEM_ACTOR,
            "notify_commissioner": step.target is EscalationTarget.COMMISSIONER,
            "next_escalation_at": _iso(case.next_escalation_at),
        },
    )


# --- per-contract policy ----------------------------------------------------------------------


async def set_escalation_ladder(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    contract_id: uuid.UUID,
    steps: Sequence[tuple[EscalationTarget, int]],
) -> GovernancePolicy:
    """Replace the contract's ladder (an empty list restores the default). Open cases climb
    the new ladder from their next rung."""
    ladder = validate_ladder(steps)
    contract = await _policy_contract(session, scope, contract_id)
    await repository.replace_ladder(
        session,
        contract_id,
        [
            EscalationStepRow(
                contract_id=contract_id,
                level=step.level,
                target=step.target.value,
                after_minutes=step.after_minutes,
            )
            for step in ladder
        ],
    )
    await _record_contract(
        session,
        contract,
        "governance.escalation_ladder_set",
        actor,
        clock.now(),
        {
            "steps": [
                {"level": s.level, "target": s.target.value, "after_minutes": s.after_minutes}
                for s in ladder
            ]
        },
    )
    return await policy(session, scope, contract_id)


async def set_rule_settings(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    contract_id: uuid.UUID,
    settings: RuleSettings,
) -> GovernancePolicy:
    """Replace the contract's rule thresholds. Cases already open keep the values they used."""
    contract = await _policy_contract(session, scope, contract_id)
    row = await repository.rule_settings_row(session, contract_id)
    if row is None:
        row = CaseRuleSettingsRow(contract_id=contract_id)
        repository.add(session, row)
    row.pain_threshold = settings.pain_threshold
    row.low_fluid_ml = settings.low_fluid_ml
    row.repeat_count = settings.repeat_count
    row.repeat_window_days = settings.repeat_window_days
    row.acknowledge_within_minutes = settings.acknowledge_within_minutes
    row.resolve_within_minutes = settings.resolve_within_minutes
    await session.flush()
    await _record_contract(
        session,
        contract,
        "governance.rule_settings_set",
        actor,
        clock.now(),
        {
            "pain_threshold": settings.pain_threshold,
            "low_fluid_ml": settings.low_fluid_ml,
            "repeat_count": settings.repeat_count,
            "repeat_window_days": settings.repeat_window_days,
            "acknowledge_within_minutes": settings.acknowledge_within_minutes,
            "resolve_within_minutes": settings.resolve_within_minutes,
        },
    )
    return await policy(session, scope, contract_id)


# --- helpers ----------------------------------------------------------------------------------


async def _handleable(
    session: AsyncSession, scope: AccessScope, case_id: uuid.UUID
) -> ExceptionCase:
    """The case, locked, if the caller sees it and may handle it."""
    case = await repository.get(session, scope, case_id, for_update=True)
    if case is None:
        raise CaseNotFound(f"no case {case_id}")
    if not (scope.is_admin or scope.is_office):
        raise CaseChangeForbidden("cases are handled by the provider's office")
    return case


def _require_manager(scope: AccessScope, what: str) -> None:
    if not (scope.is_admin or scope.role is Role.REGISTERED_MANAGER):
        raise CaseChangeForbidden(f"only the registered manager (or an admin) {what}")


async def _policy_contract(
    session: AsyncSession, scope: AccessScope, contract_id: uuid.UUID
) -> Contract:
    contract = await contracts.get(session, scope, contract_id, for_update=True)
    if contract is None:
        raise ContractNotFound(f"no contract {contract_id}")
    if not (scope.is_admin or scope.is_commissioner):
        raise ContractChangeForbidden(
            "a contract's escalation ladder and rule settings are set by its commissioner"
        )
    return contract


async def _outcome(
    session: AsyncSession, case: ExceptionCase, code: str
) -> tuple[str, tuple[str, ...]]:
    """(label, required fields) of an outcome the case may be resolved with."""
    if case.contract_id is not None:
        outcome = await contracts.get_outcome(session, case.contract_id, code)
        if outcome is not None:
            return outcome.label, tuple(outcome.required_fields)
    if case.rule == CaseRule.DATA_QUALITY.value and code in BUILTIN_OUTCOMES:
        return BUILTIN_OUTCOMES[code]
    allowed = await _allowed_outcomes(session, case)
    raise InvalidInput(
        "outcomeCode",
        f"{code!r} is not an outcome of this case's contract; allowed: "
        + (", ".join(allowed) if allowed else "none (the contract defines no outcomes yet)"),
        code="UNKNOWN_OUTCOME",
    )


async def _allowed_outcomes(session: AsyncSession, case: ExceptionCase) -> list[str]:
    codes: list[str] = []
    if case.contract_id is not None:
        rows = await contracts.outcomes_for(session, AccessScope.system(), [case.contract_id])
        codes.extend(row.code for row in rows)
    if case.rule == CaseRule.DATA_QUALITY.value:
        codes.extend(BUILTIN_OUTCOMES)
    return codes


def _outcome_fields(
    fields: Mapping[str, Any], required: Sequence[str], code: str
) -> dict[str, Any]:
    recorded: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in required:
            raise InvalidInput(
                f"fields.{name}",
                f"is not a field of outcome {code!r} (its fields: "
                f"{', '.join(required) if required else 'none'})",
                code="UNKNOWN_FIELD",
            )
        if isinstance(value, str):
            value = value.strip()
            if len(value) > MAX_FIELD_VALUE_LENGTH:
                raise InvalidInput(
                    f"fields.{name}",
                    f"must be at most {MAX_FIELD_VALUE_LENGTH} characters",
                    code="TOO_LONG",
                )
        elif value is not None and not isinstance(value, bool | int | float):
            raise InvalidInput(
                f"fields.{name}", "must be text, a number or true/false", code="INVALID_VALUE"
            )
        recorded[name] = value
    for name in required:
        if recorded.get(name) in (None, ""):
            raise InvalidInput(
                f"fields.{name}", f"outcome {code!r} requires {name}", code="REQUIRED"
            )
    return recorded


async def _add_action(
    session: AsyncSession,
    case: ExceptionCase,
    *,
    kind: ActionKind,
    description: str,
    owner_role: str | None,
    owner: str | None,
    due_at: datetime | None,
    actor: str,
    now: datetime,
) -> CaseAction:
    action = CaseAction(
        case_id=case.id,
        kind=kind,
        description=description,
        owner_role=owner_role,
        owner=owner,
        due_at=due_at,
        created_by=actor,
    )
    repository.add(session, action)
    await session.flush()
    await _record(
        session,
        case,
        "case.action_added",
        actor,
        now,
        {
            "action_id": str(action.id),
            "kind": kind.value,
            "description": description,
            "owner_role": owner_role,
            "owner": owner,
            "due_at": _iso(due_at),
        },
    )
    return action


async def _record(
    session: AsyncSession,
    case: ExceptionCase,
    event_type: str,
    actor: str,
    occurred_at: datetime,
    payload: dict[str, Any],
) -> Event:
    """One event per transition, with what the feed (contract B) needs on every one."""
    await session.flush()
    return await record(
        session,
        NewEvent(
            type=event_type,
            subject_type="exception_case",
            subject_id=case.id,
            actor=actor,
            occurred_at=occurred_at,
            organisation_id=case.provider_id,
            contract_id=case.contract_id,
            person_id=case.person_id,
            payload={
                "case_id": str(case.id),
                "rule": case.rule,
                "status": case.status.value,
                "severity": case.severity.value,
                "level": case.level,
                "owner_role": case.owner_role,
                "owner": case.owner,
                "visit_id": str(case.visit_id) if case.visit_id else None,
                **payload,
            },
        ),
    )


async def _record_contract(
    session: AsyncSession,
    contract: Contract,
    event_type: str,
    actor: str,
    occurred_at: datetime,
    payload: dict[str, Any],
) -> None:
    await record(
        session,
        NewEvent(
            type=event_type,
            subject_type="contract",
            subject_id=contract.id,
            actor=actor,
            occurred_at=occurred_at,
            organisation_id=contract.commissioner_id,
            contract_id=contract.id,
            payload=payload,
        ),
    )


def _settings(row: CaseRuleSettingsRow) -> RuleSettings:
    return RuleSettings(
        pain_threshold=row.pain_threshold,
        low_fluid_ml=row.low_fluid_ml,
        repeat_count=row.repeat_count,
        repeat_window_days=row.repeat_window_days,
        acknowledge_within_minutes=row.acknowledge_within_minutes,
        resolve_within_minutes=row.resolve_within_minutes,
    )


def _text(value: str | None, field: str) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidInput(field, "must not be blank", code="REQUIRED")
    if len(text) > MAX_TEXT_LENGTH:
        raise InvalidInput(field, f"must be at most {MAX_TEXT_LENGTH} characters", code="TOO_LONG")
    return text


def _optional_text(value: str | None, field: str) -> str | None:
    if value is None or not value.strip():
        return None
    return _text(value, field)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _minutes(delta: timedelta) -> float:
    return round(delta.total_seconds() / 60, 1)


# --- person-link holds ---------------------------------------------------------------------------


async def hold_person_write_for_review(
    session: AsyncSession,
    *,
    hold_id: uuid.UUID,
    receiving_organisation_id: uuid.UUID | None,
    contract_id: uuid.UUID | None,
    source: str,
    submitted: Mapping[str, Any],
    clock: Clock,
    actor: str = SYSTEM_ACTOR,
) -> Opened:
    """The data-quality case for a write held by `hub.people.service.hold_write`: a person's
    NHS number arrived with a date of birth or family name that does not match the record
    holding it. The case is the receiving office's (and, with `contract_id`, its commissioner's,
    who may have sent it). It carries the sender's version only: the existing record is
    reached through the hold by those who may already see it, and never named here, so the
    case and its events show nothing of it to the sender."""
    return await open_case(
        session,
        CaseSpec(
            rule=CaseRule.DATA_QUALITY,
            subject_type="person_link_hold",
            subject_id=hold_id,
            severity=CaseSeverity.MEDIUM,
            title=f"Person held for review: the NHS number sent by {source} did not match "
            "the date of birth and family name the hub holds for it",
            contract_id=contract_id,
            provider_id=receiving_organisation_id,
            details={
                "hold_id": str(hold_id),
                "source": source,
                "submitted": {
                    name: value
                    for name, value in submitted.items()
                    if name not in ("accessDetailsSealed", "keySafeSealed")
                },
                "next_step": "confirm the person's identity with the sender (NHS number, date "
                "of birth, family name, as a PDS trace would) and correct the record or the "
                "sender's details; nothing was linked meanwhile",
            },
        ),
        clock=clock,
        actor=actor,
    )
