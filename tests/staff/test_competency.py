from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from hub.errors import Conflict, InvalidInput
from hub.staff.competency import (
    ASSIGNABLE_STATUSES,
    AssignmentCheck,
    AssignmentRefused,
    Carer,
    CompetencyRecord,
    CompetencyStatus,
    KnownCompetence,
    Refusal,
    RefusalCode,
    TaskRequirement,
    VisitRequirements,
    check_assignment,
    competence_label,
    effective_status,
)

C = CompetencyStatus
MEDICATION = KnownCompetence.MEDICATION
HANDLING = KnownCompetence.MOVING_AND_HANDLING

VISIT_DAY = date(2026, 4, 14)
EXPIRY = date(2026, 4, 14)
NEXT_YEAR = date(2027, 4, 14)

SAM = uuid.UUID("0190f5a0-0000-7000-8000-00000000005a")
PRIYA = uuid.UUID("0190f5a0-0000-7000-8000-0000000000b1")

ADMINISTER = TaskRequirement("administer medication", MEDICATION)
CREAMS = TaskRequirement("apply topical creams", MEDICATION)
HOIST = TaskRequirement("transfer with hoist", HANDLING)
BREAKFAST = TaskRequirement("prepare breakfast")


def carer(name: str = "Sam Patel", staff_id: uuid.UUID = SAM, *records: CompetencyRecord) -> Carer:
    return Carer(staff_id=staff_id, display_name=name, competencies=records)


def record(code: str, status: CompetencyStatus, expires_on: date = NEXT_YEAR) -> CompetencyRecord:
    return CompetencyRecord(code=code, status=status, expires_on=expires_on)


def visit(
    *tasks: TaskRequirement, double_handed: bool = False, on: date = VISIT_DAY
) -> VisitRequirements:
    return VisitRequirements(visit_date=on, double_handed=double_handed, tasks=tasks)


# Expiry: the expiry date is the last valid day.


@pytest.mark.parametrize("stored", [C.EVIDENCED, C.REVALIDATED, C.RESTRICTED])
@pytest.mark.parametrize(
    ("today", "expired"),
    [
        (EXPIRY - timedelta(days=1), False),
        (EXPIRY, False),
        (EXPIRY + timedelta(days=1), True),
    ],
)
def test_a_competency_past_its_expiry_is_expired_without_anyone_updating_it(
    stored: CompetencyStatus, today: date, expired: bool
) -> None:
    status = effective_status(record(MEDICATION, stored, EXPIRY), today)
    assert status is (C.EXPIRED if expired else stored)


def test_a_stored_expired_status_stays_expired_before_the_date() -> None:
    assert effective_status(record(MEDICATION, C.EXPIRED, EXPIRY), date(2026, 1, 1)) is C.EXPIRED


def test_only_evidenced_and_revalidated_are_assignable() -> None:
    assert {C.EVIDENCED, C.REVALIDATED} == ASSIGNABLE_STATUSES


# Gating by competence.


@pytest.mark.parametrize("status", [C.EVIDENCED, C.REVALIDATED])
def test_an_evidenced_or_revalidated_carer_may_administer_medication(
    status: CompetencyStatus,
) -> None:
    result = check_assignment(
        visit(ADMINISTER), [carer("Sam Patel", SAM, record(MEDICATION, status))]
    )
    assert result.ok
    assert result.refusals == ()
    result.raise_if_refused()


def test_a_restricted_carer_is_refused_with_the_task_named() -> None:
    result = check_assignment(
        visit(ADMINISTER), [carer("Sam Patel", SAM, record(MEDICATION, C.RESTRICTED))]
    )
    assert not result.ok
    assert result.refusals == (
        Refusal(
            RefusalCode.COMPETENCE_RESTRICTED,
            "Sam Patel cannot be assigned: medication competence is restricted "
            "(task: administer medication)",
            staff_id=SAM,
            competence="medication",
            tasks=("administer medication",),
        ),
    )


