"""A write that loses the race for an NHS number (its look-up found nothing, another write
committed the number before its insert) still goes through the demographic match: the unique
index never turns into a "this number is already registered" answer for another tenant."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.models import Role
from hub.db.engine import SessionFactory
from hub.db.uow import read_only, unit_of_work
from hub.kit.time import FixedClock
from hub.people import repository, service
from hub.people.models import Person, PersonLinkHold
from hub.people.service import Address, PersonDetails, Resolution
from hub.tenancy import AccessScope
from tests import builders

NUMBER = "9434765919"
EDITH = PersonDetails(
    given_name="Edith",
    family_name="Crawley",
    date_of_birth=date(1938, 5, 2),
    address=Address(line_1="4 Mill Lane", town="Northvale", postcode="NV1 1AA"),
)
SOMEONE_ELSE = PersonDetails(
    given_name="Eve",
    family_name="Intruder",
    date_of_birth=date(1950, 1, 1),
    address=Address(line_1="1 Other Road", town="Southvale", postcode="SV1 1AA"),
)


def _lose_the_first_look_up(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    real = repository.get_by_checked_nhs_number
    calls: list[str] = []

    async def late(session: AsyncSession, nhs_number: str) -> Person | None:
        calls.append(nhs_number)
        return None if len(calls) == 1 else await real(session, nhs_number)

    monkeypatch.setattr(repository, "get_by_checked_nhs_number", late)
    return calls


async def _two_offices(sessions: SessionFactory, clock: FixedClock) -> tuple[AccessScope, ...]:
    async with unit_of_work(sessions) as session:
        a = await builders.create_organisation(session, name="Northvale Homecare")
        b = await builders.create_organisation(session, name="Southvale Homecare")
    office_a = AccessScope(Role.COORDINATOR, a.id, None)
    async with unit_of_work(sessions) as session:
        await service.register_person(
            session, office_a, details=EDITH, nhs_number=NUMBER, actor="a", clock=clock
        )
    return office_a, AccessScope(Role.COORDINATOR, b.id, None)


async def _counts(sessions: SessionFactory) -> tuple[int, int]:
    async with read_only(sessions) as session:
        people = await session.scalar(select(func.count()).select_from(Person))
        holds = await session.scalar(select(func.count()).select_from(PersonLinkHold))
    return int(people or 0), int(holds or 0)


async def test_a_registration_that_loses_the_race_is_held_not_refused_as_a_duplicate(
    sessions: SessionFactory, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, office_b = await _two_offices(sessions, clock)
    calls = _lose_the_first_look_up(monkeypatch)
    async with unit_of_work(sessions) as session:
        registration = await service.register_person(
            session, office_b, details=SOMEONE_ELSE, nhs_number=NUMBER, actor="b", clock=clock
        )
    assert calls == [NUMBER, NUMBER]
    assert (registration.resolution, registration.person) == (Resolution.HELD, None)
    assert await _counts(sessions) == (1, 1)


async def test_an_import_that_loses_the_race_goes_through_the_match(
    sessions: SessionFactory, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    office_a, office_b = await _two_offices(sessions, clock)
    _lose_the_first_look_up(monkeypatch)
    async with unit_of_work(sessions) as session:
        held = await service.import_person(
            session,
            details=SOMEONE_ELSE,
            nhs_number=NUMBER,
            source="la-portal:X",
            actor="b",
            clock=clock,
            readers=(office_b,),
        )
    assert (held.resolution, held.person, held.created) == (Resolution.HELD, None, False)
    assert held.held_against is not None

    _lose_the_first_look_up(monkeypatch)
    async with unit_of_work(sessions) as session:
        matched = await service.import_person(
            session,
            details=EDITH,
            nhs_number=NUMBER,
            source="la-portal:X",
            actor="b",
            clock=clock,
            readers=(office_b,),
        )
    assert matched.resolution is Resolution.LINKED
    assert matched.person is not None
    assert matched.person.id == held.held_against
    async with read_only(sessions) as session:
        assert await repository.get(session, office_b, matched.person.id) is not None
        assert await repository.get(session, office_a, matched.person.id) is not None
    assert await _counts(sessions) == (1, 0)
