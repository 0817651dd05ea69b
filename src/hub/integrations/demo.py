"""A supplier's view of the demo contract, for the reference supplier server (development only).

`hub supplier-demo-records` writes it; `python -m connectors.supplier_rest.reference_server
--records FILE` serves it. It is what CareRoster, the demo provider's rostering system, would
hold about Riverside Homecare: its carers (with the demo's `RS-…` ids, so they link to the
hub's staff records rather than duplicating them), its live packages (quoting the hub's package
references as the commissioner's), the visits of today and tomorrow with the carers it rostered,
one extra tea-time call per package tomorrow the hub has not planned, and check-ins and
check-outs for the visits that have already started. Polling it shows visits flowing into the
graph: the extra calls appear, and the day's visits gain their check-ins.

The reads here are a development tool's: plain selects over the demo provider's rows.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.kit.time import LONDON, Clock
from hub.packages.lifecycle import PackageStatus
from hub.packages.models import CarePackage, ScheduleEntry
from hub.people.models import Person
from hub.staff.models import Competency, StaffMember, StaffRole
from hub.visits.models import Visit, VisitAssignment

ROLES = {
    StaffRole.CARER: "care_worker",
    StaffRole.SENIOR_CARER: "senior_care_worker",
    StaffRole.NURSE: "nurse",
    StaffRole.COORDINATOR: "coordinator",
    StaffRole.REGISTERED_MANAGER: "registered_manager",
    StaffRole.OTHER: "other",
}


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def supplier_dataset(
    session: AsyncSession, *, organisation_id: uuid.UUID, staff_source: str, clock: Clock
) -> dict[str, list[dict[str, Any]]]:
    """The five feeds of the reference server, from the provider's rows in the hub."""
    now = clock.now()
    stamp = now - timedelta(hours=1)
    today = now.astimezone(LONDON).date()
    window_start = datetime.combine(today, time(0, 0), tzinfo=LONDON)
    window_end = window_start + timedelta(days=2)

    members = (
        await session.scalars(
            select(StaffMember)
            .where(
                StaffMember.organisation_id == organisation_id,
                StaffMember.external_source == staff_source,
                StaffMember.active.is_(True),
            )
            .order_by(StaffMember.external_id)
        )
    ).all()
    external = {member.id: member.external_id for member in members if member.external_id}
    competencies: dict[uuid.UUID, list[Competency]] = {}
    for row in await session.scalars(
        select(Competency).where(Competency.staff_id.in_(list(external))).order_by(Competency.code)
    ):
        competencies.setdefault(row.staff_id, []).append(row)
    staff = [
        {
            "id": external[member.id],
            "given_name": member.given_name,
            "family_name": member.family_name,
            "role": ROLES[member.role],
            "active": True,
            "competencies": [
                {
                    "code": row.code,
                    "status": row.status.value,
                    "evidenced_on": row.assessed_on.isoformat() if row.assessed_on else None,
                    "expires_on": row.expires_on.isoformat() if row.expires_on else None,
                }
                for row in competencies.get(member.id, [])
            ],
            "updated_at": _iso(stamp),
        }
        for member in members
        if member.id in external
    ]

    packages_rows = (
        await session.execute(
            select(CarePackage, Person)
            .join(Person, Person.id == CarePackage.person_id)
            .where(
                CarePackage.provider_id == organisation_id,
                CarePackage.status == PackageStatus.LIVE,
                CarePackage.held_out_of_rota.is_(False),
            )
            .order_by(CarePackage.reference)
        )
    ).all()
    entries: dict[uuid.UUID, list[ScheduleEntry]] = {}
    for entry in await session.scalars(
        select(ScheduleEntry).where(
            ScheduleEntry.package_id.in_([package.id for package, _ in packages_rows])
        )
    ):
        entries.setdefault(entry.package_id, []).append(entry)
    packages = []
    homes: dict[uuid.UUID, tuple[float, float] | None] = {}
    for package, person in packages_rows:
        weekly = sum(e.duration_minutes * len(e.weekdays) for e in entries.get(package.id, []))
        homes[package.id] = (
            (person.latitude, person.longitude)
            if person.latitude is not None and person.longitude is not None
            else None
        )
        packages.append(
            {
                "id": f"CR-{package.reference}",
                "client_id": f"CL-{str(person.id)[:8]}",
                "nhs_number": person.nhs_number,
                "status": "live",
                "start_date": package.starts_on.isoformat(),
                "end_date": package.ends_on.isoformat() if package.ends_on else None,
                "weekly_hours": round(weekly / 60, 2),
                "double_handed": any(e.double_handed for e in entries.get(package.id, [])),
                "medication_support": person.medication_support.value,
                "commissioner_reference": package.reference,
                "updated_at": _iso(stamp),
            }
        )
    supplier_package = {package.id: f"CR-{package.reference}" for package, _ in packages_rows}

    visit_rows = (
        await session.scalars(
            select(Visit)
            .where(
                Visit.package_id.in_(list(supplier_package)),
                Visit.planned_start >= window_start,
                Visit.planned_start < window_end,
                Visit.cancelled_at.is_(None),
            )
            .order_by(Visit.planned_start, Visit.id)
        )
    ).all()
    carers: dict[uuid.UUID, list[str]] = {}
    for assignment in await session.scalars(
        select(VisitAssignment)
        .where(VisitAssignment.visit_id.in_([visit.id for visit in visit_rows]))
        .order_by(VisitAssignment.created_at, VisitAssignment.id)
    ):
        if assignment.staff_id in external:
            carers.setdefault(assignment.visit_id, []).append(external[assignment.staff_id])

    visits: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    last_by_package: dict[uuid.UUID, dict[str, Any]] = {}
    for visit in visit_rows:
        item = {
            "id": f"CR-V{len(visits) + 1:04d}",
            "package_id": supplier_package[visit.package_id],
            "planned_start": _iso(visit.planned_start),
            "planned_end": _iso(visit.planned_end),
            "status": "scheduled",
            "time_critical": visit.time_critical,
            "carers": carers.get(visit.id, []),
            "tasks": [
                {
                    "code": task.get("code"),
                    "description": task.get("description"),
                    "requires_competency": task.get("requires"),
                }
                for task in visit.tasks
            ],
            "updated_at": _iso(stamp),
        }
        visits.append(item)
        if item["carers"] and not visit.double_handed:
            last_by_package[visit.package_id] = item
        home = homes.get(visit.package_id)
        if item["carers"] and visit.planned_start <= now - timedelta(minutes=5):
            events.extend(_attendance(item, visit, home, now, stamp, len(events)))
    tomorrow = window_start + timedelta(days=1)
    for model in last_by_package.values():
        start = datetime.combine(tomorrow.date(), time(21, 30), tzinfo=LONDON)
        visits.append(
            {
                **model,
                "id": f"CR-V{len(visits) + 1:04d}",
                "planned_start": _iso(start),
                "planned_end": _iso(start + timedelta(minutes=20)),
                "tasks": [
                    {
                        "code": "welfare_check",
                        "description": "Late welfare check: settled, drink in reach, doors locked",
                        "requires_competency": None,
                    }
                ],
            }
        )
    return {
        "staff": staff,
        "packages": packages,
        "visits": visits,
        "rota_changes": [],
        "visit_events": events,
    }


def _attendance(
    item: dict[str, Any],
    visit: Visit,
    home: tuple[float, float] | None,
    now: datetime,
    stamp: datetime,
    count: int,
) -> list[dict[str, Any]]:
    location = {"latitude": home[0], "longitude": home[1], "accuracy_m": 12.0} if home else None
    method = "gps" if location else "telephony"
    arrived = visit.planned_start + timedelta(minutes=4)
    found = [("check_in", arrived)]
    if visit.planned_end <= now:
        found.append(("check_out", visit.planned_end))
    return [
        {
            "id": f"CR-E{count + index + 1:05d}",
            "visit_id": item["id"],
            "staff_id": item["carers"][0],
            "kind": kind,
            "occurred_at": _iso(at),
            "recorded_at": _iso(at + timedelta(seconds=5)),
            "method": method,
            "location": location,
            "updated_at": _iso(stamp),
        }
        for index, (kind, at) in enumerate(found)
    ]
