"""The due-visit scan against the real database: late and missed cases at the edge instants of
each tolerance (the tighter one for time-critical calls), across both clock changes, once per
visit however often it runs, with the events the commissioners' feed streams — and a scan whose
plan reads only the visits awaiting judgement, through their partial index, never a sequential
scan. (What the scan judges whenever a visit arrives or moves: test_due_visits.py.)"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, insert, select, text

from hub.db.engine import SessionFactory
from hub.db.uow import read_only, unit_of_work
from hub.events.models import Event
from hub.governance import repository
from hub.governance.lifecycle import CaseSeverity, CaseStatus
from hub.governance.models import ExceptionCase
from hub.governance.runner import ScanResult, run_due_visit_scan
from hub.kit.ids import uuid7
from hub.kit.time import FixedClock
from hub.visits import service as visits
from hub.visits.models import Visit
from tests import builders
from tests.governance.conftest import ADMIN, Field, World, add_visit

MICROSECOND = timedelta(microseconds=1)
START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


async def _cases(sessions: SessionFactory, visit: Visit) -> dict[str, ExceptionCase]:
    async with read_only(sessions) as session:
        rows = await session.scalars(
            select(ExceptionCase).where(ExceptionCase.visit_id == visit.id)
        )
        return {row.rule: row for row in rows}


async def test_late_opens_one_microsecond_after_the_tolerance_not_at_it(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    visit = await add_visit(sessions, world, START)
    clock.current = START + timedelta(minutes=15)
    assert (await run_due_visit_scan(sessions, clock)).late_opened == 0
    assert await _cases(sessions, visit) == {}

    clock.advance(MICROSECOND)
    result = await run_due_visit_scan(sessions, clock)
    assert (result.late_opened, result.missed_opened) == (1, 0)
    late = (await _cases(sessions, visit))["visit_late"]
    assert late.status is CaseStatus.OPEN
    assert late.severity is CaseSeverity.MEDIUM
    assert (late.contract_id, late.provider_id, late.person_id) == (
        world.contract.id,
        world.provider.id,
        world.person.id,
    )
    assert late.opened_at == clock.now()
    assert late.details["late_after"] == (START + timedelta(minutes=15)).isoformat()
    # Due times and the first rung of the default ladder (on-call manager after 30 minutes).
    assert late.acknowledge_due_at == clock.now() + timedelta(minutes=30)
    assert late.due_at == clock.now() + timedelta(minutes=240)
    assert late.next_escalation_at == clock.now() + timedelta(minutes=30)
    assert "23 Nov 2026 08:00" in late.title

    # Running again, or later, opens nothing more for this rule.
    clock.advance(timedelta(minutes=5))
    assert (await run_due_visit_scan(sessions, clock)).late_opened == 0
    assert list(await _cases(sessions, visit)) == ["visit_late"]


async def test_time_critical_visits_use_the_tighter_tolerance(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    critical = await add_visit(sessions, world, START, time_critical=True)
    ordinary = await add_visit(sessions, world, START)
    clock.current = START + timedelta(minutes=5)
    await run_due_visit_scan(sessions, clock)
    assert await _cases(sessions, critical) == {}
    clock.advance(MICROSECOND)
    await run_due_visit_scan(sessions, clock)
    late = (await _cases(sessions, critical))["visit_late"]
    assert late.severity is CaseSeverity.HIGH
    assert "time-critical" in late.title
    assert await _cases(sessions, ordinary) == {}


async def test_missed_opens_after_the_missed_threshold_beside_the_late_case(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    visit = await add_visit(sessions, world, START)
    clock.current = START + timedelta(minutes=60)
    result = await run_due_visit_scan(sessions, clock)
    # A scan that first sees the visit at the missed threshold still opens the late case.
    assert (result.late_opened, result.missed_opened) == (1, 0)
    clock.advance(MICROSECOND)
    result = await run_due_visit_scan(sessions, clock)
    assert (result.late_opened, result.missed_opened) == (0, 1)
    cases = await _cases(sessions, visit)
    assert set(cases) == {"visit_late", "visit_missed"}
    assert cases["visit_missed"].severity is CaseSeverity.HIGH
    assert await run_due_visit_scan(sessions, clock) == ScanResult(0, 0)


async def test_attended_and_cancelled_visits_open_nothing(
    sessions: SessionFactory, clock: FixedClock, world: World, field: Field
) -> None:
    attended = await add_visit(sessions, world, START)
    cancelled = await add_visit(sessions, world, START)
    clock.current = START + timedelta(minutes=3)
    await field.check_in(attended, START + timedelta(minutes=2))
    async with unit_of_work(sessions) as session:
        await visits.cancel_visit(
            session,
            scope=world.office(),
            actor="office",
            clock=clock,
            visit_id=cancelled.id,
            reason="person in hospital",
        )
    clock.current = START + timedelta(hours=3)
    assert await run_due_visit_scan(sessions, clock) == ScanResult(0, 0)
    assert await _cases(sessions, attended) == {}
    assert await _cases(sessions, cancelled) == {}


async def test_the_opened_event_carries_what_the_feed_and_its_tenancy_need(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    visit = await add_visit(sessions, world, START)
    clock.current = START + timedelta(minutes=16)
    await run_due_visit_scan(sessions, clock)
    case = (await _cases(sessions, visit))["visit_late"]
    async with read_only(sessions) as session:
        event = (
            await session.scalars(
                select(Event).where(
                    Event.subject_type == "exception_case", Event.subject_id == case.id
                )
            )
        ).one()
    assert event.type == "case.opened"
    assert event.id == case.opened_event_id
    assert (event.contract_id, event.person_id, event.organisation_id) == (
        world.contract.id,
        world.person.id,
        world.provider.id,
    )
    assert {k: event.payload[k] for k in ("case_id", "rule", "status", "severity", "level")} == {
        "case_id": str(case.id),
        "rule": "visit_late",
        "status": "open",
        "severity": "medium",
        "level": 0,
    }
    assert event.occurred_at == clock.now()


async def test_a_scan_after_downtime_catches_up_visits_from_before_it(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    clock.current = START - timedelta(hours=1)
    await run_due_visit_scan(sessions, clock)  # the last scan before the worker stopped
    visits_ = [await add_visit(sessions, world, START + timedelta(hours=h)) for h in range(6)]
    clock.current = START + timedelta(hours=10)
    result = await run_due_visit_scan(sessions, clock)
    assert (result.late_opened, result.missed_opened) == (6, 6)
    for visit in visits_:
        assert set(await _cases(sessions, visit)) == {"visit_late", "visit_missed"}


# --- the clock changes (Europe/London) -----------------------------------------------------------


async def _generate_at_0130(
    sessions: SessionFactory, clock: FixedClock, world: World, day: date
) -> Visit:
    async with unit_of_work(sessions) as session:
        contract = await builders.create_contract(
            session,
            commissioner=world.commissioner,
            provider=world.provider,
            starts_on=date(2026, 1, 1),
        )
        package = await builders.create_package(
            session, contract=contract, person=world.person, starts_on=date(2026, 1, 1)
        )
        await builders.add_schedule_entry(session, package, start_time=time(1, 30))
    async with unit_of_work(sessions) as session:
        generated = await visits.generate_visits(
            session,
            scope=ADMIN,
            actor="office",
            clock=clock,
            package_id=package.id,
            date_from=day,
            date_to=day,
        )
    [record] = generated.created
    return record.visit


async def test_spring_forward_0130_is_late_fifteen_elapsed_minutes_after_its_shifted_start(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    # 29 March 2026: 01:00 GMT jumps to 02:00 BST; 01:30 does not exist and moves to 02:30 BST.
    visit = await _generate_at_0130(sessions, clock, world, date(2026, 3, 29))
    assert visit.planned_start == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    clock.current = datetime(2026, 3, 29, 1, 45, tzinfo=UTC)  # 02:45 BST
    await run_due_visit_scan(sessions, clock)
    assert await _cases(sessions, visit) == {}
    clock.advance(MICROSECOND)
    await run_due_visit_scan(sessions, clock)
    late = (await _cases(sessions, visit))["visit_late"]
    assert "29 Mar 2026 02:30" in late.title
    assert "(late after 29 Mar 2026 02:45)" in late.title


async def test_fall_back_0130_is_late_fifteen_minutes_after_its_first_occurrence(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    # 25 October 2026: 02:00 BST falls back to 01:00 GMT; 01:30 happens twice, the first
    # (BST, 00:30 UTC) is planned. Late after 00:45 UTC, not after the second 01:30.
    visit = await _generate_at_0130(sessions, clock, world, date(2026, 10, 25))
    assert visit.planned_start == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    clock.current = datetime(2026, 10, 25, 0, 45, tzinfo=UTC)
    await run_due_visit_scan(sessions, clock)
    assert await _cases(sessions, visit) == {}
    clock.advance(MICROSECOND)
    await run_due_visit_scan(sessions, clock)
    assert set(await _cases(sessions, visit)) == {"visit_late"}
    # Missed 60 elapsed minutes after the start: 01:30 UTC, i.e. 01:30 GMT, the second 01:30.
    clock.current = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    await run_due_visit_scan(sessions, clock)
    assert set(await _cases(sessions, visit)) == {"visit_late"}
    clock.advance(MICROSECOND)
    await run_due_visit_scan(sessions, clock)
    assert set(await _cases(sessions, visit)) == {"visit_late", "visit_missed"}


# --- index-driven -----------------------------------------------------------------------------


async def test_the_due_visit_scan_reads_only_visits_awaiting_judgement_through_its_index(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    """A few thousand visits over two months, those before 06:00 judged already (the steady
    state): the scan's plan reads the partial index of visits awaiting judgement, never a
    sequential scan of visits, and the scan judges the few that are due."""
    first = START - timedelta(days=45)
    steady = START - timedelta(hours=2)
    rows = [
        {
            "id": uuid7(),
            "package_id": world.package.id,
            "idempotency_key": f"bulk:{n}",
            "planned_start": first + timedelta(minutes=30 * n),
            "planned_end": first + timedelta(minutes=30 * n + 30),
            "tasks": [],
        }
        for n in range(3000)
    ]
    for n, row in enumerate(rows):
        planned = first + timedelta(minutes=30 * n)
        if planned < steady:
            row["late_judged_at"] = row["missed_judged_at"] = planned
    async with unit_of_work(sessions) as session:
        await session.execute(insert(Visit), rows)
        total = await session.scalar(select(func.count()).select_from(Visit))
    assert total == 3000
    async with unit_of_work(sessions) as session:
        await session.execute(text("ANALYZE visits"))
        await session.execute(text("ANALYZE exception_cases"))

    clock.current = START
    statement = repository.awaiting_judgement_query(now=clock.now(), limit=25)
    async with unit_of_work(sessions) as session:
        connection = await session.connection()
        compiled = statement.compile(dialect=connection.dialect)
        sql = "EXPLAIN " + str(compiled)
        params = tuple(compiled.params[name] for name in compiled.positiontup or ())
        explained = await connection.exec_driver_sql(sql, params)
        plan = "\n".join(row[0] for row in explained.all())
    assert "Seq Scan on visits" not in plan, plan
    assert "ix_visits_awaiting_judgement" in plan, plan

    # 06:00 and 06:30 are missed (and late); 07:00 is late and exactly at its missed threshold;
    # 07:30 is late; 08:00 is within its tolerance.
    result = await run_due_visit_scan(sessions, clock)
    assert (result.late_opened, result.missed_opened) == (4, 2)
    async with read_only(sessions) as session:
        starts = await session.scalars(
            select(Visit.planned_start)
            .join(ExceptionCase, ExceptionCase.visit_id == Visit.id)
            .where(ExceptionCase.rule == "visit_late")
            .order_by(Visit.planned_start)
        )
        assert [s.astimezone(UTC).time() for s in starts] == [
            time(6),
            time(6, 30),
            time(7),
            time(7, 30),
        ]


async def test_two_workers_scanning_at_once_judge_each_visit_once(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    visits_ = [await add_visit(sessions, world, START + timedelta(minutes=m)) for m in range(60)]
    clock.current = START + timedelta(hours=3)
    first, second = await asyncio.gather(
        run_due_visit_scan(sessions, clock, chunk=7), run_due_visit_scan(sessions, clock, chunk=7)
    )
    assert first.late_opened + second.late_opened == 60
    assert first.missed_opened + second.missed_opened == 60
    async with read_only(sessions) as session:
        judged = await session.execute(
            select(Event.type, func.count())
            .where(Event.type.in_(["visit.late", "visit.missed"]))
            .group_by(Event.type)
        )
        assert dict(judged.all()) == {"visit.late": 60, "visit.missed": 60}
    for visit in visits_[:3]:
        assert set(await _cases(sessions, visit)) == {"visit_late", "visit_missed"}
    assert await run_due_visit_scan(sessions, clock) == ScanResult(0, 0)
