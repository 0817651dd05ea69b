"""Planned visits generated from a package's weekly schedule.

A weekly schedule says what the contract says — "Monday, Wednesday and Friday at 08:00 for 45
minutes" — in Europe/London wall-clock time. Visits are stored as UTC instants, so generating
them is where the clock changes bite. The rules, applied to every occurrence:

- **Wall-clock time holds.** An 08:00 visit is at 08:00 local all year: 08:00 UTC in winter
  (GMT) and 07:00 UTC in summer (BST). People take breakfast and medicines by the clock on the
  wall, not by UTC.
- **Spring forward (last Sunday of March, 01:00 → 02:00).** A start in the missing hour (e.g.
  01:30) does not exist; it is moved forward by the length of the gap (01:30 → 02:30 BST, which
  is 01:30 UTC). This is PEP 495's reading of a gap time with fold=0. It keeps the visit's
  distance from the previous evening's visits and keeps two starts in the gap (01:15, 01:45) in
  their order and spacing, which clamping both to 02:00 would not.
- **Fall back (last Sunday of October, 01:00 to 02:00 happens twice).** A start in the repeated
  hour takes the first occurrence (BST, fold=0): 01:30 local is 00:30 UTC. Of the two readings
  this one never makes a carer arrive an hour after the person expects, which for a time-critical
  night call is the harm to avoid.
- **Duration is elapsed time.** The planned end is the UTC start plus the duration, so a
  60-minute visit across a change is 60 minutes of care even though the wall-clock end moves.

Each generated visit records how its start was resolved (`start_resolution`) so a coordinator
sees the two nights a year when a visit does not start at the time the schedule shows.

Generation is idempotent: a visit's key is package + schedule entry + local date, so generating an
overlapping range again yields the same keys, and a unique index on the key turns a re-run into a
no-op.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import IntEnum, StrEnum

from hub.errors import InvalidInput
from hub.kit.time import LONDON
from hub.staff.competency import TaskRequirement, VisitRequirements

MAX_RANGE_DAYS = 62
"""Days one call may generate, inclusive: two months covers any rota horizon and bounds the work."""

MAX_VISIT_DURATION = timedelta(hours=24)
"""Longer than a day is live-in care, not a visit."""


class Weekday(IntEnum):
    """Days of the week numbered like `date.weekday()`: Monday is 0 (ISO numbers it 1)."""

    MONDAY = 0
    TUESDAY = 1
    WEDNESDAY = 2
    THURSDAY = 3
    FRIDAY = 4
    SATURDAY = 5
    SUNDAY = 6


class StartResolution(StrEnum):
    """How a local start time became a UTC instant on one date."""

    EXACT = "exact"
    """The wall-clock time exists once on that date."""
    SHIFTED_FORWARD = "shifted_forward"
    """The time fell in the spring-forward gap and was moved forward by the gap (one hour)."""
    FIRST_OF_REPEATED = "first_of_repeated"
    """The time happened twice (autumn fall-back); the first occurrence (BST) was taken."""


@dataclass(frozen=True, slots=True)
class ScheduleEntry:
    """One line of a weekly schedule: which days, the local start, how long, and what is done.

    `local_start` is a naive wall-clock time in Europe/London.
    """

    entry_id: uuid.UUID
    weekdays: frozenset[Weekday]
    local_start: time
    duration: timedelta
    time_critical: bool = False
    double_handed: bool = False
    tasks: tuple[TaskRequirement, ...] = ()

    def __post_init__(self) -> None:
        if not self.weekdays:
            raise InvalidInput("weekdays", "choose at least one day", code="NO_WEEKDAYS")
        if self.local_start.tzinfo is not None:
            raise InvalidInput(
                "localStart",
                "must be a wall-clock time without an offset; schedules are in Europe/London",
                code="OFFSET_NOT_ALLOWED",
            )
        if not timedelta(0) < self.duration <= MAX_VISIT_DURATION:
            raise InvalidInput(
                "duration",
                "must be more than 0 minutes and at most 24 hours",
                code="DURATION_OUT_OF_RANGE",
            )


@dataclass(frozen=True, slots=True)
class WeeklySchedule:
    """A package's weekly schedule: its entries, each identified so visits can be keyed."""

    package_id: uuid.UUID
    entries: tuple[ScheduleEntry, ...]

    def __post_init__(self) -> None:
        ids = [entry.entry_id for entry in self.entries]
        if len(ids) != len(set(ids)):
            # Two entries with one id would generate colliding idempotency keys.
            raise InvalidInput("entries", "entry ids must be unique", code="DUPLICATE_ENTRY_ID")


