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
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Interval,
    Row,
    Select,
    Table,
    Update,
    and_,
    bindparam,
    case,
    delete,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from hub.contracts.models import Contract
from hub.events.log import NewEvent, event_parameters, with_event
from hub.packages.models import CarePackage
from hub.people.models import Person
from hub.staff.models import StaffMember
from hub.tenancy import AccessScope, staff_visible, visit_visible
from hub.visits.models import (
    FactKind,
    PresenceTag,
    PresenceTagKind,
    Visit,
    VisitAssignment,
    VisitFact,
)
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


def late_after() -> ColumnElement[Any]:
    """The visit's late threshold in SQL (needs `contracts` joined)."""
    return _late_after()


def missed_after() -> ColumnElement[Any]:
    """The visit's missed threshold in SQL (needs `contracts` joined)."""
    return _missed_after()


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


# ---------------------------------------------------------------------------------------------
# Field facts (hub.visits.facts)
#
# The write path of every fact — it runs for each command of a mobile upload — uses Core
# statements built once at import (their compiled form is cached) and plain rows: no ORM
# instance is created, loaded or flushed per fact.

_visits = cast(Table, Visit.__table__)
_packages = cast(Table, CarePackage.__table__)
_contracts = cast(Table, Contract.__table__)
_people = cast(Table, Person.__table__)
_assignments = cast(Table, VisitAssignment.__table__)
_facts = cast(Table, VisitFact.__table__)
_later_facts = _facts.alias("later_facts")


@dataclass(frozen=True, slots=True)
class FactVisit:
    """The visit as a fact is recorded against it: what the flags and the visit's times need."""

    id: uuid.UUID
    planned_start: datetime
    planned_end: datetime
    time_critical: bool
    tasks: list[dict[str, Any]]
    checked_in_at: datetime | None
    checked_out_at: datetime | None


@dataclass(frozen=True, slots=True)
class FactContext:
    """What recording a fact needs about its visit, read (and the visit locked) in one
    statement: the visit, whose it is and its tolerances, the home's location, and whether the
    carer is assigned to it now."""

    visit: FactVisit
    contract_id: uuid.UUID
    provider_id: uuid.UUID
    person_id: uuid.UUID
    tolerances: VisitTolerances
    home_latitude: float | None
    home_longitude: float | None
    staff_assigned: bool


_FACT_CONTEXT = (
    select(
        _visits.c.id,
        _visits.c.planned_start,
        _visits.c.planned_end,
        _visits.c.time_critical,
        _visits.c.tasks,
        _visits.c.checked_in_at,
        _visits.c.checked_out_at,
        _packages.c.contract_id,
        _packages.c.provider_id,
        _packages.c.person_id,
        _contracts.c.late_after_minutes,
        _contracts.c.time_critical_late_after_minutes,
        _contracts.c.missed_after_minutes,
        _people.c.latitude,
        _people.c.longitude,
        exists()
        .where(
            _assignments.c.visit_id == _visits.c.id,
            _assignments.c.staff_id == bindparam("staff_id", type_=_assignments.c.staff_id.type),
        )
        .label("staff_assigned"),
    )
    .select_from(
        _visits.join(_packages, _packages.c.id == _visits.c.package_id)
        .join(_contracts, _contracts.c.id == _packages.c.contract_id)
        .join(_people, _people.c.id == _packages.c.person_id)
    )
    .where(_visits.c.id == bindparam("visit_id"))
    # FOR NO KEY UPDATE, not FOR UPDATE: recording a fact never changes the visit's key, and the
    # weaker lock does not conflict with the FOR KEY SHARE that foreign-key checks take — so a
    # carer's upload does not queue behind a governance transaction opening cases that
    # reference this visit (hub.governance.runner), while two facts on one visit still serialise.
    .with_for_update(of=_visits, key_share=True)
)


