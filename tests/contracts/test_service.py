"""Contract service against the real database: creation rules, tolerances, outcome codes and
KPI definitions as data, the events each write records, and who may change a contract."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date

import pytest
from sqlalchemy import select

from hub.accounts.models import Role
from hub.contracts import repository, service
from hub.contracts.errors import (
    ContractChangeForbidden,
    ContractNotFound,
    DuplicateContractReference,
    ResolutionOutcomeNotFound,
)
from hub.contracts.models import Contract, ServiceType
from hub.contracts.service import ContractStatus, KpiSpec, OutcomeSpec, Tolerances
from hub.db.engine import SessionFactory
from hub.db.uow import read_only, unit_of_work
from hub.errors import InvalidInput, NotFound
from hub.events.models import Event
from hub.kit.time import FixedClock
from hub.organisations.models import Organisation, OrganisationKind
from hub.tenancy import AccessScope
from tests import builders

STANDARD = Tolerances(15, 5, 60, 80)


@dataclass
class World:
    council: Organisation
    other_council: Organisation
    provider: Organisation
    supplier: Organisation
    contract: Contract

    def commissioner(self, organisation: Organisation | None = None) -> AccessScope:
        return AccessScope(Role.COMMISSIONER, (organisation or self.council).id, None)

    def office(self) -> AccessScope:
        return AccessScope(Role.COORDINATOR, self.provider.id, None)


@pytest.fixture
async def world(sessions: SessionFactory) -> World:
    async with unit_of_work(sessions) as session:
        council = await builders.create_organisation(
            session, kind=OrganisationKind.LOCAL_AUTHORITY, name="Northvale Council"
        )
        other = await builders.create_organisation(session, kind=OrganisationKind.ICB)
        provider = await builders.create_organisation(session, kind=OrganisationKind.PROVIDER)
        supplier = await builders.create_organisation(session, kind=OrganisationKind.SUPPLIER)
        contract = await builders.create_contract(session, commissioner=council, provider=provider)
    return World(council, other, provider, supplier, contract)


async def _events(sessions: SessionFactory, subject_id: uuid.UUID) -> list[Event]:
    async with read_only(sessions) as session:
        rows = await session.scalars(
            select(Event).where(Event.subject_id == subject_id).order_by(Event.id)
        )
        return list(rows.all())


async def _create(
    sessions: SessionFactory,
    clock: FixedClock,
    scope: AccessScope,
    world: World,
    **overrides: object,
) -> Contract:
    values: dict[str, object] = {
        "reference": "NVC-HC-2026-01",
        "name": "Northvale homecare",
        "commissioner_id": world.council.id,
        "provider_id": world.provider.id,
        "service_type": ServiceType.HOMECARE,
        "starts_on": date(2026, 12, 1),
        "ends_on": date(2029, 11, 30),
        "tolerances": STANDARD,
    }
    values.update(overrides)
    async with unit_of_work(sessions) as session:
        return await service.create_contract(
            session,
            scope,
            actor="account:council",
            clock=clock,
            **values,  # type: ignore[arg-type]
        )


async def test_a_commissioner_creates_its_own_contract_and_an_event_is_recorded(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    created = await _create(sessions, clock, world.commissioner(), world, reference=" NVC-1 ")
    assert created.reference == "NVC-1"
    assert service.status_on(created.starts_on, created.ends_on, service.today(clock)) is (
        ContractStatus.UPCOMING
    )
    [event] = await _events(sessions, created.id)
    assert (event.type, event.contract_id, event.organisation_id, event.actor) == (
        "contract.created",
        created.id,
        world.council.id,
        "account:council",
    )
    assert event.occurred_at == clock.now()
    assert event.payload["tolerances"] == {
        "lateAfterMinutes": 15,
        "timeCriticalLateAfterMinutes": 5,
        "missedAfterMinutes": 60,
        "minimumStayPercent": 80,
    }
    assert event.payload["providerId"] == str(world.provider.id)


async def test_creation_is_refused_with_the_field_and_a_code(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    cases: list[tuple[dict[str, object], str, str]] = [
        ({"reference": "  "}, "reference", "REQUIRED"),
        ({"ends_on": date(2026, 11, 30)}, "endsOn", "DATES_OUT_OF_ORDER"),
        ({"provider_id": world.supplier.id}, "providerId", "NOT_A_PROVIDER"),
        ({"commissioner_id": world.provider.id}, "commissionerId", "NOT_YOUR_ORGANISATION"),
    ]
    for overrides, field, code in cases:
        with pytest.raises(InvalidInput) as refused:
            await _create(sessions, clock, world.commissioner(), world, **overrides)
        assert (refused.value.field, refused.value.code) == (field, code), overrides


async def test_an_admin_may_create_for_any_commissioner_but_only_a_commissioner_kind(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    admin = AccessScope.system()
    with pytest.raises(InvalidInput) as refused:
        await _create(sessions, clock, admin, world, commissioner_id=world.provider.id)
    assert refused.value.code == "NOT_A_COMMISSIONER"
    assert "not a provider" in refused.value.reason
    icb = await _create(sessions, clock, admin, world, commissioner_id=world.other_council.id)
    assert icb.commissioner_id == world.other_council.id
    with pytest.raises(DuplicateContractReference):
        await _create(sessions, clock, admin, world)
    with pytest.raises(NotFound):
        await _create(sessions, clock, admin, world, reference="X-2", provider_id=uuid.uuid4())
    with pytest.raises(ContractChangeForbidden):
        await _create(sessions, clock, world.office(), world, reference="X-3")


@pytest.mark.parametrize(
    ("tolerances", "field", "message"),
    [
        (
            Tolerances(15, 20, 60, 80),
            "tolerances.timeCriticalLateAfterMinutes",
            "must not be more than lateAfterMinutes (15): time-critical calls are held to the "
            "tighter threshold",
        ),
        (
            Tolerances(15, 5, 15, 80),
            "tolerances.missedAfterMinutes",
            "must be more than lateAfterMinutes (15): a visit is late before it is missed",
        ),
        (Tolerances(15, 5, 60, 0), "tolerances.minimumStayPercent", "must be between 1 and 100"),
        (Tolerances(15, 5, 60, 101), "tolerances.minimumStayPercent", "must be between 1 and 100"),
        (
            Tolerances(-1, -5, 60, 80),
            "tolerances.lateAfterMinutes",
            "must be between 0 and 1440 minutes",
        ),
        (
            Tolerances(15, 5, 2000, 80),
            "tolerances.missedAfterMinutes",
            "must be between 0 and 1440 minutes",
        ),
    ],
)
def test_tolerance_validation_names_the_field_and_why(
    tolerances: Tolerances, field: str, message: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        service.validate_tolerances(tolerances)
    assert refused.value.field == field
    assert refused.value.reason == message


def test_equal_time_critical_and_late_thresholds_are_allowed() -> None:
    assert service.validate_tolerances(Tolerances(10, 10, 11, 100)) == Tolerances(10, 10, 11, 100)


async def test_changing_tolerances_keeps_both_sets_on_the_event(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    async with unit_of_work(sessions) as session:
        changed = await service.set_tolerances(
            session,
            world.commissioner(),
            world.contract.id,
            tolerances=Tolerances(10, 0, 45, 75),
            actor="account:council",
            clock=clock,
        )
    assert (changed.late_after_minutes, changed.missed_after_minutes) == (10, 45)
    [event] = await _events(sessions, world.contract.id)
    assert event.type == "contract.tolerances_changed"
    assert event.payload["before"]["lateAfterMinutes"] == 15
    assert event.payload["after"] == {
        "lateAfterMinutes": 10,
        "timeCriticalLateAfterMinutes": 0,
        "missedAfterMinutes": 45,
        "minimumStayPercent": 75,
    }


async def test_only_the_contracts_commissioner_or_an_admin_changes_its_terms(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    async def change(scope: AccessScope) -> None:
        async with unit_of_work(sessions) as session:
            await service.set_tolerances(
                session, scope, world.contract.id, tolerances=STANDARD, actor="a", clock=clock
            )

    with pytest.raises(ContractNotFound):  # another commissioner: as if it did not exist
        await change(world.commissioner(world.other_council))
    with pytest.raises(ContractChangeForbidden):  # the provider sees it but may not change it
        await change(world.office())
    await change(AccessScope.system())
    assert [e.type for e in await _events(sessions, world.contract.id)] == [
        "contract.tolerances_changed"
    ]


async def test_a_resolution_outcome_is_added_then_replaced_by_code(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    scope = world.commissioner()
    for label, required in (
        ("Covered by alternative worker", ["alternativeWorker"]),
        ("Covered by alternative worker within X minutes", ["alternativeWorker", "coveredWithin"]),
    ):
        async with unit_of_work(sessions) as session:
            await service.define_resolution_outcome(
                session,
                scope,
                world.contract.id,
                OutcomeSpec("covered_by_alternative_worker", label, required),
                actor="a",
                clock=clock,
            )
    async with read_only(sessions) as session:
        outcome = await service.get_outcome(
            session, scope, world.contract.id, "covered_by_alternative_worker"
        )
        assert outcome.required_fields == ["alternativeWorker", "coveredWithin"]
        assert outcome.label.endswith("within X minutes")
        assert len(await repository.outcomes_for(session, scope, [world.contract.id])) == 1
        with pytest.raises(ResolutionOutcomeNotFound):
            await service.get_outcome(session, scope, world.contract.id, "family_supported")
    events = await _events(sessions, world.contract.id)
    assert [(e.type, e.payload["replaced"]) for e in events] == [
        ("contract.outcome_defined", False),
        ("contract.outcome_defined", True),
    ]


async def test_an_invalid_outcome_is_refused_with_the_field(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    cases = [
        (OutcomeSpec("Covered!", "x"), "code", "INVALID_CODE"),
        (OutcomeSpec("covered", " "), "label", "REQUIRED"),
        (OutcomeSpec("covered", "x", ["covered within"]), "requiredFields[0]", "INVALID_INPUT"),
        (OutcomeSpec("covered", "x", ["worker", "worker"]), "requiredFields[1]", "DUPLICATE"),
    ]
    for spec, field, code in cases:
        with pytest.raises(InvalidInput) as refused:
            async with unit_of_work(sessions) as session:
                await service.define_resolution_outcome(
                    session, world.commissioner(), world.contract.id, spec, actor="a", clock=clock
                )
        assert (refused.value.field, refused.value.code) == (field, code), spec
    assert await _events(sessions, world.contract.id) == []


ON_TIME = KpiSpec(
    code="visits_started_on_time",
    name="Visits started on time",
    source_event_types=["visit.checked_in", "visit.scheduled"],
    quality_rule="check-in within the late tolerance, verified by location",
    exception_rule="no check-in by the late tolerance opens a late-visit case",
    governance_action="registered manager reviews open cases daily; monthly contract meeting",
    target_percent=95.0,
)


async def test_kpi_definitions_round_trip_and_are_replaced_by_code(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    scope = world.commissioner()
    async with unit_of_work(sessions) as session:
        await service.define_kpi(session, scope, world.contract.id, ON_TIME, actor="a", clock=clock)
    async with read_only(sessions) as session:
        [kpi] = await repository.kpis_for(session, scope, [world.contract.id])
    assert (kpi.code, kpi.name, kpi.source_event_types, kpi.target_percent) == (
        ON_TIME.code,
        ON_TIME.name,
        ["visit.checked_in", "visit.scheduled"],
        95.0,
    )
    assert (kpi.quality_rule, kpi.exception_rule, kpi.governance_action) == (
        ON_TIME.quality_rule,
        ON_TIME.exception_rule,
        ON_TIME.governance_action,
    )
    revised = replace(ON_TIME, target_percent=None)
    async with unit_of_work(sessions) as session:
        await service.define_kpi(session, scope, world.contract.id, revised, actor="a", clock=clock)
    async with read_only(sessions) as session:
        [kpi] = await repository.kpis_for(session, scope, [world.contract.id])
        # Another commissioner sees none of it.
        assert (
            await repository.kpis_for(
                session, world.commissioner(world.other_council), [world.contract.id]
            )
            == []
        )
    assert kpi.target_percent is None
    events = await _events(sessions, world.contract.id)
    assert [(e.type, e.payload["replaced"]) for e in events] == [
        ("contract.kpi_defined", False),
        ("contract.kpi_defined", True),
    ]
    assert events[0].payload["sourceEventTypes"] == ["visit.checked_in", "visit.scheduled"]
    assert events[0].payload["governanceAction"] == ON_TIME.governance_action


async def test_an_incomplete_evidence_chain_is_refused(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    cases = [
        (replace(ON_TIME, source_event_types=[]), "sourceEventTypes", "REQUIRED"),
        (
            replace(ON_TIME, source_event_types=["checked in"]),
            "sourceEventTypes[0]",
            "INVALID_INPUT",
        ),
        (replace(ON_TIME, quality_rule=""), "qualityRule", "REQUIRED"),
        (replace(ON_TIME, governance_action=" "), "governanceAction", "REQUIRED"),
        (replace(ON_TIME, target_percent=120.0), "targetPercent", "OUT_OF_RANGE"),
    ]
    for spec, field, code in cases:
        with pytest.raises(InvalidInput) as refused:
            async with unit_of_work(sessions) as session:
                await service.define_kpi(
                    session, world.commissioner(), world.contract.id, spec, actor="a", clock=clock
                )
        assert (refused.value.field, refused.value.code) == (field, code), spec
    assert await _events(sessions, world.contract.id) == []


async def test_status_filters_follow_the_london_date(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    async with unit_of_work(sessions) as session:
        ended = await builders.create_contract(
            session,
            commissioner=world.council,
            provider=world.provider,
            starts_on=date(2024, 1, 1),
            ends_on=date(2026, 11, 22),
        )
        upcoming = await builders.create_contract(
            session,
            commissioner=world.council,
            provider=world.provider,
            starts_on=date(2026, 11, 24),
            service_type=ServiceType.REABLEMENT,
        )
    today = service.today(clock)
    scope = world.commissioner()
    async with read_only(sessions) as session:

        async def ids(**filters: object) -> set[uuid.UUID]:
            rows = await repository.list_page(
                session,
                scope,
                limit=10,
                today=today,
                **filters,  # type: ignore[arg-type]
            )
            return {row.id for row in rows}

        assert await ids(status=ContractStatus.ENDED) == {ended.id}
        assert await ids(status=ContractStatus.UPCOMING) == {upcoming.id}
        assert await ids(status=ContractStatus.ACTIVE) == {world.contract.id}
        assert await ids(service_type=ServiceType.REABLEMENT) == {upcoming.id}
        assert await ids() == {ended.id, upcoming.id, world.contract.id}
