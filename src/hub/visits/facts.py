"""Facts from the field: check-in, check-out, task confirmations, observations and concerns.

Every entry point takes the caller's session (it never commits), the caller's `AccessScope`, the
actor, a `Clock`, and records the fact, its events and its effect on the visit in that one
transaction. A fact is immutable (`visit_facts` refuses UPDATE and DELETE); a correction is a
new fact with `supersedes_id`. Its id is given by the caller: the mobile command's id, so a
resent command lands on the same row, or a fresh UUIDv7.

**Record and flag, never refuse a mismatch.** What a carer recorded happened; a mismatch with
the plan is for the exception rules, not a reason to lose the record. Flags (`Flag`):

- presence (check-in/out): see `hub.visits.presence`;
- `VISIT_REASSIGNED` — the carer is not assigned to the visit when the fact is recorded (it was
  reassigned while they were offline);
- `OUTSIDE_VISIT_WINDOW` (check-in/out) — earlier than 2 h before the planned start or later
  than 2 h after the planned end (`VISIT_WINDOW_MARGIN`);
- `DUPLICATE_ACTION` — a second check-in (or check-out, or confirmation of the same task) that
  is not a correction: kept, and the first one stands on the visit;
- `COMPETENCE_MISSING` — a task needing a competence was confirmed done by a carer whose
  competence is missing, restricted or expired on the visit's Europe/London date;
- `LATE_SYNC` — received more than 24 h after it occurred; or received more than
  `LATE_SYNC_AFTER_VISIT` (1 h) after both the moment it occurred and the visit's planned end
  (and more than `LATE_SYNC_GRACE` after it occurred): the office's picture of the visit lacked
  it for over an hour after the visit should have been over (a check-out synced the next
  morning, a fall recorded offline); and for a check-in, also when the visit crossed its late
  or missed threshold while the check-in was on its way (it occurred before the threshold,
  arrived after it, more than `LATE_SYNC_GRACE` later): the office saw the visit late or
  missed although the carer had checked in;
- `CHECK_OUT_BEFORE_CHECK_IN` — a check-out whose time is before the visit's check-in, or a
  check-in after the visit's check-out (a wrong phone clock, a check-out tapped by mistake
  before the check-in, facts from two devices): both times are kept as reported and the fact
  that put them out of order is flagged; the visit shows `attendanceOutOfOrder`;
- `FUTURE_TIMESTAMP` — the (corrected) time it occurred is after the time it was received;
- `CLOCK_SKEW_SUSPECT`, `CHAIN_BREAK` — passed in by the mobile upload (`extra_flags`).

Tenancy: the visit must belong to the caller's organisation (admins: any). A carer's fact about
a visit of their employer is recorded even when the visit is no longer assigned to them (and
flagged); a visit of another provider answers `VisitNotFound`, like a missing one.

The visit's `checked_in_at`/`checked_out_at` are set by the first check-in/check-out (or moved by
a correction of that fact), as reported: neither is ever moved to keep them in order, because
a time that never happened would then stand on the visit; the order is flagged instead
(`CHECK_OUT_BEFORE_CHECK_IN`) and the derived status follows from which facts exist.

Events (contract B of the team brief): `visit.checked_in`, `visit.checked_out`,
`visit.task_confirmed`, `visit.observation_recorded`, `visit.concern_raised`, and
`visit.fact_flagged` for each fact that carries flags; `occurred_at` is the corrected business
time, payload keys are snake_case.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NotRequired, TypedDict, Unpack

from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import Forbidden, InvalidInput
from hub.events.log import NewEvent, record_many
from hub.kit.time import LONDON, Clock
from hub.staff import repository as staff_repository
from hub.staff import service as staff_service
from hub.staff.competency import ASSIGNABLE_STATUSES
from hub.tenancy import AccessScope
from hub.visits import repository
from hub.visits.errors import SupersededFactNotFound, TaskNotFound, VisitNotFound
from hub.visits.models import FactKind, VisitFact
from hub.visits.presence import (
    Flag,
    PresenceAssessment,
    PresencePolicy,
    Verification,
    VerificationMethod,
    assess,
)
from hub.visits.repository import FactContext, FactVisit, StandingFact
from hub.visits.status import visit_deadlines

VISIT_WINDOW_MARGIN = timedelta(hours=2)
LATE_SYNC_AFTER = timedelta(hours=24)
LATE_SYNC_AFTER_VISIT = timedelta(hours=1)
LATE_SYNC_GRACE = timedelta(minutes=2)
FUTURE_TOLERANCE = timedelta(seconds=5)
MAX_TEXT_LENGTH = 4000
MAX_REASON_LENGTH = 2000

__all__ = [
    "DeviceClock",
    "Flag",
    "ObservationKind",
    "PresencePolicy",
    "RecordedFact",
    "TaskOutcome",
    "Verification",
    "VerificationMethod",
    "record_check_in",
    "record_check_out",
    "record_concern",
    "record_observation",
    "record_task_confirmation",
]


class TaskOutcome(StrEnum):
    DONE = "done"
    NOT_DONE = "not_done"
    REFUSED = "refused"


class ObservationKind(StrEnum):
    NUTRITION = "nutrition"
    HYDRATION = "hydration"
    FALL = "fall"
    SKIN = "skin"
    PAIN = "pain"
    MOOD = "mood"


PORTIONS = ("all", "most", "half", "little", "none", "refused")
MOODS = ("good", "okay", "low", "anxious", "agitated", "withdrawn", "confused")
CONCERN_CATEGORIES = (
    "safeguarding",
    "health",
    "medication",
    "environment",
    "behaviour",
    "other",
)


@dataclass(frozen=True, slots=True)
class DeviceClock:
    """The device's own clock at the fact, kept as evidence: `boot_id` and `monotonic_ms`
    (milliseconds since that boot) let a stay be measured without trusting wall clocks, and
    `basis` says how `occurred_at` was derived (monotonic, anchor, trusted, wall_offset)."""

    boot_id: str | None = None
    monotonic_ms: int | None = None
    basis: str = "server"


@dataclass(frozen=True, slots=True)
class RecordedFact:
    """A fact as recorded: its id, its visit and whose visit it is, and its flags."""

    fact_id: uuid.UUID
    visit_id: uuid.UUID
    kind: FactKind
    flags: tuple[str, ...]
    event_id: int
    occurred_at: datetime
    person_id: uuid.UUID
    contract_id: uuid.UUID
    provider_id: uuid.UUID


class FactOrigin(TypedDict):
    """Who records a fact, about which visit, when and from where: the keyword arguments every
    `record_*` entry point takes besides what the fact itself says.

    `occurred_at` is the corrected (server-authoritative) business time; `device_time` what the
    device said, kept as evidence; `source` is "mobile", "supplier:<instance>" or "office";
    `supersedes_id` names the fact this one corrects."""

    scope: AccessScope
    actor: str
    clock: Clock
    fact_id: uuid.UUID
    visit_id: uuid.UUID
    staff_id: uuid.UUID | None
    occurred_at: datetime
    source: str
    device_time: NotRequired[datetime | None]
    extra_flags: NotRequired[Iterable[str]]
    device_id: NotRequired[uuid.UUID | None]
    device_clock: NotRequired[DeviceClock | None]
    received_at: NotRequired[datetime | None]
    supersedes_id: NotRequired[uuid.UUID | None]


@dataclass(frozen=True, slots=True)
class _Common:
    scope: AccessScope
    actor: str
    clock: Clock
    fact_id: uuid.UUID
    visit_id: uuid.UUID
    staff_id: uuid.UUID | None
    occurred_at: datetime
    device_time: datetime | None
    source: str
    extra_flags: tuple[str, ...]
    device_id: uuid.UUID | None
    device_clock: DeviceClock | None
    received_at: datetime
    supersedes_id: uuid.UUID | None


@dataclass
class _Draft:
    """A fact being recorded: its visit, what it supersedes, and the flags gathered so far."""

    common: _Common
    kind: FactKind
    context: FactContext
    superseded: VisitFact | None
    flags: list[str] = field(default_factory=list)

    @property
    def visit(self) -> FactVisit:
        return self.context.visit

    def flag(self, *codes: str) -> None:
        for code in codes:
            if code not in self.flags:
                self.flags.append(code)


# ---------------------------------------------------------------------------------------------
# Entry points


async def record_check_in(
    session: AsyncSession,
    *,
    verification: Verification,
    policy: PresencePolicy | None = None,
    note: str | None = None,
    **origin: Unpack[FactOrigin],
) -> RecordedFact:
    """Record a check-in; the first one (or a correction of it) sets `visits.checked_in_at`.
    `note` is the carer's optional remark (app protocol 2)."""
    text = _optional_text("note", note, MAX_TEXT_LENGTH)
    common = _common(origin)
    draft = await _draft(session, common, FactKind.CHECK_IN)
    presence = await _presence(session, draft, verification, policy or PresencePolicy())
    _window_flags(draft)
    _late_check_in_flags(draft)
    visit = draft.visit
    if _takes_the_visit(draft, visit.checked_in_at):
        await repository.stamp_visit(session, visit.id, "checked_in_at", common.occurred_at)
        if visit.checked_out_at is not None and common.occurred_at > visit.checked_out_at:
            draft.flag(Flag.CHECK_OUT_BEFORE_CHECK_IN)
    else:
        draft.flag(Flag.DUPLICATE_ACTION)
    payload = {
        **_presence_payload(verification, presence),
        "planned_start": visit.planned_start.isoformat(),
        "planned_end": visit.planned_end.isoformat(),
        "note": text,
    }
    return await _finish(
        session,
        draft,
        "visit.checked_in",
        payload,
        verification=verification,
        presence=presence,
        details={"note": text} if text else {},
    )


