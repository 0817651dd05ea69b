"""The exception rules, as pure functions: facts and thresholds in, a case to open (or None) out.

No database, no clock of their own: the runner (`hub.governance.runner`) feeds them what the
event log and the visit rows say, and `hub.governance.service.open_case` opens what they return
idempotently (one case per rule and subject). Rules and their subjects (DESIGN.md §5):

| rule                  | subject            | opens when                                          |
|-----------------------|--------------------|-----------------------------------------------------|
| visit_late            | visit              | no check-in after planned start + late tolerance    |
|                       |                    | (the tighter one for time-critical calls)           |
| visit_missed          | visit              | no check-in after the missed tolerance              |
| visit_short           | visit              | stay under the contract's minimum share of the plan |
| visit_unverified      | visit              | check-in/out outside the geofence, on a mock        |
|                       |                    | location, entered by hand, or otherwise unverified  |
| double_handed_single  | visit              | a double-handed visit attended by one carer         |
| competency_breach     | visit              | a task done by a carer without its competence       |
| observation_trigger   | visit_fact         | a fall, pain ≥ threshold, low fluid, skin concern   |
| safeguarding_concern  | visit_fact         | a concern raised as safeguarding                    |
| repeat_pattern        | exception_case     | N cases for one person in the window (the Nth case) |
| data_quality          | inbound_payload    | an upstream payload was rejected                    |

Boundaries follow `hub.visits.status`: a tolerance's last instant is inside it. With a
15-minute tolerance and a 09:00 start, 09:15:00 exactly is not late; 09:15:00.000001 is.
Likewise a stay of exactly the minimum share is not short.

A fact that syncs late reconciles cases these rules opened (`reconcile_attendance`): the
corrected business time decides, and both it and the time the hub received it are kept.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from hub.governance.lifecycle import ActionKind, CaseSeverity
from hub.governance.policy import EscalationTarget, RuleSettings
from hub.kit.time import LONDON


class CaseRule(StrEnum):
    VISIT_LATE = "visit_late"
    VISIT_MISSED = "visit_missed"
    VISIT_SHORT = "visit_short"
    VISIT_UNVERIFIED = "visit_unverified"
    DOUBLE_HANDED_SINGLE = "double_handed_single"
    COMPETENCY_BREACH = "competency_breach"
    OBSERVATION_TRIGGER = "observation_trigger"
    REPEAT_PATTERN = "repeat_pattern"
    SAFEGUARDING_CONCERN = "safeguarding_concern"
    DATA_QUALITY = "data_quality"


R = CaseRule

REPEATABLE_RULES: frozenset[CaseRule] = frozenset(
    {
        R.VISIT_LATE,
        R.VISIT_MISSED,
        R.VISIT_SHORT,
        R.VISIT_UNVERIFIED,
        R.DOUBLE_HANDED_SINGLE,
        R.COMPETENCY_BREACH,
        R.OBSERVATION_TRIGGER,
        R.SAFEGUARDING_CONCERN,
    }
)
"""Cases about a person's care that count towards a repeat pattern."""

UNVERIFIED_FLAGS: tuple[str, ...] = (
    "OUTSIDE_GEOFENCE",
    "MOCK_LOCATION",
    "MANUAL_VERIFICATION",
    "LOCATION_UNVERIFIED",
    "TAG_MISMATCH",
)
"""Flags on a check-in or check-out (contract B) that leave the attendance unverified."""

FALSE_ALARMS: frozenset[str] = frozenset({"on_time_synced_late", "second_carer_synced_late"})
"""Reconciliation kinds that show the case's exception never happened."""

OBSERVATION_REVIEW_DUE = timedelta(hours=24)
REPEAT_REVIEW_DUE = timedelta(days=3)


@dataclass(frozen=True, slots=True)
class ReviewTask:
    """An action the rule opens with the case (seed 003: "triggers a review task")."""

    description: str
    owner_role: EscalationTarget
    due_after: timedelta
    kind: ActionKind = ActionKind.REVIEW


@dataclass(frozen=True, slots=True)
class CaseSpec:
    """What a rule wants opened. Idempotent on (rule, subject_type, subject_id)."""

    rule: CaseRule
    subject_type: str
    subject_id: uuid.UUID
    severity: CaseSeverity
    title: str
    contract_id: uuid.UUID | None
    provider_id: uuid.UUID | None
    person_id: uuid.UUID | None = None
    visit_id: uuid.UUID | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    evidence: tuple[int, ...] = ()
    owner_role: EscalationTarget = EscalationTarget.COORDINATOR
    review: ReviewTask | None = None


