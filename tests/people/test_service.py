"""People service against the real database: registering (strict NHS number) and importing
(keep and flag), risk flags, sealed access details, who may open them when, and the events."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, text

from hub.accounts.models import Role
from hub.db.engine import SessionFactory
from hub.db.uow import read_only, unit_of_work
from hub.errors import InvalidInput
from hub.events.models import Event
from hub.kit.time import FixedClock
from hub.organisations.models import Organisation
from hub.people import service
from hub.people.errors import DuplicateNhsNumber, PersonNotFound
from hub.people.models import NhsNumberStatus, Person
from hub.people.sealing import Sealer
from hub.people.service import Address, Contact, PersonDetails, RiskFlags
from hub.people.vocabulary import MedicationSupport
from hub.staff.models import StaffMember
from hub.tenancy import AccessScope
from hub.visits.models import Visit
from tests import builders

VALID = "943 476 5919"  # the NHS's own published example: passes the check
FAILING = "9434765918"
DETAILS = PersonDetails(
    given_name=" Edith ",
    family_name="Crawley",
    date_of_birth=date(1938, 5, 2),
    address=Address(line_1="4 Mill Lane", town="Northvale", postcode="nv1  1aa"),
    contacts=[Contact(name="Mary Crawley", relationship="daughter", phone="07700 900123")],
)


@dataclass
class World:
    provider: Organisation
    other_provider: Organisation
    person: Person
    carer: StaffMember
    other_carer: StaffMember
    visit: Visit

    def office(self, organisation: Organisation | None = None) -> AccessScope:
        return AccessScope(Role.COORDINATOR, (organisation or self.provider).id, None)

    def carer_scope(self, staff: StaffMember | None = None) -> AccessScope:
        carer = staff or self.carer
        return AccessScope(Role.CARER, self.provider.id, carer.id)


@pytest.fixture
async def world(sessions: SessionFactory) -> World:
    async with unit_of_work(sessions) as session:
        provider = await builders.create_organisation(session)
        other_provider = await builders.create_organisation(session)
        contract = await builders.create_contract(session, provider=provider)
        person = await builders.create_person(session)
        package = await builders.create_package(session, contract=contract, person=person)
        carer = await builders.create_staff(session, organisation=provider)
        other_carer = await builders.create_staff(session, organisation=provider)
        visit = await builders.create_visit(
            session,
            package=package,
            carers=(carer,),
            planned_start=datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
        )
    return World(provider, other_provider, person, carer, other_carer, visit)


async def _events(sessions: SessionFactory, person_id: uuid.UUID) -> list[Event]:
    async with read_only(sessions) as session:
        rows = await session.scalars(
            select(Event).where(Event.person_id == person_id).order_by(Event.id)
        )
        return list(rows.all())


async def _register(
    sessions: SessionFactory, clock: FixedClock, nhs_number: str | None, **kwargs: object
) -> Person:
    async with unit_of_work(sessions) as session:
        office = await builders.create_organisation(session, name="Registering Office")
        registration = await service.register_person(
            session,
            AccessScope(Role.COORDINATOR, office.id, None),
            details=DETAILS,
            nhs_number=nhs_number,
            actor="staff:office",
            clock=clock,
            **kwargs,  # type: ignore[arg-type]
        )
    assert registration.person is not None
    return registration.person


async def test_registering_normalises_and_records_an_event(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    person = await _register(sessions, clock, VALID)
    assert (person.nhs_number, person.nhs_number_status, person.nhs_number_source) == (
        "9434765919",
        NhsNumberStatus.UNVERIFIED,
        "office",
    )
    assert (person.given_name, person.postcode) == ("Edith", "NV1 1AA")
    assert person.contacts[0]["relationship"] == "daughter"
    [event] = await _events(sessions, person.id)
    assert (event.type, event.subject_id, event.actor, event.occurred_at) == (
        "person.registered",
        person.id,
        "staff:office",
        clock.now(),
    )
    assert event.payload["nhsNumberStatus"] == "unverified"


async def test_registering_refuses_a_number_that_is_not_valid(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    cases = [
        (FAILING, "check digit is 8 but modulus 11 gives 9"),
        ("1111111111", "ten copies of one digit is a placeholder, not an NHS number"),
        ("94347659", "an NHS number has 10 digits; this has 8"),
    ]
    for number, reason in cases:
        with pytest.raises(InvalidInput) as refused:
            await _register(sessions, clock, number)
        assert (refused.value.field, refused.value.code, refused.value.reason) == (
            "nhsNumber",
            "INVALID_NHS_NUMBER",
            reason,
        )


async def test_a_checked_number_belongs_to_one_record(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    first = await _register(sessions, clock, VALID)
    scope = AccessScope(Role.COORDINATOR, first.registered_by_id, None)
    with pytest.raises(DuplicateNhsNumber):
        async with unit_of_work(sessions) as session:
            await service.register_person(
                session, scope, details=DETAILS, nhs_number="943-476-5919", actor="a", clock=clock
            )
    without = await _register(sessions, clock, None)
    assert (without.nhs_number, without.nhs_number_status) == (None, NhsNumberStatus.ABSENT)


async def test_person_details_are_validated_with_the_field(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    cases = [
        (PersonDetails("", "X", date(1950, 1, 1), DETAILS.address), "givenName", "REQUIRED"),
        (
            PersonDetails("A", "B", date(2026, 11, 24), DETAILS.address),
            "dateOfBirth",
            "DATE_IN_FUTURE",
        ),
        (
            PersonDetails("A", "B", date(1950, 1, 1), Address("1 Road", "Town", "NOT A CODE")),
            "address.postcode",
            "INVALID_POSTCODE",
        ),
        (
            PersonDetails(
                "A", "B", date(1950, 1, 1), Address("1 Road", "Town", "NV1 1AA", latitude=53.0)
            ),
            "address.latitude",
            "INCOMPLETE",
        ),
        (
            PersonDetails(
                "A", "B", date(1950, 1, 1), DETAILS.address, contacts=[Contact(name=" ")]
            ),
            "contacts[0].name",
            "REQUIRED",
        ),
    ]
    for details, field, code in cases:
        with pytest.raises(InvalidInput) as refused:
            async with unit_of_work(sessions) as session:
                await service.register_person(
                    session,
                    AccessScope.system(),
                    details=details,
                    nhs_number=None,
                    actor="a",
                    clock=clock,
                )
        assert (refused.value.field, refused.value.code) == (field, code), details


async def test_an_import_keeps_a_failing_number_and_flags_it(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    results = []
    for _ in range(2):  # a failing number identifies nothing, so two such records may coexist
        async with unit_of_work(sessions) as session:
            results.append(
                await service.import_person(
                    session,
                    details=DETAILS,
                    nhs_number=FAILING,
                    source="la-portal",
                    actor="connector:la-portal",
                    clock=clock,
                    readers=(),
                )
            )
    assert [r.created for r in results] == [True, True]
    person = results[0].person
    assert person is not None
    assert (person.nhs_number, person.nhs_number_status, person.nhs_number_source) == (
        FAILING,
        NhsNumberStatus.FAILED_CHECK,
        "la-portal",
    )
    [event] = await _events(sessions, person.id)
    assert event.type == "person.imported"
    assert event.payload["nhsNumberProblem"] == "check_digit_mismatch"
    assert event.payload["nhsNumberReason"] == "check digit is 8 but modulus 11 gives 9"


async def test_an_import_refuses_a_placeholder_as_an_identifier_but_keeps_the_person(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    async with unit_of_work(sessions) as session:
        result = await service.import_person(
            session,
            details=DETAILS,
            nhs_number="0000000000",
            source="gp-referral:Y99901",
            actor="a",
            clock=clock,
            readers=(),
        )
    assert result.created
    assert result.person is not None
    assert (result.person.nhs_number, result.person.nhs_number_status) == (
        None,
        NhsNumberStatus.ABSENT,
    )
    [event] = await _events(sessions, result.person.id)
    assert event.payload["nhsNumberProblem"] == "repeated_digit"


async def test_importing_a_known_valid_number_returns_the_existing_record(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    registered = await _register(sessions, clock, VALID)
    async with unit_of_work(sessions) as session:
        again = await service.import_person(
            session,
            details=DETAILS,
            nhs_number="9434765919",
            source="la-portal",
            actor="a",
            clock=clock,
            readers=(AccessScope(Role.COORDINATOR, registered.registered_by_id, None),),
        )
    assert again.person is not None
    assert (again.created, again.person.id) == (False, registered.id)
    assert [e.type for e in await _events(sessions, registered.id)] == ["person.registered"]


async def test_risk_flags_are_replaced_and_the_event_names_what_changed(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    async with unit_of_work(sessions) as session:
        person = await service.update_risks(
            session,
            world.office(),
            world.person.id,
            risks=RiskFlags(falls=True, dnar=True, escalation_preferences="ReSPECT: home care"),
            medication_support=MedicationSupport.ADMINISTER,
            actor="staff:office",
            clock=clock,
        )
    assert (person.falls_risk, person.dnar, person.medication_support) == (
        True,
        True,
        MedicationSupport.ADMINISTER,
    )
    [event] = await _events(sessions, world.person.id)
    assert event.type == "person.risks_updated"
    assert event.payload["changed"] == [
        "dnar",
        "escalationPreferences",
        "falls",
        "medicationSupport",
    ]
    assert "ReSPECT" not in str(event.payload)
    with pytest.raises(PersonNotFound):  # another provider: as if the person did not exist
        async with unit_of_work(sessions) as session:
            await service.update_risks(
                session,
                world.office(world.other_provider),
                world.person.id,
                risks=RiskFlags(),
                actor="a",
                clock=clock,
            )


async def test_access_details_are_sealed_at_rest_and_the_event_holds_no_secret(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    sealer = Sealer(os.urandom(32))
    async with unit_of_work(sessions) as session:
        person = await service.set_access_details(
            session,
            world.office(),
            world.person.id,
            access_details="Side door; key safe left of the porch",
            key_safe_code="C1234",
            sealer=sealer,
            actor="staff:office",
            clock=clock,
        )
    async with read_only(sessions) as session:
        raw = (
            await session.execute(
                text("SELECT access_details_sealed, key_safe_sealed FROM people WHERE id = :id"),
                {"id": world.person.id},
            )
        ).one()
    assert b"C1234" not in raw[1]
    assert b"porch" not in raw[0]
    assert service.open_sealed(sealer, person.id, service.KEY_SAFE_FIELD, raw[1]) == "C1234"
    [event] = await _events(sessions, world.person.id)
    assert event.type == "person.access_details_set"
    assert event.payload == {"accessDetails": True, "keySafeCode": True}
    async with unit_of_work(sessions) as session:
        cleared = await service.set_access_details(
            session,
            world.office(),
            world.person.id,
            access_details="  ",
            key_safe_code=None,
            sealer=sealer,
            actor="a",
            clock=clock,
        )
    assert (cleared.access_details_sealed, cleared.key_safe_sealed) == (None, None)


async def test_a_carer_may_open_access_details_only_inside_their_visit_window(
    sessions: SessionFactory, world: World
) -> None:
    ids = [world.person.id]
    planned_start = world.visit.planned_start  # 10:00 UTC, 30 minutes long
    margin = service.ACCESS_WINDOW_MARGIN

    async def open_at(scope: AccessScope, moment: datetime) -> bool:
        async with read_only(sessions) as session:
            return world.person.id in await service.people_with_access_open(
                session, scope, ids, moment
            )

    opens = planned_start - margin
    closes = world.visit.planned_end + margin
    assert not await open_at(world.carer_scope(), opens - timedelta(seconds=1))
    assert await open_at(world.carer_scope(), opens)
    assert await open_at(world.carer_scope(), closes)
    assert not await open_at(world.carer_scope(), closes + timedelta(seconds=1))
    assert not await open_at(world.carer_scope(world.other_carer), planned_start)
    assert await open_at(world.office(), opens - timedelta(days=3))
    assert not await open_at(world.office(world.other_provider), planned_start)
    assert not await open_at(AccessScope.system(), planned_start)
    commissioner = AccessScope(Role.COMMISSIONER, uuid.uuid4(), None)
    assert not await open_at(commissioner, planned_start)
    async with unit_of_work(sessions) as session:
        visit = await session.get(Visit, world.visit.id)
        assert visit is not None
        visit.cancelled_at = planned_start - timedelta(hours=2)
    assert not await open_at(world.carer_scope(), planned_start)


async def test_an_office_registered_person_is_kept_for_admins_and_people_with_ties(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    """A person with no package or referral yet is outside every provider's scope (see the
    report on `person_visible`); admins still see them."""
    person = await _register(sessions, clock, None)
    async with read_only(sessions) as session:
        assert (await service.get(session, AccessScope.system(), person.id)).id == person.id
        with pytest.raises(PersonNotFound):
            await service.get(session, AccessScope(Role.COORDINATOR, uuid.uuid4(), None), person.id)


def test_search_text_that_looks_like_an_nhs_number_is_normalised() -> None:
    assert service.normalise_nhs_search(" 943 476 5919 ") == "9434765919"
    assert service.normalise_nhs_search("Crawley") is None
    assert service.normalise_postcode("sw1a1aa") == "SW1A 1AA"


async def test_the_registering_office_sees_the_person_before_any_package(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    async with unit_of_work(sessions) as session:
        office = await builders.create_organisation(session)
        elsewhere = await builders.create_organisation(session)
    scope = AccessScope(Role.COORDINATOR, office.id, None)
    async with unit_of_work(sessions) as session:
        registration = await service.register_person(
            session, scope, details=DETAILS, nhs_number=VALID, actor="staff:office", clock=clock
        )
    person = registration.person
    assert person is not None
    async with read_only(sessions) as session:
        assert (await service.get(session, scope, person.id)).id == person.id
        with pytest.raises(PersonNotFound):
            await service.get(session, AccessScope(Role.COORDINATOR, elsewhere.id, None), person.id)
