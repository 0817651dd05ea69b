"""GraphQL output types of the visits domain and their mappers from records.

A visit's status is derived (hub.visits.status) from its facts, its contract's tolerances and
the request's `now` (read once per request, so a status filter and the statuses shown agree).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from hub.graphql.context import Info
from hub.graphql.errors import UserError
from hub.graphql.ids import encode_global_id
from hub.graphql.node import Node
from hub.packages.types import CarePackage, PlannedTask
from hub.staff.competency import AssignmentRefused, Refusal
from hub.staff.competency import RefusalCode as RefusalValue
from hub.visits import service
from hub.visits.loaders import assigned_carers_loader, facts_loader, request_now
from hub.visits.models import FactKind as FactKindValue
from hub.visits.models import VisitFact as VisitFactRow
from hub.visits.repository import VisitRecord
from hub.visits.schedule import StartResolution as ResolutionValue
from hub.visits.status import VisitStatus as StatusValue

if TYPE_CHECKING:
    from hub.staff.types import StaffMember


@strawberry.enum(
    description="A visit's status, derived from facts (check-in, check-out, cancellation), the "
    "contract's tolerances and the clock; never set by hand."
)
class VisitStatus(Enum):
    SCHEDULED = strawberry.enum_value(
        StatusValue.SCHEDULED.value,
        description="Not started, and not yet past the contract's late tolerance.",
    )
    IN_PROGRESS = strawberry.enum_value(
        StatusValue.IN_PROGRESS.value, description="Checked in, not yet checked out."
    )
    COMPLETED = strawberry.enum_value(
        StatusValue.COMPLETED.value, description="Checked out (the visit was attended)."
    )
    LATE = strawberry.enum_value(
        StatusValue.LATE.value,
        description="No check-in after the late tolerance (tighter for time-critical visits), "
        "not yet past the missed threshold.",
    )
    MISSED = strawberry.enum_value(
        StatusValue.MISSED.value, description="No check-in after the missed threshold."
    )
    CANCELLED = strawberry.enum_value(
        StatusValue.CANCELLED.value, description="Cancelled by the office, with a reason."
    )


@strawberry.enum(description="How a visit's local start time was placed on its date.")
class StartResolution(Enum):
    EXACT = strawberry.enum_value(
        ResolutionValue.EXACT.value, description="The wall-clock time exists once that day."
    )
    SHIFTED_FORWARD = strawberry.enum_value(
        ResolutionValue.SHIFTED_FORWARD.value,
        description="The time fell in the spring-forward gap and moved an hour later.",
    )
    FIRST_OF_REPEATED = strawberry.enum_value(
        ResolutionValue.FIRST_OF_REPEATED.value,
        description="The time happened twice (autumn fall-back); the first (BST) was taken.",
    )


@strawberry.enum(description="What a visit fact records.")
class VisitFactKind(Enum):
    CHECK_IN = FactKindValue.CHECK_IN.value
    CHECK_OUT = FactKindValue.CHECK_OUT.value
    TASK_CONFIRMATION = FactKindValue.TASK_CONFIRMATION.value
    OBSERVATION = FactKindValue.OBSERVATION.value
    CONCERN = FactKindValue.CONCERN.value


@strawberry.type(
    description="One thing recorded at a visit, never changed: a correction is a new fact that "
    "supersedes it. `occurredAt` is the hub's corrected time; the device's own is beside it."
)
class VisitFact:
    id: strawberry.ID = strawberry.field(description="The fact id (the app's command id).")
    kind: VisitFactKind
    occurred_at: datetime
    device_occurred_at: datetime | None
    received_at: datetime
    source: str = strawberry.field(description="mobile, supplier:<instance> or office.")
    flags: list[str] = strawberry.field(
        description="Mismatches recorded with it (OUTSIDE_GEOFENCE, LATE_SYNC, ...)."
    )
    verification_method: str | None = strawberry.field(
        description="Check-in/out: gps, nfc, qr, manual or supplier."
    )
    distance_m: float | None = strawberry.field(description="From the person's home.")
    accuracy_m: float | None
    supersedes_id: strawberry.ID | None
    details: JSON = strawberry.field(
        description="What it says: the task and outcome, the observation's values, the concern."
    )

    @classmethod
    def from_model(cls, row: VisitFactRow) -> VisitFact:
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=VisitFactKind(row.kind.value),
            occurred_at=row.occurred_at,
            device_occurred_at=row.device_occurred_at,
            received_at=row.received_at,
            source=row.source,
            flags=list(row.flags),
            verification_method=row.verification_method,
            distance_m=row.distance_m,
            accuracy_m=row.accuracy_m,
            supersedes_id=strawberry.ID(str(row.supersedes_id)) if row.supersedes_id else None,
            details=JSON(dict(row.details)),
        )


@strawberry.type(
    description="A planned visit to a person, generated from the package's weekly schedule."
)
class Visit(Node):
    id: strawberry.ID
    planned_start: datetime = strawberry.field(description="UTC instant the visit is due.")
    planned_end: datetime
    local_date: date = strawberry.field(
        description="The Europe/London date the visit starts on (competences are judged on it)."
    )
    start_resolution: StartResolution = strawberry.field(
        description="Whether a clock change moved the start on this date."
    )
    time_critical: bool
    double_handed: bool
    tasks: list[PlannedTask] = strawberry.field(description="The tasks planned at this visit.")
    status: VisitStatus = strawberry.field(
        description="Derived now from the facts and the contract's tolerances."
    )
    late_after: datetime = strawberry.field(
        description="Unattended after this instant, the visit is late."
    )
    missed_after: datetime = strawberry.field(
        description="Unattended after this instant, the visit is missed."
    )
    checked_in_at: datetime | None
    checked_out_at: datetime | None
    attendance_out_of_order: bool = strawberry.field(
        description="The recorded check-out is before the recorded check-in. Both times are "
        "shown as the carer's devices reported them; the fact that put them out of order is "
        "flagged CHECK_OUT_BEFORE_CHECK_IN. Someone in the office should find out which is "
        "right and record a correction."
    )
    cancelled_at: datetime | None
    cancellation_reason: str | None
    created_at: datetime
    row_id: strawberry.Private[uuid.UUID]
    package_id: strawberry.Private[uuid.UUID]
    person_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The care package the visit belongs to.")
    async def package(self, info: Info) -> CarePackage | None:
        from hub.packages.loaders import package_loader

        row = await package_loader(info).load(self.package_id)
        return CarePackage.from_model(row) if row is not None else None

    @strawberry.field(
        description="The carers assigned (two for a double-handed visit), in assignment order. "
        "A carer sees their own staff record only."
    )
    async def assigned_carers(
        self, info: Info
    ) -> list[Annotated[StaffMember, strawberry.lazy("hub.staff.types")]]:
        from hub.staff.types import StaffMember as StaffType

        rows = await assigned_carers_loader(info).load(self.row_id)
        return [StaffType.from_model(row) for row in rows]

    @strawberry.field(
        description="What was recorded at the visit (check-in/out, tasks, observations, "
        "concerns), in the order received, corrections included. They describe the person: "
        "reading them is recorded in the access log."
    )
    async def facts(self, info: Info) -> list[VisitFact]:
        rows = await facts_loader(info).load(self.row_id)
        if rows:
            info.context.audit.person_read("facts", [self.person_id])
        return [VisitFact.from_model(row) for row in rows]

    @classmethod
    def from_record(cls, found: VisitRecord, now: datetime) -> Visit:
        visit = found.visit
        deadlines = service.visit_deadlines(found)
        return cls(
            id=strawberry.ID(encode_global_id("Visit", visit.id)),
            planned_start=visit.planned_start,
            planned_end=visit.planned_end,
            local_date=service.local_date(visit),
            start_resolution=StartResolution(visit.start_resolution),
            time_critical=visit.time_critical,
            double_handed=visit.double_handed,
            tasks=[PlannedTask.from_json(task) for task in visit.tasks],
            status=VisitStatus(service.visit_status(found, now).value),
            late_after=deadlines.late_after,
            missed_after=deadlines.missed_after,
            checked_in_at=visit.checked_in_at,
            checked_out_at=visit.checked_out_at,
            attendance_out_of_order=service.facts_of(visit).out_of_order,
            cancelled_at=visit.cancelled_at,
            cancellation_reason=visit.cancellation_reason,
            created_at=visit.created_at,
            row_id=visit.id,
            package_id=visit.package_id,
            person_id=found.person_id,
        )

    @classmethod
    def resolve(cls, info: Info, found: VisitRecord) -> Visit:
        return cls.from_record(found, request_now(info))


@strawberry.type(description="What one visit generation did over its date range.")
class VisitGeneration:
    package: CarePackage
    date_from: date
    date_to: date
    created: int = strawberry.field(description="Visits created by this call.")
    existing: int = strawberry.field(
        description="Visits in the range that already existed (a re-run or an overlapping "
        "range); left as they were."
    )
    outside_package_dates: int = strawberry.field(
        description="Schedule occurrences before the package starts or after it (or its "
        "contract) ends; not generated."
    )
    superseded: int = strawberry.field(
        description="Future, unattended visits from a schedule entry that has since changed; "
        "cancelled."
    )
    visits: list[Visit] = strawberry.field(description="The visits created, by planned start.")


@strawberry.enum(description="Why an assignment is refused.")
class AssignmentRefusalCode(Enum):
    WRONG_NUMBER_OF_CARERS = strawberry.enum_value(
        RefusalValue.WRONG_NUMBER_OF_CARERS.value,
        description="A double-handed visit needs two carers, any other one.",
    )
    CARER_GIVEN_TWICE = strawberry.enum_value(
        RefusalValue.CARER_GIVEN_TWICE.value, description="The same carer was given twice."
    )
    COMPETENCE_MISSING = strawberry.enum_value(
        RefusalValue.COMPETENCE_MISSING.value,
        description="The carer has no record of a competence a task needs.",
    )
    COMPETENCE_RESTRICTED = strawberry.enum_value(
        RefusalValue.COMPETENCE_RESTRICTED.value,
        description="The competence is restricted (supervised or limited).",
    )
    COMPETENCE_EXPIRED = strawberry.enum_value(
        RefusalValue.COMPETENCE_EXPIRED.value,
        description="The competence is expired, or lapses before the visit date.",
    )


@strawberry.type(description="One reason an assignment cannot stand.")
class AssignmentRefusal:
    code: AssignmentRefusalCode
    message: str
    carer_id: strawberry.ID | None = strawberry.field(
        description="The staff member it concerns; null for the carer count."
    )
    competence: str | None = strawberry.field(description="The competence code concerned.")
    tasks: list[str] = strawberry.field(description="The tasks that need that competence.")
    staff_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field(description="The staff member it concerns; null for the carer count.")
    async def carer(
        self, info: Info
    ) -> Annotated[StaffMember, strawberry.lazy("hub.staff.types")] | None:
        from hub.staff.loaders import staff_loader
        from hub.staff.types import StaffMember as StaffType

        if self.staff_id is None:
            return None
        row = await staff_loader(info).load(self.staff_id)
        return StaffType.from_model(row) if row is not None else None

    @classmethod
    def from_refusal(cls, refusal: Refusal) -> AssignmentRefusal:
        return cls(
            code=AssignmentRefusalCode(refusal.code.value),
            message=refusal.message,
            carer_id=(
                strawberry.ID(encode_global_id("StaffMember", refusal.staff_id))
                if refusal.staff_id is not None
                else None
            ),
            competence=refusal.competence,
            tasks=list(refusal.tasks),
            staff_id=refusal.staff_id,
        )


@strawberry.type(
    description="The carers cannot be assigned to the visit: every reason is listed, so the "
    "assignment can be fixed in one go. Nothing was changed."
)
class AssignmentRefusedError(UserError):
    refusals: list[AssignmentRefusal]

    @classmethod
    def from_error(cls, error: AssignmentRefused) -> AssignmentRefusedError:
        return cls(
            code=error.code,
            message=error.message,
            refusals=[AssignmentRefusal.from_refusal(refusal) for refusal in error.refusals],
        )
