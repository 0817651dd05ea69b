from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest

from hub.errors import InvalidInput
from hub.kit.time import LONDON
from hub.staff.competency import KnownCompetence, TaskRequirement
from hub.visits.schedule import (
    MAX_RANGE_DAYS,
    PlannedVisit,
    ScheduleEntry,
    StartResolution,
    Weekday,
    WeeklySchedule,
    generate_occurrences,
    resolve_local_start,
    visit_key,
)

PACKAGE = uuid.UUID("0190f5a0-0000-7000-8000-000000000001")
MORNING = uuid.UUID("0190f5a0-0000-7000-8000-0000000000a1")
NIGHT = uuid.UUID("0190f5a0-0000-7000-8000-0000000000b2")
EVERY_DAY = frozenset(Weekday)

# UK clock changes: the last Sunday of March (01:00 GMT -> 02:00 BST) and of October
# (02:00 BST -> 01:00 GMT).
SPRING_2026 = date(2026, 3, 29)
AUTUMN_2026 = date(2026, 10, 25)
SPRING_2027 = date(2027, 3, 28)
AUTUMN_2027 = date(2027, 10, 31)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def entry(
    start: time,
    *,
    entry_id: uuid.UUID = MORNING,
    minutes: int = 60,
    weekdays: frozenset[Weekday] = EVERY_DAY,
    time_critical: bool = False,
    double_handed: bool = False,
    tasks: tuple[TaskRequirement, ...] = (),
) -> ScheduleEntry:
    return ScheduleEntry(
        entry_id=entry_id,
        weekdays=weekdays,
        local_start=start,
        duration=timedelta(minutes=minutes),
        time_critical=time_critical,
        double_handed=double_handed,
        tasks=tasks,
    )


def schedule(*entries: ScheduleEntry) -> WeeklySchedule:
    return WeeklySchedule(package_id=PACKAGE, entries=entries)


def one_day(s: WeeklySchedule, day: date) -> list[PlannedVisit]:
    return generate_occurrences(s, day, day)


def starts(visits: list[PlannedVisit]) -> list[tuple[date, datetime]]:
    return [(v.local_date, v.planned_start) for v in visits]


def test_a_0800_visit_is_0800_utc_in_winter_and_0700_utc_in_summer() -> None:
    s = schedule(entry(time(8, 0)))
    assert one_day(s, date(2026, 1, 12))[0].planned_start == utc(2026, 1, 12, 8, 0)
    assert one_day(s, date(2026, 7, 13))[0].planned_start == utc(2026, 7, 13, 7, 0)


@pytest.mark.parametrize("change_day", [SPRING_2026, SPRING_2027])
def test_an_0800_visit_moves_an_hour_earlier_in_utc_on_the_spring_change(change_day: date) -> None:
    s = schedule(entry(time(8, 0)))
    visits = generate_occurrences(s, change_day - timedelta(days=1), change_day + timedelta(days=1))
    saturday, sunday, monday = (change_day + timedelta(days=n) for n in (-1, 0, 1))
    assert starts(visits) == [
        (saturday, datetime.combine(saturday, time(8, 0), tzinfo=UTC)),
        (sunday, datetime.combine(sunday, time(7, 0), tzinfo=UTC)),
        (monday, datetime.combine(monday, time(7, 0), tzinfo=UTC)),
    ]
    assert {v.start_resolution for v in visits} == {StartResolution.EXACT}
    assert all(v.planned_start.astimezone(LONDON).time() == time(8, 0) for v in visits)


@pytest.mark.parametrize("change_day", [AUTUMN_2026, AUTUMN_2027])
def test_an_0800_visit_moves_an_hour_later_in_utc_on_the_autumn_change(change_day: date) -> None:
    s = schedule(entry(time(8, 0)))
    visits = generate_occurrences(s, change_day - timedelta(days=1), change_day + timedelta(days=1))
    saturday, sunday, monday = (change_day + timedelta(days=n) for n in (-1, 0, 1))
    assert starts(visits) == [
        (saturday, datetime.combine(saturday, time(7, 0), tzinfo=UTC)),
        (sunday, datetime.combine(sunday, time(8, 0), tzinfo=UTC)),
        (monday, datetime.combine(monday, time(8, 0), tzinfo=UTC)),
    ]
    assert all(v.planned_start.astimezone(LONDON).time() == time(8, 0) for v in visits)


