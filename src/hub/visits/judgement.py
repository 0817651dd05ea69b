"""Judging a visit late or missed: the events `visit.late` and `visit.missed`.

A visit's status (`hub.visits.status`) is derived from facts and the clock and needs nobody to
write it. Lateness and absence as *workflow events* do: the KPIs and the commissioners' feed are
drawn from events, and "no check-in by the threshold" is the absence of one. The governance
due-visit scan (`hub.governance.runner.run_due_visit_scan`) therefore judges each unattended
visit once it is past a threshold and records it here, in its own transaction:

- `visit.late` — no check-in (or check-out) after the late threshold (the tighter one for
  time-critical calls); `occurred_at` is that threshold, the payload says when it was judged.
- `visit.missed` — none after the missed threshold.

Each is recorded at most once per planned time of a visit: `visits.late_judged_at` and
`visits.missed_judged_at` say it was, and a reschedule (`hub.visits.external`) clears them, so a
moved visit is judged again against its new times. A visit judged late and then attended stays
judged late; a visit attended or cancelled before its threshold is never judged.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from hub.events.log import NewEvent, record
from hub.visits import repository

VISIT_LATE = "visit.late"
VISIT_MISSED = "visit.missed"


class Judgement(StrEnum):
    LATE = VISIT_LATE
    MISSED = VISIT_MISSED


_COLUMN: dict[Judgement, repository.JudgedColumn] = {
    Judgement.LATE: "late_judged_at",
    Judgement.MISSED: "missed_judged_at",
}


@dataclass(frozen=True, slots=True)
class JudgedVisit:
    """The visit as it was judged: its plan, whose it is, and the threshold it passed."""

    visit_id: uuid.UUID
    package_id: uuid.UUID | None
    contract_id: uuid.UUID
    provider_id: uuid.UUID
    person_id: uuid.UUID
    planned_start: datetime
    planned_end: datetime
    time_critical: bool
    threshold: datetime


async def record_judgement(
    session: AsyncSession,
    visit: JudgedVisit,
    judgement: Judgement,
    *,
    at: datetime,
    actor: str,
) -> int | None:
    """Judge the visit late or missed at `at`: mark it and record the event, in the caller's
    transaction; the event's id. None — nothing recorded — when the visit was meanwhile
    attended, cancelled, moved or already judged so."""
    marked = await repository.mark_judged(
        session, visit.visit_id, _COLUMN[judgement], planned_start=visit.planned_start, at=at
    )
    if not marked:
        return None
    threshold = "lateAfter" if judgement is Judgement.LATE else "missedAfter"
    row = await record(
        session,
        NewEvent(
            type=judgement.value,
            subject_type="visit",
            subject_id=visit.visit_id,
            organisation_id=visit.provider_id,
            contract_id=visit.contract_id,
            person_id=visit.person_id,
            actor=actor,
            occurred_at=visit.threshold,
            payload={
                "packageId": str(visit.package_id) if visit.package_id else None,
                "plannedStart": visit.planned_start.isoformat(),
                "plannedEnd": visit.planned_end.isoformat(),
                "timeCritical": visit.time_critical,
                threshold: visit.threshold.isoformat(),
                "judgedAt": at.isoformat(),
            },
        ),
    )
    return row.id