async def record_check_out(
    session: AsyncSession,
    *,
    verification: Verification,
    policy: PresencePolicy | None = None,
    **origin: Unpack[FactOrigin],
) -> RecordedFact:
    """Record a check-out; the first one (or a correction of it) sets `visits.checked_out_at`.

    `stay_minutes` is measured from the standing check-in: by the device's monotonic clock
    when both were recorded in the same boot of the same device (a wall clock changed in
    between does not distort it), otherwise from the corrected times."""
    common = _common(origin)
    draft = await _draft(session, common, FactKind.CHECK_OUT)
    presence = await _presence(session, draft, verification, policy or PresencePolicy())
    _window_flags(draft)
    visit = draft.visit
    check_in = await repository.standing_fact(session, visit.id, FactKind.CHECK_IN)
    if _takes_the_visit(draft, visit.checked_out_at):
        await repository.stamp_visit(session, visit.id, "checked_out_at", common.occurred_at)
        if visit.checked_in_at is not None and common.occurred_at < visit.checked_in_at:
            draft.flag(Flag.CHECK_OUT_BEFORE_CHECK_IN)
    else:
        draft.flag(Flag.DUPLICATE_ACTION)
    stay = _stay_minutes(check_in, common)
    payload = {
        **_presence_payload(verification, presence),
        "planned_start": visit.planned_start.isoformat(),
        "planned_end": visit.planned_end.isoformat(),
        "stay_minutes": stay,
    }
    return await _finish(
        session,
        draft,
        "visit.checked_out",
        payload,
        verification=verification,
        presence=presence,
        details={
            "stay_minutes": stay,
            "check_in_fact_id": str(check_in.id) if check_in else None,
        },
    )