@pytest.mark.parametrize("change_day", [SPRING_2026, SPRING_2027])
def test_a_0130_visit_on_the_spring_change_is_shifted_forward_by_the_gap(change_day: date) -> None:
    s = schedule(entry(time(1, 30), entry_id=NIGHT))
    visits = generate_occurrences(s, change_day - timedelta(days=1), change_day + timedelta(days=1))
    saturday, sunday, monday = visits
    # 01:30 does not exist on the change day: it becomes 02:30 BST, which is 01:30 UTC.
    assert sunday.local_date == change_day
    assert sunday.planned_start == datetime.combine(change_day, time(1, 30), tzinfo=UTC)
    assert sunday.planned_start.astimezone(LONDON).time() == time(2, 30)
    assert sunday.start_resolution is StartResolution.SHIFTED_FORWARD
    assert sunday.local_start == time(1, 30)  # the schedule's own time is kept for display
    # The days either side are ordinary: 01:30 GMT on Saturday, 01:30 BST (00:30 UTC) on Monday.
    assert saturday.planned_start == datetime.combine(saturday.local_date, time(1, 30), tzinfo=UTC)
    assert monday.planned_start == datetime.combine(monday.local_date, time(0, 30), tzinfo=UTC)
    assert saturday.start_resolution is monday.start_resolution is StartResolution.EXACT


@pytest.mark.parametrize("change_day", [AUTUMN_2026, AUTUMN_2027])
def test_a_0130_visit_on_the_autumn_change_takes_the_first_occurrence(change_day: date) -> None:
    s = schedule(entry(time(1, 30), entry_id=NIGHT))
    visits = generate_occurrences(s, change_day - timedelta(days=1), change_day + timedelta(days=1))
    saturday, sunday, monday = visits
    # 01:30 happens twice (00:30 UTC in BST, then 01:30 UTC in GMT): the first is taken.
    assert sunday.planned_start == datetime.combine(change_day, time(0, 30), tzinfo=UTC)
    assert sunday.planned_start.astimezone(LONDON).time() == time(1, 30)
    assert sunday.planned_start.astimezone(LONDON).utcoffset() == timedelta(hours=1)
    assert sunday.start_resolution is StartResolution.FIRST_OF_REPEATED
    assert saturday.planned_start == datetime.combine(saturday.local_date, time(0, 30), tzinfo=UTC)
    assert monday.planned_start == datetime.combine(monday.local_date, time(1, 30), tzinfo=UTC)
    assert saturday.start_resolution is monday.start_resolution is StartResolution.EXACT


@pytest.mark.parametrize(
    ("day", "local", "expected_utc", "resolution"),
    [
        # Spring 2026: 00:59 exists, 01:00-01:59 do not, 02:00 exists.
        (SPRING_2026, time(0, 59), utc(2026, 3, 29, 0, 59), StartResolution.EXACT),
        (SPRING_2026, time(1, 0), utc(2026, 3, 29, 1, 0), StartResolution.SHIFTED_FORWARD),
        (SPRING_2026, time(1, 59), utc(2026, 3, 29, 1, 59), StartResolution.SHIFTED_FORWARD),
        (SPRING_2026, time(2, 0), utc(2026, 3, 29, 1, 0), StartResolution.EXACT),
        # Autumn 2026: 00:59 is once (BST), 01:00-01:59 twice, 02:00 once (GMT).
        (AUTUMN_2026, time(0, 59), utc(2026, 10, 24, 23, 59), StartResolution.EXACT),
        (AUTUMN_2026, time(1, 0), utc(2026, 10, 25, 0, 0), StartResolution.FIRST_OF_REPEATED),
        (AUTUMN_2026, time(1, 59), utc(2026, 10, 25, 0, 59), StartResolution.FIRST_OF_REPEATED),
        (AUTUMN_2026, time(2, 0), utc(2026, 10, 25, 2, 0), StartResolution.EXACT),
        # 2027's changes fall on 28 March and 31 October.
        (SPRING_2027, time(1, 30), utc(2027, 3, 28, 1, 30), StartResolution.SHIFTED_FORWARD),
        (AUTUMN_2027, time(1, 30), utc(2027, 10, 31, 0, 30), StartResolution.FIRST_OF_REPEATED),
        # The Sundays before are ordinary.
        (date(2027, 3, 21), time(1, 30), utc(2027, 3, 21, 1, 30), StartResolution.EXACT),
        (date(2027, 10, 24), time(1, 30), utc(2027, 10, 24, 0, 30), StartResolution.EXACT),
    ],
)
def test_local_starts_resolve_at_the_edges_of_each_change(
    day: date, local: time, expected_utc: datetime, resolution: StartResolution
) -> None:
    assert resolve_local_start(day, local) == (expected_utc, resolution)