@dataclass(frozen=True, slots=True)
class FactEvent:
    """What the rules read from one event of the log (contract B)."""

    id: int
    type: str
    subject_type: str
    subject_id: uuid.UUID
    contract_id: uuid.UUID | None
    person_id: uuid.UUID | None
    organisation_id: uuid.UUID | None
    occurred_at: datetime
    recorded_at: datetime
    payload: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class VisitSnapshot:
    """A visit as its row and its contract say now (aware UTC times)."""

    visit_id: uuid.UUID
    contract_id: uuid.UUID
    provider_id: uuid.UUID
    person_id: uuid.UUID
    planned_start: datetime
    planned_end: datetime
    time_critical: bool
    double_handed: bool
    checked_in_at: datetime | None
    checked_out_at: datetime | None
    cancelled: bool
    late_after: datetime
    missed_after: datetime
    minimum_stay_percent: int
    package_id: uuid.UUID | None = None
    # When the visit was judged late / missed for its current times (`hub.visits.judgement`).
    late_judged_at: datetime | None = None
    missed_judged_at: datetime | None = None


def _local(value: datetime) -> str:
    return value.astimezone(LONDON).strftime("%d %b %Y %H:%M")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _plan(visit: VisitSnapshot) -> dict[str, Any]:
    return {
        "planned_start": visit.planned_start.isoformat(),
        "planned_end": visit.planned_end.isoformat(),
        "time_critical": visit.time_critical,
        "double_handed": visit.double_handed,
    }


def _visit_spec(
    visit: VisitSnapshot,
    rule: CaseRule,
    severity: CaseSeverity,
    title: str,
    details: Mapping[str, Any],
    evidence: Sequence[int] = (),
) -> CaseSpec:
    return CaseSpec(
        rule=rule,
        subject_type="visit",
        subject_id=visit.visit_id,
        severity=severity,
        title=title,
        contract_id=visit.contract_id,
        provider_id=visit.provider_id,
        person_id=visit.person_id,
        visit_id=visit.visit_id,
        details={**_plan(visit), **details},
        evidence=tuple(evidence),
    )


# --- time-based: late and missed ------------------------------------------------------------


def _unattended(visit: VisitSnapshot) -> bool:
    return not visit.cancelled and visit.checked_in_at is None and visit.checked_out_at is None


def late_visit(
    visit: VisitSnapshot, now: datetime, evidence: Sequence[int] = ()
) -> CaseSpec | None:
    """No check-in (or check-out) strictly after the late threshold."""
    if not _unattended(visit) or now <= visit.late_after:
        return None
    kind = "time-critical visit" if visit.time_critical else "visit"
    return _visit_spec(
        visit,
        R.VISIT_LATE,
        CaseSeverity.HIGH if visit.time_critical else CaseSeverity.MEDIUM,
        f"No check-in for the {kind} planned for {_local(visit.planned_start)} "
        f"(late after {_local(visit.late_after)})",
        {"late_after": visit.late_after.isoformat(), "detected_at": now.isoformat()},
        evidence,
    )


def missed_visit(
    visit: VisitSnapshot, now: datetime, evidence: Sequence[int] = ()
) -> CaseSpec | None:
    """No check-in (or check-out) strictly after the missed threshold."""
    if not _unattended(visit) or now <= visit.missed_after:
        return None
    kind = "time-critical visit" if visit.time_critical else "visit"
    return _visit_spec(
        visit,
        R.VISIT_MISSED,
        CaseSeverity.CRITICAL if visit.time_critical else CaseSeverity.HIGH,
        f"Missed {kind} planned for {_local(visit.planned_start)}: no check-in by "
        f"{_local(visit.missed_after)}",
        {"missed_after": visit.missed_after.isoformat(), "detected_at": now.isoformat()},
        evidence,
    )


# --- from facts -----------------------------------------------------------------------------


