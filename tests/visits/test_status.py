from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from hub.errors import InvalidInput
from hub.kit.time import LONDON
from hub.visits.status import (
    VisitDeadlines,
    VisitFacts,
    VisitStatus,
    VisitTolerances,
    derive_visit_status,
    visit_deadlines,
)

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
END = START + timedelta(minutes=45)
TOLERANCES = VisitTolerances(
    late_after_minutes=15, time_critical_late_after_minutes=5, missed_after_minutes=60
)
TICK = timedelta(microseconds=1)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def status_at(now: datetime, **facts: object) -> VisitStatus:
    return derive_visit_status(
        VisitFacts(planned_start=START, planned_end=END, **facts),  # type: ignore[arg-type]
        TOLERANCES,
        now,
    )


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (START - minutes(60), VisitStatus.SCHEDULED),
        (START, VisitStatus.SCHEDULED),
        (START + minutes(14), VisitStatus.SCHEDULED),
        # Exactly planned start + tolerance is still on time...
        (START + minutes(15), VisitStatus.SCHEDULED),
        # ...and the next instant is late.
        (START + minutes(15) + TICK, VisitStatus.LATE),
        (START + minutes(16), VisitStatus.LATE),
        (START + minutes(59), VisitStatus.LATE),
        # Exactly at the missed threshold is still late; the next instant is missed.
        (START + minutes(60), VisitStatus.LATE),
        (START + minutes(60) + TICK, VisitStatus.MISSED),
        (START + minutes(61), VisitStatus.MISSED),
        (START + timedelta(days=2), VisitStatus.MISSED),
    ],
)
def test_an_unattended_standard_visit_at_the_edge_minutes(
    now: datetime, expected: VisitStatus
) -> None:
    assert status_at(now) is expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (START + minutes(5), VisitStatus.SCHEDULED),
        (START + minutes(5) + TICK, VisitStatus.LATE),
        # A standard visit would still be on time here.
        (START + minutes(15), VisitStatus.LATE),
        # The missed threshold is the contract's, the same for time-critical calls.
        (START + minutes(60), VisitStatus.LATE),
        (START + minutes(60) + TICK, VisitStatus.MISSED),
    ],
)
def test_a_time_critical_visit_uses_the_tighter_late_tolerance(
    now: datetime, expected: VisitStatus
) -> None:
    assert status_at(now, time_critical=True) is expected


def test_a_check_in_makes_the_visit_in_progress_whenever_it_arrives() -> None:
    assert (
        status_at(START + minutes(5), checked_in_at=START + minutes(2)) is VisitStatus.IN_PROGRESS
    )
    # Checked in two hours late: facts beat the clock, the visit is not missed.
    late_arrival = START + minutes(120)
    assert status_at(late_arrival, checked_in_at=late_arrival) is VisitStatus.IN_PROGRESS


def test_a_late_synced_check_in_turns_missed_into_completed() -> None:
    now = START + minutes(180)
    assert status_at(now) is VisitStatus.MISSED
    synced = status_at(now, checked_in_at=START + minutes(3), checked_out_at=START + minutes(48))
    assert synced is VisitStatus.COMPLETED


def test_a_check_out_completes_the_visit() -> None:
    assert (
        status_at(END, checked_in_at=START, checked_out_at=END - minutes(1))
        is VisitStatus.COMPLETED
    )


def test_a_check_out_without_a_check_in_still_completes_the_visit() -> None:
    assert status_at(START + minutes(90), checked_out_at=END) is VisitStatus.COMPLETED


def test_cancelled_wins_over_every_fact_and_every_time() -> None:
    for now in (START - minutes(60), START + minutes(30), START + minutes(600)):
        assert status_at(now, cancelled=True) is VisitStatus.CANCELLED
    assert (
        status_at(START + minutes(30), cancelled=True, checked_in_at=START, checked_out_at=END)
        is VisitStatus.CANCELLED
    )


NOW_PHASES = {
    "before_late": START + minutes(10),
    "late": START + minutes(30),
    "missed": START + minutes(90),
}


@pytest.mark.parametrize(
    ("cancelled", "checked_in", "checked_out", "phase"),
    list(itertools.product([False, True], [False, True], [False, True], NOW_PHASES)),
)
def test_the_precedence_over_every_combination_of_facts(
    cancelled: bool, checked_in: bool, checked_out: bool, phase: str
) -> None:
    if cancelled:
        expected = VisitStatus.CANCELLED
    elif checked_out:
        expected = VisitStatus.COMPLETED
    elif checked_in:
        expected = VisitStatus.IN_PROGRESS
    else:
        expected = {
            "before_late": VisitStatus.SCHEDULED,
            "late": VisitStatus.LATE,
            "missed": VisitStatus.MISSED,
        }[phase]
    status = status_at(
        NOW_PHASES[phase],
        cancelled=cancelled,
        checked_in_at=START + minutes(1) if checked_in else None,
        checked_out_at=START + minutes(2) if checked_out else None,
    )
    assert status is expected


