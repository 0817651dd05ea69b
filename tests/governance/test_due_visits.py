"""Every visit past its tolerance is judged, whenever it arrives: the due-visit scan judges by what
has not been judged (`visits.late_judged_at`, `visits.missed_judged_at`), not by a time window
from its previous run. Visits already past on the first scan, visits planned after their time
(a supplier sync at 14:00 for a 09:00 visit), visits moved into the past and visits due while
the worker was down each get exactly one `visit.late` / `visit.missed` event and one case per
rule; a visit moved after it was judged is judged again against its new times."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from hub.db.engine import SessionFactory
from hub.db.uow import read_only, unit_of_work
from hub.events.models import Event
from hub.governance import service as governance
from hub.governance.lifecycle import CaseStatus
from hub.governance.models import CaseEvidence, ExceptionCase
from hub.governance.runner import ScanResult, run_due_visit_scan, run_event_rules
from hub.kit.time import FixedClock
from hub.visits import external
from hub.visits import service as visits
from hub.visits.judgement import VISIT_LATE, VISIT_MISSED
from hub.visits.models import Visit
from tests.governance.conftest import ADMIN, Field, World, add_visit

MICROSECOND = timedelta(microseconds=1)
DAY = datetime(2026, 11, 23, tzinfo=UTC)


def at(hour: int, minute: int = 0) -> datetime:
    return DAY + timedelta(hours=hour, minutes=minute)


async def _cases(sessions: SessionFactory, visit_id: uuid.UUID) -> list[ExceptionCase]:
    async with read_only(sessions) as session:
        rows = await session.scalars(
            select(ExceptionCase)
            .where(ExceptionCase.visit_id == visit_id)
            .order_by(ExceptionCase.opened_at, ExceptionCase.rule)
        )
        return list(rows.all())


async def _rules(sessions: SessionFactory, visit_id: uuid.UUID) -> list[str]:
    return sorted(case.rule for case in await _cases(sessions, visit_id))


async def _judgements(sessions: SessionFactory, visit_id: uuid.UUID) -> list[Event]:
    async with read_only(sessions) as session:
        rows = await session.scalars(
            select(Event)
            .where(
                Event.subject_type == "visit",
                Event.subject_id == visit_id,
                Event.type.in_([VISIT_LATE, VISIT_MISSED]),
            )
            .order_by(Event.id)
        )
        return list(rows.all())


async def _types(sessions: SessionFactory, visit_id: uuid.UUID) -> list[str]:
    return [event.type for event in await _judgements(sessions, visit_id)]


async def _plan(
    sessions: SessionFactory, clock: FixedClock, world: World, start: datetime, key: str
) -> uuid.UUID:
    """A visit planned through `hub.visits.external`, as a supplier sync plans one."""
    async with unit_of_work(sessions) as session:
        found, created = await external.plan_visit(
            session,
            scope=world.office(),
            actor="supplier:rostering",
            clock=clock,
            package_id=world.package.id,
            idempotency_key=f"supplier:test:{key}",
            origin="supplier",
            planned_start=start,
            planned_end=start + timedelta(minutes=30),
            time_critical=False,
            double_handed=False,
            tasks=[],
        )
    assert created
    return found.visit.id


async def _reschedule(
    sessions: SessionFactory, clock: FixedClock, world: World, visit_id: uuid.UUID, to: datetime
) -> None:
    async with unit_of_work(sessions) as session:
        await external.reschedule_visit(
            session,
            scope=world.office(),
            actor="supplier:rostering",
            clock=clock,
            visit_id=visit_id,
            planned_start=to,
            planned_end=to + timedelta(minutes=30),
            reason="rota change",
        )


async def test_first_start_judges_past_visits(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    """Visits already past when the worker scans for the first time: each is judged once."""
    long_ago = await add_visit(sessions, world, at(4))
    missed = await add_visit(sessions, world, at(8))
    late = await add_visit(sessions, world, at(8, 40))
    within = await add_visit(sessions, world, at(8, 50))
    future = await add_visit(sessions, world, at(11))
    clock.current = at(9, 1)

    assert await run_due_visit_scan(sessions, clock) == ScanResult(3, 2)
    assert await _rules(sessions, long_ago.id) == ["visit_late", "visit_missed"]
    assert await _rules(sessions, missed.id) == ["visit_late", "visit_missed"]
    assert await _rules(sessions, late.id) == ["visit_late"]
    assert await _rules(sessions, within.id) == []
    assert await _rules(sessions, future.id) == []
    assert await _types(sessions, long_ago.id) == [VISIT_LATE, VISIT_MISSED]
    assert await _types(sessions, late.id) == [VISIT_LATE]

    # Again, and later: nothing twice; each goes on at its own thresholds.
    assert await run_due_visit_scan(sessions, clock) == ScanResult(0, 0)
    clock.current = at(9, 40)
    assert await run_due_visit_scan(sessions, clock) == ScanResult(1, 0)  # `within` is late
    clock.advance(MICROSECOND)
    assert await run_due_visit_scan(sessions, clock) == ScanResult(0, 1)  # `late` is missed
    assert await _rules(sessions, late.id) == ["visit_late", "visit_missed"]
    assert await _types(sessions, late.id) == [VISIT_LATE, VISIT_MISSED]
    for visit in (long_ago, missed, late):
        assert len(await _judgements(sessions, visit.id)) == 2


async def test_the_judgement_events_carry_the_threshold_and_open_the_case_as_evidence(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    visit = await add_visit(sessions, world, at(8), time_critical=True)
    clock.current = at(10)
    await run_due_visit_scan(sessions, clock)
    late, missed = await _judgements(sessions, visit.id)
    assert (late.type, late.occurred_at) == (VISIT_LATE, at(8, 5))  # the time-critical tolerance
    assert (missed.type, missed.occurred_at) == (VISIT_MISSED, at(9))
    assert late.actor == "system:governance"
    assert (late.contract_id, late.person_id, late.organisation_id) == (
        world.contract.id,
        world.person.id,
        world.provider.id,
    )
    assert late.payload["lateAfter"] == at(8, 5).isoformat()
    assert missed.payload["missedAfter"] == at(9).isoformat()
    assert late.payload["judgedAt"] == at(10).isoformat()
    assert late.payload["plannedStart"] == at(8).isoformat()
    assert late.payload["timeCritical"] is True
    async with read_only(sessions) as session:
        linked = await session.execute(
            select(ExceptionCase.rule, CaseEvidence.event_id)
            .join(CaseEvidence, CaseEvidence.case_id == ExceptionCase.id)
            .where(ExceptionCase.visit_id == visit.id, CaseEvidence.relation == "opened")
        )
        assert sorted(linked.all()) == [("visit_late", late.id), ("visit_missed", missed.id)]


async def test_a_visit_inserted_after_its_tolerance_is_judged(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    """A supplier sync at 14:00 plans a 09:00 visit that nobody attended."""
    clock.current = at(13, 59)
    assert await run_due_visit_scan(sessions, clock) == ScanResult(0, 0)
    clock.current = at(14)
    visit_id = await _plan(sessions, clock, world, at(9), "late-import")
    clock.current = at(14) + timedelta(seconds=15)
    assert await run_due_visit_scan(sessions, clock) == ScanResult(1, 1)
    assert await _rules(sessions, visit_id) == ["visit_late", "visit_missed"]
    assert await _types(sessions, visit_id) == [VISIT_LATE, VISIT_MISSED]
    clock.advance(timedelta(hours=1))
    assert await run_due_visit_scan(sessions, clock) == ScanResult(0, 0)


async def test_a_visit_planned_late_is_judged_at_the_exact_boundary(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    """Planned after its start: at its tolerance exactly, no case; a microsecond later, one."""
    clock.current = at(9, 10)
    visit_id = await _plan(sessions, clock, world, at(9), "boundary")
    clock.current = at(9, 15)
    assert await run_due_visit_scan(sessions, clock) == ScanResult(0, 0)
    assert await _types(sessions, visit_id) == []
    clock.advance(MICROSECOND)
    assert await run_due_visit_scan(sessions, clock) == ScanResult(1, 0)
    clock.current = at(10)
    assert await run_due_visit_scan(sessions, clock) == ScanResult(0, 0)
    clock.advance(MICROSECOND)
    assert await run_due_visit_scan(sessions, clock) == ScanResult(0, 1)
    assert await _rules(sessions, visit_id) == ["visit_late", "visit_missed"]


async def test_a_planned_time_moved_into_the_past_is_judged(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    visit_id = await _plan(sessions, clock, world, at(16), "moved-back")
    clock.current = at(12)
    assert await run_due_visit_scan(sessions, clock) == ScanResult(0, 0)
    await _reschedule(sessions, clock, world, visit_id, at(9))  # a rota change at noon
    clock.advance(timedelta(seconds=15))
    assert await run_due_visit_scan(sessions, clock) == ScanResult(1, 1)
    assert await _rules(sessions, visit_id) == ["visit_late", "visit_missed"]
    assert await run_due_visit_scan(sessions, clock) == ScanResult(0, 0)


async def test_downtime_of_several_hours_judges_every_visit_due_meanwhile(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    clock.current = at(6)
    assert await run_due_visit_scan(sessions, clock) == ScanResult(0, 0)
    # The worker stops; visits come and go, some planned while it is down.
    for h in range(6):
        await add_visit(sessions, world, at(7 + h))
    clock.current = at(10)
    await _plan(sessions, clock, world, at(8, 30), "while-down")
    clock.current = at(19)
    result = await run_due_visit_scan(sessions, clock)
    assert result == ScanResult(7, 7)
    async with read_only(sessions) as session:
        rows = await session.execute(
            select(ExceptionCase.visit_id, ExceptionCase.rule).where(
                ExceptionCase.rule.in_(["visit_late", "visit_missed"])
            )
        )
        opened = rows.all()
    assert len(opened) == 14
    assert len(set(opened)) == 14  # exactly one case per rule and visit
    assert await run_due_visit_scan(sessions, clock) == ScanResult(0, 0)


async def test_a_full_run_leaves_the_rest_to_the_next(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    for m in range(12):
        await add_visit(sessions, world, at(6, m))
    clock.current = at(6, 50)  # all late, none missed
    assert await run_due_visit_scan(sessions, clock, limit=5, chunk=2) == ScanResult(5, 0)
    assert await run_due_visit_scan(sessions, clock, limit=5, chunk=2) == ScanResult(5, 0)
    assert await run_due_visit_scan(sessions, clock, limit=5, chunk=2) == ScanResult(2, 0)
    assert await run_due_visit_scan(sessions, clock, limit=5, chunk=2) == ScanResult(0, 0)


async def test_cancelled_and_attended_visits_are_not_judged(
    sessions: SessionFactory, clock: FixedClock, world: World, field: Field
) -> None:
    cancelled = await add_visit(sessions, world, at(8))
    attended_early = await add_visit(sessions, world, at(8))
    attended_before_judgement = await add_visit(sessions, world, at(8))
    cancelled_when_late = await add_visit(sessions, world, at(8))
    clock.current = at(8, 5)
    await field.check_in(attended_early, at(8, 2))
    async with unit_of_work(sessions) as session:
        await visits.cancel_visit(
            session,
            scope=world.office(),
            actor="office",
            clock=clock,
            visit_id=cancelled.id,
            reason="person in hospital",
        )
    # A check-in after the late threshold that syncs before any scan ran: attended, not judged.
    clock.current = at(8, 40)
    await field.check_in(attended_before_judgement, at(8, 30))
    assert await run_due_visit_scan(sessions, clock) == ScanResult(1, 0)
    assert await _types(sessions, cancelled_when_late.id) == [VISIT_LATE]
    async with unit_of_work(sessions) as session:
        await visits.cancel_visit(
            session,
            scope=world.office(),
            actor="office",
            clock=clock,
            visit_id=cancelled_when_late.id,
            reason="family cover",
        )
    clock.current = at(12)
    assert await run_due_visit_scan(sessions, clock) == ScanResult(0, 0)
    for visit in (cancelled, attended_early, attended_before_judgement):
        assert await _types(sessions, visit.id) == []
        assert await _rules(sessions, visit.id) == []
    assert await _types(sessions, cancelled_when_late.id) == [VISIT_LATE]
    assert await _rules(sessions, cancelled_when_late.id) == ["visit_late"]


async def test_a_visit_judged_late_then_attended_is_not_judged_missed_and_reconciles(
    sessions: SessionFactory, clock: FixedClock, world: World, field: Field
) -> None:
    visit = await add_visit(sessions, world, at(8))
    clock.current = at(8, 20)
    assert await run_due_visit_scan(sessions, clock) == ScanResult(1, 0)
    clock.current = at(8, 30)
    await field.check_in(visit, at(8, 25))
    await run_event_rules(sessions, clock)
    clock.current = at(11)
    assert await run_due_visit_scan(sessions, clock) == ScanResult(0, 0)
    assert await _types(sessions, visit.id) == [VISIT_LATE]
    [late] = await _cases(sessions, visit.id)
    assert late.reconciliation is not None
    assert late.reconciliation["kind"] == "attended_late"


async def test_a_visit_moved_after_judgement_is_judged_again_on_its_active_case(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    visit_id = await _plan(sessions, clock, world, at(9), "moved-on")
    clock.current = at(9, 20)
    assert await run_due_visit_scan(sessions, clock) == ScanResult(1, 0)
    await _reschedule(sessions, clock, world, visit_id, at(11))  # the office moves it on
    clock.current = at(11, 15)
    assert await run_due_visit_scan(sessions, clock) == ScanResult(0, 0)
    clock.advance(MICROSECOND)
    # Late again at its new time: a second judgement, evidence on the case still open.
    assert await run_due_visit_scan(sessions, clock) == ScanResult(0, 0)
    events = await _judgements(sessions, visit_id)
    assert [(e.type, e.payload["plannedStart"]) for e in events] == [
        (VISIT_LATE, at(9).isoformat()),
        (VISIT_LATE, at(11).isoformat()),
    ]
    [case] = await _cases(sessions, visit_id)
    async with read_only(sessions) as session:
        evidence = await session.scalars(
            select(CaseEvidence.event_id).where(CaseEvidence.case_id == case.id)
        )
        assert events[1].id in set(evidence.all())


async def test_a_visit_moved_after_its_case_was_resolved_opens_a_new_case(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    visit_id = await _plan(sessions, clock, world, at(9), "resolved-then-moved")
    clock.current = at(9, 20)
    assert await run_due_visit_scan(sessions, clock) == ScanResult(1, 0)
    [first] = await _cases(sessions, visit_id)
    async with unit_of_work(sessions) as session:
        await governance.acknowledge(
            session, scope=world.office(), actor="office", clock=clock, case_id=first.id
        )
        await governance.resolve(
            session,
            scope=world.office(),
            actor="office",
            clock=clock,
            case_id=first.id,
            outcome_code="person_declined_visit",
            fields={},
        )
    await _reschedule(sessions, clock, world, visit_id, at(13))
    clock.current = at(13, 16)
    assert await run_due_visit_scan(sessions, clock) == ScanResult(1, 0)
    cases = await _cases(sessions, visit_id)
    assert [(c.rule, c.status) for c in cases] == [
        ("visit_late", CaseStatus.RESOLVED),
        ("visit_late", CaseStatus.OPEN),
    ]
    assert cases[1].details["planned_start"] == at(13).isoformat()
    # Moving it again after that, and scanning twice, still opens one case per planned time.
    assert await run_due_visit_scan(sessions, clock) == ScanResult(0, 0)


async def test_the_admin_view_of_a_judged_visit_still_reads_missed(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    """The judgement marks nothing the status reads: status stays derived from facts and clock."""
    visit = await add_visit(sessions, world, at(8))
    clock.current = at(10)
    await run_due_visit_scan(sessions, clock)
    async with read_only(sessions) as session:
        found = await visits.get_visit(session, ADMIN, visit.id)
        row = await session.get(Visit, visit.id)
    assert visits.visit_status(found, clock.now()).value == "missed"
    assert row is not None
    assert (row.late_judged_at, row.missed_judged_at) == (at(10), at(10))
