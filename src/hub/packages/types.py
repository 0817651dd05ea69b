"""GraphQL output types of the packages domain and their mappers from rows.

Nested fields resolve through per-request DataLoaders, so a page of packages asks for its
schedules, next visits, people, contracts and providers in one statement each, however many
packages the page holds.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from hub.errors import InvalidInput
from hub.graphql.context import Info
from hub.graphql.errors import UserError
from hub.graphql.ids import encode_global_id
from hub.graphql.node import Node
from hub.organisations.resolvers import organisation_loader
from hub.organisations.types import Organisation
from hub.packages.lifecycle import IllegalPackageTransition, allowed_package_targets
from hub.packages.lifecycle import PackageStatus as StatusValue
from hub.packages.models import CarePackage as CarePackageRow
from hub.packages.models import ScheduleEntry as ScheduleEntryRow
from hub.packages.triage import INFORMATION_GAP_LABELS
from hub.packages.triage import InformationGap as GapValue
from hub.packages.triage import Rag as RagValue
from hub.staff.competency import competence_label

if TYPE_CHECKING:
    from hub.contracts.types import Contract
    from hub.people.types import Person
    from hub.visits.types import Visit

MAX_NEXT_VISITS = 20


@strawberry.enum(
    description="Where a care package is in its life: referred → accepted → planned → live ⇄ "
    "suspended, and ended from any of them. Only these moves are allowed."
)
class PackageStatus(Enum):
    REFERRED = strawberry.enum_value(
        StatusValue.REFERRED.value, description="Referred by a commissioner or referrer."
    )
    ACCEPTED = strawberry.enum_value(
        StatusValue.ACCEPTED.value, description="Accepted by the provider."
    )
    PLANNED = strawberry.enum_value(
        StatusValue.PLANNED.value, description="Weekly schedule and staffing agreed."
    )
    LIVE = strawberry.enum_value(StatusValue.LIVE.value, description="Visits are being delivered.")
    SUSPENDED = strawberry.enum_value(
        StatusValue.SUSPENDED.value, description="Care paused (hospital admission, respite)."
    )
    ENDED = strawberry.enum_value(
        StatusValue.ENDED.value, description="Closed for good; restarting care is a new referral."
    )


@strawberry.enum(description="Mobilisation triage rating (seed 001): red, amber or green.")
class Rag(Enum):
    RED = strawberry.enum_value(
        RagValue.RED.value,
        description="A gap or late call could harm the person before anyone notices; held out "
        "of rota conversion until validated.",
    )
    AMBER = strawberry.enum_value(
        RagValue.AMBER.value, description="A known risk that needs a named control in the rota."
    )
    GREEN = strawberry.enum_value(RagValue.GREEN.value, description="No risk factor found.")


@strawberry.enum(description="Key information missing from a referral or an incumbent's records.")
class InformationGap(Enum):
    RISK_ASSESSMENT = strawberry.enum_value(
        GapValue.RISK_ASSESSMENT.value, description="Risk assessment."
    )
    MEDICATION_RECORD = strawberry.enum_value(
        GapValue.MEDICATION_RECORD.value,
        description="Medication administration record (MAR).",
    )
    ACCESS_DETAILS = strawberry.enum_value(
        GapValue.ACCESS_DETAILS.value, description="Access details (address, key safe)."
    )
    VISIT_TIMES = strawberry.enum_value(
        GapValue.VISIT_TIMES.value, description="Actual visit times."
    )
    MOVING_AND_HANDLING_PLAN = strawberry.enum_value(
        GapValue.MOVING_AND_HANDLING_PLAN.value, description="Moving and handling plan."
    )
    EMERGENCY_CONTACTS = strawberry.enum_value(
        GapValue.EMERGENCY_CONTACTS.value, description="Primary and emergency contacts."
    )
    ESCALATION_PLAN = strawberry.enum_value(
        GapValue.ESCALATION_PLAN.value, description="Escalation preferences and DNAR status."
    )


@strawberry.type(description="A task planned at a visit, and the competence a carer needs for it.")
class PlannedTask:
    code: str | None = strawberry.field(description="Stable task code, e.g. administer_medication.")
    description: str = strawberry.field(description="What the carer does, as rotas show it.")
    requires: str | None = strawberry.field(
        description="The competence code a carer needs for this task (e.g. medication); only "
        "carers whose competence is evidenced or revalidated may be assigned."
    )

    @strawberry.field(description="The required competence in words, e.g. `moving and handling`.")
    def requires_label(self) -> str | None:
        return competence_label(self.requires) if self.requires else None

    @classmethod
    def from_json(cls, task: dict[str, Any]) -> PlannedTask:
        return cls(
            code=task.get("code"),
            description=str(task.get("description") or task.get("code") or ""),
            requires=task.get("requires"),
        )


@strawberry.type(
    description="One recurring visit of a package's weekly schedule, in Europe/London "
    "wall-clock time (08:00 is 08:00 local in winter and summer alike)."
)
class ScheduleEntry:
    id: strawberry.ID
    weekdays: list[int] = strawberry.field(description="ISO days of the week: 1 = Monday.")
    start_time: time = strawberry.field(description="Local start time, Europe/London.")
    duration_minutes: int
    time_critical: bool = strawberry.field(
        description="Medicines or care that must happen on time (insulin, Parkinson's): the "
        "contract's tighter lateness tolerance applies."
    )
    double_handed: bool = strawberry.field(description="Needs two carers.")
    tasks: list[PlannedTask]

    @classmethod
    def from_model(cls, row: ScheduleEntryRow) -> ScheduleEntry:
        return cls(
            id=strawberry.ID(encode_global_id("ScheduleEntry", row.id)),
            weekdays=sorted(row.weekdays),
            start_time=row.start_time,
            duration_minutes=row.duration_minutes,
            time_critical=row.time_critical,
            double_handed=row.double_handed,
            tasks=[PlannedTask.from_json(task) for task in row.tasks],
        )


@strawberry.type(description="A triage rule that fired, the rating it demands, and why.")
class TriageReason:
    code: str = strawberry.field(description="Stable rule code, e.g. FALLS_RISK_UNASSESSED.")
    rating: Rag
    sentence: str = strawberry.field(description="The reason as the triage log reads it.")


@strawberry.type(
    description="The care commissioned for one person under one contract, delivered by the "
    "contract's provider: its status, weekly schedule and mobilisation triage."
)
class CarePackage(Node):
    id: strawberry.ID
    reference: str
    status: PackageStatus
    starts_on: date
    ends_on: date | None
    rag: Rag | None = strawberry.field(description="Triage rating; null until triaged.")
    rag_reasons: list[TriageReason] = strawberry.field(
        description="Every triage rule that fired, red first, so the amber work still to do on "
        "a red package shows too."
    )
    held_out_of_rota: bool = strawberry.field(
        description="A red package waits out of rota conversion (no visits are generated) "
        "until a coordinator or registered manager validates it."
    )
    information_gaps: list[InformationGap] = strawberry.field(
        description="Key information recorded as missing; triage reads it."
    )
    transferred_on: date | None = strawberry.field(
        description="When care transferred from the incumbent provider, if it did."
    )
    created_at: datetime
    row_id: strawberry.Private[uuid.UUID]
    person_id: strawberry.Private[uuid.UUID]
    contract_id: strawberry.Private[uuid.UUID]
    provider_id: strawberry.Private[uuid.UUID]
    incumbent_provider_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field(description="The statuses this package may move to next.")
    def allowed_next_statuses(self) -> list[PackageStatus]:
        return [
            PackageStatus(target.value)
            for target in allowed_package_targets(StatusValue[self.status.name])
        ]

    @strawberry.field(description="Information gaps in words, for the triage log.")
    def information_gap_labels(self) -> list[str]:
        return [INFORMATION_GAP_LABELS[GapValue[gap.name]] for gap in self.information_gaps]

    @strawberry.field(
        description="The person receiving care (recorded in the access log); null if you may "
        "not see them."
    )
    async def person(
        self, info: Info
    ) -> Annotated[Person, strawberry.lazy("hub.people.types")] | None:
        from hub.people.loaders import resolve_person

        return await resolve_person(info, self.person_id)

    @strawberry.field(description="The contract the package is commissioned under.")
    async def contract(
        self, info: Info
    ) -> Annotated[Contract, strawberry.lazy("hub.contracts.types")] | None:
        from hub.contracts.loaders import contract_loader
        from hub.contracts.types import Contract as ContractType

        row = await contract_loader(info).load(self.contract_id)
        return ContractType.from_model(row) if row is not None else None

    @strawberry.field(description="The provider delivering the package (the contract's).")
    async def provider(self, info: Info) -> Organisation | None:
        row = await organisation_loader(info).load(self.provider_id)
        return Organisation.from_model(row) if row is not None else None

    @strawberry.field(
        description="The provider the package transferred from; null unless transferred."
    )
    async def incumbent_provider(self, info: Info) -> Organisation | None:
        if self.incumbent_provider_id is None:
            return None
        row = await organisation_loader(info).load(self.incumbent_provider_id)
        return Organisation.from_model(row) if row is not None else None

    @strawberry.field(description="The weekly schedule, by local start time.")
    async def schedule(self, info: Info) -> list[ScheduleEntry]:
        from hub.packages.loaders import schedule_loader

        rows = await schedule_loader(info).load(self.row_id)
        return [ScheduleEntry.from_model(row) for row in rows]

    @strawberry.field(
        description="The next visits from now (not cancelled), soonest first; at most 20. A "
        "carer sees only the visits assigned to them."
    )
    async def next_visits(
        self, info: Info, first: int = 3
    ) -> list[Annotated[Visit, strawberry.lazy("hub.visits.types")]]:
        from hub.visits.loaders import next_visits_loader, request_now
        from hub.visits.types import Visit as VisitType

        if not 1 <= first <= MAX_NEXT_VISITS:
            raise InvalidInput(
                "first", f"must be between 1 and {MAX_NEXT_VISITS}", code="PAGE_SIZE"
            )
        records = await next_visits_loader(info, first).load(self.row_id)
        now = request_now(info)
        return [VisitType.from_record(found, now) for found in records]

    @classmethod
    def from_model(cls, row: CarePackageRow) -> CarePackage:
        return cls(
            id=strawberry.ID(encode_global_id("CarePackage", row.id)),
            reference=row.reference,
            status=PackageStatus(row.status.value),
            starts_on=row.starts_on,
            ends_on=row.ends_on,
            rag=Rag(row.rag.value) if row.rag is not None else None,
            rag_reasons=[
                TriageReason(
                    code=str(reason["code"]),
                    rating=Rag(reason["rating"]),
                    sentence=str(reason["sentence"]),
                )
                for reason in row.rag_reasons
            ],
            held_out_of_rota=row.held_out_of_rota,
            information_gaps=[InformationGap(gap) for gap in row.information_gaps],
            transferred_on=row.transferred_on,
            created_at=row.created_at,
            row_id=row.id,
            person_id=row.person_id,
            contract_id=row.contract_id,
            provider_id=row.provider_id,
            incumbent_provider_id=row.incumbent_provider_id,
        )


@strawberry.type(
    description="The package cannot make this move: `allowed` lists the moves it can make."
)
class IllegalPackageTransitionError(UserError):
    current: PackageStatus
    target: PackageStatus
    allowed: list[PackageStatus]

    @classmethod
    def from_error(cls, error: IllegalPackageTransition) -> IllegalPackageTransitionError:
        return cls(
            code=error.code,
            message=error.message,
            current=PackageStatus(error.current.value),
            target=PackageStatus(error.target.value),
            allowed=[PackageStatus(status.value) for status in error.allowed],
        )