async def record_task_confirmation(
    session: AsyncSession,
    *,
    task_index: int,
    outcome: TaskOutcome,
    reason: str | None = None,
    **origin: Unpack[FactOrigin],
) -> RecordedFact:
    """Record that a planned task (by its position in the visit's task list) was done, not
    done (a reason is required) or refused by the person. A task needing a competence that
    the carer does not hold (evidenced or revalidated, on the visit's local date) is recorded
    and flagged `COMPETENCE_MISSING` when confirmed done."""
    why = _optional_text("reason", reason, MAX_REASON_LENGTH)
    if outcome is TaskOutcome.NOT_DONE and why is None:
        raise InvalidInput("reason", "say why the task was not done", code="REQUIRED")
    common = _common(origin)
    draft = await _draft(session, common, FactKind.TASK_CONFIRMATION)
    tasks = draft.visit.tasks
    if not 0 <= task_index < len(tasks):
        raise TaskNotFound(
            f"the visit plans {len(tasks)} task(s); there is no task at position {task_index}"
        )
    task = tasks[task_index]
    requires = task.get("requires")
    competence_ok = await _holds_competence(session, common.staff_id, requires, draft.visit)
    if outcome is TaskOutcome.DONE and not competence_ok:
        draft.flag(Flag.COMPETENCE_MISSING)
    if draft.superseded is None and await repository.task_confirmed(
        session, draft.visit.id, task_index
    ):
        draft.flag(Flag.DUPLICATE_ACTION)
    details = {
        "task_index": task_index,
        "task_description": task.get("description") or task.get("code"),
        "requires": requires,
        "outcome": outcome.value,
        "reason": why,
        "competence_ok": competence_ok,
    }
    return await _finish(session, draft, "visit.task_confirmed", details, details=details)


