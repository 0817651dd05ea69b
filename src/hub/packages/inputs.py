"""GraphQL inputs of the packages domain. Ids arrive as global ids and are decoded here, so the
service receives plain UUIDs and dataclasses, and a bad id is refused naming its field."""

from __future__ import annotations

import uuid
from datetime import date, time

import strawberry

from hub.graphql.ids import expect_global_id
from hub.packages.service import ScheduleEntrySpec, TaskSpec
from hub.packages.types import InformationGap, PackageStatus


def package_id(value: strawberry.ID, field: str = "packageId") -> uuid.UUID:
    return expect_global_id(value, "CarePackage", field=field)


def optional_id(value: strawberry.ID | None, type_name: str, field: str) -> uuid.UUID | None:
    return expect_global_id(value, type_name, field=field) if value is not None else None


@strawberry.input(description="A new care package, created in status referred.")
class CreateCarePackageInput:
    person_id: strawberry.ID = strawberry.field(description="The person receiving care.")
    contract_id: strawberry.ID = strawberry.field(description="The contract commissioning it.")
    starts_on: date = strawberry.field(description="First day of care; within the contract.")
    provider_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The delivering provider. Optional: it is always the contract's provider, "
        "and another one is refused.",
    )
    ends_on: date | None = strawberry.field(
        default=None, description="Last day of care, when known; within the contract."
    )
    reference: str | None = strawberry.field(
        default=None, description="The commissioner's package reference; generated if empty."
    )


@strawberry.input(description="Move a package to another status (see `allowedNextStatuses`).")
class ChangePackageStatusInput:
    package_id: strawberry.ID
    status: PackageStatus
    reason: str | None = strawberry.field(
        default=None, description="Why; required to suspend or end a package."
    )


@strawberry.input(description="A task planned at every visit of a schedule entry.")
class PlannedTaskInput:
    code: str = strawberry.field(description="Lower snake case, e.g. administer_medication.")
    description: str = strawberry.field(description="What the carer does, as rotas show it.")
    requires: str | None = strawberry.field(
        default=None,
        description="A known competence code the carer needs (safeguarding, medication, "
        "moving_and_handling, dementia, mca_dols, infection_prevention).",
    )

    def to_spec(self) -> TaskSpec:
        return TaskSpec(code=self.code, description=self.description, requires=self.requires)


@strawberry.input(description="One recurring visit, in Europe/London wall-clock time.")
class ScheduleEntryInput:
    weekdays: list[int] = strawberry.field(description="ISO days: 1 = Monday … 7 = Sunday.")
    start_time: time = strawberry.field(description="Local start, e.g. 08:00 (no offset).")
    duration_minutes: int = strawberry.field(description="5 to 1440 minutes.")
    time_critical: bool = False
    double_handed: bool = False
    tasks: list[PlannedTaskInput] = strawberry.field(default_factory=list)

    def to_spec(self) -> ScheduleEntrySpec:
        return ScheduleEntrySpec(
            weekdays=tuple(self.weekdays),
            start_time=self.start_time,
            duration_minutes=self.duration_minutes,
            time_critical=self.time_critical,
            double_handed=self.double_handed,
            tasks=tuple(task.to_spec() for task in self.tasks),
        )


@strawberry.input(
    description="Replace a package's weekly schedule. Entries identical to existing ones keep "
    "their ids, so visits already generated from them are not generated again."
)
class SetPackageScheduleInput:
    package_id: strawberry.ID
    entries: list[ScheduleEntryInput]


@strawberry.input(description="Triage a package (RAG with reasons); red holds it out of rota.")
class TriagePackageInput:
    package_id: strawberry.ID
    information_gaps: list[InformationGap] | None = strawberry.field(
        default=None,
        description="Key information missing, replacing what is recorded; null keeps it.",
    )


@strawberry.input(description="Validate a red package so its visits may be generated.")
class ReleaseTriageHoldInput:
    package_id: strawberry.ID
    reason: str = strawberry.field(
        description="How the red reasons were validated (e.g. verification call, assessment)."
    )


@strawberry.input(description="Record that a package transferred from an incumbent provider.")
class RecordPackageTransferInput:
    package_id: strawberry.ID
    incumbent_provider_id: strawberry.ID = strawberry.field(
        description="The provider care transferred from."
    )
    transferred_on: date
    note: str | None = strawberry.field(
        default=None, description="TUPE and handover context for the mobilisation log."
    )
