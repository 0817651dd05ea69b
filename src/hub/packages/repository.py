"""Every query the packages domain runs. Reads of packages take an `AccessScope` and apply
`package_visible`, so a package outside the caller's scope is simply not there.

The lookups of contracts and people are the package service's view of the rows a package points
at; each applies that table's own tenancy predicate, without exception.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

from sqlalchemy import ColumnElement, delete, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from hub.contracts.models import Contract
from hub.organisations.models import Organisation
from hub.packages.lifecycle import PackageStatus
from hub.packages.models import CarePackage, ScheduleEntry
from hub.packages.triage import Rag
from hub.people.models import Person
from hub.staff.models import StaffMember
from hub.tenancy import AccessScope, contract_visible, package_visible, person_visible


async def get(
    session: AsyncSession,
    scope: AccessScope,
    package_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> CarePackage | None:
    """The package if the caller may see it. `for_update` locks the row until the unit of work
    ends, so concurrent status moves, schedule replacements and generations queue up."""
    query = select(CarePackage).where(CarePackage.id == package_id, package_visible(scope))
    if for_update:
        query = query.with_for_update(of=CarePackage)
    result = await session.scalars(query)
    return result.one_or_none()


async def get_many(
    session: AsyncSession, scope: AccessScope, ids: Sequence[uuid.UUID]
) -> Sequence[CarePackage]:
    result = await session.scalars(
        select(CarePackage).where(CarePackage.id.in_(ids), package_visible(scope))
    )
    return result.all()


async def reference_taken(session: AsyncSession, reference: str) -> bool:
    """Whether any package, the caller's or not, has `reference` (references are unique)."""
    found = await session.scalar(
        select(CarePackage.id).where(CarePackage.reference == reference).limit(1)
    )
    return found is not None