async def record_observation(
    session: AsyncSession,
    *,
    kind: ObservationKind,
    values: Mapping[str, Any],
    note: str | None = None,
    **origin: Unpack[FactOrigin],
) -> RecordedFact:
    """Record a structured observation (nutrition, hydration, fall, skin, pain score, mood);
    `values` are checked per kind (`check_observation`)."""
    checked = check_observation(kind, values)
    text = _optional_text("note", note, MAX_TEXT_LENGTH)
    common = _common(origin)
    draft = await _draft(session, common, FactKind.OBSERVATION)
    details = {"kind": kind.value, "values": checked, "note": text}
    return await _finish(session, draft, "visit.observation_recorded", details, details=details)


async def record_concern(
    session: AsyncSession,
    *,
    category: str,
    safeguarding: bool,
    description: str,
    **origin: Unpack[FactOrigin],
) -> RecordedFact:
    """Record a concern raised at a visit; `safeguarding` marks a safeguarding report, which
    the governance rules answer with a case and an acknowledgement deadline."""
    if category not in CONCERN_CATEGORIES:
        raise InvalidInput(
            "category", f"must be one of {', '.join(CONCERN_CATEGORIES)}", code="UNKNOWN_CATEGORY"
        )
    text = _optional_text("description", description, MAX_TEXT_LENGTH)
    if text is None:
        raise InvalidInput("description", "describe the concern", code="REQUIRED")
    common = _common(origin)
    draft = await _draft(session, common, FactKind.CONCERN)
    details = {"category": category, "safeguarding": safeguarding, "description": text}
    return await _finish(session, draft, "visit.concern_raised", details, details=details)


def check_observation(kind: ObservationKind, values: Mapping[str, Any]) -> dict[str, Any]:
    """The observation's values, checked: the keys each kind has (required ones first), their
    types and ranges. Unknown keys are refused: the events are a contract, not a bag."""
    spec = _OBSERVATION_SPECS[kind]
    unknown = sorted(set(values) - set(spec))
    if unknown:
        raise InvalidInput(
            f"values.{unknown[0]}",
            f"a {kind.value} observation has no such value",
            code="UNKNOWN_VALUE",
        )
    checked: dict[str, Any] = {}
    for name, (required, check) in spec.items():
        value = values.get(name)
        if value is None:
            if required:
                raise InvalidInput(f"values.{name}", "is required", code="REQUIRED")
            continue
        checked[name] = check(f"values.{name}", value)
    return checked


# ---------------------------------------------------------------------------------------------
# The steps every fact goes through


def _common(origin: FactOrigin) -> _Common:
    clock = origin["clock"]
    device_time = origin.get("device_time")
    received_at = origin.get("received_at")
    return _Common(
        scope=origin["scope"],
        actor=origin["actor"],
        clock=clock,
        fact_id=origin["fact_id"],
        visit_id=origin["visit_id"],
        staff_id=origin["staff_id"],
        occurred_at=_aware("occurredAt", origin["occurred_at"]),
        device_time=_aware("deviceTime", device_time) if device_time is not None else None,
        source=origin["source"],
        extra_flags=tuple(origin.get("extra_flags", ())),
        device_id=origin.get("device_id"),
        device_clock=origin.get("device_clock"),
        received_at=_aware("receivedAt", received_at) if received_at is not None else clock.now(),
        supersedes_id=origin.get("supersedes_id"),
    )


async def _draft(session: AsyncSession, common: _Common, kind: FactKind) -> _Draft:
    scope = common.scope
    if scope.is_carer and common.staff_id != scope.staff_id:
        raise Forbidden("a carer records facts as themselves only")
    context = await repository.fact_context(session, common.visit_id, common.staff_id)
    if context is None or not (scope.is_admin or context.provider_id == scope.organisation_id):
        raise VisitNotFound(f"no visit {common.visit_id}")
    superseded: VisitFact | None = None
    if common.supersedes_id is not None:
        superseded = await repository.get_fact(session, common.supersedes_id)
        if superseded is None or superseded.visit_id != common.visit_id or superseded.kind != kind:
            raise SupersededFactNotFound(
                f"no {kind.value.replace('_', ' ')} {common.supersedes_id} on this visit to correct"
            )
    draft = _Draft(common=common, kind=kind, context=context, superseded=superseded)
    draft.flag(*common.extra_flags)
    if common.staff_id is not None and not context.staff_assigned:
        draft.flag(Flag.VISIT_REASSIGNED)
    if common.occurred_at > common.received_at + FUTURE_TOLERANCE:
        draft.flag(Flag.FUTURE_TIMESTAMP)
    delay = common.received_at - common.occurred_at
    if delay > LATE_SYNC_AFTER or (
        delay > LATE_SYNC_GRACE
        and common.received_at
        > max(common.occurred_at, context.visit.planned_end) + LATE_SYNC_AFTER_VISIT
    ):
        draft.flag(Flag.LATE_SYNC)
    return draft


