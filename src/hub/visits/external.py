"""Visits planned by an upstream rostering system rather than generated from the hub's own
weekly schedule (the supplier REST connector applies them through here).

A supplier's rota is the plan for the packages it rosters: its visits become hub visits one by
one, keyed `supplier:<instance>:<visit id>` in the unique `visits.idempotency_key`, so applying
the same visit twice creates it once. They follow the generation rules — only planned or live
packages, never one held out of rota conversion by its triage — and record `visit.generated`
like generated visits, because the contract KPIs count planned visits by that event (see
`hub.demo.DEMO_KPIS`); the payload's `origin` says where the plan came from.

A reschedule moves an unattended, uncancelled visit and records `visit.rescheduled` with the
times before and after; it clears the visit's late/missed judgement, so the due-visit scan
judges it again against the new times (a move into the past is judged on the next scan).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import InvalidInput
from hub.events.log import NewEvent, record
from hub.kit.ids import uuid7
from hub.kit.time import LONDON, Clock, require_aware
from hub.packages import repository as packages_repository
from hub.packages import service as packages
from hub.tenancy import AccessScope
from hub.visits import repository
from hub.visits.errors import (
    PackageHeldOutOfRota,
    PackageNotSchedulable,
    VisitAlreadyAttended,
    VisitCancelled,
)
from hub.visits.repository import VisitRecord
from hub.visits.service import GENERATABLE, get_visit
from hub.visits.status import VisitTolerances

MAX_VISIT_LENGTH = timedelta(hours=24)
MAX_KEY_LENGTH = 300
MAX_REASON_LENGTH = 2000


def _check_times(planned_start: datetime, planned_end: datetime) -> tuple[datetime, datetime]:
    start = require_aware(planned_start, "plannedStart")
    end = require_aware(planned_end, "plannedEnd")
    if end <= start:
        raise InvalidInput("plannedEnd", "must be after plannedStart", code="NOT_IN_ORDER")
    if end - start > MAX_VISIT_LENGTH:
        raise InvalidInput(
            "plannedEnd", "a visit lasts at most 24 hours (longer is live-in care)", code="TOO_LONG"
        )
    return start, end


async def plan_visit(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    package_id: uuid.UUID,
    idempotency_key: str,
    origin: str,
    planned_start: datetime,
    planned_end: datetime,
    time_critical: bool,
    double_handed: bool,
    tasks: Sequence[dict[str, Any]],
) -> tuple[VisitRecord, bool]:
    """Create one planned visit of a package, or find the one `idempotency_key` made before;
    returns it and whether it was created now. Tasks are `{code, description, requires}`."""
    if not idempotency_key or len(idempotency_key) > MAX_KEY_LENGTH:
        raise InvalidInput("idempotencyKey", f"1 to {MAX_KEY_LENGTH} characters", code="INVALID")
    start, end = _check_times(planned_start, planned_end)
    package = await packages.get_package(session, scope, package_id, for_update=True)
    if package.status not in GENERATABLE:
        raise PackageNotSchedulable(
            f"package {package.reference} is {package.status}; visits are planned only for "
            "planned or live packages"
        )
    if package.held_out_of_rota:
        raise PackageHeldOutOfRota(
            f"package {package.reference} is rated {package.rag or 'red'} and held out of rota "
            "conversion until a coordinator or registered manager validates it "
            "(releaseTriageHold)"
        )
    row = {
        "id": uuid7(),
        "package_id": package.id,
        "schedule_entry_id": None,
        "idempotency_key": idempotency_key,
        "planned_start": start,
        "planned_end": end,
        "start_resolution": "exact",
        "time_critical": time_critical,
        "double_handed": double_handed,
        "tasks": [
            {
                "code": task.get("code"),
                "description": task.get("description"),
                "requires": task.get("requires"),
            }
            for task in tasks
        ],
    }
    created_ids = await repository.insert_planned(session, [row])
    if not created_ids:
        existing = await repository.by_idempotency_key(session, scope, idempotency_key)
        if existing is None:  # the key belongs to a visit this caller may not see
            raise InvalidInput(
                "idempotencyKey", "is taken by another provider's visit", code="KEY_TAKEN"
            )
        return existing, False
    (visit,) = await repository.created_visits(session, created_ids)
    contract = await packages_repository.contract_of(session, package)
    found = VisitRecord(
        visit=visit,
        contract_id=package.contract_id,
        provider_id=package.provider_id,
        person_id=package.person_id,
        tolerances=VisitTolerances(
            late_after_minutes=contract.late_after_minutes,
            time_critical_late_after_minutes=contract.time_critical_late_after_minutes,
            missed_after_minutes=contract.missed_after_minutes,
        ),
    )
    await _record(
        session,
        found,
        "visit.generated",
        actor,
        clock,
        {
            "idempotencyKey": idempotency_key,
            "origin": origin,
            "plannedStart": start.isoformat(),
            "plannedEnd": end.isoformat(),
        },
    )
    return found, True


async def reschedule_visit(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    visit_id: uuid.UUID,
    planned_start: datetime,
    planned_end: datetime,
    reason: str | None,
) -> VisitRecord:
    """Move a visit that has not been attended or cancelled; a move to the same times records
    nothing."""
    start, end = _check_times(planned_start, planned_end)
    why = (reason or "").strip()[:MAX_REASON_LENGTH] or None
    found = await get_visit(session, scope, visit_id, for_update=True)
    visit = found.visit
    when = visit.planned_start.astimezone(LONDON).strftime("%d %b %Y %H:%M")
    if visit.cancelled_at is not None:
        raise VisitCancelled(f"the visit at {when} was cancelled; it cannot be rescheduled")
    if visit.checked_in_at is not None or visit.checked_out_at is not None:
        raise VisitAlreadyAttended(f"the visit at {when} was attended; it cannot be rescheduled")
    if (visit.planned_start, visit.planned_end) == (start, end):
        return found
    before = (visit.planned_start, visit.planned_end)
    visit.planned_start, visit.planned_end = start, end
    # Judged against the old times; the new ones are judged afresh (`hub.visits.judgement`).
    visit.late_judged_at = visit.missed_judged_at = None
    await session.flush()
    await _record(
        session,
        found,
        "visit.rescheduled",
        actor,
        clock,
        {
            "plannedStart": start.isoformat(),
            "plannedEnd": end.isoformat(),
            "previousPlannedStart": before[0].isoformat(),
            "previousPlannedEnd": before[1].isoformat(),
            "reason": why,
        },
    )
    return found


async def _record(
    session: AsyncSession,
    found: VisitRecord,
    event_type: str,
    actor: str,
    clock: Clock,
    payload: dict[str, Any],
) -> None:
    await record(
        session,
        NewEvent(
            type=event_type,
            subject_type="visit",
            subject_id=found.visit.id,
            organisation_id=found.provider_id,
            contract_id=found.contract_id,
            person_id=found.person_id,
            actor=actor,
            occurred_at=clock.now(),
            payload={"packageId": str(found.visit.package_id), **payload},
        ),
    )
