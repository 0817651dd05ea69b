"""Change request service against the real database: proposal checks, every move recorded as a
decision and an event, approval by the right party only, no effect without approval, tenancy."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select

from hub.accounts.models import Role
from hub.change_requests import repository, service
from hub.change_requests.errors import (
    ChangeNotApproved,
    ChangeRequestNotFound,
    ChangeRequestPartyNotFound,
    IllegalChangeRequestTransition,
    NotChangeApprover,
)
from hub.change_requests.lifecycle import (
    CHANGE_REQUEST_TRANSITIONS,
    ChangeRequestKind,
    ChangeRequestStatus,
)
from hub.change_requests.models import ChangeDecision, ChangeRequest
from hub.contracts.models import Contract
from hub.db.engine import SessionFactory
from hub.db.uow import read_only, unit_of_work
from hub.errors import HubError, InvalidInput
from hub.events.models import Event
from hub.kit.time import FixedClock
from hub.organisations.models import Organisation, OrganisationKind
from hub.packages.models import CarePackage
from hub.tenancy import AccessScope
from tests import builders

K = ChangeRequestKind
S = ChangeRequestStatus
ADMIN = AccessScope.system()


@dataclass
class World:
    provider: Organisation
    other_provider: Organisation
    commissioner: Organisation
    other_commissioner: Organisation
    supplier: Organisation
    other_supplier: Organisation
    contract: Contract
    other_contract: Contract
    package: CarePackage
    other_package: CarePackage

    @staticmethod
    def scope(role: Role, organisation: Organisation) -> AccessScope:
        return AccessScope(role, organisation.id, None)

    @property
    def coordinator(self) -> AccessScope:
        return self.scope(Role.COORDINATOR, self.provider)

    @property
    def manager(self) -> AccessScope:
        return self.scope(Role.REGISTERED_MANAGER, self.provider)

    @property
    def commissioning(self) -> AccessScope:
        return self.scope(Role.COMMISSIONER, self.commissioner)

    @property
    def supplying(self) -> AccessScope:
        return self.scope(Role.SUPPLIER_CLIENT, self.supplier)


@pytest.fixture
async def world(sessions: SessionFactory) -> World:
    async with unit_of_work(sessions) as session:
        provider = await builders.create_organisation(session, kind=OrganisationKind.PROVIDER)
        other_provider = await builders.create_organisation(session, kind=OrganisationKind.PROVIDER)
        commissioner = await builders.create_organisation(
            session, kind=OrganisationKind.LOCAL_AUTHORITY
        )
        other_commissioner = await builders.create_organisation(session, kind=OrganisationKind.ICB)
        supplier = await builders.create_organisation(session, kind=OrganisationKind.SUPPLIER)
        other_supplier = await builders.create_organisation(session, kind=OrganisationKind.SUPPLIER)
        contract = await builders.create_contract(
            session, commissioner=commissioner, provider=provider
        )
        other_contract = await builders.create_contract(
            session, commissioner=other_commissioner, provider=other_provider
        )
        package = await builders.create_package(session, contract=contract)
        other_package = await builders.create_package(session, contract=other_contract)
    return World(
        provider,
        other_provider,
        commissioner,
        other_commissioner,
        supplier,
        other_supplier,
        contract,
        other_contract,
        package,
        other_package,
    )


async def propose(
    sessions: SessionFactory, clock: FixedClock, scope: AccessScope, **overrides: Any
) -> ChangeRequest:
    values: dict[str, Any] = {
        "kind": K.SUPPLIER_SOFTWARE_UPDATE,
        "title": "Task confirmation screen redesign",
        "description": "Release 4.2 changes how carers confirm tasks on the phone",
    }
    values.update(overrides)
    async with unit_of_work(sessions) as session:
        return await service.propose(session, scope=scope, actor="staff:cm", clock=clock, **values)


async def step(
    sessions: SessionFactory,
    clock: FixedClock,
    scope: AccessScope,
    change: ChangeRequest,
    action: str,
    **overrides: Any,
) -> ChangeRequest:
    """One service call by name, in its own unit of work, as `scope`."""
    common: dict[str, Any] = {
        "scope": scope,
        "actor": f"{scope.role.value}:{scope.organisation_id}",
        "clock": clock,
        "change_request_id": change.id,
    }
    async with unit_of_work(sessions) as session:
        if action == "assess":
            values: dict[str, Any] = {
                "capacity_impact": "2 hours a week of supervisor time",
                "risk_impact": "recording inconsistencies in the first weeks",
                "cost_impact_pence": 0,
            }
            return await service.assess(session, **common, **(values | overrides))
        if action in ("approve", "reject"):
            note = overrides.get("note", "not now" if action == "reject" else None)
            return await service.decide(session, **common, approve=action == "approve", note=note)
        if action == "implement":
            return await service.mark_implemented(
                session, **common, effective_from=overrides.get("effective_from", date(2026, 12, 1))
            )
        return await service.review(
            session,
            **common,
            assurance_plan=overrides.get("assurance_plan", "two weeks of spot checks"),
            note=overrides.get("note"),
        )


async def decisions_of(sessions: SessionFactory, change_id: uuid.UUID) -> list[ChangeDecision]:
    async with read_only(sessions) as session:
        return list(await repository.decisions_for(session, ADMIN, [change_id]))


async def events_of(sessions: SessionFactory, change_id: uuid.UUID) -> list[Event]:
    async with read_only(sessions) as session:
        rows = await session.scalars(
            select(Event).where(Event.subject_id == change_id).order_by(Event.id)
        )
        return list(rows.all())


async def test_a_change_goes_through_its_whole_life_with_every_decision_recorded(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    change = await propose(
        sessions,
        clock,
        world.coordinator,
        contract_id=world.contract.id,
        affected_package_ids=[world.package.id, world.package.id],
        affected_workflows=["task confirmation", " ", "task confirmation", "eMAR"],
        note="supplier notice received 20 Nov",
    )
    assert change.status is S.PROPOSED
    assert change.raised_by_organisation_id == world.provider.id
    assert change.affected_package_ids == [world.package.id]
    assert change.affected_workflows == ["task confirmation", "eMAR"]
    assert change.reference.startswith("CR-20261123-")

    clock.current = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    assessed = await step(sessions, clock, world.coordinator, change, "assess", note="sized")
    assert (assessed.capacity_impact, assessed.cost_impact_pence) == (
        "2 hours a week of supervisor time",
        0,
    )
    clock.current = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
    await step(sessions, clock, world.manager, change, "approve", note="go ahead")
    clock.current = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    implemented = await step(
        sessions, clock, world.coordinator, change, "implement", effective_from=date(2026, 11, 26)
    )
    assert implemented.effective_from == date(2026, 11, 26)
    clock.current = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
    reviewed = await step(
        sessions,
        clock,
        world.coordinator,
        change,
        "review",
        assurance_plan="supervisor spot checks for two weeks",
        note="recording accuracy back to baseline",
    )
    assert reviewed.status is S.REVIEWED
    assert reviewed.assurance_plan == "supervisor spot checks for two weeks"

    coordinator = f"coordinator:{world.provider.id}"
    manager = f"registered_manager:{world.provider.id}"
    decisions = await decisions_of(sessions, change.id)
    assert [
        (d.from_status, d.to_status, d.decided_by, d.decided_at, d.note) for d in decisions
    ] == [
        (
            None,
            S.PROPOSED,
            "staff:cm",
            datetime(2026, 11, 23, 9, tzinfo=UTC),
            "supplier notice received 20 Nov",
        ),
        (S.PROPOSED, S.ASSESSED, coordinator, datetime(2026, 11, 24, 10, tzinfo=UTC), "sized"),
        (S.ASSESSED, S.APPROVED, manager, datetime(2026, 11, 25, 16, tzinfo=UTC), "go ahead"),
        (S.APPROVED, S.IMPLEMENTED, coordinator, datetime(2026, 11, 26, 8, tzinfo=UTC), None),
        (
            S.IMPLEMENTED,
            S.REVIEWED,
            coordinator,
            datetime(2026, 12, 10, 12, tzinfo=UTC),
            "recording accuracy back to baseline",
        ),
    ]
    events = await events_of(sessions, change.id)
    assert [(e.type, e.actor, e.occurred_at) for e in events] == [
        (f"change_request.{d.to_status.value}", d.decided_by, d.decided_at) for d in decisions
    ]
    assert {(e.organisation_id, e.contract_id) for e in events} == {
        (world.provider.id, world.contract.id)
    }
    assert events[2].payload["fromStatus"] == "assessed"
    assert events[3].payload["effectiveFrom"] == "2026-11-26"


async def test_a_proposal_names_only_what_the_caller_can_see(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    async def refused(scope: AccessScope, **overrides: Any) -> HubError:
        with pytest.raises(HubError) as caught:
            await propose(sessions, clock, scope, **overrides)
        return caught.value

    error = await refused(world.coordinator, kind=K.CONTRACT_VARIATION)
    assert isinstance(error, InvalidInput)
    assert (error.field, error.reason) == (
        "contractId",
        "a contract variation names the contract it changes",
    )
    error = await refused(world.coordinator, contract_id=world.other_contract.id)
    assert isinstance(error, ChangeRequestPartyNotFound)
    assert error.message == f"contractId: no contract {world.other_contract.id}"
    error = await refused(
        world.coordinator, affected_package_ids=[world.package.id, world.other_package.id]
    )
    assert isinstance(error, ChangeRequestPartyNotFound)
    assert error.message == f"affectedPackageIds: no care package {world.other_package.id}"
    # A supplier sees no packages or contracts: it names neither.
    error = await refused(world.supplying, affected_package_ids=[world.package.id])
    assert isinstance(error, ChangeRequestPartyNotFound)
    error = await refused(
        ADMIN,
        raised_by_organisation_id=world.provider.id,
        contract_id=world.contract.id,
        affected_package_ids=[world.other_package.id],
    )
    assert isinstance(error, InvalidInput)
    assert error.code == "PACKAGE_NOT_ON_CONTRACT"
    error = await refused(ADMIN)
    assert isinstance(error, InvalidInput)
    assert error.field == "raisedByOrganisationId"
    error = await refused(world.supplying, raised_by_organisation_id=world.other_supplier.id)
    assert isinstance(error, InvalidInput)
    assert error.code == "NOT_YOUR_ORGANISATION"
    error = await refused(world.supplying, title="  ")
    assert isinstance(error, InvalidInput)
    assert (error.field, error.code) == ("title", "REQUIRED")

    by_supplier = await propose(sessions, clock, world.supplying)
    assert by_supplier.raised_by_organisation_id == world.supplier.id
    by_admin = await propose(sessions, clock, ADMIN, raised_by_organisation_id=world.supplier.id)
    assert by_admin.raised_by_organisation_id == world.supplier.id


async def test_assessment_needs_capacity_risk_and_cost(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    change = await propose(sessions, clock, world.coordinator)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"capacity_impact": " "}, "capacityImpact"),
        ({"risk_impact": ""}, "riskImpact"),
        ({"cost_impact_pence": 2**31}, "costImpactPence"),
    ]
    for overrides, field in cases:
        with pytest.raises(InvalidInput) as refused:
            await step(sessions, clock, world.coordinator, change, "assess", **overrides)
        assert refused.value.field == field
    saving = await step(
        sessions, clock, world.coordinator, change, "assess", cost_impact_pence=-150_00
    )
    assert saving.cost_impact_pence == -15000
    assert [d.to_status for d in await decisions_of(sessions, change.id)] == [
        S.PROPOSED,
        S.ASSESSED,
    ]


ACTIONS = {
    "assess": S.ASSESSED,
    "approve": S.APPROVED,
    "reject": S.REJECTED,
    "implement": S.IMPLEMENTED,
    "review": S.REVIEWED,
}


async def test_every_move_follows_the_lifecycle_and_nothing_takes_effect_unapproved(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    outcomes: dict[tuple[ChangeRequestStatus, str], str] = {}
    for status, action in itertools.product(ChangeRequestStatus, ACTIONS):
        async with unit_of_work(sessions) as session:
            change = await builders.create_change_request(
                session,
                raised_by=world.provider,
                status=status,
                assurance_plan="spot checks",
            )
        try:
            moved = await step(sessions, clock, ADMIN, change, action)
        except (IllegalChangeRequestTransition, ChangeNotApproved) as refused:
            outcomes[status, action] = refused.code
            assert await decisions_of(sessions, change.id) == []
            assert await events_of(sessions, change.id) == []
        else:
            outcomes[status, action] = moved.status.value
            [decision] = await decisions_of(sessions, change.id)
            assert (decision.from_status, decision.to_status) == (status, moved.status)
    expected: dict[tuple[ChangeRequestStatus, str], str] = {}
    for status, action in itertools.product(ChangeRequestStatus, ACTIONS):
        target = ACTIONS[action]
        if target in CHANGE_REQUEST_TRANSITIONS[status]:
            expected[status, action] = target.value
        elif action == "implement" and status in (S.PROPOSED, S.ASSESSED, S.REJECTED):
            expected[status, action] = "CHANGE_NOT_APPROVED"
        else:
            expected[status, action] = "ILLEGAL_CHANGE_REQUEST_TRANSITION"
    assert outcomes == expected


async def test_refusals_say_why(sessions: SessionFactory, clock: FixedClock, world: World) -> None:
    async with unit_of_work(sessions) as session:
        proposed = await builders.create_change_request(
            session, raised_by=world.provider, kind=K.CONTRACT_VARIATION
        )
        rejected = await builders.create_change_request(
            session, raised_by=world.provider, status=S.REJECTED
        )
    with pytest.raises(IllegalChangeRequestTransition) as early:
        await step(sessions, clock, ADMIN, proposed, "approve")
    assert early.value.message == (
        "a change request in status proposed cannot move to approved; allowed: assessed "
        "(a change is decided only after its impact is assessed)"
    )
    with pytest.raises(ChangeNotApproved) as unapproved:
        await step(sessions, clock, ADMIN, proposed, "implement")
    assert unapproved.value.message == (
        "a contract variation cannot take effect while proposed; it must be approved first"
    )
    with pytest.raises(ChangeNotApproved) as was_rejected:
        await step(sessions, clock, ADMIN, rejected, "implement")
    assert was_rejected.value.message == (
        "a supplier software update that was rejected cannot take effect"
    )


async def test_only_the_right_party_decides_each_kind(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    async with unit_of_work(sessions) as session:

        async def assessed(kind: ChangeRequestKind, **overrides: Any) -> ChangeRequest:
            return await builders.create_change_request(
                session, kind=kind, status=S.ASSESSED, **overrides
            )

        variation = await assessed(
            K.CONTRACT_VARIATION, raised_by=world.commissioner, contract_id=world.contract.id
        )
        amendment = await assessed(
            K.COMMISSIONER_AMENDMENT, raised_by=world.commissioner, contract_id=world.contract.id
        )
        update = await assessed(
            K.SUPPLIER_SOFTWARE_UPDATE, raised_by=world.provider, contract_id=world.contract.id
        )
        uncontracted = await assessed(K.SUPPLIER_SOFTWARE_UPDATE, raised_by=world.provider)
        suppliers_own = await assessed(K.SUPPLIER_SOFTWARE_UPDATE, raised_by=world.supplier)

    async def outcome(scope: AccessScope, change: ChangeRequest) -> str:
        async with unit_of_work(sessions) as session:
            allowed = await service.can_decide(session, scope, change)
        try:
            await step(sessions, clock, scope, change, "reject", note="checking the rule")
        except HubError as error:
            assert not allowed
            return error.code
        assert allowed
        # Put it back for the next caller (a builder write, not a service move).
        async with unit_of_work(sessions) as session:
            row = await session.get(ChangeRequest, change.id)
            assert row is not None
            row.status = S.ASSESSED
        return "decided"

    commissioner = world.commissioning
    other_commissioner = World.scope(Role.COMMISSIONER, world.other_commissioner)
    manager = world.manager
    coordinator = world.coordinator
    other_manager = World.scope(Role.REGISTERED_MANAGER, world.other_provider)
    assert [
        await outcome(commissioner, variation),
        await outcome(commissioner, amendment),
        await outcome(manager, variation),
        await outcome(other_commissioner, variation),
        await outcome(ADMIN, variation),
    ] == ["decided", "decided", "NOT_CHANGE_APPROVER", "CHANGE_REQUEST_NOT_FOUND", "decided"]
    assert [
        await outcome(manager, update),
        await outcome(coordinator, update),
        await outcome(commissioner, update),
        await outcome(other_manager, update),
        await outcome(manager, uncontracted),
        await outcome(ADMIN, suppliers_own),
        await outcome(world.supplying, suppliers_own),
    ] == [
        "decided",
        "NOT_CHANGE_APPROVER",
        "NOT_CHANGE_APPROVER",
        "CHANGE_REQUEST_NOT_FOUND",
        "decided",
        "decided",
        "NOT_CHANGE_APPROVER",
    ]
    with pytest.raises(NotChangeApprover) as refused:
        await step(sessions, clock, manager, variation, "approve")
    assert refused.value.message == (
        "a contract variation is approved or rejected by the commissioner of its contract "
        "(or an admin)"
    )
    with pytest.raises(InvalidInput) as no_reason:
        await step(sessions, clock, commissioner, variation, "reject", note=" ")
    assert no_reason.value.field == "note"


async def test_a_change_takes_effect_no_earlier_than_its_approval_and_is_reviewed_with_a_plan(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    change = await propose(sessions, clock, world.coordinator)
    await step(sessions, clock, world.coordinator, change, "assess")
    clock.current = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)  # 30 Nov in London (GMT)
    await step(sessions, clock, world.manager, change, "approve")
    with pytest.raises(InvalidInput) as backdated:
        await step(
            sessions,
            clock,
            world.coordinator,
            change,
            "implement",
            effective_from=date(2026, 11, 29),
        )
    assert (backdated.value.field, backdated.value.code) == (
        "effectiveFrom",
        "EFFECTIVE_BEFORE_APPROVAL",
    )
    assert "2026-11-30" in backdated.value.reason
    await step(
        sessions, clock, world.coordinator, change, "implement", effective_from=date(2026, 11, 30)
    )
    with pytest.raises(InvalidInput) as no_plan:
        await step(sessions, clock, world.coordinator, change, "review", assurance_plan=None)
    assert no_plan.value.field == "assurancePlan"
    reviewed = await step(sessions, clock, world.coordinator, change, "review")
    assert reviewed.assurance_plan == "two weeks of spot checks"


async def test_each_caller_sees_only_its_change_requests(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    async with unit_of_work(sessions) as session:
        from_supplier = await builders.create_change_request(session, raised_by=world.supplier)
        variation = await builders.create_change_request(
            session,
            raised_by=world.commissioner,
            kind=K.CONTRACT_VARIATION,
            contract_id=world.contract.id,
        )
        elsewhere = await builders.create_change_request(
            session, raised_by=world.other_provider, contract_id=world.other_contract.id
        )
    for change in (from_supplier, variation, elsewhere):
        await step(sessions, clock, ADMIN, change, "assess")
    every = {from_supplier.id, variation.id, elsewhere.id}

    async def visible(scope: AccessScope) -> set[uuid.UUID]:
        async with read_only(sessions) as session:
            listed = {c.id for c in await repository.list_page(session, scope, limit=10)}
            by_id = {i for i in every if await repository.get(session, scope, i) is not None}
            with_decisions = {
                d.change_request_id
                for d in await repository.decisions_for(session, scope, list(every))
            }
        assert listed == by_id == with_decisions
        return listed

    assert await visible(world.supplying) == {from_supplier.id}
    assert await visible(World.scope(Role.SUPPLIER_CLIENT, world.other_supplier)) == set()
    assert await visible(world.coordinator) == {variation.id}
    assert await visible(world.commissioning) == {variation.id}
    assert await visible(World.scope(Role.COORDINATOR, world.other_provider)) == {elsewhere.id}
    assert await visible(ADMIN) == every
    with pytest.raises(ChangeRequestNotFound):
        await step(
            sessions,
            clock,
            World.scope(Role.SUPPLIER_CLIENT, world.other_supplier),
            from_supplier,
            "implement",
        )

    async with read_only(sessions) as session:
        variations = await repository.list_page(session, ADMIN, limit=10, kind=K.CONTRACT_VARIATION)
        on_contract = await repository.list_page(
            session, ADMIN, limit=10, contract_id=world.contract.id, status=S.ASSESSED
        )
        first = await repository.list_page(session, ADMIN, limit=2)
        rest = await repository.list_page(
            session, ADMIN, limit=10, after=(first[-1].created_at, first[-1].id)
        )
    assert [c.id for c in variations] == [variation.id]
    assert [c.id for c in on_contract] == [variation.id]
    assert {c.id for c in [*first, *rest]} == every
    assert len([*first, *rest]) == 3