def _filters(
    *,
    contract_id: uuid.UUID | None,
    statuses: Collection[PackageStatus],
    rags: Collection[Rag],
    held_out_of_rota: bool | None,
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if contract_id is not None:
        conditions.append(CarePackage.contract_id == contract_id)
    if statuses:
        conditions.append(CarePackage.status.in_(list(statuses)))
    if rags:
        conditions.append(CarePackage.rag.in_(list(rags)))
    if held_out_of_rota is not None:
        conditions.append(CarePackage.held_out_of_rota.is_(held_out_of_rota))
    return conditions


async def list_page(
    session: AsyncSession,
    scope: AccessScope,
    *,
    limit: int,
    after: tuple[str, uuid.UUID] | None = None,
    contract_id: uuid.UUID | None = None,
    statuses: Collection[PackageStatus] = (),
    rags: Collection[Rag] = (),
    held_out_of_rota: bool | None = None,
) -> Sequence[CarePackage]:
    """Visible packages by reference then id, keyset-paginated; up to `limit` rows."""
    query = (
        select(CarePackage)
        .where(
            package_visible(scope),
            *_filters(
                contract_id=contract_id,
                statuses=statuses,
                rags=rags,
                held_out_of_rota=held_out_of_rota,
            ),
        )
        .order_by(CarePackage.reference, CarePackage.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(tuple_(CarePackage.reference, CarePackage.id) > tuple_(*after))
    result = await session.scalars(query)
    return result.all()


async def first_per_contract(
    session: AsyncSession,
    scope: AccessScope,
    contract_ids: Sequence[uuid.UUID],
    *,
    limit: int,
    statuses: Collection[PackageStatus] = (),
) -> Sequence[CarePackage]:
    """The first `limit` visible packages (by reference, id) of each contract, in ONE query:
    a page of contracts asks for its packages once, however many contracts it holds."""
    ranked = (
        select(
            CarePackage.id.label("package_id"),
            func.row_number()
            .over(
                partition_by=CarePackage.contract_id,
                order_by=(CarePackage.reference, CarePackage.id),
            )
            .label("position"),
        )
        .where(
            CarePackage.contract_id.in_(contract_ids),
            package_visible(scope),
            *_filters(contract_id=None, statuses=statuses, rags=(), held_out_of_rota=None),
        )
        .subquery()
    )
    query = (
        select(CarePackage)
        .join(ranked, ranked.c.package_id == CarePackage.id)
        .where(ranked.c.position <= limit)
        .order_by(CarePackage.contract_id, CarePackage.reference, CarePackage.id)
    )
    result = await session.scalars(query)
    return result.all()


def add(session: AsyncSession, package: CarePackage) -> None:
    session.add(package)


async def visible_contract(
    session: AsyncSession, scope: AccessScope, contract_id: uuid.UUID
) -> Contract | None:
    result = await session.scalars(
        select(Contract).where(Contract.id == contract_id, contract_visible(scope))
    )
    return result.one_or_none()


async def contract_of(session: AsyncSession, package: CarePackage) -> Contract:
    """The contract a visible package is on (visibility follows from the package's)."""
    contract = await session.get(Contract, package.contract_id)
    if contract is None:  # pragma: no cover - a foreign key guarantees it
        raise LookupError(f"contract {package.contract_id} of package {package.id} is gone")
    return contract


async def person_of(session: AsyncSession, package: CarePackage) -> Person:
    """The person a visible package is for (visibility follows from the package's)."""
    person = await session.get(Person, package.person_id)
    if person is None:  # pragma: no cover - a foreign key guarantees it
        raise LookupError(f"person {package.person_id} of package {package.id} is gone")
    return person


async def attachable_person(
    session: AsyncSession, scope: AccessScope, person_id: uuid.UUID
) -> Person | None:
    """The person a new package may be for: one the caller can already see, nobody else.

    An office sees the people it registered, those its packages and referrals concern and those
    linked to it by a recorded demographic match (`person_visible`). A person another office
    registered is that office's even before any package names them: knowing their id gives no
    right to attach a package and so to read their record. Reaching another organisation's
    person goes through `hub.people.service`'s demographic match, never through an id.
    """
    result = await session.scalars(
        select(Person).where(Person.id == person_id, person_visible(scope))
    )
    return result.one_or_none()


async def organisation(session: AsyncSession, organisation_id: uuid.UUID) -> Organisation | None:
    """Organisations are a public directory (names and ODS codes), so this is unscoped."""
    return await session.get(Organisation, organisation_id)


async def schedule_entries(
    session: AsyncSession, scope: AccessScope, package_ids: Sequence[uuid.UUID]
) -> Sequence[ScheduleEntry]:
    """The schedule entries of the visible packages among `package_ids`, in one query, ordered
    by package, then local start time, then id (the order a person reads a timetable)."""
    result = await session.scalars(
        select(ScheduleEntry)
        .join(CarePackage, CarePackage.id == ScheduleEntry.package_id)
        .where(ScheduleEntry.package_id.in_(package_ids), package_visible(scope))
        .order_by(ScheduleEntry.package_id, ScheduleEntry.start_time, ScheduleEntry.id)
    )
    return result.all()


async def entries_of(session: AsyncSession, package_id: uuid.UUID) -> Sequence[ScheduleEntry]:
    """The schedule of a package the service has already loaded through its scope."""
    result = await session.scalars(
        select(ScheduleEntry)
        .where(ScheduleEntry.package_id == package_id)
        .order_by(ScheduleEntry.start_time, ScheduleEntry.id)
    )
    return result.all()


async def delete_entries(session: AsyncSession, entry_ids: Collection[uuid.UUID]) -> None:
    if entry_ids:
        await session.execute(delete(ScheduleEntry).where(ScheduleEntry.id.in_(list(entry_ids))))


def add_entry(session: AsyncSession, entry: ScheduleEntry) -> None:
    session.add(entry)


async def tupe_staff_count(
    session: AsyncSession, provider_id: uuid.UUID, incumbent_id: uuid.UUID
) -> int:
    """How many of the provider's active staff transferred from the incumbent under TUPE: the
    workforce side of a package transfer, recorded with it for the mobilisation log."""
    count = await session.scalar(
        select(func.count())
        .select_from(StaffMember)
        .where(
            StaffMember.organisation_id == provider_id,
            StaffMember.tupe_origin_id == incumbent_id,
            StaffMember.active.is_(True),
        )
    )
    return int(count or 0)