async def _presence(
    session: AsyncSession, draft: _Draft, verification: Verification, policy: PresencePolicy
) -> PresenceAssessment:
    context = draft.context
    home = (
        (context.home_latitude, context.home_longitude)
        if context.home_latitude is not None and context.home_longitude is not None
        else None
    )
    presence = await assess(
        session,
        verification,
        person_id=context.person_id,
        home=home,
        policy=policy,
    )
    draft.flag(*presence.flags)
    return presence


def _window_flags(draft: _Draft) -> None:
    visit = draft.visit
    occurred = draft.common.occurred_at
    if (
        occurred < visit.planned_start - VISIT_WINDOW_MARGIN
        or occurred > visit.planned_end + VISIT_WINDOW_MARGIN
    ):
        draft.flag(Flag.OUTSIDE_VISIT_WINDOW)


def _late_check_in_flags(draft: _Draft) -> None:
    """LATE_SYNC for a check-in that was on its way while the visit turned late or missed."""
    common = draft.common
    if common.received_at - common.occurred_at <= LATE_SYNC_GRACE:
        return
    context = draft.context
    deadlines = visit_deadlines(
        context.visit.planned_start,
        time_critical=context.visit.time_critical,
        tolerances=context.tolerances,
    )
    if any(
        common.occurred_at <= deadline < common.received_at
        for deadline in (deadlines.late_after, deadlines.missed_after)
    ):
        draft.flag(Flag.LATE_SYNC)


def _takes_the_visit(draft: _Draft, current: datetime | None) -> bool:
    """Whether this check-in/out sets the visit's time: the first one does, and so does a
    correction of the fact that set it."""
    if current is None:
        return True
    superseded = draft.superseded
    return superseded is not None and abs(superseded.occurred_at - current) < timedelta(seconds=1)


def _stay_minutes(check_in: StandingFact | None, common: _Common) -> float | None:
    if check_in is None:
        return None
    out_clock = common.device_clock
    same_boot = (
        out_clock is not None
        and out_clock.boot_id is not None
        and out_clock.monotonic_ms is not None
        and check_in.device_boot_id == out_clock.boot_id
        and check_in.device_monotonic_ms is not None
        and check_in.device_id == common.device_id
    )
    if same_boot and out_clock is not None and out_clock.monotonic_ms is not None:
        elapsed_ms = out_clock.monotonic_ms - (check_in.device_monotonic_ms or 0)
        return round(max(elapsed_ms, 0) / 60_000, 1)
    seconds = (common.occurred_at - check_in.occurred_at).total_seconds()
    return round(max(seconds, 0) / 60, 1)


async def _holds_competence(
    session: AsyncSession, staff_id: uuid.UUID | None, requires: Any, visit: FactVisit
) -> bool:
    if not requires or staff_id is None:
        return True
    row = await staff_repository.get_competency(session, staff_id, str(requires))
    if row is None:
        return False
    on = visit.planned_start.astimezone(LONDON).date()
    return staff_service.effective_status_of(row, on) in ASSIGNABLE_STATUSES


def _presence_payload(verification: Verification, presence: PresenceAssessment) -> dict[str, Any]:
    return {
        "method": verification.method.value,
        "accuracy_m": verification.accuracy_m,
        "distance_m": round(presence.distance_m, 1) if presence.distance_m is not None else None,
    }


