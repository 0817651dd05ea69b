"""Visit writes: generation from a package's weekly schedule, competency-gated assignment and
cancellation; and the derived status.

Every function takes the caller's session (it never commits), the caller's `AccessScope`, the
actor for the event log and a `Clock`, and records its events in the same transaction.

Events. Generation records one `visit.generated` per visit it creates (none for visits that
already existed), all sharing the call's correlation id: every visit's own timeline then starts
with its generation, which the audit pack replays per visit, and the correlation id groups one
run in the feed. A re-run that creates nothing records nothing, because nothing happened.
Assignment records `visit.assigned` (with the carers before and after), cancellation
`visit.cancelled`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import InvalidInput
from hub.events.log import NewEvent, record
from hub.kit.ids import uuid7
from hub.kit.time import LONDON, Clock
from hub.packages import repository as packages_repository
from hub.packages import service as packages
from hub.packages.lifecycle import PackageStatus
from hub.packages.models import CarePackage
from hub.packages.models import ScheduleEntry as ScheduleEntryRow
from hub.staff import service as staff
from hub.staff.competency import TaskRequirement, VisitRequirements, check_assignment
from hub.tenancy import AccessScope
from hub.visits import repository
from hub.visits.errors import (
    NoSchedule,
    PackageHeldOutOfRota,
    PackageNotSchedulable,
    StaffOfAnotherProvider,
    VisitAlreadyAttended,
    VisitCancelled,
    VisitNotFound,
)
from hub.visits.models import Visit
from hub.visits.repository import VisitRecord
from hub.visits.schedule import (
    PlannedVisit,
    ScheduleEntry,
    Weekday,
    WeeklySchedule,
    check_date_range,
    generate_occurrences,
)
from hub.visits.status import (
    VisitDeadlines,
    VisitFacts,
    VisitStatus,
    VisitTolerances,
    derive_visit_status,
)
from hub.visits.status import visit_deadlines as deadlines_for

GENERATABLE = (PackageStatus.PLANNED, PackageStatus.LIVE)
MAX_REASON_LENGTH = 2000
SUPERSEDED_REASON = (
    "schedule changed: the schedule entry this visit was generated from was replaced or removed"
)


@dataclass(frozen=True, slots=True)
class GenerationResult:
    """What one `generate_visits` call did over its range (local dates, both inclusive).

    `created` visits are new; `existing` ones were already there (a re-run or an overlapping
    range); `outside_package_dates` occurrences fell before the package starts or after it (or
    its contract) ends and were not generated; `superseded` visits came from a schedule entry
    that has since been replaced or removed, lay in the future and unattended, and were
    cancelled.
    """

    package: CarePackage
    date_from: date
    date_to: date
    created: tuple[VisitRecord, ...]
    existing: int
    outside_package_dates: int
    superseded: int


# ---------------------------------------------------------------------------------------------
# Lookups and status


async def get_visit(
    session: AsyncSession, scope: AccessScope, visit_id: uuid.UUID, *, for_update: bool = False
) -> VisitRecord:
    """The visit if the caller may see it, else `VisitNotFound` (same answer for both)."""
    found = await repository.get(session, scope, visit_id, for_update=for_update)
    if found is None:
        raise VisitNotFound(f"no visit {visit_id}")
    return found


def facts_of(visit: Visit) -> VisitFacts:
    return VisitFacts(
        planned_start=visit.planned_start,
        planned_end=visit.planned_end,
        time_critical=visit.time_critical,
        cancelled=visit.cancelled_at is not None,
        checked_in_at=visit.checked_in_at,
        checked_out_at=visit.checked_out_at,
    )


def visit_status(found: VisitRecord, now: datetime) -> VisitStatus:
    """The visit's status at `now` under its contract's tolerances (hub.visits.status)."""
    return derive_visit_status(facts_of(found.visit), found.tolerances, now)


def visit_deadlines(found: VisitRecord) -> VisitDeadlines:
    """When the visit, unattended, turns late and then missed under its contract."""
    return deadlines_for(
        found.visit.planned_start,
        time_critical=found.visit.time_critical,
        tolerances=found.tolerances,
    )


def local_date(visit: Visit) -> date:
    """The Europe/London date the visit starts on: the date its competences are judged on."""
    return visit.planned_start.astimezone(LONDON).date()


# ---------------------------------------------------------------------------------------------
# Generation


def _weekly_schedule(package_id: uuid.UUID, rows: Sequence[ScheduleEntryRow]) -> WeeklySchedule:
    return WeeklySchedule(
        package_id=package_id,
        entries=tuple(
            ScheduleEntry(
                entry_id=row.id,
                weekdays=frozenset(Weekday(day - 1) for day in row.weekdays),
                local_start=row.start_time,
                duration=timedelta(minutes=row.duration_minutes),
                time_critical=row.time_critical,
                double_handed=row.double_handed,
                tasks=tuple(
                    TaskRequirement(str(task["description"]), task.get("requires"))
                    for task in row.tasks
                ),
            )
            for row in rows
        ),
    )


def _london_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=LONDON).astimezone(UTC)


async def generate_visits(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    package_id: uuid.UUID,
    date_from: date,
    date_to: date,
) -> GenerationResult:
    """Create the package's visits for local dates `date_from`..`date_to` (inclusive, at most
    `hub.visits.schedule.MAX_RANGE_DAYS` days) from its weekly schedule.

    Idempotent: a visit's key is package + schedule entry + local date, inserted with ON CONFLICT
    DO NOTHING, so re-running a range or an overlapping one creates only what is missing. Times
    are Europe/London wall-clock times stored as UTC, with the clock-change rules of
    `hub.visits.schedule`. Refused for a package that is not planned or live, or is held out of
    rota conversion by its triage.
    """
    check_date_range(date_from, date_to)
    package = await packages.get_package(session, scope, package_id, for_update=True)
    if package.status not in GENERATABLE:
        raise PackageNotSchedulable(
            f"package {package.reference} is {package.status}; visits are generated only for "
            "planned or live packages"
        )
    if package.held_out_of_rota:
        raise PackageHeldOutOfRota(
            f"package {package.reference} is rated {package.rag or 'red'} and held out of rota "
            "conversion until a coordinator or registered manager validates it "
            "(releaseTriageHold)"
        )
    rows = await packages_repository.entries_of(session, package.id)
    if not rows:
        raise NoSchedule(
            f"package {package.reference} has no weekly schedule to generate visits from"
        )
    contract = await packages_repository.contract_of(session, package)
    first_day = max(package.starts_on, contract.starts_on)
    last_days = [day for day in (package.ends_on, contract.ends_on) if day is not None]
    last_day = min(last_days) if last_days else None

    occurrences = generate_occurrences(_weekly_schedule(package.id, rows), date_from, date_to)
    wanted = [
        occurrence
        for occurrence in occurrences
        if occurrence.local_date >= first_day
        and (last_day is None or occurrence.local_date <= last_day)
    ]
    now = clock.now()
    range_start = _london_midnight(date_from)
    range_end = _london_midnight(date_to + timedelta(days=1))
    stale = await repository.superseded(
        session, package.id, starts_from=range_start, starts_before=range_end, now=now
    )
    correlation = str(uuid7())
    for visit in stale:
        visit.cancelled_at = now
        visit.cancellation_reason = SUPERSEDED_REASON
    await session.flush()
    for visit in stale:
        await _record_visit(
            session,
            visit,
            package,
            "visit.cancelled",
            actor,
            clock,
            {"reason": SUPERSEDED_REASON, "superseded": True},
            correlation_id=correlation,
        )

    tasks_by_entry = {row.id: [_task(task) for task in row.tasks] for row in rows}
    created_ids = await repository.insert_planned(
        session, [_row(occurrence, tasks_by_entry[occurrence.entry_id]) for occurrence in wanted]
    )
    created = await repository.created_visits(session, created_ids)
    for visit in created:
        await _record_visit(
            session,
            visit,
            package,
            "visit.generated",
            actor,
            clock,
            {
                "idempotencyKey": visit.idempotency_key,
                "scheduleEntryId": str(visit.schedule_entry_id),
                "plannedStart": visit.planned_start.isoformat(),
                "plannedEnd": visit.planned_end.isoformat(),
                "startResolution": visit.start_resolution,
                "dateFrom": date_from.isoformat(),
                "dateTo": date_to.isoformat(),
            },
            correlation_id=correlation,
        )
    tolerances = VisitTolerances(
        late_after_minutes=contract.late_after_minutes,
        time_critical_late_after_minutes=contract.time_critical_late_after_minutes,
        missed_after_minutes=contract.missed_after_minutes,
    )
    return GenerationResult(
        package=package,
        date_from=date_from,
        date_to=date_to,
        created=tuple(
            VisitRecord(
                visit=visit,
                contract_id=package.contract_id,
                provider_id=package.provider_id,
                person_id=package.person_id,
                tolerances=tolerances,
            )
            for visit in created
        ),
        existing=len(wanted) - len(created),
        outside_package_dates=len(occurrences) - len(wanted),
        superseded=len(stale),
    )


def _row(occurrence: PlannedVisit, tasks: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": uuid7(),
        "package_id": occurrence.package_id,
        "schedule_entry_id": occurrence.entry_id,
        "idempotency_key": occurrence.idempotency_key,
        "planned_start": occurrence.planned_start,
        "planned_end": occurrence.planned_end,
        "start_resolution": occurrence.start_resolution.value,
        "time_critical": occurrence.time_critical,
        "double_handed": occurrence.double_handed,
        "tasks": tasks,
    }


def _task(task: dict[str, Any]) -> dict[str, Any]:
    # Visits keep their own copy: a later schedule change must not rewrite planned work.
    return {
        "code": task.get("code"),
        "description": task.get("description"),
        "requires": task.get("requires"),
    }


# ---------------------------------------------------------------------------------------------
# Assignment


def requirements_of(visit: Visit) -> VisitRequirements:
    """What assignment gating checks: carers needed, and each task's competence, judged on the
    visit's Europe/London date."""
    return VisitRequirements(
        visit_date=local_date(visit),
        double_handed=visit.double_handed,
        tasks=tuple(
            TaskRequirement(str(task.get("description") or task.get("code")), task.get("requires"))
            for task in visit.tasks
        ),
    )