def short_visit(visit: VisitSnapshot, evidence: Sequence[int] = ()) -> CaseSpec | None:
    """Checked in and out, and the stay is strictly under the contract's minimum share of the
    planned length. The visit's corrected (server-authoritative) check-in and check-out times
    decide, exactly: the check-out event's `stay_minutes` is rounded to a tenth of a minute,
    too coarse for the boundary."""
    if visit.checked_in_at is None or visit.checked_out_at is None:
        return None
    stay = visit.checked_out_at - visit.checked_in_at
    planned = visit.planned_end - visit.planned_start
    if stay * 100 >= planned * visit.minimum_stay_percent:
        return None
    stay_minutes = round(stay.total_seconds() / 60, 1)
    planned_minutes = round(planned.total_seconds() / 60, 1)
    return _visit_spec(
        visit,
        R.VISIT_SHORT,
        CaseSeverity.MEDIUM,
        f"Short visit on {_local(visit.planned_start)}: {stay_minutes:g} of {planned_minutes:g} "
        f"planned minutes (contract minimum {visit.minimum_stay_percent}%)",
        {
            "checked_in_at": visit.checked_in_at.isoformat(),
            "checked_out_at": visit.checked_out_at.isoformat(),
            "stay_minutes": stay_minutes,
            "planned_minutes": planned_minutes,
            "minimum_stay_percent": visit.minimum_stay_percent,
        },
        evidence,
    )


def unverified_visit(visit: VisitSnapshot, event: FactEvent) -> CaseSpec | None:
    """A check-in or check-out carrying a flag that leaves attendance unverified."""
    flags = [str(flag) for flag in event.payload.get("flags") or ()]
    found = [flag for flag in UNVERIFIED_FLAGS if flag in flags]
    if not found:
        return None
    action = "check-in" if event.type == "visit.checked_in" else "check-out"
    severity = CaseSeverity.MEDIUM if "MOCK_LOCATION" in found else CaseSeverity.LOW
    readable = ", ".join(flag.lower().replace("_", " ") for flag in found)
    return _visit_spec(
        visit,
        R.VISIT_UNVERIFIED,
        severity,
        f"Unverified {action} for the visit planned for {_local(visit.planned_start)} ({readable})",
        {
            "flags": found,
            "method": event.payload.get("method"),
            "distance_m": event.payload.get("distance_m"),
            "accuracy_m": event.payload.get("accuracy_m"),
            "fact_id": event.payload.get("fact_id"),
        },
        (event.id,),
    )


def double_handed_single(
    visit: VisitSnapshot, attending_staff: Sequence[str], evidence: Sequence[int]
) -> CaseSpec | None:
    """A double-handed visit that was attended (checked out) by fewer than two carers."""
    if not visit.double_handed or visit.checked_out_at is None or len(set(attending_staff)) >= 2:
        return None
    return _visit_spec(
        visit,
        R.DOUBLE_HANDED_SINGLE,
        CaseSeverity.HIGH,
        f"Double-handed visit on {_local(visit.planned_start)} attended by "
        f"{len(set(attending_staff))} carer(s)",
        {"attending_staff_ids": sorted(set(attending_staff))},
        evidence,
    )


def competency_breach(visit: VisitSnapshot, event: FactEvent) -> CaseSpec | None:
    """A task confirmed as done by a carer who lacks the competence it requires."""
    payload = event.payload
    if payload.get("competence_ok", True) or payload.get("outcome") != "done":
        return None
    return _visit_spec(
        visit,
        R.COMPETENCY_BREACH,
        CaseSeverity.HIGH,
        f"'{payload.get('task_description')}' done without the {payload.get('requires')} "
        f"competence on the visit of {_local(visit.planned_start)}",
        {
            "staff_id": payload.get("staff_id"),
            "task_index": payload.get("task_index"),
            "task_description": payload.get("task_description"),
            "requires": payload.get("requires"),
            "fact_id": payload.get("fact_id"),
        },
        (event.id,),
    )


