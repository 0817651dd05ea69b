"""Care package service against the real database: creation, every status move, the weekly
schedule, triage with its stored reasons, the triage hold, transfers, filters and tenancy."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, time
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.models import Role
from hub.contracts.models import Contract
from hub.db.engine import SessionFactory
from hub.db.uow import read_only, unit_of_work
from hub.errors import HubError, InvalidInput
from hub.events.models import Event
from hub.kit.time import FixedClock
from hub.organisations.models import Organisation, OrganisationKind
from hub.packages import repository, service
from hub.packages.errors import (
    DuplicatePackageReference,
    HoldReleaseNotAllowed,
    NotHeldOutOfRota,
    PackageContractNotFound,
    PackageEnded,
    PackageNotFound,
    PackagePersonNotFound,
    ScheduleRequired,
)
from hub.packages.lifecycle import PACKAGE_TRANSITIONS, IllegalPackageTransition, PackageStatus
from hub.packages.models import CarePackage, ScheduleEntry
from hub.packages.service import ScheduleEntrySpec, TaskSpec
from hub.packages.triage import InformationGap, Rag
from hub.people.models import Person
from hub.people.vocabulary import MedicationSupport
from hub.staff.models import StaffMember
from hub.tenancy import AccessScope
from tests import builders

S = PackageStatus
ADMIN = AccessScope.system()


@dataclass
class World:
    provider: Organisation
    other_provider: Organisation
    commissioner: Organisation
    contract: Contract
    other_contract: Contract
    person: Person

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
            session,
            commissioner=commissioner,
            provider=provider,
            starts_on=date(2026, 4, 1),
            ends_on=date(2027, 3, 31),
        )
        other_contract = await builders.create_contract(
            session, commissioner=commissioner, provider=other_provider
        )
        # Registered by the provider's office: a person belongs to whoever registered them.
        person = await builders.create_person(session, registered_by_id=provider.id)
    return World(provider, other_provider, commissioner, contract, other_contract, person)


async def _events(session: AsyncSession, package: CarePackage, event_type: str) -> list[Event]:
    result = await session.scalars(
        select(Event)
        .where(Event.subject_id == package.id, Event.type == event_type)
        .order_by(Event.id)
    )
    return list(result.all())


def _entry(**overrides: Any) -> ScheduleEntrySpec:
    values: dict[str, Any] = {
        "weekdays": (1, 3, 5),
        "start_time": time(8, 0),
        "duration_minutes": 45,
        "tasks": (TaskSpec("personal_care", "Washing and dressing"),),
    }
    values.update(overrides)
    return ScheduleEntrySpec(**values)


async def test_create_package_checks_contract_provider_person_dates_and_reference(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    office = world.office()
    common: dict[str, Any] = {"scope": office, "actor": "staff:office", "clock": clock}
    async with unit_of_work(sessions) as session:
        package = await service.create_package(
            session,
            **common,
            person_id=world.person.id,
            contract_id=world.contract.id,
            starts_on=date(2026, 12, 1),
            reference="LA-2026-0042",
        )
        events = await _events(session, package, "package.created")
    assert package.status is S.REFERRED
    assert package.provider_id == world.provider.id
    assert package.rag is None
    assert not package.held_out_of_rota
    assert [e.payload["reference"] for e in events] == ["LA-2026-0042"]
    assert events[0].contract_id == world.contract.id
    assert events[0].person_id == world.person.id

    async def refused(**kwargs: Any) -> HubError:
        arguments = {
            "person_id": world.person.id,
            "contract_id": world.contract.id,
            "starts_on": date(2026, 12, 1),
            **kwargs,
        }
        with pytest.raises(HubError) as caught:
            async with unit_of_work(sessions) as session:
                await service.create_package(session, **common, **arguments)
        return caught.value

    wrong_provider = await refused(provider_id=world.other_provider.id)
    assert isinstance(wrong_provider, InvalidInput)
    assert (wrong_provider.field, wrong_provider.code) == ("providerId", "PROVIDER_NOT_ON_CONTRACT")

    too_early = await refused(starts_on=date(2026, 3, 31))
    assert isinstance(too_early, InvalidInput)
    assert too_early.code == "OUTSIDE_CONTRACT"
    assert too_early.message == (
        f"startsOn: 2026-03-31 is outside contract {world.contract.reference} "
        "(2026-04-01 to 2027-03-31)"
    )
    too_late = await refused(starts_on=date(2026, 12, 1), ends_on=date(2027, 4, 1))
    assert isinstance(too_late, InvalidInput)
    assert too_late.field == "endsOn"
    assert isinstance(await refused(reference="LA-2026-0042"), DuplicatePackageReference)
    assert isinstance(await refused(reference="no spaces allowed"), InvalidInput)
    # Another provider's contract answers like a missing one.
    assert isinstance(await refused(contract_id=world.other_contract.id), PackageContractNotFound)

    # A person already on another provider's package cannot be taken on by knowing their id.
    async with unit_of_work(sessions) as session:
        theirs = await builders.create_person(session)
        await builders.create_package(session, contract=world.other_contract, person=theirs)
    assert isinstance(await refused(person_id=theirs.id), PackagePersonNotFound)
    # Nor a person another office registered and has not yet set up a package for.
    async with unit_of_work(sessions) as session:
        registered_elsewhere = await builders.create_person(
            session, registered_by_id=world.other_provider.id
        )
    assert isinstance(await refused(person_id=registered_elsewhere.id), PackagePersonNotFound)


async def test_every_legal_and_illegal_status_move(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    office = world.office()
    for current, target in itertools.product(PackageStatus, PackageStatus):
        async with unit_of_work(sessions) as session:
            package = await builders.create_package(
                session, contract=world.contract, person=world.person, status=current
            )
            await builders.add_schedule_entry(session, package)
        legal = target in PACKAGE_TRANSITIONS[current]
        if legal:
            async with unit_of_work(sessions) as session:
                moved = await service.change_status(
                    session,
                    scope=office,
                    actor="staff:office",
                    clock=clock,
                    package_id=package.id,
                    target=target,
                    reason="hospital admission",
                )
                events = await _events(session, package, "package.status_changed")
            assert moved.status is target, (current, target)
            assert [e.payload for e in events] == [
                {
                    "reference": package.reference,
                    "from": current.value,
                    "to": target.value,
                    "reason": "hospital admission",
                }
            ]
            continue
        with pytest.raises(IllegalPackageTransition) as caught:
            async with unit_of_work(sessions) as session:
                await service.change_status(
                    session,
                    scope=office,
                    actor="staff:office",
                    clock=clock,
                    package_id=package.id,
                    target=target,
                    reason="because",
                )
        allowed = PACKAGE_TRANSITIONS[current]
        expected = f"a package in status {current} cannot move to {target}"
        if current is target:
            expected += f" (it is already {current})"
        expected += f"; allowed: {', '.join(allowed)}" if allowed else f"; {current} is final"
        assert caught.value.message == expected
        assert caught.value.code == "ILLEGAL_PACKAGE_TRANSITION"
        async with read_only(sessions) as session:
            unchanged = await repository.get(session, ADMIN, package.id)
            assert unchanged is not None
            assert unchanged.status is current
            assert await _events(session, package, "package.status_changed") == []

    # Spot-check the wording a coordinator sees.
    async with unit_of_work(sessions) as session:
        referred = await builders.create_package(
            session, contract=world.contract, status=S.REFERRED
        )
    with pytest.raises(
        IllegalPackageTransition,
        match=r"^a package in status referred cannot "
        r"move to live; allowed: accepted, ended$",
    ):
        async with unit_of_work(sessions) as session:
            await service.change_status(
                session,
                scope=office,
                actor="x",
                clock=clock,
                package_id=referred.id,
                target=S.LIVE,
            )


async def test_status_moves_need_reasons_and_planning_needs_a_schedule(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    office = world.office()
    async with unit_of_work(sessions) as session:
        live = await builders.create_package(session, contract=world.contract, status=S.LIVE)
        accepted = await builders.create_package(
            session, contract=world.contract, status=S.ACCEPTED
        )
    for target in (S.SUSPENDED, S.ENDED):
        with pytest.raises(InvalidInput) as caught:
            async with unit_of_work(sessions) as session:
                await service.change_status(
                    session,
                    scope=office,
                    actor="x",
                    clock=clock,
                    package_id=live.id,
                    target=target,
                    reason="  ",
                )
        assert caught.value.code == "REASON_REQUIRED"
        assert caught.value.field == "reason"
    with pytest.raises(ScheduleRequired, match="has no weekly schedule"):
        async with unit_of_work(sessions) as session:
            await service.change_status(
                session,
                scope=office,
                actor="x",
                clock=clock,
                package_id=accepted.id,
                target=S.PLANNED,
            )
    # Another provider's office cannot move it: the package is not there for them.
    with pytest.raises(PackageNotFound):
        async with unit_of_work(sessions) as session:
            await service.change_status(
                session,
                scope=world.office(world.other_provider),
                actor="x",
                clock=clock,
                package_id=live.id,
                target=S.SUSPENDED,
                reason="respite",
            )


@pytest.mark.parametrize(
    ("spec", "field", "code"),
    [
        (_entry(weekdays=()), "entries[0].weekdays", "NO_WEEKDAYS"),
        (_entry(weekdays=(0, 1)), "entries[0].weekdays", "INVALID_WEEKDAY"),
        (_entry(weekdays=(1, 8)), "entries[0].weekdays", "INVALID_WEEKDAY"),
        (_entry(weekdays=(2, 2)), "entries[0].weekdays", "DUPLICATE_WEEKDAY"),
        (_entry(duration_minutes=4), "entries[0].durationMinutes", "DURATION_OUT_OF_RANGE"),
        (_entry(duration_minutes=1441), "entries[0].durationMinutes", "DURATION_OUT_OF_RANGE"),
        (
            _entry(tasks=(TaskSpec("give_meds", "Give medicines", "pharmacy"),)),
            "entries[0].tasks[0].requires",
            "UNKNOWN_COMPETENCE",
        ),
        (
            _entry(tasks=(TaskSpec("Give Meds", "Give medicines"),)),
            "entries[0].tasks[0].code",
            "INVALID_TASK_CODE",
        ),
        (_entry(tasks=(TaskSpec("meal", " "),)), "entries[0].tasks[0].description", "REQUIRED"),
    ],
)
def test_schedule_entry_validation_names_the_field(
    spec: ScheduleEntrySpec, field: str, code: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        service._validate_entry(spec, "entries[0]")
    assert (caught.value.field, caught.value.code) == (field, code)


async def test_set_schedule_replaces_entries_and_keeps_unchanged_ids(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    office = world.office()
    async with unit_of_work(sessions) as session:
        package = await builders.create_package(
            session, contract=world.contract, person=world.person, status=S.ACCEPTED
        )
    morning = _entry(
        tasks=(
            TaskSpec("administer_medication", "Administer medication", "medication"),
            TaskSpec("personal_care", "Washing and dressing"),
        ),
        time_critical=True,
    )
    evening = _entry(weekdays=(1, 2, 3, 4, 5, 6, 7), start_time=time(19, 30), double_handed=True)
    async with unit_of_work(sessions) as session:
        first = await service.set_schedule(
            session,
            scope=office,
            actor="x",
            clock=clock,
            package_id=package.id,
            entries=[morning, evening],
        )
    assert (first.kept, first.added, first.removed) == (0, 2, 0)
    morning_id = next(e.id for e in first.entries if e.start_time == time(8, 0))

    lunch = _entry(start_time=time(12, 15), duration_minutes=30)
    async with unit_of_work(sessions) as session:
        second = await service.set_schedule(
            session,
            scope=office,
            actor="x",
            clock=clock,
            package_id=package.id,
            entries=[lunch, morning],
        )
        events = await _events(session, package, "package.schedule_set")
        stored = (
            await session.scalars(
                select(ScheduleEntry).where(ScheduleEntry.package_id == package.id)
            )
        ).all()
    assert (second.kept, second.added, second.removed) == (1, 1, 1)
    assert morning_id in {e.id for e in stored}
    assert sorted(e.start_time for e in stored) == [time(8, 0), time(12, 15)]
    medication_entry = next(e for e in stored if e.id == morning_id)
    assert medication_entry.tasks[0] == {
        "code": "administer_medication",
        "description": "Administer medication",
        "requires": "medication",
    }
    assert [e.payload["timeCriticalVisitsPerWeek"] for e in events] == [3, 3]
    assert [e.payload["doubleHandedVisitsPerWeek"] for e in events] == [7, 0]

    with pytest.raises(InvalidInput) as caught:
        async with unit_of_work(sessions) as session:
            await service.set_schedule(
                session,
                scope=office,
                actor="x",
                clock=clock,
                package_id=package.id,
                entries=[lunch, lunch],
            )
    assert (caught.value.field, caught.value.code) == ("entries[1]", "DUPLICATE_ENTRY")

    async with unit_of_work(sessions) as session:
        live = await builders.create_package(session, contract=world.contract, status=S.LIVE)
        ended = await builders.create_package(session, contract=world.contract, status=S.ENDED)
    with pytest.raises(ScheduleRequired):
        async with unit_of_work(sessions) as session:
            await service.set_schedule(
                session, scope=office, actor="x", clock=clock, package_id=live.id, entries=[]
            )
    with pytest.raises(PackageEnded):
        async with unit_of_work(sessions) as session:
            await service.set_schedule(
                session,
                scope=office,
                actor="x",
                clock=clock,
                package_id=ended.id,
                entries=[lunch],
            )


async def test_triage_stores_rating_reasons_and_hold_and_release_validates(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    office = world.office()
    async with unit_of_work(sessions) as session:
        person = await builders.create_person(
            session,
            falls_risk=True,
            lives_alone=True,
            medication_support=MedicationSupport.ADMINISTER,
        )
        package = await builders.create_package(
            session, contract=world.contract, person=person, status=S.ACCEPTED
        )
        await builders.add_schedule_entry(session, package, time_critical=True, weekdays=[1, 4])
        green_package = await builders.create_package(session, contract=world.contract)
        await builders.add_schedule_entry(session, green_package)

    async with unit_of_work(sessions) as session:
        triaged = await service.triage(
            session,
            scope=office,
            actor="staff:lead",
            clock=clock,
            package_id=package.id,
            information_gaps=[InformationGap.RISK_ASSESSMENT],
        )
        events = await _events(session, package, "package.triaged")
    assert triaged.rag is Rag.RED
    assert triaged.held_out_of_rota is True
    assert triaged.information_gaps == ["risk_assessment"]
    codes = [(r["code"], r["rating"]) for r in triaged.rag_reasons]
    assert codes == [
        ("TIME_CRITICAL_MEDICATION_ADMINISTRATION", "red"),
        ("FALLS_RISK_UNASSESSED", "red"),
        ("TIME_CRITICAL_VISITS", "amber"),
        ("MEDICATION_ASSIST_OR_ADMINISTER", "amber"),
        ("FALLS_RISK", "amber"),
        ("FALLS_RISK_LIVING_ALONE", "amber"),
        ("INFORMATION_GAPS", "amber"),
    ]
    assert triaged.rag_reasons[0]["sentence"] == (
        "carers administer medication and 2 visits a week are time-critical: a late call is a "
        "late dose"
    )
    assert events[0].payload["rag"] == "red"
    assert events[0].payload["heldOutOfRota"] is True
    assert events[0].payload["informationGaps"] == ["risk_assessment"]

    async with unit_of_work(sessions) as session:
        green = await service.triage(
            session, scope=office, actor="x", clock=clock, package_id=green_package.id
        )
    assert green.rag is Rag.GREEN
    assert not green.held_out_of_rota
    assert [r["code"] for r in green.rag_reasons] == ["NO_RISK_FACTORS"]

    with pytest.raises(
        NotHeldOutOfRota, match=r"is not held out of rota conversion \(rated green\)"
    ):
        async with unit_of_work(sessions) as session:
            await service.release_hold(
                session,
                scope=office,
                actor="x",
                clock=clock,
                package_id=green_package.id,
                reason="checked",
            )
    carer = AccessScope(Role.CARER, world.provider.id, builders.new_id())
    with pytest.raises(HoldReleaseNotAllowed):
        async with unit_of_work(sessions) as session:
            await service.release_hold(
                session,
                scope=carer,
                actor="x",
                clock=clock,
                package_id=package.id,
                reason="checked",
            )
    with pytest.raises(InvalidInput, match="how was it validated"):
        async with unit_of_work(sessions) as session:
            await service.release_hold(
                session, scope=office, actor="x", clock=clock, package_id=package.id, reason=""
            )
    async with unit_of_work(sessions) as session:
        released = await service.release_hold(
            session,
            scope=office,
            actor="staff:rm",
            clock=clock,
            package_id=package.id,
            reason="verification call made; insulin times confirmed with district nurse",
        )
        release_events = await _events(session, package, "package.hold_released")
    assert released.held_out_of_rota is False
    assert released.rag is Rag.RED  # still red, now with a named control
    assert release_events[0].payload["reasons"][:2] == [
        "TIME_CRITICAL_MEDICATION_ADMINISTRATION",
        "FALLS_RISK_UNASSESSED",
    ]

    # A schedule change re-triages a triaged package: dropping the time-critical visits leaves
    # the falls risk without an assessment, which is still red, so the hold comes back.
    async with unit_of_work(sessions) as session:
        await service.set_schedule(
            session,
            scope=office,
            actor="x",
            clock=clock,
            package_id=package.id,
            entries=[_entry()],
        )
        retriaged = await repository.get(session, office, package.id)
    assert retriaged is not None
    assert retriaged.held_out_of_rota is True
    assert "TIME_CRITICAL_MEDICATION_ADMINISTRATION" not in [
        r["code"] for r in retriaged.rag_reasons
    ]


async def test_record_transfer_checks_incumbent_and_retriages(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    office = world.office()
    async with unit_of_work(sessions) as session:
        incumbent = await builders.create_organisation(session, name="Old Provider Ltd")
        package = await builders.create_package(
            session,
            contract=world.contract,
            status=S.ACCEPTED,
            information_gaps=["emergency_contacts"],
            rag=Rag.AMBER,
        )
        for _ in range(2):
            await builders.create_staff(
                session, organisation=world.provider, tupe_origin_id=incumbent.id
            )
        staff: StaffMember = await builders.create_staff(session, organisation=world.provider)
        assert staff.tupe_origin_id is None

    async def transfer(organisation_id: Any, on: date = date(2026, 11, 1)) -> CarePackage:
        async with unit_of_work(sessions) as session:
            return await service.record_transfer(
                session,
                scope=office,
                actor="x",
                clock=clock,
                package_id=package.id,
                incumbent_provider_id=organisation_id,
                transferred_on=on,
                note="12 carers transfer under TUPE",
            )

    with pytest.raises(InvalidInput) as same:
        await transfer(world.provider.id)
    assert same.value.code == "SAME_PROVIDER"
    with pytest.raises(InvalidInput) as not_provider:
        await transfer(world.commissioner.id)
    assert not_provider.value.code == "NOT_A_PROVIDER"
    with pytest.raises(InvalidInput) as outside:
        await transfer(incumbent.id, date(2026, 1, 1))
    assert outside.value.field == "transferredOn"

    moved = await transfer(incumbent.id)
    assert moved.incumbent_provider_id == incumbent.id
    assert moved.transferred_on == date(2026, 11, 1)
    # Transferred with a gap: red, held (seed 001's mobilisation data gap).
    assert moved.rag is Rag.RED
    assert moved.held_out_of_rota
    assert moved.rag_reasons[0]["code"] == "TRANSFER_WITH_INFORMATION_GAPS"
    async with read_only(sessions) as session:
        events = await _events(session, package, "package.transfer_recorded")
    assert events[0].payload["tupeStaffFromIncumbent"] == 2
    assert events[0].payload["incumbentProviderName"] == "Old Provider Ltd"
    assert events[0].payload["note"] == "12 carers transfer under TUPE"


async def test_list_filters_and_tenancy(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    async with unit_of_work(sessions) as session:
        red = await builders.create_package(
            session,
            contract=world.contract,
            reference="A-1",
            rag=Rag.RED,
            held_out_of_rota=True,
            status=S.PLANNED,
        )
        amber = await builders.create_package(
            session, contract=world.contract, reference="A-2", rag=Rag.AMBER, status=S.LIVE
        )
        untriaged = await builders.create_package(
            session, contract=world.contract, reference="A-3", status=S.REFERRED
        )
        foreign = await builders.create_package(
            session, contract=world.other_contract, reference="A-0", rag=Rag.RED
        )
        carer_staff = await builders.create_staff(session, organisation=world.provider)
        await builders.create_visit(session, package=amber, carers=(carer_staff,))

    office = world.office()

    async def refs(scope: AccessScope, **filters: Any) -> list[str]:
        async with read_only(sessions) as session:
            rows = await repository.list_page(session, scope, limit=50, **filters)
        return [row.reference for row in rows]

    assert await refs(office) == ["A-1", "A-2", "A-3"]
    assert await refs(office, rags=[Rag.RED]) == ["A-1"]
    assert await refs(office, rags=[Rag.RED, Rag.AMBER]) == ["A-1", "A-2"]
    assert await refs(office, statuses=[S.LIVE, S.REFERRED]) == ["A-2", "A-3"]
    assert await refs(office, held_out_of_rota=True) == ["A-1"]
    assert await refs(office, held_out_of_rota=False) == ["A-2", "A-3"]
    assert await refs(office, contract_id=world.other_contract.id) == []
    assert await refs(office, after=("A-1", red.id)) == ["A-2", "A-3"]
    assert await refs(world.office(world.other_provider)) == ["A-0"]
    commissioner = AccessScope(Role.COMMISSIONER, world.commissioner.id, None)
    assert await refs(commissioner) == ["A-0", "A-1", "A-2", "A-3"]
    assert await refs(AccessScope(Role.CARER, world.provider.id, carer_staff.id)) == ["A-2"]
    assert await refs(AccessScope(Role.PARTNER_CLIENT, world.provider.id, None)) == []
    with pytest.raises(PackageNotFound):
        async with read_only(sessions) as session:
            await service.get_package(session, office, foreign.id)
    async with read_only(sessions) as session:
        assert (await service.get_package(session, office, untriaged.id)).id == untriaged.id
        many = await repository.get_many(session, office, [red.id, foreign.id])
        by_contract = await repository.first_per_contract(
            session, ADMIN, [world.contract.id, world.other_contract.id], limit=2
        )
    assert [row.id for row in many] == [red.id]
    assert [row.reference for row in by_contract] == ["A-1", "A-2", "A-0"]
