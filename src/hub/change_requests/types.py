"""GraphQL output types of the change requests domain and their `from_model` mappers."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import Enum

import strawberry

from hub.change_requests.lifecycle import ChangeRequestKind as KindValue
from hub.change_requests.lifecycle import ChangeRequestStatus as StatusValue
from hub.change_requests.lifecycle import allowed_change_request_targets
from hub.change_requests.loaders import change_decisions_loader
from hub.change_requests.models import ChangeDecision as ChangeDecisionRow
from hub.change_requests.models import ChangeRequest as ChangeRequestRow
from hub.contracts.loaders import contract_loader, contract_type
from hub.contracts.types import Contract
from hub.graphql.context import Info
from hub.graphql.ids import encode_global_id
from hub.graphql.node import Node
from hub.organisations.resolvers import organisation_loader
from hub.organisations.types import Organisation

# The global-id type name of care packages (hub.packages.types).
PACKAGE_TYPE = "CarePackage"


@strawberry.enum(description="The three kinds of change put under one change-control discipline.")
class ChangeRequestKind(Enum):
    SUPPLIER_SOFTWARE_UPDATE = KindValue.SUPPLIER_SOFTWARE_UPDATE.value
    CONTRACT_VARIATION = KindValue.CONTRACT_VARIATION.value
    COMMISSIONER_AMENDMENT = KindValue.COMMISSIONER_AMENDMENT.value


@strawberry.enum(
    description="proposed → assessed → approved | rejected; approved → implemented → reviewed. "
    "Rejected and reviewed are final."
)
class ChangeRequestStatus(Enum):
    PROPOSED = StatusValue.PROPOSED.value
    ASSESSED = StatusValue.ASSESSED.value
    APPROVED = StatusValue.APPROVED.value
    REJECTED = StatusValue.REJECTED.value
    IMPLEMENTED = StatusValue.IMPLEMENTED.value
    REVIEWED = StatusValue.REVIEWED.value


@strawberry.type(description="One move of a change request: who, when, from what, to what, why.")
class ChangeDecision:
    from_status: ChangeRequestStatus | None = strawberry.field(
        description="Null for the proposal that created the change request."
    )
    to_status: ChangeRequestStatus
    decided_by: str = strawberry.field(description="The actor, as the event log names them.")
    decided_at: datetime
    note: str | None = strawberry.field(description="Why: the reason given with the decision.")

    @classmethod
    def from_model(cls, row: ChangeDecisionRow) -> ChangeDecision:
        return cls(
            from_status=ChangeRequestStatus(row.from_status.value) if row.from_status else None,
            to_status=ChangeRequestStatus(row.to_status.value),
            decided_by=row.decided_by,
            decided_at=row.decided_at,
            note=row.note,
        )


@strawberry.type(
    description="A supplier software update, contract variation or commissioner amendment, with "
    "its capacity, risk and cost impact and every decision on it. No change takes effect "
    "unapproved."
)
class ChangeRequest(Node):
    id: strawberry.ID
    reference: str = strawberry.field(description="The hub's reference for the change log.")
    kind: ChangeRequestKind
    title: str = strawberry.field(description="What is changing, in a line.")
    description: str = strawberry.field(description="What changes, for whom, and why.")
    status: ChangeRequestStatus
    affected_package_ids: list[strawberry.ID] = strawberry.field(
        description="Global ids of the care packages the change affects."
    )
    affected_workflows: list[str] = strawberry.field(
        description="Workflows it changes, e.g. 'task confirmation', 'missed-call reporting'."
    )
    capacity_impact: str | None = strawberry.field(
        description="Extra admin, training or monitoring workload (set at assessment)."
    )
    risk_impact: str | None = strawberry.field(
        description="Potential for errors, staff overload or less supervision time."
    )
    cost_impact_pence: int | None = strawberry.field(
        description="Cost in pence; negative is a saving."
    )
    assurance_plan: str | None = strawberry.field(
        description="How the change is assured once in effect, e.g. two weeks of spot checks."
    )
    effective_from: date | None = strawberry.field(
        description="The day the change took effect (Europe/London)."
    )
    allowed_next_statuses: list[ChangeRequestStatus] = strawberry.field(
        description="Where the change may move next; empty when final."
    )
    created_at: datetime
    updated_at: datetime

    row_id: strawberry.Private[uuid.UUID]
    raised_by_organisation_id: strawberry.Private[uuid.UUID]
    contract_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field(description="The organisation that raised the change.")
    async def raised_by(self, info: Info) -> Organisation | None:
        row = await organisation_loader(info).load(self.raised_by_organisation_id)
        return Organisation.from_model(row) if row is not None else None

    @strawberry.field(description="The contract the change concerns, if any and visible to you.")
    async def contract(self, info: Info) -> Contract | None:
        if self.contract_id is None:
            return None
        row = await contract_loader(info).load(self.contract_id)
        return contract_type(row) if row is not None else None

    @strawberry.field(description="Every decision on the change, oldest first.")
    async def decisions(self, info: Info) -> list[ChangeDecision]:
        rows = await change_decisions_loader(info).load(self.row_id)
        return [ChangeDecision.from_model(row) for row in rows]

    @classmethod
    def from_model(cls, row: ChangeRequestRow) -> ChangeRequest:
        return cls(
            id=strawberry.ID(encode_global_id("ChangeRequest", row.id)),
            reference=row.reference,
            kind=ChangeRequestKind(row.kind.value),
            title=row.title,
            description=row.description,
            status=ChangeRequestStatus(row.status.value),
            affected_package_ids=[
                strawberry.ID(encode_global_id(PACKAGE_TYPE, p)) for p in row.affected_package_ids
            ],
            affected_workflows=list(row.affected_workflows),
            capacity_impact=row.capacity_impact,
            risk_impact=row.risk_impact,
            cost_impact_pence=row.cost_impact_pence,
            assurance_plan=row.assurance_plan,
            effective_from=row.effective_from,
            allowed_next_statuses=[
                ChangeRequestStatus(s.value) for s in allowed_change_request_targets(row.status)
            ],
            created_at=row.created_at,
            updated_at=row.updated_at,
            row_id=row.id,
            raised_by_organisation_id=row.raised_by_organisation_id,
            contract_id=row.contract_id,
        )
