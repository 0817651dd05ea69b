"""The pure parts of the exception engine: the case state machine, the contract policy (ladder
and thresholds), and the rule functions at their boundaries — no database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from hub.errors import InvalidInput
from hub.governance.lifecycle import (
    ALLOWED_FROM,
    CaseCommand,
    CaseStatus,
    IllegalCaseTransition,
    allowed_commands,
    check,
)
from hub.governance.policy import (
    DEFAULT_LADDER,
    DEFAULT_RULE_SETTINGS,
    EscalationTarget,
    RuleSettings,
    next_escalation_at,
    validate_ladder,
)
from hub.governance.rules import (
    CaseRule,
    FactEvent,
    VisitSnapshot,
    late_visit,
    missed_visit,
    observation_trigger,
    reconcile_attendance,
    repeat_pattern,
    short_visit,
)

S = CaseStatus
C = CaseCommand
START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)


# --- state machine ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "current", "after"),
    [
        (C.ACKNOWLEDGE, S.OPEN, S.ACKNOWLEDGED),
        (C.ACKNOWLEDGE, S.ESCALATED, S.ACKNOWLEDGED),
        (C.ESCALATE, S.OPEN, S.ESCALATED),
        (C.ESCALATE, S.ACKNOWLEDGED, S.ESCALATED),
        (C.ESCALATE, S.ESCALATED, S.ESCALATED),
        (C.RESOLVE, S.ACKNOWLEDGED, S.RESOLVED),
        (C.RESOLVE, S.ESCALATED, S.RESOLVED),
        (C.RECONCILE, S.OPEN, S.RESOLVED),
        (C.CLOSE, S.RESOLVED, S.CLOSED),
        (C.ASSIGN, S.ESCALATED, S.ESCALATED),
        (C.ADD_ACTION, S.RESOLVED, S.RESOLVED),
    ],
)
def test_legal_moves(command: CaseCommand, current: CaseStatus, after: CaseStatus) -> None:
    assert check(command, current) is after


@pytest.mark.parametrize(
    ("command", "current", "reason"),
    [
        (C.RESOLVE, S.OPEN, "acknowledge it first"),
        (C.RESOLVE, S.RESOLVED, "already resolved"),
        (C.CLOSE, S.ACKNOWLEDGED, "only a resolved case is closed"),
        (C.ACKNOWLEDGE, S.ACKNOWLEDGED, "already acknowledged"),
        (C.ESCALATE, S.RESOLVED, "only actions, a safeguarding decision or closing remain"),
        (C.ACKNOWLEDGE, S.CLOSED, "closed, which is final"),
        (C.ADD_ACTION, S.CLOSED, "closed, which is final"),
        (C.RECONCILE, S.RESOLVED, "it is resolved"),
    ],
)
def test_illegal_moves_are_refused_with_a_reason(
    command: CaseCommand, current: CaseStatus, reason: str
) -> None:
    with pytest.raises(IllegalCaseTransition) as refused:
        check(command, current)
    assert refused.value.code == "ILLEGAL_CASE_TRANSITION"
    assert reason in refused.value.message
    assert refused.value.message.startswith(f"cannot {command.value.replace('_', ' ')} a case")


def test_closed_is_final_and_every_command_is_defined() -> None:
    assert set(ALLOWED_FROM) == set(CaseCommand)
    assert allowed_commands(S.CLOSED) == ()
    assert allowed_commands(S.OPEN) == (
        C.ACKNOWLEDGE,
        C.ASSIGN,
        C.ESCALATE,
        C.RECONCILE,
        C.ADD_ACTION,
        C.COMPLETE_ACTION,
        C.RECORD_SAFEGUARDING_DECISION,
    )
    assert C.CLOSE in allowed_commands(S.RESOLVED)


# --- policy -------------------------------------------------------------------------------------


def test_the_default_ladder_climbs_to_a_commissioner_notification() -> None:
    assert [(s.level, s.target, s.after_minutes) for s in DEFAULT_LADDER] == [
        (1, EscalationTarget.ON_CALL_MANAGER, 30),
        (2, EscalationTarget.REGISTERED_MANAGER, 60),
        (3, EscalationTarget.COMMISSIONER, 120),
    ]
    assert next_escalation_at(DEFAULT_LADDER, START, 0) == START + timedelta(minutes=30)
    assert next_escalation_at(DEFAULT_LADDER, START, 2) == START + timedelta(minutes=120)
    assert next_escalation_at(DEFAULT_LADDER, START, 3) is None


def test_a_ladder_must_climb_later_at_every_rung() -> None:
    ladder = validate_ladder(
        [(EscalationTarget.REGISTERED_MANAGER, 15), (EscalationTarget.COMMISSIONER, 45)]
    )
    assert [s.level for s in ladder] == [1, 2]
    with pytest.raises(InvalidInput) as refused:
        validate_ladder(
            [(EscalationTarget.ON_CALL_MANAGER, 30), (EscalationTarget.COMMISSIONER, 30)]
        )
    assert refused.value.field == "steps[1].afterMinutes"
    assert refused.value.code == "LADDER_OUT_OF_ORDER"
    with pytest.raises(InvalidInput):
        validate_ladder([(EscalationTarget.ON_CALL_MANAGER, -1)])


def test_rule_settings_are_range_checked() -> None:
    assert DEFAULT_RULE_SETTINGS.pain_threshold == 7
    with pytest.raises(InvalidInput) as refused:
        RuleSettings(pain_threshold=11)
    assert refused.value.field == "settings.painThreshold"
    with pytest.raises(InvalidInput):
        RuleSettings(acknowledge_within_minutes=60, resolve_within_minutes=30)


# --- rules --------------------------------------------------------------------------------------


def _visit(**overrides: object) -> VisitSnapshot:
    values: dict[str, object] = {
        "visit_id": uuid.uuid4(),
        "contract_id": uuid.uuid4(),
        "provider_id": uuid.uuid4(),
        "person_id": uuid.uuid4(),
        "planned_start": START,
        "planned_end": START + timedelta(minutes=30),
        "time_critical": False,
        "double_handed": False,
        "checked_in_at": None,
        "checked_out_at": None,
        "cancelled": False,
        "late_after": START + timedelta(minutes=15),
        "missed_after": START + timedelta(minutes=60),
        "minimum_stay_percent": 80,
    }
    values.update(overrides)
    return VisitSnapshot(**values)  # type: ignore[arg-type]


def _event(payload: dict[str, object], *, occurred_at: datetime = START) -> FactEvent:
    return FactEvent(
        id=1,
        type="visit.observation_recorded",
        subject_type="visit",
        subject_id=uuid.uuid4(),
        contract_id=uuid.uuid4(),
        person_id=uuid.uuid4(),
        organisation_id=uuid.uuid4(),
        occurred_at=occurred_at,
        recorded_at=occurred_at,
        payload={"fact_id": str(uuid.uuid4()), **payload},
    )


def test_late_and_missed_at_their_exact_thresholds() -> None:
    visit = _visit()
    assert late_visit(visit, START + timedelta(minutes=15)) is None
    assert late_visit(visit, START + timedelta(minutes=15) + TICK) is not None
    assert missed_visit(visit, START + timedelta(minutes=60)) is None
    assert missed_visit(visit, START + timedelta(minutes=60) + TICK) is not None
    attended = _visit(checked_out_at=START + timedelta(minutes=20))
    assert missed_visit(attended, START + timedelta(hours=2)) is None


def test_short_is_strictly_under_the_minimum_share() -> None:
    at = START + timedelta(minutes=1)
    assert short_visit(_visit(checked_in_at=at, checked_out_at=at + timedelta(minutes=24))) is None
    spec = short_visit(
        _visit(checked_in_at=at, checked_out_at=at + timedelta(minutes=24) - TICK), (7,)
    )
    assert spec is not None
    assert spec.rule is CaseRule.VISIT_SHORT
    assert spec.evidence == (7,)


@pytest.mark.parametrize(
    ("kind", "values", "triggers"),
    [
        ("pain", {"score": 6}, False),
        ("pain", {"score": 7}, True),
        ("hydration", {"fluid_ml": 200}, False),
        ("hydration", {"fluid_ml": 199}, True),
        ("skin", {"concern": False}, False),
        ("skin", {"concern": True}, True),
        ("fall", {"injury": False}, True),
        ("mood", {"mood": "low"}, False),
        ("nutrition", {"portion_eaten": "none"}, False),
    ],
)
def test_observation_thresholds(kind: str, values: dict[str, object], triggers: bool) -> None:
    spec = observation_trigger(
        _event({"kind": kind, "values": values}), DEFAULT_RULE_SETTINGS, uuid.uuid4()
    )
    assert (spec is not None) is triggers
    if spec is not None:
        assert spec.review is not None


def test_reconciling_a_late_case_by_the_corrected_check_in_time() -> None:
    event = _event({"received_at": (START + timedelta(hours=2)).isoformat()})
    on_time = _visit(checked_in_at=START + timedelta(minutes=15))
    late = _visit(checked_in_at=START + timedelta(minutes=15) + TICK)
    opened = START + timedelta(minutes=16)
    found = reconcile_attendance(CaseRule.VISIT_LATE, on_time, event, opened)
    assert found is not None
    assert (found.kind, found.resolves) == ("on_time_synced_late", True)
    assert found.details["fact_received_at"] == (START + timedelta(hours=2)).isoformat()
    found = reconcile_attendance(CaseRule.VISIT_LATE, late, event, opened)
    assert found is not None
    assert (found.kind, found.resolves) == ("attended_late", False)
    found = reconcile_attendance(CaseRule.VISIT_MISSED, late, event, opened)
    assert found is not None
    assert (found.kind, found.resolves) == ("attended_late", True)
    assert reconcile_attendance(CaseRule.VISIT_SHORT, late, event, opened) is None


def test_a_repeat_pattern_counts_incidents_not_cases() -> None:
    person = uuid.uuid4()
    visit_a, visit_b = uuid.uuid4(), uuid.uuid4()
    counted = [
        (uuid.uuid4(), "visit_late", f"visit:{visit_a}"),
        (uuid.uuid4(), "visit_missed", f"visit:{visit_a}"),
        (uuid.uuid4(), "visit_late", f"visit:{visit_b}"),
    ]
    arguments = {
        "tipping_case_id": uuid.uuid4(),
        "person_id": person,
        "contract_id": None,
        "provider_id": None,
        "settings": DEFAULT_RULE_SETTINGS,
        "evidence": (),
    }
    assert repeat_pattern(counted=counted, **arguments) is None  # type: ignore[arg-type]
    more = [*counted, (uuid.uuid4(), "visit_short", f"visit:{uuid.uuid4()}")]
    spec = repeat_pattern(counted=more, **arguments)  # type: ignore[arg-type]
    assert spec is not None
    assert spec.details["incidents"] == 3
    assert spec.owner_role is EscalationTarget.REGISTERED_MANAGER