def observation_trigger(
    event: FactEvent, settings: RuleSettings, provider_id: uuid.UUID | None
) -> CaseSpec | None:
    """A fall; pain at or above the threshold; fluid under the minimum; a skin concern.

    The subject is the observation fact: each triggering observation gets its review. A skin
    observation triggers unless it says the skin is fine (`{"concern": false}` or
    `{"intact": true}`)."""
    payload = event.payload
    kind = str(payload.get("kind") or "")
    values: Mapping[str, Any] = payload.get("values") or {}
    trigger: str | None = None
    severity = CaseSeverity.MEDIUM
    if kind == "fall":
        injured = values.get("injury") is True
        trigger = "a fall with injury" if injured else "a fall"
        severity = CaseSeverity.HIGH if injured else CaseSeverity.MEDIUM
    elif kind == "pain":
        score = _number(values.get("score"))
        if score is not None and score >= settings.pain_threshold:
            trigger = f"pain scored {score:g} (threshold {settings.pain_threshold})"
    elif kind == "hydration":
        fluid = _number(values.get("fluid_ml"))
        if fluid is not None and fluid < settings.low_fluid_ml:
            trigger = f"fluid intake {fluid:g} ml (minimum {settings.low_fluid_ml} ml)"
    elif kind == "skin" and values.get("concern") is not False and values.get("intact") is not True:
        trigger = "a skin concern"
    if trigger is None:
        return None
    fact_id = uuid_or_none(payload.get("fact_id"))
    return CaseSpec(
        rule=R.OBSERVATION_TRIGGER,
        subject_type="visit_fact",
        subject_id=fact_id or _event_subject(event),
        severity=severity,
        title=f"Observation: {trigger}",
        contract_id=event.contract_id,
        provider_id=provider_id,
        person_id=event.person_id,
        visit_id=event.subject_id if event.subject_type == "visit" else None,
        details={
            "kind": kind,
            "values": dict(values),
            "note": payload.get("note"),
            "observed_at": event.occurred_at.isoformat(),
            "staff_id": payload.get("staff_id"),
        },
        evidence=(event.id,),
        review=ReviewTask(
            description=f"Review the care plan and risk assessment after {trigger}; consider "
            "MDT contact",
            owner_role=EscalationTarget.COORDINATOR,
            due_after=OBSERVATION_REVIEW_DUE,
        ),
    )


def safeguarding_concern(event: FactEvent, provider_id: uuid.UUID | None) -> CaseSpec | None:
    """A concern raised as safeguarding: the registered manager must document whether a
    referral was made, and why (seed 003)."""
    payload = event.payload
    if payload.get("safeguarding") is not True:
        return None
    fact_id = uuid_or_none(payload.get("fact_id"))
    return CaseSpec(
        rule=R.SAFEGUARDING_CONCERN,
        subject_type="visit_fact",
        subject_id=fact_id or _event_subject(event),
        severity=CaseSeverity.CRITICAL,
        title=f"Safeguarding concern ({payload.get('category') or 'uncategorised'}) raised on "
        f"{_local(event.occurred_at)}",
        contract_id=event.contract_id,
        provider_id=provider_id,
        person_id=event.person_id,
        visit_id=event.subject_id if event.subject_type == "visit" else None,
        details={
            "category": payload.get("category"),
            "description": payload.get("description"),
            "raised_by_staff_id": payload.get("staff_id"),
            "raised_at": event.occurred_at.isoformat(),
            "requires_safeguarding_decision": True,
        },
        evidence=(event.id,),
        owner_role=EscalationTarget.REGISTERED_MANAGER,
    )


def data_quality(event: FactEvent) -> CaseSpec:
    """An upstream payload the hub could not apply: kept in the archive, surfaced here."""
    payload = event.payload
    errors = list(payload.get("errors") or [])
    summary = str(payload.get("summary") or f"{len(errors)} problem(s)")
    return CaseSpec(
        rule=R.DATA_QUALITY,
        subject_type=event.subject_type,
        subject_id=event.subject_id,
        severity=CaseSeverity.LOW,
        title=f"Rejected {payload.get('channel') or 'inbound'} payload from "
        f"{payload.get('connector') or 'an upstream system'}: {summary}",
        contract_id=event.contract_id,
        provider_id=event.organisation_id,
        person_id=event.person_id,
        details={
            "connector": payload.get("connector"),
            "channel": payload.get("channel"),
            "errors": errors[:50],
            "error_count": len(errors),
            "summary": summary,
        },
        evidence=(event.id,),
    )