def _ensure_assignable(found: VisitRecord, action: str) -> None:
    visit = found.visit
    if visit.cancelled_at is not None:
        raise VisitCancelled(
            f"the visit at {_when(visit)} was cancelled"
            + (f" ({visit.cancellation_reason})" if visit.cancellation_reason else "")
            + f"; it cannot be {action}"
        )
    attended = visit.checked_in_at or visit.checked_out_at
    if attended is not None:
        raise VisitAlreadyAttended(
            f"the visit at {_when(visit)} was attended (recorded at "
            f"{attended.astimezone(LONDON).strftime('%d %b %Y %H:%M')}); it cannot be {action}"
        )


async def assign_carers(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    visit_id: uuid.UUID,
    staff_ids: Sequence[uuid.UUID],
) -> VisitRecord:
    """Replace the visit's carers with `staff_ids`, if together they may do it.

    Competency-gated (`hub.staff.competency.check_assignment`) on the visit's Europe/London
    date: a medication task needs every carer's medication competence evidenced or revalidated
    (not restricted, expired or missing); a double-handed visit needs exactly two carers, any
    other exactly one. Every reason is reported at once (`AssignmentRefused.refusals`). Carers
    must be active staff of the package's provider.
    """
    found = await get_visit(session, scope, visit_id, for_update=True)
    _ensure_assignable(found, "assigned")
    visit = found.visit
    requirements = requirements_of(visit)
    carers = await staff.carers_for_assignment(
        session, scope, list(staff_ids), requirements.visit_date
    )
    members = await repository.staff_for_assignment(session, scope, set(staff_ids))
    elsewhere = [member for member in members if member.organisation_id != found.provider_id]
    if elsewhere:
        names = ", ".join(f"{m.given_name} {m.family_name}" for m in elsewhere)
        raise StaffOfAnotherProvider(
            f"{names} {'works' if len(elsewhere) == 1 else 'work'} for another provider; "
            "a visit is staffed by its package's provider"
        )
    check_assignment(requirements, carers).raise_if_refused()
    before = await repository.assigned_staff_ids(session, visit.id)
    chosen = list(dict.fromkeys(staff_ids))
    await repository.replace_assignments(session, visit.id, chosen, actor)
    await _record_visit(
        session,
        visit,
        found,
        "visit.assigned",
        actor,
        clock,
        {
            "staffIds": [str(staff_id) for staff_id in chosen],
            "previousStaffIds": [str(staff_id) for staff_id in before],
            "visitDate": requirements.visit_date.isoformat(),
        },
    )
    return found


