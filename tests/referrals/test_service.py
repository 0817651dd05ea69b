"""Referral service against the real database: receipt (once), triage, decisions, withdrawal,
conversion into a package, the status machine and tenancy."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.models import Role
from hub.contracts.models import Contract
from hub.db.engine import SessionFactory
from hub.db.uow import read_only, unit_of_work
from hub.errors import Conflict, InvalidInput
from hub.events.models import Event
from hub.kit.time import FixedClock
from hub.organisations.models import Organisation, OrganisationKind
from hub.people.models import Person
from hub.referrals import repository, service
from hub.referrals.errors import (
    IllegalReferralTransition,
    PackageDoesNotMatchReferral,
    ReferralClosed,
    ReferralDatasetIncomplete,
    ReferralNotFound,
    ReferralPartyNotFound,
)
from hub.referrals.models import Referral, ReferralSource, ReferralStatus, RiskTier
from hub.referrals.service import REFERRAL_TRANSITIONS, ReferralDecision, check_referral_transition
from hub.tenancy import AccessScope
from tests import builders
from tests.referrals.test_dataset import complete_dataset

R = ReferralStatus


@dataclass
class World:
    provider: Organisation
    other_provider: Organisation
    partner: Organisation
    other_partner: Organisation
    commissioner: Organisation
    contract: Contract
    other_contract: Contract
    person: Person

    def partner_scope(self, organisation: Organisation | None = None) -> AccessScope:
        return AccessScope(Role.PARTNER_CLIENT, (organisation or self.partner).id, None)

    def office(self, organisation: Organisation | None = None) -> AccessScope:
        return AccessScope(Role.COORDINATOR, (organisation or self.provider).id, None)

    def commissioner_scope(self) -> AccessScope:
        return AccessScope(Role.COMMISSIONER, self.commissioner.id, None)


ADMIN = AccessScope.system()


@pytest.fixture
async def world(sessions: SessionFactory) -> World:
    async with unit_of_work(sessions) as session:
        provider = await builders.create_organisation(session, kind=OrganisationKind.PROVIDER)
        other_provider = await builders.create_organisation(session, kind=OrganisationKind.PROVIDER)
        commissioner = await builders.create_organisation(
            session, kind=OrganisationKind.LOCAL_AUTHORITY
        )
        partner = await builders.create_organisation(session, kind=OrganisationKind.REFERRER)
        other_partner = await builders.create_organisation(session, kind=OrganisationKind.REFERRER)
        contract = await builders.create_contract(
            session, commissioner=commissioner, provider=provider
        )
        other_contract = await builders.create_contract(session, provider=other_provider)
        person = await builders.create_person(session)
    return World(
        provider,
        other_provider,
        partner,
        other_partner,
        commissioner,
        contract,
        other_contract,
        person,
    )


async def receive(
    sessions: SessionFactory,
    clock: FixedClock,
    world: World,
    *,
    scope: AccessScope | None = None,
    **overrides: Any,
) -> service.Receipt:
    values: dict[str, Any] = {
        "source": ReferralSource.GP,
        "provider_id": world.provider.id,
        "minimum_dataset": complete_dataset(ReferralSource.GP),
    }
    values.update(overrides)
    async with unit_of_work(sessions) as session:
        return await service.receive_referral(
            session,
            scope=scope or world.partner_scope(),
            actor="client:gp-federation",
            clock=clock,
            **values,
        )


async def events_of(sessions: SessionFactory, subject_id: uuid.UUID) -> list[Event]:
    async with read_only(sessions) as session:
        rows = await session.scalars(
            select(Event).where(Event.subject_id == subject_id).order_by(Event.id)
        )
        return list(rows.all())


async def make_referral(sessions: SessionFactory, world: World, **overrides: Any) -> Referral:
    values: dict[str, Any] = {
        "provider_id": world.provider.id,
        "referrer_organisation_id": world.partner.id,
    }
    values.update(overrides)
    async with unit_of_work(sessions) as session:
        return await builders.create_referral(session, **values)


# --- receipt ----------------------------------------------------------------------------------


async def test_a_partner_referral_is_received_with_its_gaps_listed_and_an_event(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    dataset = complete_dataset(ReferralSource.HOSPITAL_DISCHARGE)
    del dataset["dischargeWard"], dataset["nhsNumber"]
    receipt = await receive(
        sessions,
        clock,
        world,
        source=ReferralSource.HOSPITAL_DISCHARGE,
        minimum_dataset=dataset,
        source_system="discharge-hub",
        source_identifier="D-1001",
    )
    referral = receipt.referral
    assert receipt.created
    assert referral.status is R.RECEIVED
    assert referral.referrer_organisation_id == world.partner.id  # the partner's own
    assert referral.provider_id == world.provider.id
    assert referral.missing_fields == ["nhsNumber", "dischargeWard"]
    assert referral.received_at == clock.now()
    assert referral.reference.startswith("REF-20261123-")
    [event] = await events_of(sessions, referral.id)
    assert (event.type, event.actor, event.occurred_at, event.organisation_id) == (
        "referral.received",
        "client:gp-federation",
        clock.now(),
        world.provider.id,
    )
    assert event.payload["missingFields"] == ["nhsNumber", "dischargeWard"]
    # The event carries no personal data: the dataset stays in the referral.
    assert "Edith" not in str(event.payload)


async def test_a_resent_referral_is_applied_once_and_identifiers_are_checked(
    sessions: SessionFactory, clock: FixedClock, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await receive(sessions, clock, world, source_system="e-rs", source_identifier="UBRN1")
    clock.advance(timedelta(minutes=5))
    again = await receive(
        sessions,
        clock,
        world,
        source_system=" e-rs ",
        source_identifier="UBRN1",
        minimum_dataset={"givenName": "Changed"},
    )
    assert not again.created
    assert again.referral.id == first.referral.id
    assert again.referral.minimum_dataset == complete_dataset(ReferralSource.GP)  # unchanged
    assert again.referral.received_at == first.referral.received_at
    async with read_only(sessions) as session:
        count = await session.scalar(select(func.count()).select_from(Referral))
    assert count == 1
    assert [e.type for e in await events_of(sessions, first.referral.id)] == ["referral.received"]

    # A copy that passed the look-up while the original was still being written (a retry
    # racing its original) meets the unique key, and answers with the original all the same.
    real_lookup = repository.get_by_source
    lookups: list[str] = []

    async def lost_race(
        session: AsyncSession, sender: uuid.UUID | None, system: str, identifier: str
    ) -> Referral | None:
        lookups.append(identifier)
        return None if len(lookups) == 1 else await real_lookup(session, sender, system, identifier)

    monkeypatch.setattr(repository, "get_by_source", lost_race)
    raced = await receive(sessions, clock, world, source_system="e-rs", source_identifier="UBRN1")
    assert lookups == ["UBRN1", "UBRN1"]
    assert (raced.created, raced.referral.id) == (False, first.referral.id)
    monkeypatch.undo()

    # Another sender reusing the identifier makes its own referral: identifiers are scoped to
    # their sender, so the answer cannot tell it that someone else used the identifier.
    theirs = await receive(
        sessions,
        clock,
        world,
        scope=world.partner_scope(world.other_partner),
        source_system="e-rs",
        source_identifier="UBRN1",
    )
    assert theirs.created
    assert theirs.referral.id != first.referral.id
    assert theirs.referral.referrer_organisation_id == world.other_partner.id
    for system, identifier, field in [
        ("e-rs", None, "sourceIdentifier"),
        (None, "UBRN", "sourceSystem"),
        ("  ", "x", "sourceSystem"),
    ]:
        with pytest.raises(InvalidInput) as unpaired:
            await receive(
                sessions, clock, world, source_system=system, source_identifier=identifier
            )
        assert (unpaired.value.field, unpaired.value.code) == (field, "REQUIRED")


async def test_receipt_checks_who_it_is_from_and_to_and_what_it_carries(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    # A partner cannot refer in another organisation's name.
    with pytest.raises(InvalidInput) as refused:
        await receive(sessions, clock, world, referrer_organisation_id=world.other_partner.id)
    assert (refused.value.field, refused.value.code) == (
        "referrerOrganisationId",
        "NOT_YOUR_ORGANISATION",
    )
    # An office receives for itself only.
    with pytest.raises(InvalidInput) as refused:
        await receive(
            sessions, clock, world, scope=world.office(), provider_id=world.other_provider.id
        )
    assert refused.value.field == "providerId"
    # ... and needs not name itself; the referrer is whoever it says.
    receipt = await receive(
        sessions,
        clock,
        world,
        scope=world.office(),
        provider_id=None,
        referrer_organisation_id=world.other_partner.id,
    )
    assert (receipt.referral.provider_id, receipt.referral.referrer_organisation_id) == (
        world.provider.id,
        world.other_partner.id,
    )
    # A partner must say which provider the referral is for.
    with pytest.raises(InvalidInput) as refused:
        await receive(sessions, clock, world, provider_id=None)
    assert refused.value.field == "providerId"
    with pytest.raises(ReferralPartyNotFound, match="no provider organisation"):
        await receive(sessions, clock, world, provider_id=world.partner.id)  # not a provider
    with pytest.raises(ReferralPartyNotFound, match="no provider organisation"):
        await receive(sessions, clock, world, provider_id=uuid.uuid4())
    # Partners cannot see contracts; the provider places the referral at triage.
    with pytest.raises(ReferralPartyNotFound, match=f"no contract {world.contract.id}"):
        await receive(sessions, clock, world, contract_id=world.contract.id)
    # A partner sees only people its organisation has referred.
    with pytest.raises(ReferralPartyNotFound, match=f"no person {world.person.id}"):
        await receive(sessions, clock, world, person_id=world.person.id)
    # The office may name its own contract, not another provider's.
    with pytest.raises(ReferralPartyNotFound):
        await receive(
            sessions, clock, world, scope=world.office(), contract_id=world.other_contract.id
        )
    with pytest.raises(InvalidInput) as refused:
        await receive(
            sessions,
            clock,
            world,
            scope=ADMIN,
            provider_id=world.provider.id,
            contract_id=world.other_contract.id,
        )
    assert refused.value.code == "CONTRACT_PROVIDER_MISMATCH"
    done = await receive(
        sessions,
        clock,
        world,
        scope=ADMIN,
        contract_id=world.contract.id,
        person_id=world.person.id,
    )
    assert (done.referral.contract_id, done.referral.person_id) == (
        world.contract.id,
        world.person.id,
    )
    # A malformed dataset is refused before anything is written.
    with pytest.raises(InvalidInput) as refused:
        await receive(sessions, clock, world, minimum_dataset={"dateofbirth": "1938-05-02"})
    assert refused.value.field == "minimumDataset.dateofbirth"
    async with read_only(sessions) as session:
        assert await session.scalar(select(func.count()).select_from(Referral)) == 2


# --- the status machine -----------------------------------------------------------------------

LEGAL = {
    (R.RECEIVED, R.TRIAGED),
    (R.RECEIVED, R.WITHDRAWN),
    (R.TRIAGED, R.TRIAGED),
    (R.TRIAGED, R.ACCEPTED),
    (R.TRIAGED, R.EXCLUDED),
    (R.TRIAGED, R.WITHDRAWN),
    (R.ACCEPTED, R.CONVERTED),
    (R.ACCEPTED, R.WITHDRAWN),
}
ALL_PAIRS = list(itertools.product(ReferralStatus, ReferralStatus))


def test_the_published_machine_is_exactly_the_legal_moves() -> None:
    assert {(c, t) for c, targets in REFERRAL_TRANSITIONS.items() for t in targets} == LEGAL
    assert {R.EXCLUDED, R.CONVERTED, R.WITHDRAWN} == service.FINAL_STATUSES


@pytest.mark.parametrize(("current", "target"), [p for p in ALL_PAIRS if p not in LEGAL])
def test_every_illegal_move_is_refused_naming_what_is_allowed(
    current: ReferralStatus, target: ReferralStatus
) -> None:
    with pytest.raises(IllegalReferralTransition) as refused:
        check_referral_transition(current, target)
    error = refused.value
    assert isinstance(error, Conflict)
    assert error.code == "ILLEGAL_REFERRAL_TRANSITION"
    assert error.message.startswith(f"a referral in status {current} cannot move to {target}")
    allowed = REFERRAL_TRANSITIONS[current]
    tail = f"{current} is final" if not allowed else f"allowed: {', '.join(allowed)}"
    assert tail in error.message


@pytest.mark.parametrize(
    ("current", "target", "message"),
    [
        (
            R.RECEIVED,
            R.ACCEPTED,
            "a referral in status received cannot move to accepted; allowed: triaged, withdrawn "
            "(a referral is decided only after it has been triaged)",
        ),
        (
            R.TRIAGED,
            R.CONVERTED,
            "a referral in status triaged cannot move to converted; allowed: triaged, accepted, "
            "excluded, withdrawn (only an accepted referral becomes a care package)",
        ),
        (
            R.WITHDRAWN,
            R.WITHDRAWN,
            "a referral in status withdrawn cannot move to withdrawn (it is already withdrawn); "
            "withdrawn is final",
        ),
        (
            R.ACCEPTED,
            R.TRIAGED,
            "a referral in status accepted cannot move to triaged; allowed: converted, withdrawn "
            "(an accepted referral is not triaged again)",
        ),
    ],
)
def test_refusals_explain_themselves(
    current: ReferralStatus, target: ReferralStatus, message: str
) -> None:
    with pytest.raises(IllegalReferralTransition) as refused:
        check_referral_transition(current, target)
    assert refused.value.message == message


async def run_action(
    sessions: SessionFactory, clock: FixedClock, world: World, referral: Referral, action: str
) -> Referral:
    common: dict[str, Any] = {
        "scope": world.office(),
        "actor": "staff:triage",
        "clock": clock,
        "referral_id": referral.id,
    }
    async with unit_of_work(sessions) as session:
        if action == "triage":
            return await service.triage_referral(session, risk_tier=RiskTier.LOW, **common)
        if action in ("accept", "exclude"):
            return await service.decide_referral(
                session, decision=ReferralDecision(action), reason="criteria", **common
            )
        if action == "withdraw":
            return await service.withdraw_referral(session, reason="moved away", **common)
        package = await builders.create_package(session, contract=world.contract)
        return await service.link_package(session, package_id=package.id, **common)


ACTION_TARGET = {
    "triage": R.TRIAGED,
    "accept": R.ACCEPTED,
    "exclude": R.EXCLUDED,
    "withdraw": R.WITHDRAWN,
    "convert": R.CONVERTED,
}


async def test_each_service_action_follows_the_machine_and_leaves_refused_rows_alone(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    outcomes: dict[tuple[ReferralStatus, str], ReferralStatus | str] = {}
    for status, action in itertools.product(ReferralStatus, ACTION_TARGET):
        referral = await make_referral(sessions, world, status=status)
        try:
            moved = await run_action(sessions, clock, world, referral, action)
        except IllegalReferralTransition as refused:
            async with read_only(sessions) as session:
                unchanged = await repository.get(session, ADMIN, referral.id)
            assert unchanged is not None
            assert unchanged.status is status
            outcomes[status, action] = refused.code
        else:
            outcomes[status, action] = moved.status
    assert outcomes == {
        (status, action): (
            ACTION_TARGET[action]
            if (status, ACTION_TARGET[action]) in LEGAL
            else "ILLEGAL_REFERRAL_TRANSITION"
        )
        for status, action in itertools.product(ReferralStatus, ACTION_TARGET)
    }


# --- triage, decisions, amendment, withdrawal, conversion ---------------------------------------


async def test_triage_sets_the_safe_wait_from_the_table_and_may_place_the_contract(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    referral = (await receive(sessions, clock, world)).referral
    async with unit_of_work(sessions) as session:
        triaged = await service.triage_referral(
            session,
            scope=world.office(),
            actor="staff:triage",
            clock=clock,
            referral_id=referral.id,
            risk_tier=RiskTier.MEDIUM,
            contract_id=world.contract.id,
            note="lives alone, recent fall",
        )
    assert (triaged.status, triaged.risk_tier, triaged.maximum_safe_wait_days) == (
        R.TRIAGED,
        RiskTier.MEDIUM,
        7,
    )
    assert triaged.contract_id == world.contract.id
    # Risk rises while waiting: triaged again, the wait shortens.
    async with unit_of_work(sessions) as session:
        again = await service.triage_referral(
            session,
            scope=world.office(),
            actor="staff:triage",
            clock=clock,
            referral_id=referral.id,
            risk_tier=RiskTier.HIGH,
        )
    assert again.maximum_safe_wait_days == 2
    events = await events_of(sessions, referral.id)
    assert [e.type for e in events] == ["referral.received", "referral.triaged", "referral.triaged"]
    assert events[1].payload["safeWaitEndsAt"] == (clock.now() + timedelta(days=7)).isoformat()
    assert events[2].payload["previousRiskTier"] == "medium"
    assert events[2].contract_id == world.contract.id


async def test_decisions_and_withdrawals_need_reasons_and_acceptance_a_complete_dataset(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    referral = await make_referral(
        sessions, world, status=R.TRIAGED, missing_fields=["nhsNumber", "knownRisks"]
    )

    async def decide(decision: ReferralDecision, reason: str) -> Referral:
        async with unit_of_work(sessions) as session:
            return await service.decide_referral(
                session,
                scope=world.office(),
                actor="staff:rm",
                clock=clock,
                referral_id=referral.id,
                decision=decision,
                reason=reason,
            )

    with pytest.raises(InvalidInput) as blank:
        await decide(ReferralDecision.EXCLUDE, "   ")
    assert (blank.value.field, blank.value.code) == ("reason", "REQUIRED")
    with pytest.raises(ReferralDatasetIncomplete) as incomplete:
        await decide(ReferralDecision.ACCEPT, "meets criteria")
    assert incomplete.value.message == (
        "a referral is accepted only with its minimum dataset complete; missing: nhsNumber, "
        "knownRisks"
    )
    excluded = await decide(ReferralDecision.EXCLUDE, "  needs nursing care, not homecare  ")
    assert excluded.status is R.EXCLUDED
    assert excluded.decision_reason == "needs nursing care, not homecare"
    assert excluded.decided_at == clock.now()
    [event] = await events_of(sessions, referral.id)
    assert (event.type, event.actor, event.payload["reason"]) == (
        "referral.excluded",
        "staff:rm",
        "needs nursing care, not homecare",
    )

    # Withdrawal, from any status that is not final, replaces the reason.
    referral = await make_referral(sessions, world, status=R.ACCEPTED)
    async with unit_of_work(sessions) as session:
        withdrawn = await service.withdraw_referral(
            session,
            scope=world.partner_scope(),
            actor="client:gp",
            clock=clock,
            referral_id=referral.id,
            reason="Person moved to another area",
        )
    assert (withdrawn.status, withdrawn.decision_reason) == (
        R.WITHDRAWN,
        "Person moved to another area",
    )
    [event] = await events_of(sessions, referral.id)
    assert event.payload["previousStatus"] == "accepted"


async def test_amending_the_dataset_fills_gaps_and_then_acceptance_passes(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    dataset = complete_dataset(ReferralSource.GP)
    del dataset["knownRisks"]
    referral = (await receive(sessions, clock, world, minimum_dataset=dataset)).referral
    assert referral.missing_fields == ["knownRisks"]

    async def amend(values: dict[str, Any]) -> Referral:
        async with unit_of_work(sessions) as session:
            return await service.amend_dataset(
                session,
                scope=world.partner_scope(),
                actor="client:gp",
                clock=clock,
                referral_id=referral.id,
                values=values,
            )

    amended = await amend({"knownRisks": "none known", "nextOfKin": None, "givenName": "Edie"})
    assert amended.missing_fields == []
    assert amended.minimum_dataset["givenName"] == "Edie"
    removed = await amend({"contactTelephone": None})
    assert removed.missing_fields == ["contactTelephone"]
    assert "contactTelephone" not in removed.minimum_dataset
    with pytest.raises(InvalidInput) as refused:
        await amend({"dateOfBirth": "yesterday"})
    assert refused.value.field == "values.dateOfBirth"
    [*_, last] = await events_of(sessions, referral.id)
    assert last.payload["fields"] == ["contactTelephone"]

    closed = await make_referral(sessions, world, status=R.EXCLUDED)
    with pytest.raises(ReferralClosed):
        async with unit_of_work(sessions) as session:
            await service.amend_dataset(
                session,
                scope=world.partner_scope(),
                actor="client:gp",
                clock=clock,
                referral_id=closed.id,
                values={"knownRisks": "falls"},
            )


async def test_linking_a_package_converts_and_only_a_matching_package_will_do(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    referral = await make_referral(sessions, world, status=R.ACCEPTED)
    async with unit_of_work(sessions) as session:
        package = await builders.create_package(
            session, contract=world.contract, person=world.person
        )
    async with unit_of_work(sessions) as session:
        converted = await service.link_package(
            session,
            scope=world.office(),
            actor="staff:coordinator",
            clock=clock,
            referral_id=referral.id,
            package_id=package.id,
        )
    assert converted.status is R.CONVERTED
    assert (converted.package_id, converted.person_id, converted.contract_id) == (
        package.id,
        world.person.id,
        world.contract.id,
    )
    [event] = await events_of(sessions, referral.id)
    assert (event.type, event.payload["packageId"], event.person_id) == (
        "referral.converted",
        str(package.id),
        world.person.id,
    )

    # A referral already tied to a person takes only that person's package from its provider.
    referral = await make_referral(sessions, world, status=R.ACCEPTED, person_id=world.person.id)
    async with unit_of_work(sessions) as session:
        someone_else = await builders.create_package(session, contract=world.contract)
        other_provider = await builders.create_package(
            session, contract=world.other_contract, person=world.person
        )

    async def link(package_id: uuid.UUID, scope: AccessScope) -> Referral:
        async with unit_of_work(sessions) as session:
            return await service.link_package(
                session,
                scope=scope,
                actor="staff:coordinator",
                clock=clock,
                referral_id=referral.id,
                package_id=package_id,
            )

    with pytest.raises(PackageDoesNotMatchReferral, match="another person"):
        await link(someone_else.id, world.office())
    # Another provider's package is invisible to the office ...
    with pytest.raises(ReferralPartyNotFound, match=f"no care package {other_provider.id}"):
        await link(other_provider.id, world.office())
    # ... and refused for an admin, who can see it.
    with pytest.raises(PackageDoesNotMatchReferral, match="another provider"):
        await link(other_provider.id, ADMIN)
    with pytest.raises(ReferralPartyNotFound):
        await link(uuid.uuid4(), world.office())


# --- tenancy ----------------------------------------------------------------------------------


async def test_each_caller_sees_only_its_referrals_in_lists_filtered_and_paged(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    mine = await make_referral(sessions, world, contract_id=world.contract.id)
    theirs = await make_referral(
        sessions,
        world,
        referrer_organisation_id=world.other_partner.id,
        provider_id=world.other_provider.id,
    )

    async def visible(scope: AccessScope) -> set[uuid.UUID]:
        async with read_only(sessions) as session:
            rows = await repository.list_page(session, scope, limit=10)
            by_id = {r.id for r in (mine, theirs) if await repository.get(session, scope, r.id)}
        assert {r.id for r in rows} == by_id
        return by_id

    assert await visible(world.partner_scope()) == {mine.id}
    assert await visible(world.partner_scope(world.other_partner)) == {theirs.id}
    assert await visible(world.office()) == {mine.id}
    assert await visible(world.office(world.other_provider)) == {theirs.id}
    assert await visible(world.commissioner_scope()) == {mine.id}
    assert await visible(AccessScope(Role.CARER, world.provider.id, None)) == set()
    assert await visible(ADMIN) == {mine.id, theirs.id}

    # Another partner's referral cannot be moved either: it is simply not there.
    with pytest.raises(ReferralNotFound):
        async with unit_of_work(sessions) as session:
            await service.withdraw_referral(
                session,
                scope=world.partner_scope(world.other_partner),
                actor="client:other",
                clock=clock,
                referral_id=mine.id,
                reason="not mine",
            )

    # The partner's worklist: oldest first, a page at a time, filtered.
    start = clock.now()
    made = []
    for n, (source, status) in enumerate(
        [
            (ReferralSource.GP, R.RECEIVED),
            (ReferralSource.SELF, R.TRIAGED),
            (ReferralSource.GP, R.TRIAGED),
            (ReferralSource.HOSPITAL_DISCHARGE, R.RECEIVED),
        ]
    ):
        made.append(
            await make_referral(
                sessions,
                world,
                source=source,
                status=status,
                received_at=start - timedelta(hours=10 - n),
            )
        )
    partner = world.partner_scope()
    async with read_only(sessions) as session:
        first = await repository.list_page(session, partner, limit=2)
        rest = await repository.list_page(
            session, partner, limit=10, after=(first[-1].received_at, first[-1].id)
        )
        gp_triaged = await repository.list_page(
            session, partner, limit=10, sources=[ReferralSource.GP], statuses=[R.TRIAGED]
        )
    assert [r.id for r in [*first, *rest]] == [mine.id, *(r.id for r in made)]
    assert [r.id for r in gp_triaged] == [made[2].id]
