"""Builders for tests: rows with sensible defaults, overridable by keyword (Polar style).

They insert directly (flush, no commit) so a test can arrange any state, including states the
services would refuse. Behaviour under test always goes through the services."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hub.change_requests.lifecycle import ChangeRequestKind, ChangeRequestStatus
from hub.change_requests.models import ChangeRequest
from hub.contracts.models import Contract, KpiDefinition, ResolutionOutcome, ServiceType
from hub.organisations.models import Organisation, OrganisationKind
from hub.packages.lifecycle import PackageStatus
from hub.packages.models import CarePackage, ScheduleEntry
from hub.people.models import NhsNumberStatus, Person
from hub.people.vocabulary import MedicationSupport
from hub.referrals.models import Referral, ReferralSource, ReferralStatus
from hub.staff.competency import CompetencyStatus
from hub.staff.models import Competency, StaffMember, StaffRole
from hub.visits.models import Visit, VisitAssignment

_counter = itertools.count(1)


def _n() -> int:
    return next(_counter)


def valid_nhs_number(seed: int) -> str:
    """A 10-digit number in the 999 test range that passes the modulus-11 check."""
    for candidate in range(seed, seed + 100):
        digits = f"999{candidate % 1_000_000:06d}"
        total = sum(int(d) * w for d, w in zip(digits, range(10, 1, -1), strict=True))
        check = 11 - total % 11
        if check == 11:
            check = 0
        if check != 10:
            return digits + str(check)
    raise AssertionError("unreachable: some candidate in 100 passes")


async def _add(session: AsyncSession, row: Any) -> Any:
    session.add(row)
    await session.flush()
    return row


async def create_organisation(session: AsyncSession, **overrides: Any) -> Organisation:
    n = _n()
    values: dict[str, Any] = {
        "kind": OrganisationKind.PROVIDER,
        "name": f"Organisation {n}",
        "ods_code": None,
    }
    values.update(overrides)
    organisation: Organisation = await _add(session, Organisation(**values))
    return organisation


async def create_contract(
    session: AsyncSession,
    *,
    commissioner: Organisation | None = None,
    provider: Organisation | None = None,
    **overrides: Any,
) -> Contract:
    n = _n()
    commissioner = commissioner or await create_organisation(
        session, kind=OrganisationKind.LOCAL_AUTHORITY
    )
    provider = provider or await create_organisation(session, kind=OrganisationKind.PROVIDER)
    values: dict[str, Any] = {
        "reference": f"CON-{n:04d}",
        "name": f"Homecare contract {n}",
        "commissioner_id": commissioner.id,
        "provider_id": provider.id,
        "service_type": ServiceType.HOMECARE,
        "starts_on": date(2026, 4, 1),
        "ends_on": None,
        "late_after_minutes": 15,
        "time_critical_late_after_minutes": 5,
        "missed_after_minutes": 60,
        "minimum_stay_percent": 80,
    }
    values.update(overrides)
    contract: Contract = await _add(session, Contract(**values))
    return contract


async def add_outcome(
    session: AsyncSession, contract: Contract, code: str, *required: str
) -> ResolutionOutcome:
    outcome: ResolutionOutcome = await _add(
        session,
        ResolutionOutcome(
            contract_id=contract.id,
            code=code,
            label=code.replace("_", " "),
            required_fields=list(required),
        ),
    )
    return outcome


async def add_kpi(
    session: AsyncSession, contract: Contract, code: str, **overrides: Any
) -> KpiDefinition:
    values: dict[str, Any] = {
        "contract_id": contract.id,
        "code": code,
        "name": code.replace("_", " ").title(),
        "source_event_types": ["visit.checked_in"],
        "quality_rule": "check-in verified by GPS within 100 m",
        "exception_rule": "no check-in 15 minutes after the planned start",
        "governance_action": "review at the monthly contract meeting",
        "target_percent": 95.0,
    }
    values.update(overrides)
    kpi: KpiDefinition = await _add(session, KpiDefinition(**values))
    return kpi


async def create_person(session: AsyncSession, **overrides: Any) -> Person:
    n = _n()
    values: dict[str, Any] = {
        "nhs_number": valid_nhs_number(n * 7),
        "nhs_number_status": NhsNumberStatus.UNVERIFIED,
        "nhs_number_source": "test",
        "given_name": f"Given{n}",
        "family_name": f"Family{n}",
        "date_of_birth": date(1940, 1, 1) + timedelta(days=n),
        "address_line_1": f"{n} Test Street",
        "town": "Northvale",
        "postcode": "NV1 1AA",
        "latitude": 53.4808,
        "longitude": -2.2426,
        "medication_support": MedicationSupport.NONE,
    }
    values.update(overrides)
    person: Person = await _add(session, Person(**values))
    return person


async def create_staff(
    session: AsyncSession,
    *,
    organisation: Organisation | None = None,
    competencies: dict[str, CompetencyStatus] | None = None,
    expires_on: date | None = None,
    **overrides: Any,
) -> StaffMember:
    n = _n()
    organisation = organisation or await create_organisation(session)
    values: dict[str, Any] = {
        "organisation_id": organisation.id,
        "given_name": f"Carer{n}",
        "family_name": f"Staff{n}",
        "role": StaffRole.CARER,
        "active": True,
    }
    values.update(overrides)
    staff: StaffMember = await _add(session, StaffMember(**values))
    for code, status in (competencies or {}).items():
        await _add(
            session,
            Competency(
                staff_id=staff.id,
                code=code,
                status=status,
                evidence_reference=f"EV-{n}",
                assessed_by="Training lead",
                assessed_on=date(2026, 1, 10),
                expires_on=expires_on,
            ),
        )
    return staff


async def create_package(
    session: AsyncSession,
    *,
    contract: Contract | None = None,
    person: Person | None = None,
    **overrides: Any,
) -> CarePackage:
    n = _n()
    contract = contract or await create_contract(session)
    person = person or await create_person(session)
    values: dict[str, Any] = {
        "reference": f"PKG-{n:05d}",
        "person_id": person.id,
        "contract_id": contract.id,
        "provider_id": contract.provider_id,
        "status": PackageStatus.LIVE,
        "starts_on": date(2026, 10, 1),
    }
    values.update(overrides)
    package: CarePackage = await _add(session, CarePackage(**values))
    return package


async def add_schedule_entry(
    session: AsyncSession, package: CarePackage, **overrides: Any
) -> ScheduleEntry:
    values: dict[str, Any] = {
        "package_id": package.id,
        "weekdays": [1, 2, 3, 4, 5, 6, 7],
        "start_time": time(8, 0),
        "duration_minutes": 30,
        "time_critical": False,
        "double_handed": False,
        "tasks": [
            {"code": "personal_care", "description": "Washing and dressing", "requires": None}
        ],
    }
    values.update(overrides)
    entry: ScheduleEntry = await _add(session, ScheduleEntry(**values))
    return entry


async def create_visit(
    session: AsyncSession,
    *,
    package: CarePackage | None = None,
    carers: tuple[StaffMember, ...] = (),
    **overrides: Any,
) -> Visit:
    n = _n()
    package = package or await create_package(session)
    start = overrides.pop("planned_start", datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    values: dict[str, Any] = {
        "package_id": package.id,
        "idempotency_key": f"manual:{package.id}:{n}",
        "planned_start": start,
        "planned_end": start + timedelta(minutes=30),
        "tasks": [],
    }
    values.update(overrides)
    visit: Visit = await _add(session, Visit(**values))
    for carer in carers:
        await _add(
            session, VisitAssignment(visit_id=visit.id, staff_id=carer.id, assigned_by="test")
        )
    return visit


async def create_referral(session: AsyncSession, **overrides: Any) -> Referral:
    n = _n()
    values: dict[str, Any] = {
        "reference": f"REF-{n:05d}",
        "source": ReferralSource.GP,
        "status": ReferralStatus.RECEIVED,
        "received_at": datetime(2026, 11, 20, 10, 0, tzinfo=UTC),
        "minimum_dataset": {},
        "missing_fields": [],
    }
    values.update(overrides)
    referral: Referral = await _add(session, Referral(**values))
    return referral


async def create_change_request(
    session: AsyncSession, *, raised_by: Organisation, **overrides: Any
) -> ChangeRequest:
    n = _n()
    values: dict[str, Any] = {
        "reference": f"CR-{n:05d}",
        "kind": ChangeRequestKind.SUPPLIER_SOFTWARE_UPDATE,
        "title": f"Release {n}",
        "description": "Rostering engine update",
        "raised_by_organisation_id": raised_by.id,
        "status": ChangeRequestStatus.PROPOSED,
    }
    values.update(overrides)
    change: ChangeRequest = await _add(session, ChangeRequest(**values))
    return change


def new_id() -> uuid.UUID:
    return uuid.uuid4()