def repeat_pattern(
    *,
    tipping_case_id: uuid.UUID,
    person_id: uuid.UUID,
    contract_id: uuid.UUID | None,
    provider_id: uuid.UUID | None,
    counted: Sequence[tuple[uuid.UUID, str, str]],
    settings: RuleSettings,
    evidence: Sequence[int],
) -> CaseSpec | None:
    """`counted` (case id, rule, subject) within the window reach the contract's N incidents:
    a root-cause review for the registered manager (rota stability, travel planning,
    unrealistic visit windows). Incidents are distinct subjects: a visit that was late and
    then missed is one incident, not two."""
    incidents = len({subject for _, _, subject in counted})
    if incidents < settings.repeat_count:
        return None
    rules = sorted({rule for _, rule, _ in counted})
    return CaseSpec(
        rule=R.REPEAT_PATTERN,
        subject_type="exception_case",
        subject_id=tipping_case_id,
        severity=CaseSeverity.MEDIUM,
        title=f"Repeat pattern: {incidents} exceptions for one person in "
        f"{settings.repeat_window_days} days ({', '.join(r.replace('_', ' ') for r in rules)})",
        contract_id=contract_id,
        provider_id=provider_id,
        person_id=person_id,
        details={
            "incidents": incidents,
            "case_ids": [str(case_id) for case_id, _, _ in counted],
            "rules": rules,
            "repeat_count": settings.repeat_count,
            "repeat_window_days": settings.repeat_window_days,
        },
        evidence=tuple(evidence),
        owner_role=EscalationTarget.REGISTERED_MANAGER,
        review=ReviewTask(
            description="Review root causes for this person (rota stability, travel planning, "
            "unrealistic visit windows) and record what will change",
            owner_role=EscalationTarget.REGISTERED_MANAGER,
            due_after=REPEAT_REVIEW_DUE,
        ),
    )


# --- reconciliation -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """What a late-arriving fact says about a case, and whether it resolves it."""

    kind: str
    resolves: bool
    details: Mapping[str, Any]


def reconcile_attendance(
    rule: CaseRule, visit: VisitSnapshot, event: FactEvent, case_opened_at: datetime
) -> Reconciliation | None:
    """A check-in or check-out arriving for a visit with a late or missed case.

    The corrected business time (`event.occurred_at`) decides; the time the hub received the
    fact is kept beside it:

    - arrived within the late tolerance: **on_time_synced_late** — neither case was an
      exception; both resolve.
    - arrived after it: **attended_late** — the missed case resolves (the visit was attended);
      the late case stays open, now knowing by how much, for the office to resolve.
    """
    if rule not in (R.VISIT_LATE, R.VISIT_MISSED):
        return None
    arrived = visit.checked_in_at if visit.checked_in_at is not None else None
    times = {
        "fact_event_id": event.id,
        "fact_id": event.payload.get("fact_id"),
        "fact_type": event.type,
        "fact_occurred_at": event.occurred_at.isoformat(),
        "fact_received_at": event.payload.get("received_at") or event.recorded_at.isoformat(),
        "device_occurred_at": event.payload.get("device_occurred_at"),
        "case_opened_at": case_opened_at.isoformat(),
        "late_after": visit.late_after.isoformat(),
        "checked_in_at": _iso(visit.checked_in_at),
        "checked_out_at": _iso(visit.checked_out_at),
    }
    if arrived is None:
        # A check-out without a check-in (manual, supplier): attended, arrival unknown.
        if visit.checked_out_at is None:
            return None
        return Reconciliation(
            "attended_arrival_unknown", rule is R.VISIT_MISSED, {**times, "minutes_late": None}
        )
    if arrived <= visit.late_after:
        return Reconciliation("on_time_synced_late", True, {**times, "minutes_late": 0})
    minutes_late = round((arrived - visit.planned_start).total_seconds() / 60, 1)
    return Reconciliation(
        "attended_late", rule is R.VISIT_MISSED, {**times, "minutes_late": minutes_late}
    )


def reconcile_double_handed(
    attending_staff: Sequence[str], event: FactEvent, case_opened_at: datetime
) -> Reconciliation | None:
    """The second carer's check-in synced after the case opened: two carers attended."""
    if len(set(attending_staff)) < 2:
        return None
    return Reconciliation(
        "second_carer_synced_late",
        True,
        {
            "fact_event_id": event.id,
            "fact_id": event.payload.get("fact_id"),
            "fact_occurred_at": event.occurred_at.isoformat(),
            "fact_received_at": event.payload.get("received_at") or event.recorded_at.isoformat(),
            "case_opened_at": case_opened_at.isoformat(),
            "attending_staff_ids": sorted(set(attending_staff)),
        },
    )


# --- helpers --------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def uuid_or_none(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _event_subject(event: FactEvent) -> uuid.UUID:
    # Without a fact id (not expected under contract B) the event itself is the subject, kept
    # stable by deriving it from the event id.
    return uuid.uuid5(uuid.NAMESPACE_URL, f"care-hub:event:{event.id}")
