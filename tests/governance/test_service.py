"""The case lifecycle through the service, on cases the rules opened: acknowledge, assign,
escalate (by hand and by timer, up the contract's ladder to a commissioner notification),
resolve with the contract's outcome codes and their mandatory fields, actions tracked to
completion, the safeguarding decision, close — each move one event, illegal moves refused with
a reason, and tenancy (commissioners read, the provider's office handles, others see nothing)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from hub.accounts.models import Role
from hub.contracts.errors import ContractChangeForbidden
from hub.db.engine import SessionFactory
from hub.db.uow import read_only, unit_of_work
from hub.errors import InvalidInput
from hub.events.models import Event
from hub.governance import repository, service
from hub.governance.errors import (
    ActionsOutstanding,
    CaseChangeForbidden,
    CaseNotFound,
    IllegalCaseTransition,
    NoFurtherEscalation,
    NotASafeguardingCase,
    SafeguardingDecisionRequired,
)
from hub.governance.lifecycle import ActionKind, CaseStatus
from hub.governance.models import ExceptionCase
from hub.governance.policy import EscalationTarget
from hub.governance.runner import run_due_visit_scan, run_escalations, run_event_rules
from hub.kit.time import FixedClock
from hub.staff.errors import StaffNotFound
from hub.tenancy import AccessScope
from tests import builders
from tests.governance.conftest import Field, World, add_visit

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
ResultT = TypeVar("ResultT")


async def _late_case(sessions: SessionFactory, clock: FixedClock, world: World) -> ExceptionCase:
    visit = await add_visit(sessions, world, START)
    clock.current = START + timedelta(minutes=16)
    await run_due_visit_scan(sessions, clock)
    async with read_only(sessions) as session:
        return (
            await session.scalars(select(ExceptionCase).where(ExceptionCase.visit_id == visit.id))
        ).one()


async def _do(
    sessions: SessionFactory, call: Callable[..., Awaitable[ResultT]], **arguments: Any
) -> ResultT:
    async with unit_of_work(sessions) as session:
        return await call(session, **arguments)


async def _case_events(sessions: SessionFactory, case: ExceptionCase) -> list[Event]:
    async with read_only(sessions) as session:
        rows = await session.scalars(
            select(Event)
            .where(Event.subject_type == "exception_case", Event.subject_id == case.id)
            .order_by(Event.id)
        )
        return list(rows.all())


async def test_a_late_case_from_acknowledgement_to_closure_one_event_per_move(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    case = await _late_case(sessions, clock, world)
    office = world.office()
    manager = world.office(Role.REGISTERED_MANAGER)
    common = {"actor": "account:coordinator", "clock": clock, "case_id": case.id}

    clock.advance(timedelta(minutes=4))
    acknowledged = await _do(sessions, service.acknowledge, scope=office, **common, note="on it")
    assert acknowledged.status is CaseStatus.ACKNOWLEDGED
    assert acknowledged.owner == "account:coordinator"
    assert acknowledged.acknowledged_at == clock.now()

    assigned = await _do(
        sessions, service.assign, scope=office, **common, staff_id=world.manager.id
    )
    assert assigned.owner == f"staff:{world.manager.id}"

    # Resolution needs an outcome from the contract's list, with every required field.
    with pytest.raises(InvalidInput) as unknown:
        await _do(
            sessions, service.resolve, scope=office, **common, outcome_code="sorted", fields={}
        )
    assert unknown.value.code == "UNKNOWN_OUTCOME"
    assert "covered_by_alternative_worker" in unknown.value.reason
    with pytest.raises(InvalidInput) as missing:
        await _do(
            sessions,
            service.resolve,
            scope=office,
            **common,
            outcome_code="covered_by_alternative_worker",
            fields={"coveredWithinMinutes": 40},
        )
    assert (missing.value.field, missing.value.code) == ("fields.alternativeWorker", "REQUIRED")
    with pytest.raises(InvalidInput) as extra:
        await _do(
            sessions,
            service.resolve,
            scope=office,
            **common,
            outcome_code="person_declined_visit",
            fields={"why": "asleep"},
        )
    assert extra.value.code == "UNKNOWN_FIELD"

    clock.advance(timedelta(minutes=20))
    resolved = await _do(
        sessions,
        service.resolve,
        scope=office,
        **common,
        outcome_code="covered_by_alternative_worker",
        fields={"coveredWithinMinutes": 40, "alternativeWorker": " J. Patel "},
        note="Carer's car broke down",
    )
    assert resolved.status is CaseStatus.RESOLVED
    assert resolved.outcome_fields == {"coveredWithinMinutes": 40, "alternativeWorker": "J. Patel"}
    assert resolved.next_escalation_at is None

    # A learning action must be completed before the registered manager can close.
    action = await _do(
        sessions,
        service.add_action,
        scope=office,
        actor="account:coordinator",
        clock=clock,
        case_id=case.id,
        kind=ActionKind.LEARNING,
        description="Review travel time between the 07:30 and 08:00 calls",
        owner_role=EscalationTarget.REGISTERED_MANAGER,
        due_at=clock.now() + timedelta(days=7),
    )
    with pytest.raises(CaseChangeForbidden):
        await _do(sessions, service.close, scope=office, **common)
    with pytest.raises(ActionsOutstanding) as outstanding:
        await _do(sessions, service.close, scope=manager, **common)
    assert "Review travel time" in outstanding.value.message
    await _do(
        sessions,
        service.complete_action,
        scope=office,
        actor="account:coordinator",
        clock=clock,
        action_id=action.id,
        note="Rota changed: 15 minutes' travel added",
    )
    closed = await _do(sessions, service.close, scope=manager, **common, note="Signed off")
    assert closed.status is CaseStatus.CLOSED
    with pytest.raises(IllegalCaseTransition) as final:
        await _do(sessions, service.acknowledge, scope=office, **common)
    assert "closed, which is final" in final.value.message

    events = await _case_events(sessions, case)
    assert [e.type for e in events] == [
        "case.opened",
        "case.acknowledged",
        "case.assigned",
        "case.resolved",
        "case.action_added",
        "case.action_completed",
        "case.closed",
    ]
    assert [e.payload["status"] for e in events] == [
        "open",
        "acknowledged",
        "acknowledged",
        "resolved",
        "resolved",
        "resolved",
        "closed",
    ]
    assert all(e.contract_id == world.contract.id for e in events)
    assert all(e.person_id == world.person.id for e in events)
    assert events[3].payload["outcome_label"] == "covered by alternative worker"
    assert events[3].payload["minutes_open"] == 24.0


async def test_illegal_moves_are_refused_and_change_nothing(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    case = await _late_case(sessions, clock, world)
    office = world.office()
    with pytest.raises(IllegalCaseTransition) as refused:
        await _do(
            sessions,
            service.resolve,
            scope=office,
            actor="office",
            clock=clock,
            case_id=case.id,
            outcome_code="person_declined_visit",
            fields={},
        )
    assert "acknowledge it first" in refused.value.message
    with pytest.raises(IllegalCaseTransition):
        await _do(
            sessions,
            service.close,
            scope=AccessScope.system(),
            actor="a",
            clock=clock,
            case_id=case.id,
        )
    assert [e.type for e in await _case_events(sessions, case)] == ["case.opened"]


async def test_timers_climb_the_default_ladder_to_a_commissioner_notification(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    case = await _late_case(sessions, clock, world)
    opened = case.opened_at
    clock.current = opened + timedelta(minutes=30) - timedelta(microseconds=1)
    assert await run_escalations(sessions, clock) == 0

    # Acknowledging does not stop the clock: escalation is about resolution.
    await _do(
        sessions,
        service.acknowledge,
        scope=world.office(),
        actor="office",
        clock=clock,
        case_id=case.id,
    )
    clock.current = opened + timedelta(minutes=30)
    assert await run_escalations(sessions, clock) == 1
    # The worker was down for three hours: it catches up, one event per rung, at each due time.
    clock.current = opened + timedelta(hours=4)
    assert await run_escalations(sessions, clock) == 2
    assert await run_escalations(sessions, clock) == 0
    async with read_only(sessions) as session:
        found = await repository.get(session, AccessScope.system(), case.id)
    assert found is not None
    assert (found.status, found.level, found.owner_role) == (
        CaseStatus.ESCALATED,
        3,
        "commissioner",
    )
    assert found.next_escalation_at is None
    escalations = [e for e in await _case_events(sessions, case) if e.type == "case.escalated"]
    assert [(e.payload["target"], e.occurred_at - opened) for e in escalations] == [
        ("on_call_manager", timedelta(minutes=30)),
        ("registered_manager", timedelta(minutes=60)),
        ("commissioner", timedelta(minutes=120)),
    ]
    assert [e.payload["notify_commissioner"] for e in escalations] == [False, False, True]
    assert all(e.payload["by_timer"] for e in escalations)
    with pytest.raises(NoFurtherEscalation):
        await _do(
            sessions,
            service.escalate,
            scope=world.office(),
            actor="office",
            clock=clock,
            case_id=case.id,
            reason="no answer",
        )


async def test_a_contracts_own_ladder_drives_its_timers_and_a_resolved_case_stops_them(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    policy = await _do(
        sessions,
        service.set_escalation_ladder,
        scope=world.commissioner_scope(),
        actor="commissioner",
        clock=clock,
        contract_id=world.contract.id,
        steps=[(EscalationTarget.REGISTERED_MANAGER, 10), (EscalationTarget.COMMISSIONER, 20)],
    )
    assert not policy.ladder_is_default
    with pytest.raises(ContractChangeForbidden):
        await _do(
            sessions,
            service.set_escalation_ladder,
            scope=world.office(),
            actor="office",
            clock=clock,
            contract_id=world.contract.id,
            steps=[],
        )
    case = await _late_case(sessions, clock, world)
    assert case.next_escalation_at == case.opened_at + timedelta(minutes=10)
    # By hand first, with a reason; the timer then carries on from the next rung.
    escalated = await _do(
        sessions,
        service.escalate,
        scope=world.office(),
        actor="office",
        clock=clock,
        case_id=case.id,
        reason="carer unreachable",
    )
    assert (escalated.level, escalated.owner_role) == (1, "registered_manager")
    await _do(
        sessions,
        service.acknowledge,
        scope=world.office(Role.REGISTERED_MANAGER),
        actor="manager",
        clock=clock,
        case_id=case.id,
    )
    await _do(
        sessions,
        service.resolve,
        scope=world.office(Role.REGISTERED_MANAGER),
        actor="manager",
        clock=clock,
        case_id=case.id,
        outcome_code="family_supported",
        fields={"familyMember": "daughter"},
    )
    clock.advance(timedelta(hours=1))
    assert await run_escalations(sessions, clock) == 0


async def test_a_safeguarding_case_is_resolved_only_after_a_documented_decision(
    sessions: SessionFactory, clock: FixedClock, world: World, field: Field
) -> None:
    visit = await add_visit(sessions, world, START)
    clock.current = START + timedelta(minutes=10)
    await field.concern(visit, safeguarding=True)
    await run_event_rules(sessions, clock)
    async with read_only(sessions) as session:
        case = (
            await session.scalars(select(ExceptionCase).where(ExceptionCase.visit_id == visit.id))
        ).one()
    manager = world.office(Role.REGISTERED_MANAGER)
    common = {"actor": "manager", "clock": clock, "case_id": case.id}
    await _do(sessions, service.acknowledge, scope=manager, **common)
    with pytest.raises(SafeguardingDecisionRequired):
        await _do(
            sessions,
            service.resolve,
            scope=manager,
            **common,
            outcome_code="escalated_to_on_call",
            fields={"onCallManager": "A. Khan"},
        )
    with pytest.raises(CaseChangeForbidden):
        await _do(
            sessions,
            service.record_safeguarding_decision,
            scope=world.office(),
            **common,
            referral_made=True,
            reason="bruising",
        )
    with pytest.raises(InvalidInput):
        await _do(
            sessions,
            service.record_safeguarding_decision,
            scope=manager,
            **common,
            referral_made=False,
            reason="  ",
        )
    decided = await _do(
        sessions,
        service.record_safeguarding_decision,
        scope=manager,
        **common,
        referral_made=True,
        reason="Unexplained bruising on both arms; the person was frightened",
        referral_reference="MASH-2026-1123",
    )
    assert decided.safeguarding_decision is not None
    assert decided.safeguarding_decision["referral_made"] is True
    assert decided.safeguarding_decision["revision"] == 1
    resolved = await _do(
        sessions,
        service.resolve,
        scope=manager,
        **common,
        outcome_code="escalated_to_on_call",
        fields={"onCallManager": "A. Khan"},
    )
    assert resolved.status is CaseStatus.RESOLVED
    types = [e.type for e in await _case_events(sessions, case)]
    assert "case.safeguarding_decision_recorded" in types

    late = await _late_case(sessions, clock, world)
    with pytest.raises(NotASafeguardingCase):
        await _do(
            sessions,
            service.record_safeguarding_decision,
            scope=manager,
            actor="manager",
            clock=clock,
            case_id=late.id,
            referral_made=False,
            reason="n/a",
        )


async def test_tenancy_commissioners_read_the_office_handles_everyone_else_sees_nothing(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    case = await _late_case(sessions, clock, world)
    scopes = {
        "commissioner": world.commissioner_scope(),
        "office": world.office(),
        "other commissioner": AccessScope(Role.COMMISSIONER, world.other_commissioner.id, None),
        "other provider": AccessScope(Role.COORDINATOR, world.other_provider.id, None),
        "carer": world.carer_scope(),
        "supplier": AccessScope(Role.SUPPLIER_CLIENT, world.provider.id, None),
    }
    async with read_only(sessions) as session:
        seen = {
            name: [
                row.id
                for row in await repository.list_page(session, scope, limit=10, now=clock.now())
            ]
            for name, scope in scopes.items()
        }
    assert seen == {
        "commissioner": [case.id],
        "office": [case.id],
        "other commissioner": [],
        "other provider": [],
        "carer": [],
        "supplier": [],
    }
    common = {"actor": "x", "clock": clock, "case_id": case.id}
    with pytest.raises(CaseChangeForbidden):
        await _do(sessions, service.acknowledge, scope=scopes["commissioner"], **common)
    with pytest.raises(CaseNotFound):
        await _do(sessions, service.acknowledge, scope=scopes["other provider"], **common)
    # A case can be assigned only to the provider's own staff.
    async with unit_of_work(sessions) as session:
        stranger = await builders.create_staff(session, organisation=world.other_provider)
    with pytest.raises(StaffNotFound):
        await _do(sessions, service.assign, scope=scopes["office"], **common, staff_id=stranger.id)
    with pytest.raises(InvalidInput) as past:
        await _do(
            sessions,
            service.add_action,
            scope=scopes["office"],
            **common,
            kind=ActionKind.GOVERNANCE,
            description="Spot check",
            due_at=clock.now() - timedelta(minutes=1),
        )
    assert past.value.code == "DUE_IN_PAST"


async def test_overdue_is_judged_against_the_due_times(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    case = await _late_case(sessions, clock, world)
    scope = world.office()

    async def overdue_ids(at: datetime) -> list[Any]:
        async with read_only(sessions) as session:
            rows = await repository.list_page(session, scope, limit=10, now=at, overdue=True)
            return [row.id for row in rows]

    assert await overdue_ids(case.acknowledge_due_at) == []
    assert await overdue_ids(case.acknowledge_due_at + timedelta(microseconds=1)) == [case.id]
    await _do(
        sessions, service.acknowledge, scope=scope, actor="office", clock=clock, case_id=case.id
    )
    assert await overdue_ids(case.acknowledge_due_at + timedelta(minutes=1)) == []
    assert await overdue_ids(case.due_at + timedelta(microseconds=1)) == [case.id]
