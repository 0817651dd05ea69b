"""Visit service against the real database: generation from the weekly schedule across both
clock changes (UTC checked in the database), idempotency, refusals, competency-gated assignment,
cancellation, the derived status at its edge minutes (Python and SQL agree), filters, tenancy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.models import Role
from hub.contracts.models import Contract
from hub.db.engine import SessionFactory
from hub.db.uow import read_only, unit_of_work
from hub.errors import InvalidInput
from hub.events.models import Event
from hub.kit.time import FixedClock
from hub.organisations.models import Organisation, OrganisationKind
from hub.packages import service as packages
from hub.packages.errors import PackageNotFound
from hub.packages.lifecycle import PackageStatus
from hub.packages.models import CarePackage
from hub.packages.service import ScheduleEntrySpec
from hub.packages.triage import Rag
from hub.staff.competency import AssignmentRefused, CompetencyStatus, RefusalCode
from hub.staff.errors import StaffNotFound
from hub.staff.models import StaffMember
from hub.tenancy import AccessScope
from hub.visits import repository, service
from hub.visits.errors import (
    NoSchedule,
    PackageHeldOutOfRota,
    PackageNotSchedulable,
    StaffOfAnotherProvider,
    VisitAlreadyAttended,
    VisitCancelled,
    VisitNotFound,
)
from hub.visits.models import Visit, VisitAssignment
from hub.visits.status import VisitStatus
from tests import builders

ADMIN = AccessScope.system()
MEDICATION_TASK = {
    "code": "administer_medication",
    "description": "Administer medication",
    "requires": "medication",
}


@dataclass
class World:
    provider: Organisation
    other_provider: Organisation
    commissioner: Organisation
    contract: Contract
    other_contract: Contract

    def office(self, organisation: Organisation | None = None) -> AccessScope:
        return AccessScope(Role.COORDINATOR, (organisation or self.provider).id, None)


@pytest.fixture
async def world(sessions: SessionFactory) -> World:
    async with unit_of_work(sessions) as session:
        provider = await builders.create_organisation(session, name="Riverside Homecare")
        other_provider = await builders.create_organisation(session, name="Hilltop Care")
        commissioner = await builders.create_organisation(
            session, kind=OrganisationKind.LOCAL_AUTHORITY
        )
        contract = await builders.create_contract(
            session, commissioner=commissioner, provider=provider, starts_on=date(2026, 1, 1)
        )
        other_contract = await builders.create_contract(
            session, commissioner=commissioner, provider=other_provider
        )
    return World(provider, other_provider, commissioner, contract, other_contract)


async def _generate(
    sessions: SessionFactory,
    clock: FixedClock,
    package: CarePackage,
    date_from: date,
    date_to: date,
    scope: AccessScope | None = None,
) -> service.GenerationResult:
    async with unit_of_work(sessions) as session:
        return await service.generate_visits(
            session,
            scope=scope or ADMIN,
            actor="staff:office",
            clock=clock,
            package_id=package.id,
            date_from=date_from,
            date_to=date_to,
        )


async def _stored(session: AsyncSession, package: CarePackage) -> list[tuple[datetime, str, int]]:
    result = await session.execute(
        select(Visit.planned_start, Visit.start_resolution, Visit.planned_end)
        .where(Visit.package_id == package.id)
        .order_by(Visit.planned_start)
    )
    return [
        (start.astimezone(UTC), resolution, int((end - start).total_seconds() // 60))
        for start, resolution, end in result.all()
    ]


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


async def test_generation_across_both_clock_changes_is_utc_correct_and_idempotent(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    async with unit_of_work(sessions) as session:
        package = await builders.create_package(
            session, contract=world.contract, starts_on=date(2026, 3, 1)
        )
        night = await builders.add_schedule_entry(
            session, package, start_time=time(1, 30), duration_minutes=60, time_critical=True
        )
        await builders.add_schedule_entry(
            session, package, start_time=time(8, 0), tasks=[MEDICATION_TASK]
        )

    spring = await _generate(sessions, clock, package, date(2026, 3, 28), date(2026, 3, 30))
    assert (len(spring.created), spring.existing, spring.outside_package_dates) == (6, 0, 0)
    autumn = await _generate(sessions, clock, package, date(2026, 10, 24), date(2026, 10, 26))
    assert len(autumn.created) == 6
    async with read_only(sessions) as session:
        stored = await _stored(session, package)
    assert stored == [
        # Spring forward, Sunday 29 March 2026: 01:30 does not exist and moves to 02:30 BST.
        (utc(2026, 3, 28, 1, 30), "exact", 60),
        (utc(2026, 3, 28, 8, 0), "exact", 30),
        (utc(2026, 3, 29, 1, 30), "shifted_forward", 60),
        (utc(2026, 3, 29, 7, 0), "exact", 30),
        (utc(2026, 3, 30, 0, 30), "exact", 60),
        (utc(2026, 3, 30, 7, 0), "exact", 30),
        # Fall back, Sunday 25 October 2026: 01:30 happens twice; the first (BST) is taken.
        (utc(2026, 10, 24, 0, 30), "exact", 60),
        (utc(2026, 10, 24, 7, 0), "exact", 30),
        (utc(2026, 10, 25, 0, 30), "first_of_repeated", 60),
        (utc(2026, 10, 25, 8, 0), "exact", 30),
        (utc(2026, 10, 26, 1, 30), "exact", 60),
        (utc(2026, 10, 26, 8, 0), "exact", 30),
    ]

    # Re-running a range creates nothing; an overlapping range creates only the new dates.
    again = await _generate(sessions, clock, package, date(2026, 3, 28), date(2026, 3, 30))
    assert (len(again.created), again.existing) == (0, 6)
    overlap = await _generate(sessions, clock, package, date(2026, 3, 29), date(2026, 3, 31))
    assert (len(overlap.created), overlap.existing) == (2, 4)
    async with read_only(sessions) as session:
        visits = (await session.scalars(select(Visit).where(Visit.package_id == package.id))).all()
        events = (await session.scalars(select(Event).where(Event.type == "visit.generated"))).all()
    assert len(visits) == 14
    # The visits carry their own copy of the flags and tasks, and the idempotency key.
    night_visit = next(v for v in visits if v.planned_start == utc(2026, 3, 29, 1, 30))
    assert night_visit.time_critical is True
    assert night_visit.idempotency_key == f"{package.id}:{night.id}:2026-03-29"
    morning = next(v for v in visits if v.planned_start == utc(2026, 3, 29, 7, 0))
    assert morning.tasks == [MEDICATION_TASK]
    # One event per created visit, grouped by the run's correlation id; re-runs record nothing.
    assert len(events) == 14
    assert {e.subject_id for e in events} == {v.id for v in visits}
    assert len({e.correlation_id for e in events}) == 3
    assert all(e.contract_id == world.contract.id for e in events)


async def test_generation_refusals_say_why(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    async with unit_of_work(sessions) as session:
        held = await builders.create_package(
            session, contract=world.contract, rag=Rag.RED, held_out_of_rota=True
        )
        await builders.add_schedule_entry(session, held)
        referred = await builders.create_package(
            session, contract=world.contract, status=PackageStatus.REFERRED
        )
        await builders.add_schedule_entry(session, referred)
        bare = await builders.create_package(session, contract=world.contract)
        foreign = await builders.create_package(session, contract=world.other_contract)
        await builders.add_schedule_entry(session, foreign)
    december = (date(2026, 12, 1), date(2026, 12, 7))
    with pytest.raises(PackageHeldOutOfRota) as caught:
        await _generate(sessions, clock, held, *december)
    assert caught.value.message == (
        f"package {held.reference} is rated red and held out of rota conversion until a "
        "coordinator or registered manager validates it (releaseTriageHold)"
    )
    with pytest.raises(PackageNotSchedulable) as not_planned:
        await _generate(sessions, clock, referred, *december)
    assert not_planned.value.message == (
        f"package {referred.reference} is referred; visits are generated only for planned or "
        "live packages"
    )
    with pytest.raises(NoSchedule):
        await _generate(sessions, clock, bare, *december)
    with pytest.raises(InvalidInput) as too_long:
        await _generate(sessions, clock, bare, date(2026, 12, 1), date(2027, 2, 1))
    assert (too_long.value.field, too_long.value.code) == ("dateTo", "DATE_RANGE_TOO_LONG")
    with pytest.raises(InvalidInput) as reversed_range:
        await _generate(sessions, clock, bare, date(2026, 12, 7), date(2026, 12, 1))
    assert reversed_range.value.code == "DATE_RANGE_REVERSED"
    with pytest.raises(PackageNotFound):  # another provider's package is not there for them
        await _generate(sessions, clock, foreign, *december, scope=world.office())
    async with read_only(sessions) as session:
        assert await session.scalar(select(func.count()).select_from(Visit)) == 0

    # Released by the office, the held package generates.
    async with unit_of_work(sessions) as session:
        await packages.release_hold(
            session,
            scope=world.office(),
            actor="staff:rm",
            clock=clock,
            package_id=held.id,
            reason="visit times confirmed",
        )
    released = await _generate(sessions, clock, held, *december)
    assert len(released.created) == 7


async def test_generation_respects_package_dates_and_supersedes_changed_entries(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    async with unit_of_work(sessions) as session:
        starting = await builders.create_package(
            session, contract=world.contract, starts_on=date(2026, 12, 3)
        )
        await builders.add_schedule_entry(session, starting)
        package = await builders.create_package(session, contract=world.contract)
        await builders.add_schedule_entry(session, package, start_time=time(8, 0))
    result = await _generate(sessions, clock, starting, date(2026, 12, 1), date(2026, 12, 5))
    assert (len(result.created), result.outside_package_dates) == (3, 2)

    # 22-27 November at 08:00; now is 23 November 09:00 UTC.
    first = await _generate(sessions, clock, package, date(2026, 11, 22), date(2026, 11, 27))
    assert len(first.created) == 6
    async with unit_of_work(sessions) as session:
        await packages.set_schedule(
            session,
            scope=ADMIN,
            actor="x",
            clock=clock,
            package_id=package.id,
            entries=[
                ScheduleEntrySpec(
                    weekdays=tuple(range(1, 8)), start_time=time(9, 0), duration_minutes=30
                )
            ],
        )
    second = await _generate(sessions, clock, package, date(2026, 11, 22), date(2026, 11, 27))
    # The new 09:00 visits are created; the old future 08:00 ones (24-27) are cancelled; the
    # past ones (22, 23) are history and stay as they were.
    assert (len(second.created), second.existing, second.superseded) == (6, 0, 4)
    async with read_only(sessions) as session:
        old = (
            await session.scalars(
                select(Visit)
                .where(Visit.package_id == package.id, Visit.schedule_entry_id.is_(None))
                .order_by(Visit.planned_start)
            )
        ).all()
    assert [v.cancelled_at is not None for v in old] == [False, False, True, True, True, True]
    assert old[2].cancellation_reason == service.SUPERSEDED_REASON
    third = await _generate(sessions, clock, package, date(2026, 11, 22), date(2026, 11, 27))
    assert (len(third.created), third.existing, third.superseded) == (0, 6, 0)


async def _carer(
    session: AsyncSession,
    organisation: Organisation,
    status: CompetencyStatus | None,
    expires_on: date = date(2027, 6, 30),
    **overrides: Any,
) -> StaffMember:
    competencies = {"medication": status} if status is not None else {}
    return await builders.create_staff(
        session,
        organisation=organisation,
        competencies=competencies,
        expires_on=expires_on,
        **overrides,
    )


async def _assign(
    sessions: SessionFactory,
    clock: FixedClock,
    visit: Visit,
    carers: list[StaffMember],
    scope: AccessScope,
) -> Any:
    async with unit_of_work(sessions) as session:
        return await service.assign_carers(
            session,
            scope=scope,
            actor="staff:office",
            clock=clock,
            visit_id=visit.id,
            staff_ids=[carer.id for carer in carers],
        )


async def test_assignment_is_competency_gated_and_says_exactly_why(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    office = world.office()
    async with unit_of_work(sessions) as session:
        package = await builders.create_package(session, contract=world.contract)
        visit = await builders.create_visit(
            session,
            package=package,
            planned_start=utc(2026, 11, 25, 8, 0),
            tasks=[MEDICATION_TASK],
        )
        double = await builders.create_visit(
            session,
            package=package,
            planned_start=utc(2026, 11, 25, 18, 0),
            double_handed=True,
            tasks=[MEDICATION_TASK],
        )
        # 00:30 BST on 2 July in London, still 1 July in UTC: competence is judged on 2 July.
        summer = await builders.create_visit(
            session, package=package, planned_start=utc(2026, 7, 1, 23, 30), tasks=[MEDICATION_TASK]
        )
        evidenced = await _carer(session, world.provider, CompetencyStatus.EVIDENCED)
        revalidated = await _carer(session, world.provider, CompetencyStatus.REVALIDATED)
        restricted = await _carer(session, world.provider, CompetencyStatus.RESTRICTED)
        lapsed = await _carer(
            session, world.provider, CompetencyStatus.EVIDENCED, expires_on=date(2026, 11, 24)
        )
        until_july_first = await _carer(
            session, world.provider, CompetencyStatus.EVIDENCED, expires_on=date(2026, 7, 1)
        )
        untrained = await _carer(session, world.provider, None)
        theirs = await _carer(session, world.other_provider, CompetencyStatus.EVIDENCED)

    def name(staff: StaffMember) -> str:
        return f"{staff.given_name} {staff.family_name}"

    async def refusals(target: Visit, carers: list[StaffMember]) -> list[tuple[str, str]]:
        with pytest.raises(AssignmentRefused) as caught:
            await _assign(sessions, clock, target, carers, office)
        return [(refusal.code.value, refusal.message) for refusal in caught.value.refusals]

    task = "(task: Administer medication)"
    assert await refusals(visit, [restricted]) == [
        (
            RefusalCode.COMPETENCE_RESTRICTED,
            f"{name(restricted)} cannot be assigned: medication competence is restricted {task}",
        )
    ]
    assert await refusals(visit, [lapsed]) == [
        (
            RefusalCode.COMPETENCE_EXPIRED,
            f"{name(lapsed)} cannot be assigned: medication competence expired on 2026-11-24 "
            f"{task}",
        )
    ]
    assert await refusals(visit, [untrained]) == [
        (
            RefusalCode.COMPETENCE_MISSING,
            f"{name(untrained)} cannot be assigned: no medication competence on record {task}",
        )
    ]
    assert await refusals(double, [evidenced]) == [
        (
            RefusalCode.WRONG_NUMBER_OF_CARERS,
            "this visit is double-handed and needs 2 carers; 1 given",
        )
    ]
    # Every reason at once: the wrong count and the restricted carer.
    assert [code for code, _ in await refusals(visit, [evidenced, restricted])] == [
        RefusalCode.WRONG_NUMBER_OF_CARERS,
        RefusalCode.COMPETENCE_RESTRICTED,
    ]
    assert [code for code, _ in await refusals(summer, [until_july_first])] == [
        RefusalCode.COMPETENCE_EXPIRED
    ]
    # Another provider's carer does not exist for this office; for an admin it is refused.
    with pytest.raises(StaffNotFound):
        await _assign(sessions, clock, visit, [theirs], office)
    with pytest.raises(StaffOfAnotherProvider, match="works for another provider"):
        await _assign(sessions, clock, visit, [theirs], ADMIN)
    async with read_only(sessions) as session:
        assert await session.scalar(select(func.count()).select_from(VisitAssignment)) == 0

    await _assign(sessions, clock, visit, [evidenced], office)
    await _assign(sessions, clock, visit, [revalidated], office)
    await _assign(sessions, clock, double, [evidenced, revalidated], office)
    async with read_only(sessions) as session:
        assigned = (
            await session.execute(
                select(
                    VisitAssignment.visit_id, VisitAssignment.staff_id, VisitAssignment.assigned_by
                )
            )
        ).all()
        events = (
            await session.scalars(
                select(Event).where(Event.type == "visit.assigned").order_by(Event.id)
            )
        ).all()
    assert sorted((v, s) for v, s, _ in assigned) == sorted(
        [(visit.id, revalidated.id), (double.id, evidenced.id), (double.id, revalidated.id)]
    )
    assert {by for _, _, by in assigned} == {"staff:office"}
    assert [e.payload["staffIds"] for e in events[:2]] == [
        [str(evidenced.id)],
        [str(revalidated.id)],
    ]
    assert events[1].payload["previousStaffIds"] == [str(evidenced.id)]
    assert events[0].payload["visitDate"] == "2026-11-25"


async def test_cancel_needs_a_reason_and_an_unattended_visit(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    office = world.office()
    async with unit_of_work(sessions) as session:
        package = await builders.create_package(session, contract=world.contract)
        visit = await builders.create_visit(
            session, package=package, planned_start=utc(2026, 11, 24, 8, 0)
        )
        attended = await builders.create_visit(
            session,
            package=package,
            planned_start=utc(2026, 11, 23, 8, 0),
            checked_in_at=utc(2026, 11, 23, 8, 2),
        )
        carer = await _carer(session, world.provider, CompetencyStatus.EVIDENCED)

    async def cancel(target: Visit, reason: str, scope: AccessScope = office) -> Any:
        async with unit_of_work(sessions) as session:
            return await service.cancel_visit(
                session, scope=scope, actor="x", clock=clock, visit_id=target.id, reason=reason
            )

    with pytest.raises(InvalidInput) as blank:
        await cancel(visit, "   ")
    assert (blank.value.field, blank.value.code) == ("reason", "REQUIRED")
    with pytest.raises(VisitNotFound):
        await cancel(visit, "hospital", world.office(world.other_provider))
    with pytest.raises(VisitAlreadyAttended, match="was attended"):
        await cancel(attended, "hospital")
    cancelled = await cancel(visit, "admitted to hospital")
    assert service.visit_status(cancelled, clock.now()) is VisitStatus.CANCELLED
    assert cancelled.visit.cancellation_reason == "admitted to hospital"
    with pytest.raises(VisitCancelled, match=r"was cancelled \(admitted to hospital\)"):
        await cancel(visit, "again")
    with pytest.raises(VisitCancelled, match="cannot be assigned"):
        await _assign(sessions, clock, visit, [carer], office)
    async with read_only(sessions) as session:
        events = (await session.scalars(select(Event).where(Event.type == "visit.cancelled"))).all()
    assert [(e.subject_id, e.payload["reason"]) for e in events] == [
        (visit.id, "admitted to hospital")
    ]


async def test_derived_status_at_edge_minutes_in_python_and_sql(
    sessions: SessionFactory, world: World
) -> None:
    start = utc(2026, 11, 23, 9, 0)
    async with unit_of_work(sessions) as session:
        package = await builders.create_package(session, contract=world.contract)
        plain = await builders.create_visit(session, package=package, planned_start=start)
        critical = await builders.create_visit(
            session, package=package, planned_start=start, time_critical=True
        )
        in_progress = await builders.create_visit(
            session, package=package, planned_start=start, checked_in_at=start
        )
        completed = await builders.create_visit(
            session,
            package=package,
            planned_start=start,
            checked_in_at=start,
            checked_out_at=start + timedelta(minutes=30),
        )
        cancelled = await builders.create_visit(
            session, package=package, planned_start=start, cancelled_at=start
        )
    tick = timedelta(microseconds=1)
    minutes = timedelta(minutes=1)
    expected = {
        # contract tolerances: late after 15 minutes (5 if time-critical), missed after 60
        start + 5 * minutes: (VisitStatus.SCHEDULED, VisitStatus.SCHEDULED),
        start + 5 * minutes + tick: (VisitStatus.SCHEDULED, VisitStatus.LATE),
        start + 15 * minutes: (VisitStatus.SCHEDULED, VisitStatus.LATE),
        start + 15 * minutes + tick: (VisitStatus.LATE, VisitStatus.LATE),
        start + 60 * minutes: (VisitStatus.LATE, VisitStatus.LATE),
        start + 60 * minutes + tick: (VisitStatus.MISSED, VisitStatus.MISSED),
    }
    window: dict[str, Any] = {
        "starts_from": start - timedelta(hours=1),
        "starts_before": start + minutes,
    }
    for now, (plain_status, critical_status) in expected.items():
        async with read_only(sessions) as session:
            records = await repository.list_page(session, ADMIN, limit=50, now=now, **window)
            derived = {found.visit.id: service.visit_status(found, now) for found in records}
            assert derived == {
                plain.id: plain_status,
                critical.id: critical_status,
                in_progress.id: VisitStatus.IN_PROGRESS,
                completed.id: VisitStatus.COMPLETED,
                cancelled.id: VisitStatus.CANCELLED,
            }, now
            # The SQL filter selects exactly the visits the Python rule gives each status.
            for status in VisitStatus:
                filtered = await repository.list_page(
                    session, ADMIN, limit=50, now=now, statuses=[status], **window
                )
                want = {visit_id for visit_id, got in derived.items() if got is status}
                assert {found.visit.id for found in filtered} == want, (now, status)


async def test_list_filters_pages_and_tenancy(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    async with unit_of_work(sessions) as session:
        package = await builders.create_package(session, contract=world.contract)
        second_package = await builders.create_package(session, contract=world.contract)
        foreign_package = await builders.create_package(session, contract=world.other_contract)
        anna = await _carer(session, world.provider, CompetencyStatus.EVIDENCED)
        ben = await _carer(session, world.provider, CompetencyStatus.EVIDENCED)
        # Three past, unattended visits (late/missed at 09:00) and later ones on the 24th.
        early = [
            await builders.create_visit(
                session, package=package, planned_start=utc(2026, 11, 23, 7, m), carers=(anna,)
            )
            for m in (0, 10, 20)
        ]
        late = await builders.create_visit(
            session, package=package, planned_start=utc(2026, 11, 23, 8, 30), carers=(ben,)
        )
        tomorrow = await builders.create_visit(
            session, package=second_package, planned_start=utc(2026, 11, 24, 8, 0)
        )
        foreign = await builders.create_visit(
            session, package=foreign_package, planned_start=utc(2026, 11, 23, 8, 0)
        )
    now = clock.now()
    day: dict[str, Any] = {"starts_from": utc(2026, 11, 23), "starts_before": utc(2026, 11, 24)}

    async def ids(scope: AccessScope, **filters: Any) -> list[Any]:
        arguments = {**day, **filters}
        async with read_only(sessions) as session:
            records = await repository.list_page(session, scope, now=now, limit=50, **arguments)
        return [found.visit.id for found in records]

    office = world.office()
    early_ids = [v.id for v in early]
    assert await ids(office) == [*early_ids, late.id]
    # `to` is exclusive: a visit starting exactly at `to` is not in the range.
    assert await ids(office, starts_before=utc(2026, 11, 24, 8, 0)) == [*early_ids, late.id]
    assert await ids(office, starts_before=utc(2026, 11, 24, 8, 0, 1)) == [
        *early_ids,
        late.id,
        tomorrow.id,
    ]
    assert await ids(office, carer_id=anna.id) == early_ids
    assert await ids(office, statuses=[VisitStatus.MISSED]) == early_ids
    assert await ids(office, statuses=[VisitStatus.LATE]) == [late.id]
    assert await ids(office, statuses=[VisitStatus.LATE, VisitStatus.SCHEDULED]) == [late.id]
    assert await ids(office, package_id=second_package.id) == []
    # Keyset pages over a status filter: nothing skipped or repeated.
    async with read_only(sessions) as session:
        page = await repository.list_page(
            session, office, now=now, limit=2, statuses=[VisitStatus.MISSED], **day
        )
        rest = await repository.list_page(
            session,
            office,
            now=now,
            limit=2,
            statuses=[VisitStatus.MISSED],
            after=(page[-1].visit.planned_start, page[-1].visit.id),
            **day,
        )
    assert [f.visit.id for f in page + rest] == early_ids
    # Tenancy: the other provider sees only its own; a carer only the visits assigned to them.
    assert await ids(world.office(world.other_provider)) == [foreign.id]
    assert await ids(AccessScope(Role.CARER, world.provider.id, ben.id)) == [late.id]
    assert await ids(AccessScope(Role.CARER, world.provider.id, ben.id), carer_id=anna.id) == []
    commissioner = AccessScope(Role.COMMISSIONER, world.commissioner.id, None)
    assert set(await ids(commissioner)) == {*early_ids, late.id, foreign.id}
    with pytest.raises(VisitNotFound):
        async with read_only(sessions) as session:
            await service.get_visit(session, office, foreign.id)
    # Next visits per package, one query for all packages, from now, not cancelled.
    async with read_only(sessions) as session:
        upcoming = await repository.next_per_package(
            session, office, [package.id, second_package.id, foreign_package.id], limit=3, now=now
        )
    assert [f.visit.id for f in upcoming] == [tomorrow.id]