def test_a_carer_whose_competence_lapsed_by_date_is_told_when() -> None:
    sam = carer("Sam Patel", SAM, record(MEDICATION, C.EVIDENCED, date(2026, 4, 13)))
    (refusal,) = check_assignment(visit(ADMINISTER), [sam]).refusals
    assert refusal.code is RefusalCode.COMPETENCE_EXPIRED
    assert refusal.message == (
        "Sam Patel cannot be assigned: medication competence expired on 2026-04-13 "
        "(task: administer medication)"
    )


def test_a_carer_stored_as_expired_is_refused() -> None:
    sam = carer("Sam Patel", SAM, record(MEDICATION, C.EXPIRED))
    (refusal,) = check_assignment(visit(ADMINISTER), [sam]).refusals
    assert refusal.code is RefusalCode.COMPETENCE_EXPIRED
    assert refusal.message == (
        "Sam Patel cannot be assigned: medication competence is expired "
        "(task: administer medication)"
    )


@pytest.mark.parametrize(
    ("visit_day", "ok"),
    [
        (EXPIRY - timedelta(days=1), True),
        (EXPIRY, True),
        (EXPIRY + timedelta(days=1), False),
    ],
)
def test_competence_is_judged_on_the_visit_date(visit_day: date, ok: bool) -> None:
    sam = carer("Sam Patel", SAM, record(MEDICATION, C.REVALIDATED, EXPIRY))
    assert check_assignment(visit(ADMINISTER, on=visit_day), [sam]).ok is ok


def test_a_carer_with_no_record_is_refused_no_assumptions() -> None:
    (refusal,) = check_assignment(visit(ADMINISTER), [carer("Sam Patel", SAM)]).refusals
    assert refusal.code is RefusalCode.COMPETENCE_MISSING
    assert refusal.message == (
        "Sam Patel cannot be assigned: no medication competence on record "
        "(task: administer medication)"
    )


def test_tasks_needing_one_competence_give_one_refusal_naming_all_of_them() -> None:
    sam = carer("Sam Patel", SAM, record(MEDICATION, C.RESTRICTED))
    (refusal,) = check_assignment(visit(ADMINISTER, BREAKFAST, CREAMS), [sam]).refusals
    assert refusal.message == (
        "Sam Patel cannot be assigned: medication competence is restricted "
        "(tasks: administer medication, apply topical creams)"
    )
    assert refusal.tasks == ("administer medication", "apply topical creams")


def test_tasks_needing_no_competence_never_refuse() -> None:
    assert check_assignment(visit(BREAKFAST), [carer("Sam Patel", SAM)]).ok


def test_other_competences_do_not_count() -> None:
    sam = carer("Sam Patel", SAM, record(HANDLING, C.EVIDENCED))
    (refusal,) = check_assignment(visit(ADMINISTER, HOIST), [sam]).refusals
    assert refusal.competence == "medication"


# Number of carers.


def test_a_double_handed_visit_needs_two_carers() -> None:
    sam = carer("Sam Patel", SAM, record(HANDLING, C.EVIDENCED))
    result = check_assignment(visit(HOIST, double_handed=True), [sam])
    assert [r.message for r in result.refusals] == [
        "this visit is double-handed and needs 2 carers; 1 given"
    ]
    assert result.refusals[0].code is RefusalCode.WRONG_NUMBER_OF_CARERS


def test_a_double_handed_visit_with_two_competent_carers_is_ok() -> None:
    sam = carer("Sam Patel", SAM, record(HANDLING, C.EVIDENCED))
    priya = carer("Priya Shah", PRIYA, record(HANDLING, C.REVALIDATED))
    assert check_assignment(visit(HOIST, double_handed=True), [sam, priya]).ok


def test_a_double_handed_visit_refuses_three_carers() -> None:
    carers = [carer(f"Carer {n}", uuid.UUID(int=n)) for n in range(3)]
    (refusal,) = check_assignment(visit(double_handed=True), carers).refusals
    assert refusal.message == "this visit is double-handed and needs 2 carers; 3 given"


def test_the_same_carer_cannot_fill_both_places() -> None:
    sam = carer("Sam Patel", SAM, record(HANDLING, C.EVIDENCED))
    (refusal,) = check_assignment(visit(HOIST, double_handed=True), [sam, sam]).refusals
    assert refusal.code is RefusalCode.CARER_GIVEN_TWICE
    assert refusal.message == "Sam Patel is given twice; each carer can fill one place"


