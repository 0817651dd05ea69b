"""A visit's status, derived from facts and the clock — never set by hand.

Carers record facts (check-in, check-out); the office records a cancellation; the contract sets
the tolerances. The status is a function of those and "now", so every replica, every replay of
the audit timeline and the worker's late/missed rules agree on it, and a fact that syncs hours
late from an offline device changes the status without anyone editing it.

Precedence, first match wins:

1. **cancelled** — the cancellation is recorded. The visit is no longer owed, whatever else is
   recorded; an attended cancelled visit is a data-quality question for an exception rule, not a
   different status.
2. **completed** — a check-out is recorded (with or without a check-in: manual and supplier
   entries sometimes carry only the check-out, and it still shows the visit was attended).
3. **in_progress** — a check-in is recorded without a check-out.
4. **scheduled** — no check-in, and now is at or before the late threshold.
5. **late** — no check-in, now is after the late threshold and at or before the missed threshold.
6. **missed** — no check-in, now is after the missed threshold.

Facts beat the clock: a carer who checks in two hours after the planned start makes the visit
in_progress, not missed. Punctuality of attended visits is measured from the check-in time by the
exception rules and KPIs; it is not this status's job.

Boundaries: a tolerance is an allowance, and its last instant is inside it. With a 15-minute late
tolerance and a 09:00 planned start, the visit is scheduled at 09:15:00 exactly and late from
09:15:00.000001; likewise it is late at the missed threshold exactly and missed just after it.
Time-critical visits use the tighter late tolerance (DESIGN.md §5).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from hub.errors import InvalidInput


class VisitStatus(StrEnum):
    """A visit's status, always derived by `derive_visit_status`, never set by hand."""

    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    LATE = "late"
    MISSED = "missed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class VisitTolerances:
    """A contract's punctuality tolerances, in whole minutes after the planned start.

    The time-critical tolerance must be no looser than the standard one, and both must fall
    before the missed threshold: otherwise a visit would be "missed" before it was ever "late".
    """

    late_after_minutes: int = 15
    time_critical_late_after_minutes: int = 5
    missed_after_minutes: int = 60

    def __post_init__(self) -> None:
        if self.time_critical_late_after_minutes < 0:
            raise InvalidInput(
                "timeCriticalLateAfterMinutes", "must not be negative", code="NEGATIVE_TOLERANCE"
            )
        if self.late_after_minutes < self.time_critical_late_after_minutes:
            raise InvalidInput(
                "lateAfterMinutes",
                "must be at least the time-critical tolerance "
                f"({self.time_critical_late_after_minutes} minutes)",
                code="TOLERANCE_ORDER",
            )
        if self.missed_after_minutes <= self.late_after_minutes:
            raise InvalidInput(
                "missedAfterMinutes",
                f"must be more than the late tolerance ({self.late_after_minutes} minutes)",
                code="TOLERANCE_ORDER",
            )


@dataclass(frozen=True, slots=True)
class VisitFacts:
    """What is known about one visit: its plan and the facts recorded so far (aware datetimes)."""

    planned_start: datetime
    planned_end: datetime
    time_critical: bool = False
    cancelled: bool = False
    checked_in_at: datetime | None = None
    checked_out_at: datetime | None = None

    def __post_init__(self) -> None:
        for name, value in (
            ("plannedStart", self.planned_start),
            ("plannedEnd", self.planned_end),
            ("checkedInAt", self.checked_in_at),
            ("checkedOutAt", self.checked_out_at),
        ):
            if value is not None:
                _require_aware(name, value)
        if self.planned_end <= self.planned_start:
            raise InvalidInput(
                "plannedEnd", "must be after plannedStart", code="PLANNED_END_NOT_AFTER_START"
            )

    @property
    def out_of_order(self) -> bool:
        """The recorded check-out is before the recorded check-in. Both are kept as the
        carer's devices reported them (a visit never shows a time that did not happen); the
        status is still derived from which facts exist, and the office is shown the order."""
        return (
            self.checked_in_at is not None
            and self.checked_out_at is not None
            and self.checked_out_at < self.checked_in_at
        )


@dataclass(frozen=True, slots=True)
class VisitDeadlines:
    """The instants after which an unattended visit is late, then missed (aware UTC).

    The worker schedules its late/missed rules for these instants.
    """

    late_after: datetime
    missed_after: datetime


def visit_deadlines(
    planned_start: datetime, *, time_critical: bool, tolerances: VisitTolerances
) -> VisitDeadlines:
    """The late and missed thresholds of a visit; time-critical visits get the tighter one."""
    start = _require_aware("plannedStart", planned_start)
    late_minutes = (
        tolerances.time_critical_late_after_minutes
        if time_critical
        else tolerances.late_after_minutes
    )
    return VisitDeadlines(
        late_after=start + timedelta(minutes=late_minutes),
        missed_after=start + timedelta(minutes=tolerances.missed_after_minutes),
    )


def derive_visit_status(
    facts: VisitFacts, tolerances: VisitTolerances, now: datetime
) -> VisitStatus:
    """The visit's status at `now`, by the precedence in the module docstring."""
    current = _require_aware("now", now)
    if facts.cancelled:
        return VisitStatus.CANCELLED
    if facts.checked_out_at is not None:
        return VisitStatus.COMPLETED
    if facts.checked_in_at is not None:
        return VisitStatus.IN_PROGRESS
    deadlines = visit_deadlines(
        facts.planned_start, time_critical=facts.time_critical, tolerances=tolerances
    )
    if current <= deadlines.late_after:
        return VisitStatus.SCHEDULED
    if current <= deadlines.missed_after:
        return VisitStatus.LATE
    return VisitStatus.MISSED


def _require_aware(name: str, value: datetime) -> datetime:
    # A naive time is ambiguous twice a year; refuse it as an input error, not a crash.
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(name, "must carry a timezone offset", code="NAIVE_DATETIME")
    return value.astimezone(UTC)
