"""Visit facts against the real database: check-in/out with every method of verification and
its flags, the visit's times and derived status, DUPLICATE_ACTION, corrections that supersede,
task confirmations gated by competence, observations and concerns, the events of contract B
(names and payload keys), tenancy, and the append-only table (F39)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from hub.accounts.models import Role
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.errors import Forbidden, InvalidInput
from hub.events.models import Event
from hub.kit.ids import uuid7
from hub.kit.time import FixedClock
from hub.organisations.models import Organisation
from hub.people.models import Person
from hub.staff.competency import CompetencyStatus
from hub.staff.models import StaffMember
from hub.tenancy import AccessScope
from hub.visits import facts, service
from hub.visits.errors import SupersededFactNotFound, TaskNotFound, VisitNotFound
from hub.visits.facts import (
    DeviceClock,
    ObservationKind,
    RecordedFact,
    TaskOutcome,
    Verification,
    VerificationMethod,
)
from hub.visits.models import FactKind, PresenceTagKind, Visit, VisitFact
from hub.visits.presence import PresenceTagTaken, register_presence_tag
from hub.visits.status import VisitStatus
from tests import builders

HOME = (53.4808, -2.2426)
# ~111 m per 0.001 degree of latitude.
NEAR = Verification(VerificationMethod.GPS, latitude=53.4810, longitude=-2.2426, accuracy_m=8)
START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
MEDICATION_TASK = {
    "code": "administer_medication",
    "description": "Administer medication",
    "requires": "medication",
}
WASH_TASK = {"code": "personal_care", "description": "Washing and dressing", "requires": None}


@dataclass
class World:
    provider: Organisation
    other_provider: Organisation
    person: Person
    other_person: Person
    carer: StaffMember
    second_carer: StaffMember
    visit: Visit
    foreign_visit: Visit

    @property
    def carer_scope(self) -> AccessScope:
        return AccessScope(Role.CARER, self.provider.id, self.carer.id)

    @property
    def office(self) -> AccessScope:
        return AccessScope(Role.COORDINATOR, self.provider.id, None)


@pytest.fixture
async def world(sessions: SessionFactory, clock: FixedClock) -> World:
    # The carer is at the door: facts arrive as they happen unless a test moves the clock.
    clock.current = START + timedelta(minutes=5)
    async with unit_of_work(sessions) as session:
        provider = await builders.create_organisation(session, name="Riverside Homecare")
        other_provider = await builders.create_organisation(session, name="Hilltop Care")
        contract = await builders.create_contract(session, provider=provider)
        other_contract = await builders.create_contract(session, provider=other_provider)
        person = await builders.create_person(session, latitude=HOME[0], longitude=HOME[1])
        other_person = await builders.create_person(session, latitude=53.5, longitude=-2.3)
        package = await builders.create_package(session, contract=contract, person=person)
        other_package = await builders.create_package(
            session, contract=other_contract, person=other_person
        )
        carer = await builders.create_staff(
            session,
            organisation=provider,
            competencies={"medication": CompetencyStatus.RESTRICTED},
            expires_on=date(2027, 12, 31),
        )
        second_carer = await builders.create_staff(
            session,
            organisation=provider,
            competencies={"medication": CompetencyStatus.EVIDENCED},
            expires_on=date(2027, 12, 31),
        )
        visit = await builders.create_visit(
            session,
            package=package,
            carers=(carer,),
            planned_start=START,
            tasks=[WASH_TASK, MEDICATION_TASK],
        )
        foreign_visit = await builders.create_visit(
            session, package=other_package, planned_start=START
        )
    return World(
        provider, other_provider, person, other_person, carer, second_carer, visit, foreign_visit
    )


async def check_in(
    sessions: SessionFactory,
    world: World,
    clock: FixedClock,
    *,
    verification: Verification = NEAR,
    occurred_at: datetime | None = None,
    staff: StaffMember | None = None,
    visit: Visit | None = None,
    **extra: Any,
) -> RecordedFact:
    carer = staff or world.carer
    async with unit_of_work(sessions) as session:
        return await facts.record_check_in(
            session,
            scope=AccessScope(Role.CARER, world.provider.id, carer.id),
            actor=f"staff:{carer.id}",
            clock=clock,
            fact_id=uuid7(),
            visit_id=(visit or world.visit).id,
            staff_id=carer.id,
            occurred_at=occurred_at or START + timedelta(minutes=2),
            verification=verification,
            source="mobile",
            **extra,
        )


async def check_out(
    sessions: SessionFactory, world: World, clock: FixedClock, occurred_at: datetime, **extra: Any
) -> RecordedFact:
    async with unit_of_work(sessions) as session:
        return await facts.record_check_out(
            session,
            scope=world.carer_scope,
            actor=f"staff:{world.carer.id}",
            clock=clock,
            fact_id=uuid7(),
            visit_id=world.visit.id,
            staff_id=world.carer.id,
            occurred_at=occurred_at,
            verification=NEAR,
            source="mobile",
            **extra,
        )


async def events_of(sessions: SessionFactory, event_type: str) -> list[Event]:
    async with sessions() as session:
        rows = await session.scalars(
            select(Event).where(Event.type == event_type).order_by(Event.id)
        )
        return list(rows.all())


async def visit_row(sessions: SessionFactory, visit: Visit) -> Visit:
    async with sessions() as session:
        row = await session.get(Visit, visit.id)
        assert row is not None
        return row


# --- check-in and presence ---------------------------------------------------------------------


async def test_a_verified_check_in_sets_the_visit_and_records_the_contract_event(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    recorded = await check_in(
        sessions, world, clock, device_time=START + timedelta(minutes=1, seconds=30)
    )

    assert recorded.flags == ()
    assert recorded.visit_id == world.visit.id
    assert recorded.person_id == world.person.id
    visit = await visit_row(sessions, world.visit)
    assert visit.checked_in_at == START + timedelta(minutes=2)
    async with sessions() as session:
        found = await service.get_visit(session, AccessScope.system(), world.visit.id)
    assert service.visit_status(found, clock.now()) is VisitStatus.IN_PROGRESS
    [event] = await events_of(sessions, "visit.checked_in")
    assert event.id == recorded.event_id
    assert event.subject_type == "visit"
    assert event.subject_id == world.visit.id
    assert event.person_id == world.person.id
    assert event.organisation_id == world.provider.id
    assert event.contract_id is not None
    assert event.occurred_at == START + timedelta(minutes=2)
    payload = event.payload
    assert payload["fact_id"] == str(recorded.fact_id)
    assert payload["staff_id"] == str(world.carer.id)
    assert payload["source"] == "mobile"
    assert payload["device_occurred_at"] == (START + timedelta(minutes=1, seconds=30)).isoformat()
    assert payload["received_at"] == clock.now().isoformat()
    assert payload["flags"] == []
    assert payload["method"] == "gps"
    assert payload["accuracy_m"] == 8
    assert 20 < payload["distance_m"] < 25
    assert payload["planned_start"] == START.isoformat()
    assert payload["planned_end"] == (START + timedelta(minutes=30)).isoformat()
    assert await events_of(sessions, "visit.fact_flagged") == []


async def test_a_visit_the_unit_of_work_already_holds_shows_its_check_in_and_check_out(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    """The facts read and stamp the visit with Core statements; a `Visit` loaded earlier in the
    same unit of work (the supplier feed applies visits, then their check-ins) must not go
    stale."""
    common: dict[str, Any] = {
        "scope": world.carer_scope,
        "actor": f"staff:{world.carer.id}",
        "clock": clock,
        "visit_id": world.visit.id,
        "staff_id": world.carer.id,
        "verification": NEAR,
        "source": "mobile",
    }
    async with unit_of_work(sessions) as session:
        held = await session.get(Visit, world.visit.id)
        assert held is not None
        assert held.checked_in_at is None
        await facts.record_check_in(
            session, fact_id=uuid7(), occurred_at=START + timedelta(minutes=2), **common
        )
        await facts.record_check_out(
            session, fact_id=uuid7(), occurred_at=START + timedelta(minutes=28), **common
        )
        again = await session.get(Visit, world.visit.id)

        assert again is held
        assert held.checked_in_at == START + timedelta(minutes=2)
        assert held.checked_out_at == START + timedelta(minutes=28)
    stored = await visit_row(sessions, world.visit)
    assert (stored.checked_in_at, stored.checked_out_at) == (
        held.checked_in_at,
        held.checked_out_at,
    )


@pytest.mark.parametrize(
    ("verification", "home", "expected"),
    [
        (  # ~330 m away with a good fix
            Verification(
                VerificationMethod.GPS, latitude=53.4838, longitude=-2.2426, accuracy_m=10
            ),
            HOME,
            ("OUTSIDE_GEOFENCE",),
        ),
        (  # no fix within the app's wait (F34)
            Verification(VerificationMethod.GPS),
            HOME,
            ("LOCATION_UNVERIFIED",),
        ),
        (  # a fix too coarse to tell
            Verification(
                VerificationMethod.GPS, latitude=53.4810, longitude=-2.2426, accuracy_m=400
            ),
            HOME,
            ("LOCATION_UNVERIFIED",),
        ),
        (  # a stale fix
            Verification(
                VerificationMethod.GPS,
                latitude=53.4810,
                longitude=-2.2426,
                accuracy_m=5,
                fix_age_ms=600_000,
            ),
            HOME,
            ("LOCATION_UNVERIFIED",),
        ),
        (  # the person's home has no coordinates
            NEAR,
            None,
            ("LOCATION_UNVERIFIED",),
        ),
        (  # a mocked location at the door (F33)
            Verification(
                VerificationMethod.GPS,
                latitude=53.4810,
                longitude=-2.2426,
                accuracy_m=3,
                is_mock=True,
            ),
            HOME,
            ("MOCK_LOCATION",),
        ),
        (
            Verification(VerificationMethod.MANUAL, manual_reason="no signal, tag missing"),
            HOME,
            ("MANUAL_VERIFICATION",),
        ),
    ],
    ids=["outside", "no-fix", "coarse", "stale", "no-home", "mock", "manual"],
)
async def test_presence_mismatches_are_recorded_and_flagged_never_refused(
    sessions: SessionFactory,
    world: World,
    clock: FixedClock,
    verification: Verification,
    home: tuple[float, float] | None,
    expected: tuple[str, ...],
) -> None:
    if home is None:
        async with unit_of_work(sessions) as session:
            await session.execute(
                text("UPDATE people SET latitude = NULL, longitude = NULL WHERE id = :id"),
                {"id": world.person.id},
            )
    recorded = await check_in(sessions, world, clock, verification=verification)

    assert recorded.flags == expected
    assert (await visit_row(sessions, world.visit)).checked_in_at is not None
    [flagged] = await events_of(sessions, "visit.fact_flagged")
    assert flagged.payload["fact_id"] == str(recorded.fact_id)
    assert flagged.payload["fact_kind"] == "check_in"
    assert flagged.payload["flags"] == list(expected)
    assert flagged.payload["device_id"] is None
    async with sessions() as session:
        fact = await session.get(VisitFact, recorded.fact_id)
    assert fact is not None
    assert fact.flags == list(expected)
    assert fact.verification_method == verification.method.value


async def test_the_geofence_radius_is_the_policys(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    far = Verification(VerificationMethod.GPS, latitude=53.4838, longitude=-2.2426, accuracy_m=10)
    recorded = await check_in(
        sessions, world, clock, verification=far, policy=facts.PresencePolicy(geofence_metres=500)
    )
    assert recorded.flags == ()


async def test_a_tag_of_another_persons_home_is_a_tag_mismatch(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    async with unit_of_work(sessions) as session:
        for person, value in ((world.person, "04:A2:1B:33"), (world.other_person, "04:FF:00:01")):
            await register_presence_tag(
                session,
                scope=AccessScope.system(),
                actor="test",
                clock=clock,
                person_id=person.id,
                kind=PresenceTagKind.NFC,
                value=value,
            )
        await register_presence_tag(
            session,
            scope=AccessScope.system(),
            actor="test",
            clock=clock,
            person_id=world.other_person.id,
            kind=PresenceTagKind.QR,
            value="qr-token-hilltop-7",
        )

    # Read by another phone, the same UID may come without separators and in lower case.
    own = await check_in(
        sessions, world, clock, verification=Verification(VerificationMethod.NFC, tag="04a21b33")
    )
    other = await check_in(
        sessions, world, clock, verification=Verification(VerificationMethod.NFC, tag="04:FF:00:01")
    )
    qr = await check_in(
        sessions,
        world,
        clock,
        verification=Verification(VerificationMethod.QR, tag="qr-token-hilltop-7"),
    )
    unknown = await check_in(
        sessions, world, clock, verification=Verification(VerificationMethod.QR, tag="made-up")
    )

    assert own.flags == ()
    assert other.flags == ("TAG_MISMATCH", "DUPLICATE_ACTION")
    assert qr.flags == ("TAG_MISMATCH", "DUPLICATE_ACTION")
    assert unknown.flags == ("TAG_MISMATCH", "DUPLICATE_ACTION")


async def test_one_tag_value_proves_one_home(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    async with unit_of_work(sessions) as session:
        await register_presence_tag(
            session,
            scope=world.office,
            actor="test",
            clock=clock,
            person_id=world.person.id,
            kind=PresenceTagKind.QR,
            value="front-door",
        )
    with pytest.raises(PresenceTagTaken):
        async with unit_of_work(sessions) as session:
            await register_presence_tag(
                session,
                scope=AccessScope.system(),
                actor="test",
                clock=clock,
                person_id=world.other_person.id,
                kind=PresenceTagKind.QR,
                value="front-door",
            )
    with pytest.raises(Forbidden):
        async with unit_of_work(sessions) as session:
            await register_presence_tag(
                session,
                scope=world.carer_scope,
                actor="test",
                clock=clock,
                person_id=world.person.id,
                kind=PresenceTagKind.NFC,
                value="04:00",
            )


async def test_manual_verification_needs_a_reason() -> None:
    with pytest.raises(InvalidInput) as refused:
        Verification(VerificationMethod.MANUAL, manual_reason="  ")
    assert refused.value.field == "verification.manualReason"


# --- the visit's times, duplicates and corrections ----------------------------------------------


async def test_a_second_check_in_is_kept_and_flagged_and_the_first_stands(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    first = await check_in(sessions, world, clock, occurred_at=START + timedelta(minutes=2))
    second = await check_in(sessions, world, clock, occurred_at=START + timedelta(minutes=3))

    assert first.flags == ()
    assert second.flags == ("DUPLICATE_ACTION",)
    assert (await visit_row(sessions, world.visit)).checked_in_at == START + timedelta(minutes=2)
    async with sessions() as session:
        kept = (
            await session.scalars(select(VisitFact).where(VisitFact.visit_id == world.visit.id))
        ).all()
    assert {fact.id for fact in kept} == {first.fact_id, second.fact_id}


async def test_a_correction_supersedes_and_moves_the_visits_time(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    first = await check_in(sessions, world, clock, occurred_at=START + timedelta(minutes=20))
    corrected = await check_in(
        sessions,
        world,
        clock,
        occurred_at=START + timedelta(minutes=2),
        supersedes_id=first.fact_id,
    )

    assert corrected.flags == ()
    assert (await visit_row(sessions, world.visit)).checked_in_at == START + timedelta(minutes=2)
    [_, event] = await events_of(sessions, "visit.checked_in")
    assert event.payload["supersedes_id"] == str(first.fact_id)
    with pytest.raises(SupersededFactNotFound):
        async with unit_of_work(sessions) as session:
            await facts.record_check_out(
                session,
                scope=world.carer_scope,
                actor="test",
                clock=clock,
                fact_id=uuid7(),
                visit_id=world.visit.id,
                staff_id=world.carer.id,
                occurred_at=START + timedelta(minutes=30),
                verification=NEAR,
                source="mobile",
                supersedes_id=first.fact_id,  # a check-in is not a check-out
            )


async def test_check_out_completes_the_visit_and_measures_the_stay(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    device = uuid.uuid4()
    # Same boot: the stay comes from the monotonic clock (31 minutes), whatever the corrected
    # times say (here they are 29 minutes apart).
    await check_in(
        sessions,
        world,
        clock,
        occurred_at=START + timedelta(minutes=1),
        device_id=device,
        device_clock=DeviceClock(boot_id="boot-1", monotonic_ms=1_000_000, basis="monotonic"),
    )
    clock.current = START + timedelta(minutes=31)
    out = await check_out(
        sessions,
        world,
        clock,
        START + timedelta(minutes=30),
        device_id=device,
        device_clock=DeviceClock(
            boot_id="boot-1", monotonic_ms=1_000_000 + 31 * 60_000, basis="monotonic"
        ),
    )

    assert out.flags == ()
    visit = await visit_row(sessions, world.visit)
    assert visit.checked_out_at == START + timedelta(minutes=30)
    [event] = await events_of(sessions, "visit.checked_out")
    assert event.payload["stay_minutes"] == 31.0
    async with sessions() as session:
        found = await service.get_visit(session, AccessScope.system(), world.visit.id)
    assert service.visit_status(found, clock.now()) is VisitStatus.COMPLETED


async def test_a_stay_across_a_reboot_comes_from_the_corrected_times(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    device = uuid.uuid4()
    await check_in(
        sessions,
        world,
        clock,
        occurred_at=START + timedelta(minutes=1),
        device_id=device,
        device_clock=DeviceClock(boot_id="boot-1", monotonic_ms=1_000_000, basis="monotonic"),
    )
    clock.current = START + timedelta(minutes=30)
    await check_out(
        sessions,
        world,
        clock,
        START + timedelta(minutes=29),
        device_id=device,
        device_clock=DeviceClock(boot_id="boot-2", monotonic_ms=5_000, basis="anchor"),
    )
    [event] = await events_of(sessions, "visit.checked_out")
    assert event.payload["stay_minutes"] == 28.0


async def test_a_check_out_reported_before_the_check_in_keeps_both_times_and_is_flagged(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    await check_in(sessions, world, clock, occurred_at=START + timedelta(minutes=10))
    out = await check_out(sessions, world, clock, START + timedelta(minutes=5))

    visit = await visit_row(sessions, world.visit)
    # Neither time is moved: the visit never shows a time that did not happen.
    assert visit.checked_in_at == START + timedelta(minutes=10)
    assert visit.checked_out_at == START + timedelta(minutes=5)
    assert out.flags == ("CHECK_OUT_BEFORE_CHECK_IN",)
    async with sessions() as session:
        fact = await session.get(VisitFact, out.fact_id)
    assert fact is not None
    assert fact.occurred_at == START + timedelta(minutes=5)  # the fact keeps what was reported


# --- mismatches with the plan ------------------------------------------------------------------


async def test_a_carer_no_longer_assigned_is_recorded_and_flagged(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    recorded = await check_in(sessions, world, clock, staff=world.second_carer)
    assert recorded.flags == ("VISIT_REASSIGNED",)


async def test_far_outside_the_visit_window_is_flagged(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    early = await check_in(sessions, world, clock, occurred_at=START - timedelta(hours=3))
    assert early.flags == ("OUTSIDE_VISIT_WINDOW",)


async def test_an_offline_check_in_arriving_after_the_visit_showed_missed_is_a_late_sync(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    clock.current = START + timedelta(hours=1, minutes=30)  # past the missed threshold (60 min)
    async with sessions() as session:
        before = await service.get_visit(session, AccessScope.system(), world.visit.id)
    assert service.visit_status(before, clock.now()) is VisitStatus.MISSED

    recorded = await check_in(sessions, world, clock, occurred_at=START + timedelta(minutes=5))

    assert recorded.flags == ("LATE_SYNC",)
    async with sessions() as session:
        after = await service.get_visit(session, AccessScope.system(), world.visit.id)
        fact = await session.get(VisitFact, recorded.fact_id)
    assert service.visit_status(after, clock.now()) is VisitStatus.IN_PROGRESS
    assert fact is not None
    assert fact.occurred_at == START + timedelta(minutes=5)
    assert fact.received_at == START + timedelta(hours=1, minutes=30)


async def test_a_check_in_synced_within_the_grace_is_not_late(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    clock.current = START + timedelta(minutes=16)  # just past the late threshold
    recorded = await check_in(sessions, world, clock, occurred_at=START + timedelta(minutes=15))
    assert recorded.flags == ()


async def test_more_than_a_day_late_and_in_the_future_are_flagged(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    clock.current = START + timedelta(days=2)
    late = await check_in(sessions, world, clock, occurred_at=START + timedelta(minutes=1))
    assert "LATE_SYNC" in late.flags
    clock.current = START
    future = await check_in(sessions, world, clock, occurred_at=START + timedelta(minutes=20))
    assert "FUTURE_TIMESTAMP" in future.flags


async def test_extra_flags_from_the_upload_are_kept_in_order(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    recorded = await check_in(
        sessions, world, clock, extra_flags=("CHAIN_BREAK", "CLOCK_SKEW_SUSPECT", "CHAIN_BREAK")
    )
    assert recorded.flags == ("CHAIN_BREAK", "CLOCK_SKEW_SUSPECT")


# --- tasks, observations, concerns --------------------------------------------------------------


async def confirm(
    sessions: SessionFactory,
    world: World,
    clock: FixedClock,
    task_index: int,
    outcome: TaskOutcome,
    *,
    staff: StaffMember | None = None,
    reason: str | None = None,
) -> RecordedFact:
    carer = staff or world.carer
    clock.current = START + timedelta(minutes=11)
    async with unit_of_work(sessions) as session:
        return await facts.record_task_confirmation(
            session,
            scope=AccessScope(Role.CARER, world.provider.id, carer.id),
            actor="test",
            clock=clock,
            fact_id=uuid7(),
            visit_id=world.visit.id,
            staff_id=carer.id,
            occurred_at=START + timedelta(minutes=10),
            task_index=task_index,
            outcome=outcome,
            reason=reason,
            source="mobile",
        )


async def test_a_task_needing_a_competence_the_carer_lacks_is_recorded_and_flagged(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    restricted = await confirm(sessions, world, clock, 1, TaskOutcome.DONE)
    not_needed = await confirm(sessions, world, clock, 0, TaskOutcome.DONE)
    refused = await confirm(
        sessions, world, clock, 1, TaskOutcome.REFUSED, reason="said she had taken them"
    )

    assert restricted.flags == ("COMPETENCE_MISSING",)
    assert not_needed.flags == ()
    # Refused is not done: no competence was exercised. A second confirmation of the same task
    # that is not a correction is a duplicate action.
    assert refused.flags == ("DUPLICATE_ACTION",)
    [first, *_] = await events_of(sessions, "visit.task_confirmed")
    assert first.payload | {"fact_id": None} == first.payload | {
        "fact_id": None,
        "task_index": 1,
        "task_description": "Administer medication",
        "requires": "medication",
        "outcome": "done",
        "reason": None,
        "competence_ok": False,
    }
    [flagged, _] = await events_of(sessions, "visit.fact_flagged")
    assert flagged.payload["fact_kind"] == "task_confirmation"
    assert flagged.payload["flags"] == ["COMPETENCE_MISSING"]


async def test_an_evidenced_carer_confirms_medication_without_a_flag(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    recorded = await confirm(sessions, world, clock, 1, TaskOutcome.DONE, staff=world.second_carer)
    assert recorded.flags == ("VISIT_REASSIGNED",)
    [event] = await events_of(sessions, "visit.task_confirmed")
    assert event.payload["competence_ok"] is True


async def test_task_confirmations_are_checked(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    with pytest.raises(TaskNotFound):
        await confirm(sessions, world, clock, 7, TaskOutcome.DONE)
    with pytest.raises(InvalidInput) as refused:
        await confirm(sessions, world, clock, 0, TaskOutcome.NOT_DONE)
    assert refused.value.field == "reason"


async def test_observations_and_concerns_are_recorded_with_their_values(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    clock.current = START + timedelta(minutes=13)
    async with unit_of_work(sessions) as session:
        common: dict[str, Any] = {
            "scope": world.carer_scope,
            "actor": "test",
            "clock": clock,
            "visit_id": world.visit.id,
            "staff_id": world.carer.id,
            "occurred_at": START + timedelta(minutes=12),
            "source": "mobile",
        }
        await facts.record_observation(
            session,
            fact_id=uuid7(),
            kind=ObservationKind.HYDRATION,
            values={"fluid_ml": 250},
            note="tea",
            **common,
        )
        await facts.record_observation(
            session,
            fact_id=uuid7(),
            kind=ObservationKind.PAIN,
            values={"score": 7, "location": "left hip"},
            **common,
        )
        await facts.record_observation(
            session, fact_id=uuid7(), kind=ObservationKind.FALL, values={"injury": True}, **common
        )
        await facts.record_concern(
            session,
            fact_id=uuid7(),
            category="safeguarding",
            safeguarding=True,
            description="Bruising on both forearms; says a relative grabbed her.",
            **common,
        )

    observed = await events_of(sessions, "visit.observation_recorded")
    assert [(e.payload["kind"], e.payload["values"], e.payload["note"]) for e in observed] == [
        ("hydration", {"fluid_ml": 250}, "tea"),
        ("pain", {"score": 7, "location": "left hip"}, None),
        ("fall", {"injury": True}, None),
    ]
    [concern] = await events_of(sessions, "visit.concern_raised")
    assert concern.payload["category"] == "safeguarding"
    assert concern.payload["safeguarding"] is True
    assert concern.payload["description"].startswith("Bruising")
    assert concern.person_id == world.person.id


@pytest.mark.parametrize(
    ("kind", "values", "field"),
    [
        (ObservationKind.PAIN, {"score": 11}, "values.score"),
        (ObservationKind.HYDRATION, {}, "values.fluid_ml"),
        (ObservationKind.MOOD, {"mood": "elated"}, "values.mood"),
        (ObservationKind.SKIN, {"concern": "yes"}, "values.concern"),
        (ObservationKind.FALL, {"injury": False, "colour": "red"}, "values.colour"),
    ],
)
def test_observation_values_are_checked_per_kind(
    kind: ObservationKind, values: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        facts.check_observation(kind, values)
    assert refused.value.field == field


# --- tenancy and immutability -------------------------------------------------------------------


async def test_a_visit_of_another_provider_answers_like_a_missing_one(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    with pytest.raises(VisitNotFound):
        await check_in(sessions, world, clock, visit=world.foreign_visit)
    with pytest.raises(Forbidden):
        async with unit_of_work(sessions) as session:
            await facts.record_check_in(
                session,
                scope=world.carer_scope,
                actor="test",
                clock=clock,
                fact_id=uuid7(),
                visit_id=world.visit.id,
                staff_id=world.second_carer.id,  # not themselves
                occurred_at=START,
                verification=NEAR,
                source="mobile",
            )


async def test_facts_cannot_be_updated_or_deleted(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    recorded = await check_in(sessions, world, clock)
    for statement in (
        "UPDATE visit_facts SET flags = '{}' WHERE id = :id",
        "DELETE FROM visit_facts WHERE id = :id",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with unit_of_work(sessions) as session:
                await session.execute(text(statement), {"id": recorded.fact_id})
    with pytest.raises(DBAPIError, match="append-only"):
        async with unit_of_work(sessions) as session:
            await session.execute(text("TRUNCATE visit_facts CASCADE"))
    async with sessions() as session:
        assert await session.get(VisitFact, recorded.fact_id) is not None
    assert FactKind.CHECK_IN.value == "check_in"
