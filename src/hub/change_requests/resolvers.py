"""GraphQL face of the change requests domain: permission → service → typed result.

Supplier clients read with scope `changes:read` and propose (or record the roll-out of) their
own updates with `changes:write`; scopes bind clients only. Rows are filtered by tenancy in the
repository: a supplier sees the change requests it raised, a provider's office those it raised
or on its contracts, a commissioner those it raised or on its contracts. Who may approve each
kind is a rule of the service (`hub.change_requests.service.APPROVERS`), not of these fields:
`decideChange` admits every role that approves some kind.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

import strawberry

from hub.accounts.models import Role
from hub.change_requests import repository, service
from hub.change_requests.inputs import (
    AssessChangeInput,
    DecideChangeInput,
    MarkChangeImplementedInput,
    ProposeChangeInput,
    ReviewChangeInput,
    change_request_id,
    optional_id,
    package_ids,
)
from hub.change_requests.lifecycle import ChangeRequestKind as KindValue
from hub.change_requests.lifecycle import ChangeRequestStatus as StatusValue
from hub.change_requests.loaders import change_request_loader
from hub.change_requests.models import ChangeRequest as ChangeRequestRow
from hub.change_requests.types import ChangeRequest, ChangeRequestKind, ChangeRequestStatus
from hub.db.uow import read_only, unit_of_work
from hub.graphql.context import Info
from hub.graphql.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
)
from hub.graphql.ids import expect_global_id
from hub.graphql.node import register_node
from hub.graphql.pagination import (
    Connection,
    build_connection,
    page_size,
    time_id_cursor,
)
from hub.graphql.permissions import allow
from hub.graphql.writes import write_result
from hub.tenancy import AccessScope

OFFICE_AND_COMMISSIONER = (
    Role.COORDINATOR,
    Role.REGISTERED_MANAGER,
    Role.COMMISSIONER,
    Role.ADMIN,
)
READERS = allow(Role.SUPPLIER_CLIENT, *OFFICE_AND_COMMISSIONER, scopes=("changes:read",))
# Scopes bind clients only: staff, commissioners and admins are gated by role alone.
WRITERS_WITH_SUPPLIERS = allow(
    Role.SUPPLIER_CLIENT, *OFFICE_AND_COMMISSIONER, scopes=("changes:write",)
)
# Every role that approves some kind of change; the service checks the kind.
DECIDERS = allow(Role.REGISTERED_MANAGER, Role.COMMISSIONER, Role.ADMIN)

ChangeRequestResult = Annotated[
    ChangeRequest | InvalidInputError | NotFoundError | ConflictError | ForbiddenError,
    strawberry.union("ChangeRequestResult"),
]


@strawberry.type
class ChangeRequestQuery:
    @strawberry.field(
        description="Change requests visible to you, newest first, a page at a time. Suppliers "
        "see the ones they raised; providers and commissioners theirs and those on their "
        "contracts.",
        extensions=READERS,
    )
    async def change_requests(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        kind: ChangeRequestKind | None = None,
        status: ChangeRequestStatus | None = None,
        contract_id: strawberry.ID | None = None,
    ) -> Connection[ChangeRequest]:
        limit = page_size(first)
        key = time_id_cursor(after)
        contract = optional_id(contract_id, "Contract", "contractId")
        scope = AccessScope.of(info.context.require_principal())
        async with read_only(info.context.sessions) as session:
            rows = await repository.list_page(
                session,
                scope,
                limit=limit + 1,
                after=key,
                kind=KindValue(kind.value) if kind else None,
                status=StatusValue(status.value) if status else None,
                contract_id=contract,
            )
        return build_connection(rows, limit, ChangeRequest.from_model, _sort_key)

    @strawberry.field(
        description="One change request by id, or null if there is none you may see.",
        extensions=READERS,
    )
    async def change_request(self, info: Info, id: strawberry.ID) -> ChangeRequest | None:
        return await _load(info, expect_global_id(id, "ChangeRequest"))


@strawberry.type
class ChangeRequestMutation:
    @strawberry.mutation(
        description="Propose a change, raised by your organisation. Variations and amendments "
        "name their contract. Supplier clients need scope changes:write.",
        extensions=WRITERS_WITH_SUPPLIERS,
    )
    async def propose_change(self, info: Info, input: ProposeChangeInput) -> ChangeRequestResult:
        async def run(scope: AccessScope) -> ChangeRequestRow:
            async with unit_of_work(info.context.sessions) as session:
                return await service.propose(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    kind=KindValue(input.kind.value),
                    title=input.title,
                    description=input.description,
                    contract_id=optional_id(input.contract_id, "Contract", "contractId"),
                    affected_package_ids=package_ids(input.affected_package_ids),
                    affected_workflows=input.affected_workflows,
                    raised_by_organisation_id=optional_id(
                        input.raised_by_organisation_id, "Organisation", "raisedByOrganisationId"
                    ),
                    note=input.note,
                )

        return await _write(info, run)

    @strawberry.mutation(
        description="Record a proposed change's capacity, risk and cost impact (all three).",
        extensions=allow(*OFFICE_AND_COMMISSIONER),
    )
    async def assess_change(self, info: Info, input: AssessChangeInput) -> ChangeRequestResult:
        async def run(scope: AccessScope) -> ChangeRequestRow:
            async with unit_of_work(info.context.sessions) as session:
                return await service.assess(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    change_request_id=change_request_id(input.change_request_id),
                    capacity_impact=input.capacity_impact,
                    risk_impact=input.risk_impact,
                    cost_impact_pence=input.cost_impact_pence,
                    assurance_plan=input.assurance_plan,
                    note=input.note,
                )

        return await _write(info, run)

    @strawberry.mutation(
        description="Approve or reject an assessed change. Contract variations and commissioner "
        "amendments: the commissioner of the contract (or an admin). Supplier software updates: "
        "the registered manager of the provider it affects (or an admin). A rejection needs a "
        "note.",
        extensions=DECIDERS,
    )
    async def decide_change(self, info: Info, input: DecideChangeInput) -> ChangeRequestResult:
        async def run(scope: AccessScope) -> ChangeRequestRow:
            async with unit_of_work(info.context.sessions) as session:
                return await service.decide(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    change_request_id=change_request_id(input.change_request_id),
                    approve=input.approve,
                    note=input.note,
                )

        return await _write(info, run)

    @strawberry.mutation(
        description="Record that an approved change has taken effect, from a date not before "
        "its approval. Refused unless approved. Supplier clients need scope changes:write.",
        extensions=WRITERS_WITH_SUPPLIERS,
    )
    async def mark_change_implemented(
        self, info: Info, input: MarkChangeImplementedInput
    ) -> ChangeRequestResult:
        async def run(scope: AccessScope) -> ChangeRequestRow:
            async with unit_of_work(info.context.sessions) as session:
                return await service.mark_implemented(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    change_request_id=change_request_id(input.change_request_id),
                    effective_from=input.effective_from,
                    note=input.note,
                )

        return await _write(info, run)

    @strawberry.mutation(
        description="Close an implemented change with its assurance plan (e.g. two weeks of "
        "spot checks) and what the review found.",
        extensions=allow(*OFFICE_AND_COMMISSIONER),
    )
    async def review_change(self, info: Info, input: ReviewChangeInput) -> ChangeRequestResult:
        async def run(scope: AccessScope) -> ChangeRequestRow:
            async with unit_of_work(info.context.sessions) as session:
                return await service.review(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    change_request_id=change_request_id(input.change_request_id),
                    assurance_plan=input.assurance_plan,
                    note=input.note,
                )

        return await _write(info, run)


async def _write(
    info: Info, run: Callable[[AccessScope], Awaitable[ChangeRequestRow]]
) -> ChangeRequestResult:
    return await write_result(info, run, ChangeRequest.from_model)


def _sort_key(row: ChangeRequestRow) -> tuple[str, str]:
    return (row.created_at.isoformat(), str(row.id))


async def _load(info: Info, change_id: uuid.UUID) -> ChangeRequest | None:
    row = await change_request_loader(info).load(change_id)
    return ChangeRequest.from_model(row) if row is not None else None


register_node("ChangeRequest", _load)