def test_01_00_and_02_00_on_the_spring_change_land_on_the_same_instant() -> None:
    # A documented consequence of shifting by the gap: 01:00 (missing) becomes 02:00 BST.
    visits = one_day(
        schedule(entry(time(1, 0), entry_id=NIGHT), entry(time(2, 0), entry_id=MORNING)),
        SPRING_2026,
    )
    assert [v.planned_start for v in visits] == [utc(2026, 3, 29, 1, 0)] * 2
    assert [v.entry_id for v in visits] == [MORNING, NIGHT]  # a tie is ordered by entry id


def test_two_starts_in_the_gap_keep_their_order_and_spacing() -> None:
    visits = one_day(
        schedule(entry(time(1, 15), entry_id=NIGHT), entry(time(1, 45), entry_id=MORNING)),
        SPRING_2026,
    )
    assert [v.planned_start for v in visits] == [utc(2026, 3, 29, 1, 15), utc(2026, 3, 29, 1, 45)]


def test_duration_is_elapsed_time_across_the_spring_change() -> None:
    (visit,) = one_day(schedule(entry(time(0, 30), minutes=60)), SPRING_2026)
    assert visit.planned_end - visit.planned_start == timedelta(minutes=60)
    # On the wall clock it runs 00:30 GMT to 02:30 BST.
    assert visit.planned_start.astimezone(LONDON).time() == time(0, 30)
    assert visit.planned_end.astimezone(LONDON).time() == time(2, 30)


def test_duration_is_elapsed_time_across_the_autumn_change() -> None:
    (visit,) = one_day(schedule(entry(time(1, 30), minutes=60)), AUTUMN_2026)
    assert (visit.planned_start, visit.planned_end) == (
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 25, 1, 30),
    )
    # Starts at 01:30 BST and ends at 01:30 GMT: the same wall-clock reading an hour later.
    assert visit.planned_start.astimezone(LONDON).time() == time(1, 30)
    assert visit.planned_end.astimezone(LONDON).time() == time(1, 30)


def test_planned_times_are_aware_utc() -> None:
    (visit,) = one_day(schedule(entry(time(8, 0))), date(2026, 6, 1))
    assert visit.planned_start.tzinfo is UTC
    assert visit.planned_end.tzinfo is UTC


def test_a_week_has_the_expected_number_of_visits() -> None:
    qds = [
        entry(time(h, 0), entry_id=uuid.UUID(int=h), minutes=30, time_critical=h == 8)
        for h in (8, 12, 17, 21)
    ]
    mwf = entry(
        time(10, 0),
        entry_id=uuid.UUID(int=99),
        weekdays=frozenset({Weekday.MONDAY, Weekday.WEDNESDAY, Weekday.FRIDAY}),
    )
    # The week of the autumn 2026 change: Monday 19 to Sunday 25 October.
    visits = generate_occurrences(schedule(*qds, mwf), date(2026, 10, 19), AUTUMN_2026)
    assert len(visits) == 4 * 7 + 3
    assert sum(v.time_critical for v in visits) == 7
    mwf_days = [v.local_date for v in visits if v.entry_id == mwf.entry_id]
    assert mwf_days == [date(2026, 10, 19), date(2026, 10, 21), date(2026, 10, 23)]
    assert [v.planned_start for v in visits] == sorted(v.planned_start for v in visits)


def test_both_ends_of_the_range_are_included() -> None:
    visits = generate_occurrences(schedule(entry(time(9, 0))), date(2026, 5, 1), date(2026, 5, 3))
    assert [v.local_date for v in visits] == [date(2026, 5, 1), date(2026, 5, 2), date(2026, 5, 3)]


def test_a_visit_past_midnight_belongs_to_the_day_it_starts() -> None:
    (visit,) = one_day(schedule(entry(time(23, 30), minutes=60)), date(2026, 5, 1))
    assert visit.local_date == date(2026, 5, 1)
    assert visit.planned_end == utc(2026, 5, 1, 23, 30)  # 00:30 BST on 2 May


def test_the_idempotency_key_is_package_entry_and_local_date() -> None:
    (visit,) = one_day(schedule(entry(time(1, 30))), SPRING_2026)
    assert visit.idempotency_key == f"{PACKAGE}:{MORNING}:2026-03-29"
    assert visit.idempotency_key == visit_key(PACKAGE, MORNING, SPRING_2026)


