"""Every query the visits domain runs. Reads take an `AccessScope` and apply `visit_visible`
(and `staff_visible` for carers), so a visit outside the caller's scope is simply not there.

Visits are read as `VisitRecord`s: the row plus what its status and its events need from the
package and the contract (the tolerances, the contract, provider and person), fetched in the
same statement, so deriving the status of a page of visits costs no extra query.

The derived status is also expressible in SQL (`status_condition`): the same precedence and the
same inclusive boundaries as `hub.visits.status.derive_visit_status`, evaluated against one
`now`, so a status filter pages with keyset cursors like any other filter.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Interval,
    Row,
    Select,
    and_,
    case,
    delete,
    false,
    func,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from hub.contracts.models import Contract
from hub.packages.models import CarePackage
from hub.staff.models import StaffMember
from hub.tenancy import AccessScope, staff_visible, visit_visible
from hub.visits.models import Visit, VisitAssignment
from hub.visits.status import VisitStatus, VisitTolerances


@dataclass(frozen=True, slots=True)
class VisitRecord:
    """A visit with the context its status and its events need."""

    visit: Visit
    contract_id: uuid.UUID
    provider_id: uuid.UUID
    person_id: uuid.UUID
    tolerances: VisitTolerances


_RecordSelect = Select[Visit, uuid.UUID, uuid.UUID, uuid.UUID, int, int, int]
_RecordRow = Row[Visit, uuid.UUID, uuid.UUID, uuid.UUID, int, int, int]


def _select_records() -> _RecordSelect:
    return (
        select(
            Visit,
            CarePackage.contract_id,
            CarePackage.provider_id,
            CarePackage.person_id,
            Contract.late_after_minutes,
            Contract.time_critical_late_after_minutes,
            Contract.missed_after_minutes,
        )
        .join(CarePackage, CarePackage.id == Visit.package_id)
        .join(Contract, Contract.id == CarePackage.contract_id)
    )


def _record(row: _RecordRow) -> VisitRecord:
    visit, contract_id, provider_id, person_id, late, time_critical_late, missed = row
    return VisitRecord(
        visit=visit,
        contract_id=contract_id,
        provider_id=provider_id,
        person_id=person_id,
        tolerances=VisitTolerances(
            late_after_minutes=late,
            time_critical_late_after_minutes=time_critical_late,
            missed_after_minutes=missed,
        ),
    )


async def _records(session: AsyncSession, query: _RecordSelect) -> list[VisitRecord]:
    result = await session.execute(query)
    return [_record(row) for row in result.all()]


async def get(
    session: AsyncSession,
    scope: AccessScope,
    visit_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> VisitRecord | None:
    """The visit if the caller may see it. `for_update` locks the visit row until the unit of
    work ends, so two coordinators assigning the same visit are applied one after the other."""
    query = _select_records().where(Visit.id == visit_id, visit_visible(scope))
    if for_update:
        query = query.with_for_update(of=Visit)
    records = await _records(session, query)
    return records[0] if records else None


async def get_many(
    session: AsyncSession, scope: AccessScope, ids: Sequence[uuid.UUID]
) -> list[VisitRecord]:
    return await _records(session, _select_records().where(Visit.id.in_(ids), visit_visible(scope)))


# ---------------------------------------------------------------------------------------------
# The derived status in SQL


def _minutes(value: Any) -> ColumnElement[Any]:
    return func.make_interval(0, 0, 0, 0, 0, value, type_=Interval)


def _late_after() -> ColumnElement[Any]:
    minutes = case(
        (Visit.time_critical.is_(True), Contract.time_critical_late_after_minutes),
        else_=Contract.late_after_minutes,
    )
    return Visit.planned_start + _minutes(minutes)


def _missed_after() -> ColumnElement[Any]:
    return Visit.planned_start + _minutes(Contract.missed_after_minutes)


def status_condition(status: VisitStatus, now: datetime) -> ColumnElement[bool]:
    """SQL true exactly when `derive_visit_status` would give `status` at `now`.

    Needs `contracts` joined (as `_select_records` does). Same precedence (cancelled, completed,
    in progress, then the clock) and the same boundaries: scheduled up to and including the late
    threshold, late up to and including the missed threshold, missed after it.
    """
    at = literal(now, DateTime(timezone=True))
    not_cancelled = Visit.cancelled_at.is_(None)
    unattended = and_(not_cancelled, Visit.checked_in_at.is_(None), Visit.checked_out_at.is_(None))
    if status is VisitStatus.CANCELLED:
        return Visit.cancelled_at.is_not(None)
    if status is VisitStatus.COMPLETED:
        return and_(not_cancelled, Visit.checked_out_at.is_not(None))
    if status is VisitStatus.IN_PROGRESS:
        return and_(not_cancelled, Visit.checked_out_at.is_(None), Visit.checked_in_at.is_not(None))
    if status is VisitStatus.SCHEDULED:
        return and_(unattended, at <= _late_after())
    if status is VisitStatus.LATE:
        return and_(unattended, at > _late_after(), at <= _missed_after())
    return and_(unattended, at > _missed_after())


def _any_status(statuses: Collection[VisitStatus], now: datetime) -> ColumnElement[bool]:
    if not statuses:
        return false()
    return or_(*(status_condition(status, now) for status in statuses))


# ---------------------------------------------------------------------------------------------
# Lists


async def list_page(
    session: AsyncSession,
    scope: AccessScope,
    *,
    limit: int,
    starts_from: datetime,
    starts_before: datetime,
    now: datetime,
    after: tuple[datetime, uuid.UUID] | None = None,
    carer_id: uuid.UUID | None = None,
    statuses: Collection[VisitStatus] = (),
    package_id: uuid.UUID | None = None,
) -> list[VisitRecord]:
    """Visible visits starting in [starts_from, starts_before), by planned start then id,
    keyset-paginated; up to `limit` records. `now` is the instant statuses are judged at."""
    query = (
        _select_records()
        .where(
            visit_visible(scope),
            Visit.planned_start >= starts_from,
            Visit.planned_start < starts_before,
        )
        .order_by(Visit.planned_start, Visit.id)
        .limit(limit)
    )
    if carer_id is not None:
        query = query.where(
            Visit.id.in_(
                select(VisitAssignment.visit_id).where(VisitAssignment.staff_id == carer_id)
            )
        )
    if statuses:
        query = query.where(_any_status(statuses, now))
    if package_id is not None:
        query = query.where(Visit.package_id == package_id)
    if after is not None:
        query = query.where(tuple_(Visit.planned_start, Visit.id) > tuple_(*after))
    return await _records(session, query)


async def next_per_package(
    session: AsyncSession,
    scope: AccessScope,
    package_ids: Sequence[uuid.UUID],
    *,
    limit: int,
    now: datetime,
) -> list[VisitRecord]:
    """The next `limit` visible, not cancelled visits of each package starting at or after
    `now`, in ONE query (ROW_NUMBER per package): a page of packages costs one statement."""
    ranked = (
        select(
            Visit.id.label("visit_id"),
            func.row_number()
            .over(partition_by=Visit.package_id, order_by=(Visit.planned_start, Visit.id))
            .label("position"),
        )
        .where(
            Visit.package_id.in_(package_ids),
            Visit.planned_start >= literal(now, DateTime(timezone=True)),
            Visit.cancelled_at.is_(None),
            visit_visible(scope),
        )
        .subquery()
    )
    query = (
        _select_records()
        .join(ranked, ranked.c.visit_id == Visit.id)
        .where(ranked.c.position <= limit)
        .order_by(Visit.package_id, Visit.planned_start, Visit.id)
    )
    return await _records(session, query)


# ---------------------------------------------------------------------------------------------
# Generation


_INSERT_CHUNK = 500


async def insert_planned(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> list[uuid.UUID]:
    """Insert planned visits, skipping any whose idempotency key exists; the ids created.

    `ON CONFLICT DO NOTHING` on the unique key makes a re-run (or a concurrent run over an
    overlapping range) a no-op for the visits already there, without a read-then-write race.
    """
    created: list[uuid.UUID] = []
    # Chunks keep each statement well under PostgreSQL's 32767 bind parameters.
    for start in range(0, len(rows), _INSERT_CHUNK):
        statement = (
            insert(Visit)
            .values(list(rows[start : start + _INSERT_CHUNK]))
            .on_conflict_do_nothing(index_elements=[Visit.idempotency_key])
            .returning(Visit.id)
        )
        result = await session.execute(statement)
        created.extend(result.scalars().all())
    return created


async def superseded(
    session: AsyncSession,
    package_id: uuid.UUID,
    *,
    starts_from: datetime,
    starts_before: datetime,
    now: datetime,
) -> list[Visit]:
    """Future, unattended, not cancelled visits generated from a schedule entry that has since
    been replaced or removed (the entry link was nulled by the delete), in the range."""
    result = await session.scalars(
        select(Visit)
        .where(
            Visit.package_id == package_id,
            Visit.schedule_entry_id.is_(None),
            Visit.idempotency_key.startswith(f"{package_id}:"),
            Visit.planned_start >= starts_from,
            Visit.planned_start < starts_before,
            Visit.planned_start > literal(now, DateTime(timezone=True)),
            Visit.cancelled_at.is_(None),
            Visit.checked_in_at.is_(None),
            Visit.checked_out_at.is_(None),
        )
        .order_by(Visit.planned_start, Visit.id)
        .with_for_update(of=Visit)
    )
    return list(result.all())


async def created_visits(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[Visit]:
    if not ids:
        return []
    result = await session.scalars(
        select(Visit).where(Visit.id.in_(ids)).order_by(Visit.planned_start, Visit.id)
    )
    return list(result.all())


# ---------------------------------------------------------------------------------------------
# Assignments


async def staff_for_assignment(
    session: AsyncSession, scope: AccessScope, staff_ids: Collection[uuid.UUID]
) -> list[StaffMember]:
    """The staff among `staff_ids` the caller may see (one query)."""
    if not staff_ids:
        return []
    result = await session.scalars(
        select(StaffMember).where(StaffMember.id.in_(list(staff_ids)), staff_visible(scope))
    )
    return list(result.all())


async def assigned_staff_ids(session: AsyncSession, visit_id: uuid.UUID) -> list[uuid.UUID]:
    result = await session.scalars(
        select(VisitAssignment.staff_id)
        .where(VisitAssignment.visit_id == visit_id)
        .order_by(VisitAssignment.created_at, VisitAssignment.id)
    )
    return list(result.all())


async def replace_assignments(
    session: AsyncSession, visit_id: uuid.UUID, staff_ids: Sequence[uuid.UUID], assigned_by: str
) -> None:
    await session.execute(delete(VisitAssignment).where(VisitAssignment.visit_id == visit_id))
    for staff_id in staff_ids:
        session.add(VisitAssignment(visit_id=visit_id, staff_id=staff_id, assigned_by=assigned_by))
    await session.flush()


async def assigned_staff(
    session: AsyncSession, scope: AccessScope, visit_ids: Sequence[uuid.UUID]
) -> list[tuple[uuid.UUID, StaffMember]]:
    """(visit id, staff member) for every assignment of the visible visits among `visit_ids`
    whose staff member the caller may see, in one query, in assignment order."""
    result = await session.execute(
        select(VisitAssignment.visit_id, StaffMember)
        .join(StaffMember, StaffMember.id == VisitAssignment.staff_id)
        .join(Visit, Visit.id == VisitAssignment.visit_id)
        .where(
            VisitAssignment.visit_id.in_(visit_ids),
            visit_visible(scope),
            staff_visible(scope),
        )
        .order_by(VisitAssignment.visit_id, VisitAssignment.created_at, VisitAssignment.id)
    )
    return [(visit_id, staff) for visit_id, staff in result.all()]