async def fact_context(
    session: AsyncSession, visit_id: uuid.UUID, staff_id: uuid.UUID | None
) -> FactContext | None:
    """The visit (locked until the unit of work ends) whoever may see it: the facts service
    applies its own tenancy rule, because a carer's fact about a visit reassigned while they
    were offline is kept and flagged, not refused. Read from the database, not the session's
    identity map: the row lock makes it the current state."""
    result = await session.execute(_FACT_CONTEXT, {"visit_id": visit_id, "staff_id": staff_id})
    row = result.one_or_none()
    if row is None:
        return None
    (
        id_,
        planned_start,
        planned_end,
        time_critical,
        tasks,
        checked_in_at,
        checked_out_at,
        contract_id,
        provider_id,
        person_id,
        late,
        critical,
        missed,
        latitude,
        longitude,
        assigned,
    ) = row
    return FactContext(
        visit=FactVisit(
            id=id_,
            planned_start=planned_start,
            planned_end=planned_end,
            time_critical=time_critical,
            tasks=tasks,
            checked_in_at=checked_in_at,
            checked_out_at=checked_out_at,
        ),
        contract_id=contract_id,
        provider_id=provider_id,
        person_id=person_id,
        tolerances=VisitTolerances(
            late_after_minutes=late,
            time_critical_late_after_minutes=critical,
            missed_after_minutes=missed,
        ),
        home_latitude=latitude,
        home_longitude=longitude,
        staff_assigned=bool(assigned),
    )


VisitTime = Literal["checked_in_at", "checked_out_at"]
_STAMP_VISIT: dict[str, Update] = {
    column: update(_visits)
    .where(_visits.c.id == bindparam("visit_id"))
    .values({column: bindparam("at")})
    for column in ("checked_in_at", "checked_out_at")
}


async def stamp_visit(
    session: AsyncSession, visit_id: uuid.UUID, column: VisitTime, at: datetime
) -> None:
    """Set the visit's check-in or check-out time. A `Visit` the session already holds (the
    supplier feed loads visits in the same unit of work) is given the new value too."""
    await session.execute(_STAMP_VISIT[column], {"visit_id": visit_id, "at": at})
    held = session.identity_map.get(identity_key(Visit, visit_id))
    if held is not None:
        set_committed_value(held, column, at)


async def presence_tag(
    session: AsyncSession, kind: PresenceTagKind, value_sha256: str
) -> PresenceTag | None:
    result = await session.scalars(
        select(PresenceTag).where(
            PresenceTag.kind == kind, PresenceTag.value_sha256 == value_sha256
        )
    )
    return result.one_or_none()


async def add_presence_tag(session: AsyncSession, tag: PresenceTag) -> PresenceTag:
    session.add(tag)
    await session.flush()
    return tag


# Every column but `recorded_at` (the database's clock).
_FACT_COLUMNS = tuple(column.name for column in _facts.c if column.name != "recorded_at")
_INSERT_FACT = with_event(
    insert(_facts).values({name: bindparam(f"fact_{name}") for name in _FACT_COLUMNS})
)


async def insert_fact(session: AsyncSession, values: Mapping[str, Any], event: NewEvent) -> int:
    """Insert one fact (a value for each column but `recorded_at`) and its event in one
    statement; the event's id."""
    parameters = {f"fact_{name}": values[name] for name in _FACT_COLUMNS}
    parameters.update(event_parameters(event))
    event_id: int = (await session.execute(_INSERT_FACT, parameters)).scalar_one()
    return event_id


async def get_fact(session: AsyncSession, fact_id: uuid.UUID) -> VisitFact | None:
    return await session.get(VisitFact, fact_id)


@dataclass(frozen=True, slots=True)
class StandingFact:
    """What a check-out needs of the check-in it closes: when, and on which device clock."""

    id: uuid.UUID
    occurred_at: datetime
    device_id: uuid.UUID | None
    device_boot_id: str | None
    device_monotonic_ms: int | None


# Facts no later fact supersedes.
_STANDING = ~exists().where(_later_facts.c.supersedes_id == _facts.c.id)
_STANDING_FACT = (
    select(
        _facts.c.id,
        _facts.c.occurred_at,
        _facts.c.device_id,
        _facts.c.device_boot_id,
        _facts.c.device_monotonic_ms,
    )
    .where(
        _facts.c.visit_id == bindparam("visit_id"),
        _facts.c.kind == bindparam("kind"),
        _STANDING,
    )
    .order_by(_facts.c.recorded_at, _facts.c.id)
    .limit(1)
)
_TASK_CONFIRMED = (
    select(_facts.c.id)
    .where(
        _facts.c.visit_id == bindparam("visit_id"),
        _facts.c.kind == FactKind.TASK_CONFIRMATION,
        _facts.c.details["task_index"].as_integer() == bindparam("task_index"),
        _STANDING,
    )
    .limit(1)
)