def test_keys_are_stable_across_calls() -> None:
    s = schedule(entry(time(8, 0)), entry(time(1, 30), entry_id=NIGHT))
    first = generate_occurrences(s, date(2026, 10, 1), date(2026, 10, 31))
    again = generate_occurrences(s, date(2026, 10, 1), date(2026, 10, 31))
    assert first == again
    keys = [v.idempotency_key for v in first]
    assert len(keys) == len(set(keys)) == 62


def test_overlapping_ranges_produce_the_same_keys_for_the_shared_days() -> None:
    s = schedule(entry(time(8, 0)), entry(time(1, 30), entry_id=NIGHT))
    march = generate_occurrences(s, date(2026, 3, 1), date(2026, 3, 31))
    across = generate_occurrences(s, date(2026, 3, 25), date(2026, 4, 10))
    shared = {v.idempotency_key: v for v in march if v.local_date >= date(2026, 3, 25)}
    again = {v.idempotency_key: v for v in across if v.local_date <= date(2026, 3, 31)}
    assert shared == again
    assert len(shared) == 14


def test_entries_carry_their_flags_and_tasks_into_the_visit() -> None:
    administer = TaskRequirement("administer medication", KnownCompetence.MEDICATION)
    s = schedule(entry(time(8, 0), time_critical=True, double_handed=True, tasks=(administer,)))
    (visit,) = one_day(s, date(2026, 6, 1))
    assert visit.time_critical
    assert visit.double_handed
    assert visit.tasks == (administer,)
    requirements = visit.requirements()
    assert requirements.visit_date == date(2026, 6, 1)
    assert requirements.double_handed
    assert requirements.tasks == (administer,)


def test_the_range_may_cover_exactly_the_maximum() -> None:
    visits = generate_occurrences(
        schedule(entry(time(9, 0))),
        date(2026, 1, 1),
        date(2026, 1, 1) + timedelta(days=MAX_RANGE_DAYS - 1),
    )
    assert MAX_RANGE_DAYS == 62
    assert len(visits) == 62


def test_a_range_longer_than_the_maximum_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        generate_occurrences(schedule(entry(time(9, 0))), date(2026, 1, 1), date(2026, 3, 4))
    assert refused.value.field == "dateTo"
    assert refused.value.code == "DATE_RANGE_TOO_LONG"
    assert refused.value.reason == "the range covers 63 days; at most 62 days per call"


def test_a_reversed_range_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        generate_occurrences(schedule(entry(time(9, 0))), date(2026, 1, 2), date(2026, 1, 1))
    assert refused.value.field == "dateTo"
    assert refused.value.code == "DATE_RANGE_REVERSED"
    assert refused.value.reason == "2026-01-01 is before dateFrom 2026-01-02"


@pytest.mark.parametrize(
    ("kwargs", "field", "code"),
    [
        ({"weekdays": frozenset()}, "weekdays", "NO_WEEKDAYS"),
        ({"local_start": time(8, 0, tzinfo=UTC)}, "localStart", "OFFSET_NOT_ALLOWED"),
        ({"duration": timedelta(0)}, "duration", "DURATION_OUT_OF_RANGE"),
        ({"duration": timedelta(minutes=-15)}, "duration", "DURATION_OUT_OF_RANGE"),
        ({"duration": timedelta(hours=24, minutes=1)}, "duration", "DURATION_OUT_OF_RANGE"),
    ],
)
def test_a_malformed_entry_is_refused_with_the_field(
    kwargs: dict[str, object], field: str, code: str
) -> None:
    values: dict[str, object] = {
        "entry_id": MORNING,
        "weekdays": EVERY_DAY,
        "local_start": time(8, 0),
        "duration": timedelta(minutes=30),
    }
    values.update(kwargs)
    with pytest.raises(InvalidInput) as refused:
        ScheduleEntry(**values)  # type: ignore[arg-type]
    assert (refused.value.field, refused.value.code) == (field, code)


def test_duplicate_entry_ids_are_refused_because_their_keys_would_collide() -> None:
    with pytest.raises(InvalidInput) as refused:
        schedule(entry(time(8, 0)), entry(time(18, 0)))
    assert (refused.value.field, refused.value.code) == ("entries", "DUPLICATE_ENTRY_ID")


def test_weekdays_follow_date_weekday_numbering() -> None:
    assert Weekday(date(2026, 3, 29).weekday()) is Weekday.SUNDAY
    assert Weekday(date(2026, 3, 30).weekday()) is Weekday.MONDAY
