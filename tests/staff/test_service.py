"""The staff service and repository against PostgreSQL: registration and TUPE rules, competency
evidence (validation, replace-in-place, events), expiry by date in Python and in SQL, tenancy,
and the carers handed to the assignment gate."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.models import Role
from hub.db.engine import SessionFactory
from hub.db.uow import read_only, unit_of_work
from hub.errors import Forbidden, HubError, InvalidInput
from hub.events.log import events_for_subject
from hub.kit.time import FixedClock
from hub.organisations.errors import OrganisationNotFound
from hub.organisations.models import Organisation, OrganisationKind
from hub.staff import repository, service
from hub.staff.competency import (
    CompetencyStatus,
    RefusalCode,
    TaskRequirement,
    VisitRequirements,
    check_assignment,
)
from hub.staff.errors import (
    DuplicateStaffExternalId,
    NotYourOrganisation,
    StaffInactive,
    StaffNotFound,
    StaffNotYetTransferred,
)
from hub.staff.models import Competency, StaffMember, StaffRole
from hub.tenancy import AccessScope
from tests import builders

TODAY = date(2026, 11, 23)  # the `clock` fixture's London date
ADMIN = AccessScope.system()


def office(organisation: Organisation) -> AccessScope:
    return AccessScope(Role.COORDINATOR, organisation.id, None)


def carer_scope(staff: StaffMember) -> AccessScope:
    return AccessScope(Role.CARER, staff.organisation_id, staff.id)


async def arrange(sessions: SessionFactory) -> dict[str, Any]:
    """Two providers (one the TUPE incumbent), a local authority, and a carer at each provider."""
    async with unit_of_work(sessions) as session:
        provider = await builders.create_organisation(session, name="Riverside Homecare")
        incumbent = await builders.create_organisation(session, name="Oldtown Care")
        council = await builders.create_organisation(
            session, kind=OrganisationKind.LOCAL_AUTHORITY, name="Northvale Council"
        )
        carer = await builders.create_staff(
            session, organisation=provider, given_name="Asha", family_name="Begum"
        )
        foreign = await builders.create_staff(
            session, organisation=incumbent, given_name="Tom", family_name="Hale"
        )
    return {
        "provider": provider,
        "incumbent": incumbent,
        "council": council,
        "carer": carer,
        "foreign": foreign,
    }


async def add_competency(
    session: AsyncSession, staff: StaffMember, code: str, status: CompetencyStatus, **kw: Any
) -> Competency:
    values: dict[str, Any] = {
        "evidence_reference": "EV-1",
        "assessed_by": "Training lead",
        "assessed_on": date(2026, 1, 10),
        "expires_on": date(2027, 1, 10),
    }
    values.update(kw)
    row = Competency(staff_id=staff.id, code=code, status=status, **values)
    session.add(row)
    await session.flush()
    return row


async def register(
    sessions: SessionFactory, clock: FixedClock, scope: AccessScope, **kw: Any
) -> StaffMember:
    values: dict[str, Any] = {
        "organisation_id": None,
        "given_name": "Priya",
        "family_name": "Shah",
        "role": StaffRole.CARER,
    }
    values.update(kw)
    async with unit_of_work(sessions) as session:
        return await service.register_staff(
            session, scope, actor="test:office", clock=clock, **values
        )


async def record(
    sessions: SessionFactory, clock: FixedClock, scope: AccessScope, staff_id: uuid.UUID, **kw: Any
) -> Competency:
    values: dict[str, Any] = {
        "competence": "medication",
        "status": CompetencyStatus.EVIDENCED,
        "evidence_reference": "MED-CERT-17",
        "assessed_by": "Senior carer J. Okafor",
        "assessed_on": date(2026, 11, 2),
        "expires_on": date(2027, 11, 1),
    }
    values.update(kw)
    async with unit_of_work(sessions) as session:
        return await service.record_competency_evidence(
            session, scope, staff_id=staff_id, actor="test:office", clock=clock, **values
        )


def invalid(error: pytest.ExceptionInfo[InvalidInput], field: str, code: str) -> str:
    assert (error.value.field, error.value.code) == (field, code), error.value.message
    return error.value.reason


# --- register_staff ----------------------------------------------------------------------------


async def test_office_registers_staff_for_their_own_organisation_and_an_event_is_recorded(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    world = await arrange(sessions)
    staff = await register(
        sessions, clock, office(world["provider"]), given_name="  Priya ", family_name="Shah"
    )
    assert (staff.organisation_id, staff.given_name, staff.active) == (
        world["provider"].id,
        "Priya",
        True,
    )
    async with read_only(sessions) as session:
        events = await events_for_subject(session, "staff_member", staff.id)
    assert [e.type for e in events] == ["staff.registered"]
    assert events[0].organisation_id == world["provider"].id
    assert events[0].actor == "test:office"
    assert events[0].payload["role"] == "carer"
    # Names are personal data; the append-only log keeps only the id.
    assert "Priya" not in str(events[0].payload)


async def test_a_tupe_transferee_names_the_incumbent_and_the_transfer_date(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    world = await arrange(sessions)
    staff = await register(
        sessions,
        clock,
        ADMIN,
        organisation_id=world["provider"].id,
        tupe_origin_id=world["incumbent"].id,
        tupe_transferred_on=date(2026, 12, 1),
    )
    assert (staff.tupe_origin_id, staff.tupe_transferred_on) == (
        world["incumbent"].id,
        date(2026, 12, 1),
    )


async def test_registration_input_is_validated(sessions: SessionFactory, clock: FixedClock) -> None:
    world = await arrange(sessions)
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"given_name": "   "}, "givenName", "REQUIRED"),
        ({"family_name": "x" * 101}, "familyName", "TOO_LONG"),
        ({"tupe_transferred_on": date(2026, 12, 1)}, "tupeOriginId", "REQUIRED"),
        ({"external_id": "CM-1"}, "externalSource", "REQUIRED"),
    ]
    for kw, field, code in cases:
        with pytest.raises(InvalidInput) as error:
            await register(sessions, clock, office(world["provider"]), **kw)
        invalid(error, field, code)


async def test_the_employer_must_be_a_provider(sessions: SessionFactory, clock: FixedClock) -> None:
    world = await arrange(sessions)
    with pytest.raises(InvalidInput) as error:
        await register(sessions, clock, ADMIN, organisation_id=world["council"].id)
    assert "Northvale Council is a local authority" in invalid(
        error, "organisationId", "NOT_A_PROVIDER"
    )


async def test_an_admin_must_say_which_provider_employs_them(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    await arrange(sessions)
    with pytest.raises(InvalidInput) as error:
        await register(sessions, clock, ADMIN)
    invalid(error, "organisationId", "REQUIRED")


async def test_office_cannot_register_staff_for_another_organisation(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    world = await arrange(sessions)
    with pytest.raises(NotYourOrganisation):
        await register(
            sessions, clock, office(world["provider"]), organisation_id=world["incumbent"].id
        )


async def test_a_carer_cannot_register_staff(sessions: SessionFactory, clock: FixedClock) -> None:
    world = await arrange(sessions)
    with pytest.raises(Forbidden):
        await register(sessions, clock, carer_scope(world["carer"]))


async def test_tupe_origin_must_exist_and_differ_from_the_employer(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    world = await arrange(sessions)
    scope = office(world["provider"])
    with pytest.raises(InvalidInput) as error:
        await register(
            sessions,
            clock,
            scope,
            tupe_origin_id=world["provider"].id,
            tupe_transferred_on=date(2026, 12, 1),
        )
    invalid(error, "tupeOriginId", "TUPE_ORIGIN_IS_EMPLOYER")
    with pytest.raises(OrganisationNotFound):
        await register(
            sessions, clock, scope, tupe_origin_id=uuid.uuid4(), tupe_transferred_on=TODAY
        )
    with pytest.raises(InvalidInput) as error:
        await register(sessions, clock, scope, tupe_origin_id=world["incumbent"].id)
    invalid(error, "tupeTransferredOn", "REQUIRED")


async def test_a_supplier_id_names_one_staff_record(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    world = await arrange(sessions)
    scope = office(world["provider"])
    await register(sessions, clock, scope, external_source="carematch", external_id="CM-1")
    with pytest.raises(DuplicateStaffExternalId):
        await register(sessions, clock, scope, external_source="carematch", external_id="CM-1")


# --- record_competency_evidence ----------------------------------------------------------------


async def test_recording_evidence_creates_then_replaces_one_record_with_events(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    world = await arrange(sessions)
    scope = office(world["provider"])
    carer = world["carer"]
    first = await record(sessions, clock, scope, carer.id, status=CompetencyStatus.RESTRICTED)
    second = await record(
        sessions, clock, scope, carer.id, status=CompetencyStatus.REVALIDATED, assessed_by="RM"
    )
    assert second.id == first.id
    async with read_only(sessions) as session:
        rows = await repository.competencies_of(session, ADMIN, [carer.id])
        events = await events_for_subject(session, "staff_member", carer.id)
    assert [(r.code, r.status, r.assessed_by) for r in rows] == [
        ("medication", CompetencyStatus.REVALIDATED, "RM")
    ]
    assert [e.type for e in events] == ["competency.recorded", "competency.recorded"]
    assert events[0].payload["previous"] is None
    assert events[1].payload["previous"]["status"] == "restricted"
    assert events[1].payload | {"previous": None} == {
        "competencyId": str(first.id),
        "competence": "medication",
        "status": "revalidated",
        "effectiveStatus": "revalidated",
        "evidenceReference": "MED-CERT-17",
        "assessedBy": "RM",
        "assessedOn": "2026-11-02",
        "expiresOn": "2027-11-01",
        "previous": None,
    }
    assert events[1].organisation_id == world["provider"].id


async def test_a_contract_specific_competence_is_accepted_but_not_a_malformed_code(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    world = await arrange(sessions)
    scope = office(world["provider"])
    row = await record(sessions, clock, scope, world["carer"].id, competence="catheter_care")
    assert row.code == "catheter_care"
    with pytest.raises(InvalidInput) as error:
        await record(sessions, clock, scope, world["carer"].id, competence="Moving & Handling")
    invalid(error, "competence", "INVALID_COMPETENCE_CODE")


async def test_an_assignable_status_must_name_its_evidence(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    world = await arrange(sessions)
    fields = {
        "evidence_reference": "evidenceReference",
        "assessed_by": "assessedBy",
        "assessed_on": "assessedOn",
    }
    for status in (CompetencyStatus.EVIDENCED, CompetencyStatus.REVALIDATED):
        for missing, field in fields.items():
            with pytest.raises(InvalidInput) as error:
                await record(
                    sessions,
                    clock,
                    office(world["provider"]),
                    world["carer"].id,
                    status=status,
                    **{missing: None if missing == "assessed_on" else "  "},
                )
            reason = invalid(error, field, "REQUIRED")
            assert reason == f"is required for a {status.value} competence: say what evidences it"


async def test_a_restriction_may_be_recorded_without_evidence(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    """A TUPE transferee with no training records is restricted until assessed (seed 001)."""
    world = await arrange(sessions)
    row = await record(
        sessions,
        clock,
        office(world["provider"]),
        world["carer"].id,
        status=CompetencyStatus.RESTRICTED,
        evidence_reference=None,
        assessed_by=None,
        assessed_on=None,
    )
    assert (row.status, row.evidence_reference, row.assessed_on) == (
        CompetencyStatus.RESTRICTED,
        None,
        None,
    )


async def test_assessment_dates_are_checked_against_the_london_date(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    world = await arrange(sessions)
    scope = office(world["provider"])
    staff_id = world["carer"].id
    with pytest.raises(InvalidInput) as error:
        await record(sessions, clock, scope, staff_id, assessed_on=TODAY + timedelta(days=1))
    assert "today is 2026-11-23" in invalid(error, "assessedOn", "IN_FUTURE")
    with pytest.raises(InvalidInput) as error:
        await record(sessions, clock, scope, staff_id, expires_on=date(2026, 11, 2))
    invalid(error, "expiresOn", "EXPIRY_NOT_AFTER_ASSESSMENT")
    # 23:30 UTC on 30 June is already 1 July in London (BST): assessed "today" is accepted.
    clock.current = datetime(2026, 6, 30, 23, 30, tzinfo=UTC)
    row = await record(sessions, clock, scope, staff_id, assessed_on=date(2026, 7, 1))
    assert row.assessed_on == date(2026, 7, 1)


async def test_evidence_for_a_foreign_or_missing_or_departed_staff_member_is_refused(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    world = await arrange(sessions)
    scope = office(world["provider"])
    for staff_id in (world["foreign"].id, uuid.uuid4()):
        with pytest.raises(StaffNotFound) as not_found:
            await record(sessions, clock, scope, staff_id)
        assert not_found.value.message == f"no staff member {staff_id}"
    async with unit_of_work(sessions) as session:
        await service.deactivate_staff(
            session, scope, staff_id=world["carer"].id, actor="test", clock=clock
        )
    with pytest.raises(StaffInactive):
        await record(sessions, clock, scope, world["carer"].id)
    with pytest.raises(Forbidden):
        await record(sessions, clock, carer_scope(world["carer"]), world["carer"].id)


# --- effective status ------------------------------------------------------------------------


async def test_a_competency_past_its_expiry_is_expired_without_anyone_updating_it(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    world = await arrange(sessions)
    row = await record(
        sessions,
        clock,
        office(world["provider"]),
        world["carer"].id,
        assessed_on=date(2025, 11, 20),
        expires_on=TODAY - timedelta(days=1),
    )
    assert row.status is CompetencyStatus.EVIDENCED
    assert service.effective_status_of(row, TODAY) is CompetencyStatus.EXPIRED
    assert service.effective_status_of(row, TODAY - timedelta(days=1)) is CompetencyStatus.EVIDENCED
    no_expiry = Competency(code="dementia", status=CompetencyStatus.EVIDENCED, expires_on=None)
    assert service.effective_status_of(no_expiry, TODAY) is CompetencyStatus.EXPIRED


# --- deactivate_staff ----------------------------------------------------------------------------


async def test_deactivating_marks_the_leaver_once_and_records_the_reason(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    world = await arrange(sessions)
    scope = office(world["provider"])
    async with unit_of_work(sessions) as session:
        staff = await service.deactivate_staff(
            session,
            scope,
            staff_id=world["carer"].id,
            reason=" Resigned ",
            actor="test:office",
            clock=clock,
        )
    assert staff.active is False
    with pytest.raises(StaffInactive) as again:
        async with unit_of_work(sessions) as session:
            await service.deactivate_staff(
                session, scope, staff_id=world["carer"].id, actor="test", clock=clock
            )
    assert again.value.message == "Asha Begum has already left employment"
    with pytest.raises(StaffNotFound):
        async with unit_of_work(sessions) as session:
            await service.deactivate_staff(
                session, scope, staff_id=world["foreign"].id, actor="test", clock=clock
            )
    async with read_only(sessions) as session:
        events = await events_for_subject(session, "staff_member", world["carer"].id)
    assert [(e.type, e.payload) for e in events] == [("staff.deactivated", {"reason": "Resigned"})]


# --- the SQL filter ----------------------------------------------------------------------------


async def list_ids(sessions: SessionFactory, scope: AccessScope, **kw: Any) -> list[uuid.UUID]:
    async with read_only(sessions) as session:
        rows = await repository.list_page(session, scope, today=TODAY, limit=50, **kw)
    return [row.id for row in rows]


async def test_the_competency_filter_uses_the_effective_status_in_sql(
    sessions: SessionFactory,
) -> None:
    async with unit_of_work(sessions) as session:
        provider = await builders.create_organisation(session)
        lapsed = await builders.create_staff(session, organisation=provider, family_name="A")
        await add_competency(
            session,
            lapsed,
            "medication",
            CompetencyStatus.EVIDENCED,
            expires_on=TODAY - timedelta(1),
        )
        valid = await builders.create_staff(session, organisation=provider, family_name="B")
        await add_competency(
            session, valid, "medication", CompetencyStatus.EVIDENCED, expires_on=TODAY
        )
        await add_competency(
            session, valid, "dementia", CompetencyStatus.RESTRICTED, expires_on=TODAY
        )
        undated = await builders.create_staff(session, organisation=provider, family_name="C")
        await add_competency(
            session, undated, "medication", CompetencyStatus.REVALIDATED, expires_on=None
        )
        carer = await builders.create_staff(
            session, organisation=provider, family_name="D", role=StaffRole.SENIOR_CARER
        )
    scope = office(provider)
    expired, evidenced = [CompetencyStatus.EXPIRED], [CompetencyStatus.EVIDENCED]
    assert await list_ids(
        sessions, scope, competence="medication", competency_statuses=expired
    ) == [
        lapsed.id,
        undated.id,
    ]
    assert await list_ids(
        sessions, scope, competence="medication", competency_statuses=evidenced
    ) == [valid.id]
    assert await list_ids(sessions, scope, competency_statuses=[CompetencyStatus.RESTRICTED]) == [
        valid.id
    ]
    assert await list_ids(sessions, scope, competence="dementia") == [valid.id]
    assert await list_ids(sessions, scope, roles=[StaffRole.SENIOR_CARER]) == [carer.id]
    # Paging a filtered list keeps to the filter: one per page, then the end.
    async with read_only(sessions) as session:
        page = await repository.list_page(
            session, scope, today=TODAY, limit=1, competency_statuses=expired
        )
        after = (page[0].family_name, page[0].given_name, page[0].id)
        rest = await repository.list_page(
            session, scope, today=TODAY, limit=2, after=after, competency_statuses=expired
        )
    assert [row.id for row in [*page, *rest]] == [lapsed.id, undated.id]


async def test_lists_apply_tenancy(sessions: SessionFactory, clock: FixedClock) -> None:
    world = await arrange(sessions)
    async with unit_of_work(sessions) as session:
        colleague = await builders.create_staff(session, organisation=world["provider"])
        await service.deactivate_staff(
            session, ADMIN, staff_id=colleague.id, actor="test", clock=clock
        )
    carer, foreign = world["carer"], world["foreign"]
    assert set(await list_ids(sessions, office(world["provider"]))) == {carer.id, colleague.id}
    assert await list_ids(sessions, office(world["provider"]), active=True) == [carer.id]
    assert await list_ids(sessions, carer_scope(carer)) == [carer.id]
    assert set(await list_ids(sessions, ADMIN)) == {carer.id, colleague.id, foreign.id}
    commissioner = AccessScope(Role.COMMISSIONER, world["council"].id, None)
    assert await list_ids(sessions, commissioner) == []
    async with read_only(sessions) as session:
        assert await repository.get(session, office(world["provider"]), foreign.id) is None
        assert await repository.competencies_of(session, carer_scope(carer), [colleague.id]) == []


# --- carers_for_assignment -----------------------------------------------------------------------


MEDICATION_VISIT = VisitRequirements(
    visit_date=TODAY, tasks=(TaskRequirement("Administer medication", "medication"),)
)


async def test_carers_for_assignment_feed_the_assignment_gate(sessions: SessionFactory) -> None:
    async with unit_of_work(sessions) as session:
        provider = await builders.create_organisation(session)
        ready = await builders.create_staff(
            session, organisation=provider, given_name="Ann", family_name="Ready"
        )
        await add_competency(session, ready, "medication", CompetencyStatus.EVIDENCED)
        lapsed = await builders.create_staff(
            session, organisation=provider, given_name="Len", family_name="Lapsed"
        )
        await add_competency(
            session,
            lapsed,
            "medication",
            CompetencyStatus.REVALIDATED,
            expires_on=TODAY - timedelta(1),
        )
        undated = await builders.create_staff(
            session, organisation=provider, given_name="Una", family_name="Dated"
        )
        await add_competency(
            session, undated, "medication", CompetencyStatus.EVIDENCED, expires_on=None
        )
    async with read_only(sessions) as session:
        carers = await service.carers_for_assignment(
            session, office(provider), [lapsed.id, ready.id, undated.id, ready.id], TODAY
        )
    assert [c.display_name for c in carers] == ["Len Lapsed", "Ann Ready", "Una Dated", "Ann Ready"]
    assert check_assignment(MEDICATION_VISIT, carers[1:2]).ok
    refused = check_assignment(MEDICATION_VISIT, carers[0:1]).refusals
    assert [(r.code, r.message) for r in refused] == [
        (
            RefusalCode.COMPETENCE_EXPIRED,
            "Len Lapsed cannot be assigned: medication competence expired on 2026-11-22 "
            "(task: Administer medication)",
        )
    ]
    assert [r.code for r in check_assignment(MEDICATION_VISIT, carers[2:3]).refusals] == [
        RefusalCode.COMPETENCE_EXPIRED
    ]


async def test_carers_for_assignment_refuses_unknown_foreign_departed_and_not_yet_transferred(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    world = await arrange(sessions)
    scope = office(world["provider"])
    async with unit_of_work(sessions) as session:
        joining = await builders.create_staff(
            session,
            organisation=world["provider"],
            given_name="Jo",
            family_name="Joiner",
            tupe_origin_id=world["incumbent"].id,
            tupe_transferred_on=TODAY + timedelta(days=8),
        )
        leaver = await builders.create_staff(session, organisation=world["provider"], active=False)
    unknown = uuid.uuid4()

    async def carers(ids: list[uuid.UUID], on: date = TODAY) -> Any:
        async with read_only(sessions) as session:
            return await service.carers_for_assignment(session, scope, ids, on)

    failures: list[HubError] = []
    for ids in ([world["carer"].id, unknown, world["foreign"].id], [leaver.id], [joining.id]):
        with pytest.raises(HubError) as error:
            await carers(ids)
        failures.append(error.value)
    assert isinstance(failures[0], StaffNotFound)
    assert failures[0].message == f"no staff member {unknown}, {world['foreign'].id}"
    assert isinstance(failures[1], StaffInactive)
    assert isinstance(failures[2], StaffNotYetTransferred)
    assert "transfers under TUPE on 2026-12-01" in failures[2].message
    on_transfer_day = await carers([joining.id], TODAY + timedelta(days=8))
    assert [c.staff_id for c in on_transfer_day] == [joining.id]
    assert on_transfer_day[0].competencies == ()


async def test_event_log_rows_belong_to_the_write(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    """A refused write leaves neither row nor event: both are in one transaction."""
    world = await arrange(sessions)
    with pytest.raises(InvalidInput):
        await record(
            sessions,
            clock,
            office(world["provider"]),
            world["carer"].id,
            expires_on=TODAY.replace(year=2025),
        )
    async with read_only(sessions) as session:
        assert (await session.scalars(select(Competency))).all() == []
        assert await events_for_subject(session, "staff_member", world["carer"].id) == []