def test_now_in_london_time_is_the_same_instant() -> None:
    # 09:15 UTC in November is 09:15 GMT; in BST the same instant reads 10:15.
    summer_start = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    facts = VisitFacts(planned_start=summer_start, planned_end=summer_start + minutes(30))
    on_time = datetime(2026, 7, 1, 10, 15, tzinfo=LONDON)
    assert derive_visit_status(facts, TOLERANCES, on_time) is VisitStatus.SCHEDULED
    assert derive_visit_status(facts, TOLERANCES, on_time + TICK) is VisitStatus.LATE


def test_tolerances_count_elapsed_minutes_across_the_spring_change() -> None:
    # 00:50 GMT on 29 March 2026; 15 minutes later the wall clock reads 02:05 BST.
    start = datetime(2026, 3, 29, 0, 50, tzinfo=UTC)
    facts = VisitFacts(planned_start=start, planned_end=start + minutes(30))
    edge = datetime(2026, 3, 29, 2, 5, tzinfo=LONDON)
    assert edge == start + minutes(15)
    assert derive_visit_status(facts, TOLERANCES, edge) is VisitStatus.SCHEDULED
    assert derive_visit_status(facts, TOLERANCES, edge + TICK) is VisitStatus.LATE


def test_the_deadlines_are_exact_instants_for_the_worker() -> None:
    assert visit_deadlines(START, time_critical=False, tolerances=TOLERANCES) == VisitDeadlines(
        late_after=START + minutes(15), missed_after=START + minutes(60)
    )
    assert visit_deadlines(START, time_critical=True, tolerances=TOLERANCES) == VisitDeadlines(
        late_after=START + minutes(5), missed_after=START + minutes(60)
    )
    local_start = START.astimezone(LONDON)
    deadlines = visit_deadlines(local_start, time_critical=False, tolerances=TOLERANCES)
    assert deadlines.late_after.tzinfo is UTC


def test_default_tolerances_are_valid_and_tighter_for_time_critical_calls() -> None:
    defaults = VisitTolerances()
    assert (
        defaults.time_critical_late_after_minutes
        <= defaults.late_after_minutes
        < defaults.missed_after_minutes
    )


@pytest.mark.parametrize(
    ("late", "critical", "missed", "field"),
    [
        (15, -1, 60, "timeCriticalLateAfterMinutes"),
        (5, 10, 60, "lateAfterMinutes"),
        (15, 5, 15, "missedAfterMinutes"),
        (15, 5, 10, "missedAfterMinutes"),
    ],
)
def test_inconsistent_tolerances_are_refused(
    late: int, critical: int, missed: int, field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        VisitTolerances(
            late_after_minutes=late,
            time_critical_late_after_minutes=critical,
            missed_after_minutes=missed,
        )
    assert refused.value.field == field


def test_equal_standard_and_time_critical_tolerances_are_allowed() -> None:
    tolerances = VisitTolerances(
        late_after_minutes=10, time_critical_late_after_minutes=10, missed_after_minutes=30
    )
    facts = VisitFacts(planned_start=START, planned_end=END, time_critical=True)
    assert derive_visit_status(facts, tolerances, START + minutes(10)) is VisitStatus.SCHEDULED


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        status_at(datetime(2026, 11, 23, 9, 0))  # naive on purpose
    assert (refused.value.field, refused.value.code) == ("now", "NAIVE_DATETIME")


@pytest.mark.parametrize("field", ["planned_start", "checked_in_at", "checked_out_at"])
def test_naive_facts_are_refused_with_the_field(field: str) -> None:
    values: dict[str, object] = {"planned_start": START, "planned_end": END}
    values[field] = datetime(2026, 11, 23, 9, 0)  # naive on purpose
    with pytest.raises(InvalidInput) as refused:
        VisitFacts(**values)  # type: ignore[arg-type]
    camel = {
        "planned_start": "plannedStart",
        "checked_in_at": "checkedInAt",
        "checked_out_at": "checkedOutAt",
    }
    assert (refused.value.field, refused.value.code) == (camel[field], "NAIVE_DATETIME")


def test_a_planned_end_not_after_the_start_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        VisitFacts(planned_start=START, planned_end=START)
    assert (refused.value.field, refused.value.code) == (
        "plannedEnd",
        "PLANNED_END_NOT_AFTER_START",
    )


def test_a_check_out_before_the_check_in_is_kept_out_of_order_and_completes() -> None:
    facts = VisitFacts(
        planned_start=START,
        planned_end=END,
        checked_in_at=START + minutes(10),
        checked_out_at=START + minutes(9),
    )
    assert facts.out_of_order
    assert derive_visit_status(facts, TOLERANCES, START + minutes(20)) is VisitStatus.COMPLETED
