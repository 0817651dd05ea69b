"""GraphQL inputs of the contracts domain, each turned into the service's plain arguments."""

from __future__ import annotations

from datetime import date

import strawberry

from hub.contracts import service
from hub.contracts.types import ServiceType


@strawberry.input(description="When visits count as late, missed or short on a contract.")
class ContractTolerancesInput:
    late_after_minutes: int = strawberry.field(
        description="Minutes after the planned start with no check-in before a visit is late."
    )
    time_critical_late_after_minutes: int = strawberry.field(
        description="The same for time-critical calls; at most `lateAfterMinutes`."
    )
    missed_after_minutes: int = strawberry.field(
        description="Minutes before a visit is missed; more than `lateAfterMinutes`."
    )
    minimum_stay_percent: int = strawberry.field(
        description="1 to 100: a visit shorter than this share of its planned length is short."
    )

    def to_tolerances(self) -> service.Tolerances:
        return service.Tolerances(
            late_after_minutes=self.late_after_minutes,
            time_critical_late_after_minutes=self.time_critical_late_after_minutes,
            missed_after_minutes=self.missed_after_minutes,
            minimum_stay_percent=self.minimum_stay_percent,
        )


@strawberry.input(description="A new contract between a commissioner and a provider.")
class CreateContractInput:
    reference: str = strawberry.field(description="Unique across the hub, e.g. `NVC-HC-2026-01`.")
    name: str
    commissioner_id: strawberry.ID = strawberry.field(
        description="A local authority or ICB; a commissioner gives its own organisation."
    )
    provider_id: strawberry.ID = strawberry.field(description="A care provider organisation.")
    service_type: ServiceType
    starts_on: date
    ends_on: date | None = strawberry.field(default=None, description="Null: open-ended.")
    tolerances: ContractTolerancesInput


@strawberry.input(description="New tolerances for a contract.")
class SetContractTolerancesInput:
    contract_id: strawberry.ID
    tolerances: ContractTolerancesInput


@strawberry.input(
    description="Add a resolution outcome to a contract, or replace the one with this code."
)
class DefineResolutionOutcomeInput:
    contract_id: strawberry.ID
    code: str = strawberry.field(description="snake_case, e.g. `covered_by_alternative_worker`.")
    label: str = strawberry.field(description="The contract's words for it.")
    required_fields: list[str] = strawberry.field(
        default_factory=list,
        description="camelCase names of what closing a case with it must record, "
        "e.g. `coveredWithinMinutes`.",
    )

    def to_spec(self) -> service.OutcomeSpec:
        return service.OutcomeSpec(
            code=self.code, label=self.label, required_fields=list(self.required_fields)
        )


@strawberry.input(description="Add a KPI to a contract, or replace the one with this code.")
class DefineKpiInput:
    contract_id: strawberry.ID
    code: str = strawberry.field(description="snake_case, e.g. `visits_started_on_time`.")
    name: str
    source_event_types: list[str] = strawberry.field(
        description="Event types that evidence the activity, e.g. `visit.checked_in`."
    )
    quality_rule: str = strawberry.field(description="What counts as valid.")
    exception_rule: str = strawberry.field(description="What triggers review.")
    governance_action: str = strawberry.field(
        description="Who reviews, what is decided, how it is recorded."
    )
    target_percent: float | None = strawberry.field(default=None, description="0 to 100.")

    def to_spec(self) -> service.KpiSpec:
        return service.KpiSpec(
            code=self.code,
            name=self.name,
            source_event_types=list(self.source_event_types),
            quality_rule=self.quality_rule,
            exception_rule=self.exception_rule,
            governance_action=self.governance_action,
            target_percent=self.target_percent,
        )
