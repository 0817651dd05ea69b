"""GraphQL types of the contracts domain."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry

from hub.contracts import service
from hub.contracts.models import Contract as ContractRow
from hub.contracts.models import KpiDefinition as KpiRow
from hub.contracts.models import ResolutionOutcome as OutcomeRow
from hub.contracts.models import ServiceType as ServiceTypeValue
from hub.contracts.repository import ContractStatus as StatusValue
from hub.graphql.context import Info
from hub.graphql.ids import encode_global_id
from hub.graphql.node import Node
from hub.graphql.pagination import page_size
from hub.organisations.resolvers import organisation_loader
from hub.organisations.types import Organisation


@strawberry.enum(description="The kind of service a contract commissions.")
class ServiceType(Enum):
    HOMECARE = ServiceTypeValue.HOMECARE.value
    REABLEMENT = ServiceTypeValue.REABLEMENT.value
    COMMUNITY_NURSING = ServiceTypeValue.COMMUNITY_NURSING.value
    SUPPORTED_LIVING = ServiceTypeValue.SUPPORTED_LIVING.value
    OTHER = ServiceTypeValue.OTHER.value


@strawberry.enum(description="Where a contract is in its term today (Europe/London dates).")
class ContractStatus(Enum):
    UPCOMING = strawberry.enum_value(StatusValue.UPCOMING.value, description="Not started yet.")
    ACTIVE = strawberry.enum_value(StatusValue.ACTIVE.value, description="In its term.")
    ENDED = strawberry.enum_value(StatusValue.ENDED.value, description="Past its end date.")


@strawberry.type(
    description="When the exception rules call a visit late, missed or short on this contract."
)
class ContractTolerances:
    late_after_minutes: int = strawberry.field(
        description="Minutes after the planned start with no check-in before a visit is late."
    )
    time_critical_late_after_minutes: int = strawberry.field(
        description="The same for time-critical calls (e.g. medication); never more than "
        "`lateAfterMinutes`."
    )
    missed_after_minutes: int = strawberry.field(
        description="Minutes after the planned start with no check-in before a visit is missed."
    )
    minimum_stay_percent: int = strawberry.field(
        description="A visit shorter than this share of its planned length is short."
    )


@strawberry.type(
    description="A way an exception case on this contract may be closed, in the contract's "
    "words, and the fields that must be recorded with it."
)
class ResolutionOutcome:
    code: str = strawberry.field(description="Stable code, e.g. `covered_by_alternative_worker`.")
    label: str = strawberry.field(
        description="As the contract says it, e.g. 'Covered by alternative worker within X "
        "minutes'."
    )
    required_fields: list[str] = strawberry.field(
        description="What closing a case with this outcome must record, e.g. "
        "`coveredWithinMinutes`."
    )

    @classmethod
    def from_model(cls, row: OutcomeRow) -> ResolutionOutcome:
        return cls(code=row.code, label=row.label, required_fields=list(row.required_fields))


@strawberry.type(
    description="A KPI as data: the evidence chain from workflow events to a governance action."
)
class KpiDefinition:
    code: str
    name: str
    source_event_types: list[str] = strawberry.field(
        description="The events that evidence the activity, e.g. `visit.checked_in`."
    )
    quality_rule: str = strawberry.field(
        description="What counts as valid: time window, required fields, reason codes."
    )
    exception_rule: str = strawberry.field(
        description="What triggers review: late, missing, repeated patterns, overrides."
    )
    governance_action: str = strawberry.field(
        description="Who reviews, what they decide, and how it is recorded."
    )
    target_percent: float | None = strawberry.field(description="The contractual target, if any.")

    @classmethod
    def from_model(cls, row: KpiRow) -> KpiDefinition:
        return cls(
            code=row.code,
            name=row.name,
            source_event_types=list(row.source_event_types),
            quality_rule=row.quality_rule,
            exception_rule=row.exception_rule,
            governance_action=row.governance_action,
            target_percent=row.target_percent,
        )


if TYPE_CHECKING:
    from hub.packages.types import CarePackage, PackageStatus


@strawberry.type(
    description="A commissioned service between a commissioner (local authority or ICB) and a "
    "provider: its term, tolerances, resolution outcomes and KPIs."
)
class Contract(Node):
    id: strawberry.ID
    reference: str = strawberry.field(description="The commissioner's contract reference.")
    name: str
    service_type: ServiceType
    starts_on: date
    ends_on: date | None = strawberry.field(description="Null while open-ended.")
    tolerances: ContractTolerances
    created_at: datetime
    updated_at: datetime
    contract_id: strawberry.Private[uuid.UUID]
    commissioner_id: strawberry.Private[uuid.UUID]
    provider_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The local authority or ICB commissioning the service.")
    async def commissioner(self, info: Info) -> Organisation:
        return await _organisation(info, self.commissioner_id)

    @strawberry.field(description="The care provider delivering it.")
    async def provider(self, info: Info) -> Organisation:
        return await _organisation(info, self.provider_id)

    @strawberry.field(description="Where the contract is in its term today.")
    def status(self, info: Info) -> ContractStatus:
        row_status = service.status_on(
            self.starts_on, self.ends_on, service.today(info.context.clock)
        )
        return ContractStatus[row_status.name]

    @strawberry.field(description="The outcome codes a case on this contract may close with.")
    async def resolution_outcomes(self, info: Info) -> list[ResolutionOutcome]:
        from hub.contracts.loaders import outcomes_loader

        rows = await outcomes_loader(info).load(self.contract_id)
        return [ResolutionOutcome.from_model(row) for row in rows]

    @strawberry.field(description="The contract's KPIs, each with its evidence chain.")
    async def kpis(self, info: Info) -> list[KpiDefinition]:
        from hub.contracts.loaders import kpis_loader

        rows = await kpis_loader(info).load(self.contract_id)
        return [KpiDefinition.from_model(row) for row in rows]

    @strawberry.field(
        description="The contract's first `first` care packages (by reference) that you may see, "
        "optionally only those in the given statuses. For paging use `carePackages(contractId:)`."
    )
    async def care_packages(
        self,
        info: Info,
        first: int = 20,
        status: list[Annotated[PackageStatus, strawberry.lazy("hub.packages.types")]] | None = None,
    ) -> list[Annotated[CarePackage, strawberry.lazy("hub.packages.types")]]:
        # Packages sit above contracts in the domain order: imported when the field runs.
        from hub.packages import types as package_types
        from hub.packages.lifecycle import PackageStatus as PackageStatusValue
        from hub.packages.loaders import packages_by_contract_loader

        statuses = [PackageStatusValue(str(value.value)) for value in status or []]
        loader = packages_by_contract_loader(info, page_size(first), statuses)
        rows = await loader.load(self.contract_id)
        return [package_types.CarePackage.from_model(row) for row in rows]

    @classmethod
    def from_model(cls, row: ContractRow) -> Contract:
        return cls(
            id=strawberry.ID(encode_global_id("Contract", row.id)),
            reference=row.reference,
            name=row.name,
            service_type=ServiceType[row.service_type.name],
            starts_on=row.starts_on,
            ends_on=row.ends_on,
            tolerances=ContractTolerances(
                late_after_minutes=row.late_after_minutes,
                time_critical_late_after_minutes=row.time_critical_late_after_minutes,
                missed_after_minutes=row.missed_after_minutes,
                minimum_stay_percent=row.minimum_stay_percent,
            ),
            created_at=row.created_at,
            updated_at=row.updated_at,
            contract_id=row.id,
            commissioner_id=row.commissioner_id,
            provider_id=row.provider_id,
        )


async def _organisation(info: Info, organisation_id: uuid.UUID) -> Organisation:
    row = await organisation_loader(info).load(organisation_id)
    if row is None:  # the foreign keys make this impossible; say so if it ever happens
        raise LookupError(f"organisation {organisation_id} of a contract is missing")
    return Organisation.from_model(row)