async def standing_fact(
    session: AsyncSession, visit_id: uuid.UUID, kind: FactKind
) -> StandingFact | None:
    """The first-recorded fact of `kind` on the visit that no correction supersedes."""
    row = (
        await session.execute(_STANDING_FACT, {"visit_id": visit_id, "kind": kind})
    ).one_or_none()
    return StandingFact(*row) if row is not None else None


async def task_confirmed(session: AsyncSession, visit_id: uuid.UUID, task_index: int) -> bool:
    """Whether a standing confirmation of the visit's task `task_index` is already recorded."""
    found = await session.scalar(_TASK_CONFIRMED, {"visit_id": visit_id, "task_index": task_index})
    return found is not None


async def facts_of_visits(
    session: AsyncSession, scope: AccessScope, visit_ids: Sequence[uuid.UUID]
) -> list[VisitFact]:
    """The facts of the visible visits among `visit_ids`, in the order they were recorded."""
    result = await session.scalars(
        select(VisitFact)
        .join(Visit, Visit.id == VisitFact.visit_id)
        .where(VisitFact.visit_id.in_(visit_ids), visit_visible(scope))
        .order_by(VisitFact.visit_id, VisitFact.recorded_at, VisitFact.id)
    )
    return list(result.all())


async def owner_of(
    session: AsyncSession, visit_id: uuid.UUID
) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(provider id, person id) of a visit, unscoped: for attributing a record that mentions
    the visit (the caller compares the provider with its own organisation first)."""
    row = (
        await session.execute(
            select(CarePackage.provider_id, CarePackage.person_id)
            .join(Visit, Visit.package_id == CarePackage.id)
            .where(Visit.id == visit_id)
        )
    ).one_or_none()
    return (row[0], row[1]) if row is not None else None


async def by_idempotency_key(
    session: AsyncSession, scope: AccessScope, idempotency_key: str
) -> VisitRecord | None:
    """The visit made under this key (generation's package:entry:date, or an upstream's
    `supplier:<instance>:<id>`), if the caller may see it."""
    records = await _records(
        session,
        _select_records().where(Visit.idempotency_key == idempotency_key, visit_visible(scope)),
    )
    return records[0] if records else None


# ---------------------------------------------------------------------------------------------
# Judgement (hub.visits.judgement)

JudgedColumn = Literal["late_judged_at", "missed_judged_at"]
_MARK_JUDGED: dict[str, Update] = {
    column: update(_visits)
    .where(
        _visits.c.id == bindparam("visit_id"),
        _visits.c.planned_start == bindparam("judged_start"),
        _visits.c[column].is_(None),
        _visits.c.cancelled_at.is_(None),
        _visits.c.checked_in_at.is_(None),
        _visits.c.checked_out_at.is_(None),
    )
    .values({column: bindparam("at")})
    .returning(_visits.c.id)
    for column in ("late_judged_at", "missed_judged_at")
}


async def mark_judged(
    session: AsyncSession,
    visit_id: uuid.UUID,
    column: JudgedColumn,
    *,
    planned_start: datetime,
    at: datetime,
) -> bool:
    """Set the visit's judgement time, only if it is still unattended, not cancelled, not yet
    judged and still planned to start at `planned_start`; whether it was set. The UPDATE locks
    the row and re-checks these conditions after any wait, so of two workers (or a worker and a
    check-in or reschedule committing meanwhile) exactly one outcome wins."""
    result = await session.execute(
        _MARK_JUDGED[column], {"visit_id": visit_id, "judged_start": planned_start, "at": at}
    )
    marked = result.scalar_one_or_none() is not None
    held = session.identity_map.get(identity_key(Visit, visit_id))
    if marked and held is not None:
        set_committed_value(held, column, at)
    return marked
