"""A contract world for the exception engine's tests: a commissioner, a provider, a contract with
seed 003's resolution outcomes, a person with a package, two carers; and helpers that record
field facts through `hub.visits.facts` exactly as the mobile upload does."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from hub.accounts.models import Role
from hub.contracts.models import Contract
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.kit.ids import uuid7
from hub.kit.time import FixedClock
from hub.organisations.models import Organisation, OrganisationKind
from hub.packages.models import CarePackage
from hub.people.models import Person
from hub.staff.competency import CompetencyStatus
from hub.staff.models import StaffMember
from hub.tenancy import AccessScope
from hub.visits import facts
from hub.visits.facts import ObservationKind, TaskOutcome, Verification, VerificationMethod
from hub.visits.models import Visit
from tests import builders

HOME = (53.4808, -2.2426)  # the builders' default address coordinates
AT_HOME = Verification(
    method=VerificationMethod.GPS, latitude=HOME[0], longitude=HOME[1], accuracy_m=8.0
)
ADMIN = AccessScope.system()


@dataclass
class World:
    commissioner: Organisation
    provider: Organisation
    other_commissioner: Organisation
    other_provider: Organisation
    contract: Contract
    other_contract: Contract
    person: Person
    package: CarePackage
    other_package: CarePackage
    carer: StaffMember
    second_carer: StaffMember
    unqualified_carer: StaffMember
    manager: StaffMember

    def office(self, role: Role = Role.COORDINATOR) -> AccessScope:
        return AccessScope(role, self.provider.id, None)

    def commissioner_scope(self) -> AccessScope:
        return AccessScope(Role.COMMISSIONER, self.commissioner.id, None)

    def carer_scope(self, carer: StaffMember | None = None) -> AccessScope:
        return AccessScope(Role.CARER, self.provider.id, (carer or self.carer).id)


@pytest.fixture
async def world(sessions: SessionFactory) -> World:
    async with unit_of_work(sessions) as session:
        commissioner = await builders.create_organisation(
            session, kind=OrganisationKind.LOCAL_AUTHORITY, name="Northvale City Council"
        )
        provider = await builders.create_organisation(session, name="Riverside Homecare")
        other_commissioner = await builders.create_organisation(
            session, kind=OrganisationKind.ICB, name="Southdale ICB"
        )
        other_provider = await builders.create_organisation(session, name="Hilltop Care")
        contract = await builders.create_contract(
            session, commissioner=commissioner, provider=provider
        )
        other_contract = await builders.create_contract(
            session, commissioner=other_commissioner, provider=other_provider
        )
        for code, *required in (
            ("covered_by_alternative_worker", "coveredWithinMinutes", "alternativeWorker"),
            ("family_supported", "familyMember"),
            ("person_declined_visit",),
            ("escalated_to_on_call", "onCallManager"),
        ):
            await builders.add_outcome(session, contract, code, *required)
        person = await builders.create_person(session)
        package = await builders.create_package(session, contract=contract, person=person)
        other_package = await builders.create_package(session, contract=other_contract)
        carer = await builders.create_staff(
            session,
            organisation=provider,
            competencies={"medication": CompetencyStatus.EVIDENCED},
            expires_on=date(2027, 6, 30),
        )
        second_carer = await builders.create_staff(session, organisation=provider)
        unqualified = await builders.create_staff(
            session,
            organisation=provider,
            competencies={"medication": CompetencyStatus.RESTRICTED},
            expires_on=date(2027, 6, 30),
        )
        manager = await builders.create_staff(session, organisation=provider)
    return World(
        commissioner=commissioner,
        provider=provider,
        other_commissioner=other_commissioner,
        other_provider=other_provider,
        contract=contract,
        other_contract=other_contract,
        person=person,
        package=package,
        other_package=other_package,
        carer=carer,
        second_carer=second_carer,
        unqualified_carer=unqualified,
        manager=manager,
    )


async def add_visit(
    sessions: SessionFactory,
    world: World,
    start: datetime,
    *,
    minutes: int = 30,
    package: CarePackage | None = None,
    carers: tuple[StaffMember, ...] | None = None,
    **overrides: Any,
) -> Visit:
    async with unit_of_work(sessions) as session:
        return await builders.create_visit(
            session,
            package=package or world.package,
            carers=(world.carer,) if carers is None else carers,
            planned_start=start,
            planned_end=start + timedelta(minutes=minutes),
            **overrides,
        )


class Field:
    """Records facts through `hub.visits.facts`, as the mobile upload does (one unit of work
    each), received at the clock's now unless told otherwise."""

    def __init__(self, sessions: SessionFactory, clock: FixedClock, world: World) -> None:
        self.sessions = sessions
        self.clock = clock
        self.world = world

    def _common(self, visit: Visit, carer: StaffMember | None) -> dict[str, Any]:
        who = carer or self.world.carer
        return {
            "scope": self.world.carer_scope(who),
            "actor": f"staff:{who.id}",
            "clock": self.clock,
            "fact_id": uuid7(),
            "visit_id": visit.id,
            "staff_id": who.id,
            "source": "mobile",
        }

    async def check_in(
        self,
        visit: Visit,
        at: datetime,
        *,
        carer: StaffMember | None = None,
        verification: Verification = AT_HOME,
        received_at: datetime | None = None,
    ) -> facts.RecordedFact:
        async with unit_of_work(self.sessions) as session:
            return await facts.record_check_in(
                session,
                **self._common(visit, carer),
                occurred_at=at,
                device_time=at,
                verification=verification,
                received_at=received_at,
            )

    async def check_out(
        self,
        visit: Visit,
        at: datetime,
        *,
        carer: StaffMember | None = None,
        verification: Verification = AT_HOME,
    ) -> facts.RecordedFact:
        async with unit_of_work(self.sessions) as session:
            return await facts.record_check_out(
                session,
                **self._common(visit, carer),
                occurred_at=at,
                device_time=at,
                verification=verification,
            )

    async def task(
        self,
        visit: Visit,
        index: int,
        outcome: TaskOutcome = TaskOutcome.DONE,
        *,
        carer: StaffMember | None = None,
    ) -> facts.RecordedFact:
        async with unit_of_work(self.sessions) as session:
            return await facts.record_task_confirmation(
                session,
                **self._common(visit, carer),
                occurred_at=self.clock.now(),
                task_index=index,
                outcome=outcome,
                reason=None if outcome is TaskOutcome.DONE else "person asleep",
            )

    async def observe(
        self,
        visit: Visit,
        kind: ObservationKind,
        values: dict[str, Any],
        *,
        note: str | None = None,
        supersedes_id: uuid.UUID | None = None,
    ) -> facts.RecordedFact:
        async with unit_of_work(self.sessions) as session:
            return await facts.record_observation(
                session,
                **self._common(visit, None),
                occurred_at=self.clock.now(),
                kind=kind,
                values=values,
                note=note,
                supersedes_id=supersedes_id,
            )

    async def concern(
        self, visit: Visit, *, safeguarding: bool, description: str = "Unexplained bruising"
    ) -> facts.RecordedFact:
        async with unit_of_work(self.sessions) as session:
            return await facts.record_concern(
                session,
                **self._common(visit, None),
                occurred_at=self.clock.now(),
                category="safeguarding" if safeguarding else "health",
                safeguarding=safeguarding,
                description=description,
            )


@pytest.fixture
def field(sessions: SessionFactory, clock: FixedClock, world: World) -> Field:
    return Field(sessions, clock, world)