@pytest.mark.parametrize(("count", "given"), [(0, "0 given"), (2, "2 given")])
def test_a_single_handed_visit_needs_exactly_one_carer(count: int, given: str) -> None:
    carers = [carer(f"Carer {n}", uuid.UUID(int=n)) for n in range(count)]
    (refusal,) = check_assignment(visit(BREAKFAST), carers).refusals
    assert refusal.message == f"this visit is single-handed and needs 1 carer; {given}"


def test_every_refusal_is_reported_in_a_stable_order() -> None:
    sam = carer("Sam Patel", SAM, record(MEDICATION, C.RESTRICTED))
    priya = carer(
        "Priya Shah",
        PRIYA,
        record(MEDICATION, C.EVIDENCED, date(2026, 1, 31)),
        record(HANDLING, C.EVIDENCED),
    )
    lee = carer("Lee Wong", uuid.UUID(int=7))
    result = check_assignment(visit(ADMINISTER, HOIST, double_handed=True), [sam, priya, lee])
    assert [r.message for r in result.refusals] == [
        "this visit is double-handed and needs 2 carers; 3 given",
        "Sam Patel cannot be assigned: medication competence is restricted "
        "(task: administer medication)",
        "Sam Patel cannot be assigned: no moving and handling competence on record "
        "(task: transfer with hoist)",
        "Priya Shah cannot be assigned: medication competence expired on 2026-01-31 "
        "(task: administer medication)",
        "Lee Wong cannot be assigned: no medication competence on record "
        "(task: administer medication)",
        "Lee Wong cannot be assigned: no moving and handling competence on record "
        "(task: transfer with hoist)",
    ]


# The error services raise.


def test_refusals_become_an_assignment_refused_conflict_carrying_every_reason() -> None:
    result = check_assignment(
        visit(ADMINISTER, double_handed=True),
        [carer("Sam Patel", SAM, record(MEDICATION, C.RESTRICTED))],
    )
    with pytest.raises(AssignmentRefused) as refused:
        result.raise_if_refused()
    error = refused.value
    assert isinstance(error, Conflict)
    assert error.code == "ASSIGNMENT_REFUSED"
    assert error.refusals == result.refusals
    assert error.message == (
        "this visit is double-handed and needs 2 carers; 1 given; "
        "Sam Patel cannot be assigned: medication competence is restricted "
        "(task: administer medication)"
    )


def test_an_empty_check_is_ok() -> None:
    assert AssignmentCheck().ok


# Codes and labels.


def test_known_competences_read_in_the_field_vocabulary() -> None:
    assert [competence_label(c) for c in KnownCompetence] == [
        "safeguarding",
        "medication",
        "moving and handling",
        "dementia",
        "MCA/DoLS awareness",
        "infection prevention",
    ]


def test_a_contract_specific_competence_is_accepted_and_gated_like_the_others() -> None:
    catheter = TaskRequirement("change catheter bag", "catheter_care")
    assert competence_label("catheter_care") == "catheter care"
    (refusal,) = check_assignment(visit(catheter), [carer("Sam Patel", SAM)]).refusals
    assert refusal.message == (
        "Sam Patel cannot be assigned: no catheter care competence on record "
        "(task: change catheter bag)"
    )
    trained = carer("Sam Patel", SAM, record("catheter_care", C.EVIDENCED))
    assert check_assignment(visit(catheter), [trained]).ok


@pytest.mark.parametrize("bad", ["", "Medication", "moving and handling", "9lives", "x"])
def test_a_malformed_competence_code_is_refused(bad: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        record(bad, C.EVIDENCED)
    assert (refused.value.field, refused.value.code) == ("competence", "INVALID_COMPETENCE_CODE")
    with pytest.raises(InvalidInput):
        TaskRequirement("a task", bad)


def test_two_records_for_one_competence_are_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        carer("Sam Patel", SAM, record(MEDICATION, C.EVIDENCED), record(MEDICATION, C.RESTRICTED))
    assert refused.value.code == "DUPLICATE_COMPETENCY"
    assert refused.value.reason == "Sam Patel has more than one record for medication"