@dataclass(frozen=True, slots=True)
class PlannedVisit:
    """One occurrence of a schedule entry on one local date; times are aware UTC."""

    idempotency_key: str
    package_id: uuid.UUID
    entry_id: uuid.UUID
    local_date: date
    local_start: time
    planned_start: datetime
    planned_end: datetime
    start_resolution: StartResolution
    time_critical: bool
    double_handed: bool
    tasks: tuple[TaskRequirement, ...]

    def requirements(self) -> VisitRequirements:
        """What assignment gating checks for this visit (competences judged on its date)."""
        return VisitRequirements(
            visit_date=self.local_date, double_handed=self.double_handed, tasks=self.tasks
        )


def visit_key(package_id: uuid.UUID, entry_id: uuid.UUID, local_date: date) -> str:
    """The idempotency key of an occurrence: stable across runs, readable in logs."""
    return f"{package_id}:{entry_id}:{local_date.isoformat()}"


def resolve_local_start(local_date: date, local_start: time) -> tuple[datetime, StartResolution]:
    """The UTC instant of a Europe/London wall-clock time on a date, and how it was resolved.

    fold=0 is what makes both clock-change rules hold: in the spring gap it reads the time with
    the pre-change offset (GMT), which lands one hour later on the wall clock; in the autumn
    repeat it picks the first (BST) occurrence.
    """
    wall = datetime.combine(local_date, local_start, tzinfo=LONDON)  # fold=0
    instant = wall.astimezone(UTC)
    if instant.astimezone(LONDON).replace(tzinfo=None) != wall.replace(tzinfo=None):
        return instant, StartResolution.SHIFTED_FORWARD
    if wall.replace(fold=1).utcoffset() != wall.utcoffset():
        return instant, StartResolution.FIRST_OF_REPEATED
    return instant, StartResolution.EXACT


def check_date_range(date_from: date, date_to: date) -> None:
    """Refuse a reversed range or one longer than `MAX_RANGE_DAYS` (both ends inclusive)."""
    if date_to < date_from:
        raise InvalidInput(
            "dateTo",
            f"{date_to.isoformat()} is before dateFrom {date_from.isoformat()}",
            code="DATE_RANGE_REVERSED",
        )
    days = (date_to - date_from).days + 1
    if days > MAX_RANGE_DAYS:
        raise InvalidInput(
            "dateTo",
            f"the range covers {days} days; at most {MAX_RANGE_DAYS} days per call",
            code="DATE_RANGE_TOO_LONG",
        )


def generate_occurrences(
    schedule: WeeklySchedule, date_from: date, date_to: date
) -> list[PlannedVisit]:
    """Every planned visit of `schedule` on local dates `date_from`..`date_to` inclusive.

    Sorted by planned start, then entry id, so the output is deterministic. A visit belongs to the
    local date it starts on, even when it runs past midnight.
    """
    check_date_range(date_from, date_to)
    visits: list[PlannedVisit] = []
    for offset in range((date_to - date_from).days + 1):
        local_date = date_from + timedelta(days=offset)
        for entry in schedule.entries:
            if Weekday(local_date.weekday()) not in entry.weekdays:
                continue
            start, resolution = resolve_local_start(local_date, entry.local_start)
            visits.append(
                PlannedVisit(
                    idempotency_key=visit_key(schedule.package_id, entry.entry_id, local_date),
                    package_id=schedule.package_id,
                    entry_id=entry.entry_id,
                    local_date=local_date,
                    local_start=entry.local_start,
                    planned_start=start,
                    planned_end=start + entry.duration,
                    start_resolution=resolution,
                    time_critical=entry.time_critical,
                    double_handed=entry.double_handed,
                    tasks=entry.tasks,
                )
            )
    visits.sort(key=lambda visit: (visit.planned_start, str(visit.entry_id)))
    return visits