async def _finish(
    session: AsyncSession,
    draft: _Draft,
    event_type: str,
    payload: dict[str, Any],
    *,
    details: dict[str, Any],
    verification: Verification | None = None,
    presence: PresenceAssessment | None = None,
) -> RecordedFact:
    """Insert the fact with its event (one statement: this runs per mobile command), then the
    `visit.fact_flagged` event when it carries flags."""
    common = draft.common
    context = draft.context
    clock = common.device_clock or DeviceClock()
    flags = tuple(draft.flags)
    base = {
        "fact_id": str(common.fact_id),
        "staff_id": str(common.staff_id) if common.staff_id else None,
        "source": common.source,
        "device_id": str(common.device_id) if common.device_id else None,
        "device_occurred_at": common.device_time.isoformat() if common.device_time else None,
        "received_at": common.received_at.isoformat(),
        "supersedes_id": str(common.supersedes_id) if common.supersedes_id else None,
        "flags": list(flags),
    }
    event_id = await repository.insert_fact(
        session,
        {
            "id": common.fact_id,
            "visit_id": context.visit.id,
            "kind": draft.kind,
            "staff_id": common.staff_id,
            "source": common.source,
            "actor": common.actor,
            "device_id": common.device_id,
            "occurred_at": common.occurred_at,
            "device_occurred_at": common.device_time,
            "time_basis": clock.basis,
            "device_boot_id": clock.boot_id,
            "device_monotonic_ms": clock.monotonic_ms,
            "received_at": common.received_at,
            "verification_method": verification.method.value if verification else None,
            "latitude": verification.latitude if verification else None,
            "longitude": verification.longitude if verification else None,
            "accuracy_m": verification.accuracy_m if verification else None,
            "distance_m": presence.distance_m if presence else None,
            "evidence": _evidence(verification, presence),
            "details": details,
            "flags": list(flags),
            "supersedes_id": common.supersedes_id,
        },
        _event(draft, event_type, {**base, **payload}),
    )
    if flags:
        await record_many(
            session,
            [
                _event(
                    draft,
                    "visit.fact_flagged",
                    {
                        "fact_id": base["fact_id"],
                        "fact_kind": draft.kind.value,
                        "flags": list(flags),
                        "device_id": base["device_id"],
                        "staff_id": base["staff_id"],
                        "source": common.source,
                        "received_at": base["received_at"],
                    },
                )
            ],
        )
    return RecordedFact(
        fact_id=common.fact_id,
        visit_id=context.visit.id,
        kind=draft.kind,
        flags=flags,
        event_id=event_id,
        occurred_at=common.occurred_at,
        person_id=context.person_id,
        contract_id=context.contract_id,
        provider_id=context.provider_id,
    )


def _evidence(
    verification: Verification | None, presence: PresenceAssessment | None
) -> dict[str, Any]:
    if verification is None:
        return {}
    return {
        "is_mock": verification.is_mock,
        "provider": verification.provider,
        "fix_age_ms": verification.fix_age_ms,
        "tag_matched": presence.tag_matched if presence else None,
        "manual_reason": verification.manual_reason,
    }


def _event(draft: _Draft, event_type: str, payload: dict[str, Any]) -> NewEvent:
    context = draft.context
    return NewEvent(
        type=event_type,
        subject_type="visit",
        subject_id=context.visit.id,
        organisation_id=context.provider_id,
        contract_id=context.contract_id,
        person_id=context.person_id,
        actor=draft.common.actor,
        occurred_at=draft.common.occurred_at,
        payload=payload,
    )


# ---------------------------------------------------------------------------------------------
# Values


def _aware(name: str, value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(name, "must carry a timezone offset", code="NAIVE_DATETIME")
    return value


def _optional_text(name: str, value: str | None, max_length: int) -> str | None:
    cleaned = (value or "").strip()
    if not cleaned:
        return None
    if len(cleaned) > max_length:
        raise InvalidInput(name, f"must be at most {max_length} characters", code="TOO_LONG")
    return cleaned


def _integer(low: int, high: int) -> Any:
    def check(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidInput(name, f"must be a whole number from {low} to {high}")
        return value

    return check


def _boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(name, "must be true or false")
    return value


def _one_of(choices: Sequence[str]) -> Any:
    def check(name: str, value: Any) -> str:
        if value not in choices:
            raise InvalidInput(name, f"must be one of {', '.join(choices)}")
        return str(value)

    return check


def _short_text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidInput(name, "must be text")
    checked = _optional_text(name, value, 200)
    if checked is None:
        raise InvalidInput(name, "must not be blank")
    return checked


_OBSERVATION_SPECS: dict[ObservationKind, dict[str, tuple[bool, Any]]] = {
    ObservationKind.NUTRITION: {
        "portion_eaten": (True, _one_of(PORTIONS)),
        "meal": (False, _short_text),
    },
    ObservationKind.HYDRATION: {"fluid_ml": (True, _integer(0, 5000))},
    ObservationKind.FALL: {
        "injury": (True, _boolean),
        "witnessed": (False, _boolean),
        "emergency_services_called": (False, _boolean),
    },
    ObservationKind.SKIN: {"concern": (True, _boolean), "body_location": (False, _short_text)},
    ObservationKind.PAIN: {"score": (True, _integer(0, 10)), "location": (False, _short_text)},
    ObservationKind.MOOD: {"mood": (True, _one_of(MOODS))},
}