# ---------------------------------------------------------------------------------------------
# Cancellation


async def cancel_visit(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    visit_id: uuid.UUID,
    reason: str,
) -> VisitRecord:
    """Cancel a visit that has not been attended; the reason is required and kept on it."""
    why = reason.strip()
    if not why:
        raise InvalidInput(
            "reason", "say why the visit is cancelled (e.g. person in hospital)", code="REQUIRED"
        )
    if len(why) > MAX_REASON_LENGTH:
        raise InvalidInput(
            "reason", f"must be at most {MAX_REASON_LENGTH} characters", code="TOO_LONG"
        )
    found = await get_visit(session, scope, visit_id, for_update=True)
    _ensure_assignable(found, "cancelled")
    visit = found.visit
    visit.cancelled_at = clock.now()
    visit.cancellation_reason = why
    await session.flush()
    await _record_visit(
        session,
        visit,
        found,
        "visit.cancelled",
        actor,
        clock,
        {"reason": why, "plannedStart": visit.planned_start.isoformat()},
    )
    return found


# ---------------------------------------------------------------------------------------------


def _when(visit: Visit) -> str:
    return visit.planned_start.astimezone(LONDON).strftime("%d %b %Y %H:%M")


async def _record_visit(
    session: AsyncSession,
    visit: Visit,
    owner: CarePackage | VisitRecord,
    event_type: str,
    actor: str,
    clock: Clock,
    payload: dict[str, Any],
    *,
    correlation_id: str | None = None,
) -> None:
    await record(
        session,
        NewEvent(
            type=event_type,
            subject_type="visit",
            subject_id=visit.id,
            organisation_id=owner.provider_id,
            contract_id=owner.contract_id,
            person_id=owner.person_id,
            actor=actor,
            occurred_at=clock.now(),
            correlation_id=correlation_id,
            payload={"packageId": str(visit.package_id), **payload},
        ),
    )
