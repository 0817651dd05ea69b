"""Applying the rules to one event of the log, inside the runner's transaction.

The rules themselves are pure (`hub.governance.rules`); this module reads what they need — the
visit as it stands now, the carers who attended, the contract's settings — opens what they
return through `service.open_case` (idempotent on rule + subject), and reconciles the cases a
late-syncing fact proves wrong or refines. Running it twice over an event changes nothing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from hub.events.models import Event
from hub.governance import repository, rules, service
from hub.governance.rules import CaseRule, CaseSpec, FactEvent, VisitSnapshot
from hub.kit.time import Clock

CHECK_IN = "visit.checked_in"
CHECK_OUT = "visit.checked_out"
TASK_CONFIRMED = "visit.task_confirmed"
OBSERVATION = "visit.observation_recorded"
CONCERN = "visit.concern_raised"
PAYLOAD_REJECTED = "integration.payload_rejected"
COMMAND_QUARANTINED = "mobile.command_quarantined"

EVENT_TYPES: tuple[str, ...] = (
    CHECK_IN,
    CHECK_OUT,
    TASK_CONFIRMED,
    OBSERVATION,
    CONCERN,
    PAYLOAD_REJECTED,
    COMMAND_QUARANTINED,
)
"""The event types (contract B) the rules consume."""


@dataclass
class Applied:
    opened: int = 0
    reconciled: int = 0

    def add(self, other: Applied) -> None:
        self.opened += other.opened
        self.reconciled += other.reconciled


def fact_event(row: Event) -> FactEvent:
    return FactEvent(
        id=row.id,
        type=row.type,
        subject_type=row.subject_type,
        subject_id=row.subject_id,
        contract_id=row.contract_id,
        person_id=row.person_id,
        organisation_id=row.organisation_id,
        occurred_at=row.occurred_at,
        recorded_at=row.recorded_at,
        payload=dict(row.payload or {}),
    )


async def apply_event(session: AsyncSession, event: FactEvent, *, clock: Clock) -> Applied:
    """Every rule that this event can trigger or reconcile."""
    if event.type == PAYLOAD_REJECTED:
        return await _open(session, rules.data_quality(event), clock)
    if event.type == COMMAND_QUARANTINED:
        opened = await service.open_quarantine_case(session, event, clock=clock)
        return Applied(opened=1 if opened is not None and opened.created else 0)
    if event.subject_type != "visit" or event.type not in EVENT_TYPES:
        return Applied()
    visit = await repository.visit_snapshot(session, event.subject_id)
    if visit is None:
        return Applied()
    # The visit's own contract, provider and person are authoritative for its cases.
    event = dataclasses.replace(
        event,
        contract_id=visit.contract_id,
        person_id=visit.person_id,
        organisation_id=visit.provider_id,
    )
    if event.type in (CHECK_IN, CHECK_OUT):
        return await _attendance(session, visit, event, clock)
    if event.type == TASK_CONFIRMED:
        return await _open(session, rules.competency_breach(visit, event), clock)
    if event.type == OBSERVATION:
        settings = await service.settings_for(session, visit.contract_id)
        spec = rules.observation_trigger(event, settings, visit.provider_id)
    else:
        spec = rules.safeguarding_concern(event, visit.provider_id)
    return await _open_or_join_corrected(session, spec, event, clock)


async def _attendance(
    session: AsyncSession, visit: VisitSnapshot, event: FactEvent, clock: Clock
) -> Applied:
    applied = Applied()
    attending = await _attending_staff(session, visit)
    for case in await repository.visit_cases(
        session,
        visit.visit_id,
        (CaseRule.VISIT_LATE, CaseRule.VISIT_MISSED, CaseRule.DOUBLE_HANDED_SINGLE),
    ):
        rule = CaseRule(case.rule)
        found = (
            rules.reconcile_double_handed(attending, event, case.opened_at)
            if rule is CaseRule.DOUBLE_HANDED_SINGLE
            else rules.reconcile_attendance(rule, visit, event, case.opened_at)
        )
        if found is not None and await service.reconcile(
            session, case, found, evidence_event_id=event.id, clock=clock
        ):
            applied.reconciled += 1
    applied.add(await _open(session, rules.unverified_visit(visit, event), clock))
    applied.add(await _open(session, rules.short_visit(visit, (event.id,)), clock))
    if event.type == CHECK_OUT:
        applied.add(
            await _open(session, rules.double_handed_single(visit, attending, (event.id,)), clock)
        )
    return applied


async def _open_or_join_corrected(
    session: AsyncSession, spec: CaseSpec | None, event: FactEvent, clock: Clock
) -> Applied:
    """A correction (a new fact superseding one that opened a case) is evidence on that case,
    not a second review of the same observation or concern."""
    if spec is None:
        return Applied()
    corrected = rules.uuid_or_none(event.payload.get("supersedes_id"))
    if corrected is not None:
        existing = await repository.find_case(session, spec.rule, spec.subject_type, corrected)
        if existing is not None:
            await repository.link_evidence(session, existing.id, spec.evidence, "evidence")
            return Applied()
    return await _open(session, spec, clock)


async def _attending_staff(session: AsyncSession, visit: VisitSnapshot) -> list[str]:
    """Staff who checked in or out of the visit, from its events (each carer's own facts)."""
    events = await repository.visit_events(session, visit.visit_id, (CHECK_IN, CHECK_OUT))
    return sorted(
        {str(e.payload.get("staff_id")) for e in events if e.payload.get("staff_id") is not None}
    )


async def _open(session: AsyncSession, spec: CaseSpec | None, clock: Clock) -> Applied:
    if spec is None:
        return Applied()
    opened = await service.open_case(session, spec, clock=clock)
    return Applied(opened=1 if opened.created else 0)
