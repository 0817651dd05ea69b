"""GraphQL face of the contracts domain: permission → service → typed result.

Who may do what:

- read (`contracts`, `contract`): admins; commissioners (their own contracts) and office staff
  (contracts their provider delivers), as `hub.tenancy.contract_visible` filters them.
- write (`createContract`, `setContractTolerances`, `defineResolutionOutcome`, `defineKpi`):
  admins, and commissioners on their own contracts. Contract terms are the commissioner's; the
  provider works to them but does not set them.
"""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry

from hub.accounts.models import Role
from hub.contracts import repository, service
from hub.contracts.inputs import (
    CreateContractInput,
    DefineKpiInput,
    DefineResolutionOutcomeInput,
    SetContractTolerancesInput,
)
from hub.contracts.loaders import contract_loader, contract_type
from hub.contracts.models import Contract as ContractRow
from hub.contracts.models import ServiceType as ServiceTypeValue
from hub.contracts.repository import ContractStatus as StatusValue
from hub.contracts.types import Contract, ContractStatus, ServiceType
from hub.db.uow import read_only, unit_of_work
from hub.errors import HubError
from hub.graphql.context import Info
from hub.graphql.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    expected_error,
)
from hub.graphql.ids import expect_global_id
from hub.graphql.node import register_node
from hub.graphql.pagination import (
    Connection,
    build_connection,
    page_size,
    text_id_cursor,
)
from hub.graphql.permissions import allow
from hub.tenancy import AccessScope

READERS = (Role.ADMIN, Role.COMMISSIONER, Role.COORDINATOR, Role.REGISTERED_MANAGER)
WRITERS = (Role.ADMIN, Role.COMMISSIONER)

ContractResult = Contract | InvalidInputError | NotFoundError | ConflictError | ForbiddenError
CreateContractResult = Annotated[ContractResult, strawberry.union("CreateContractResult")]
SetContractTolerancesResult = Annotated[
    ContractResult, strawberry.union("SetContractTolerancesResult")
]
DefineResolutionOutcomeResult = Annotated[
    ContractResult, strawberry.union("DefineResolutionOutcomeResult")
]
DefineKpiResult = Annotated[ContractResult, strawberry.union("DefineKpiResult")]


@strawberry.type
class ContractQuery:
    @strawberry.field(
        description="Contracts you may see, by reference, a page at a time.",
        extensions=allow(*READERS),
    )
    async def contracts(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: ContractStatus | None = None,
        service_type: ServiceType | None = None,
    ) -> Connection[Contract]:
        limit = page_size(first)
        key = text_id_cursor(after)
        scope = AccessScope.of(info.context.require_principal())
        async with read_only(info.context.sessions) as session:
            rows = await repository.list_page(
                session,
                scope,
                limit=limit + 1,
                today=service.today(info.context.clock),
                after=key,
                status=StatusValue[status.name] if status else None,
                service_type=ServiceTypeValue[service_type.name] if service_type else None,
            )
        return build_connection(rows, limit, contract_type, _sort_key)

    @strawberry.field(
        description="One contract by id; null if missing or not yours to see.",
        extensions=allow(*READERS),
    )
    async def contract(self, info: Info, id: strawberry.ID) -> Contract | None:
        return await _load_contract(info, expect_global_id(id, "Contract"))


@strawberry.type
class ContractMutation:
    @strawberry.mutation(
        description="Create a contract between a commissioner (local authority or ICB) and a "
        "provider. Admins, or a commissioner in its own name.",
        extensions=allow(*WRITERS),
    )
    async def create_contract(self, info: Info, input: CreateContractInput) -> CreateContractResult:
        context = info.context
        scope = AccessScope.of(context.require_principal())
        try:
            commissioner_id = expect_global_id(
                input.commissioner_id, "Organisation", field="commissionerId"
            )
            provider_id = expect_global_id(input.provider_id, "Organisation", field="providerId")
            async with unit_of_work(context.sessions) as session:
                row = await service.create_contract(
                    session,
                    scope,
                    reference=input.reference,
                    name=input.name,
                    commissioner_id=commissioner_id,
                    provider_id=provider_id,
                    service_type=ServiceTypeValue[input.service_type.name],
                    starts_on=input.starts_on,
                    ends_on=input.ends_on,
                    tolerances=input.tolerances.to_tolerances(),
                    actor=context.actor,
                    clock=context.clock,
                )
        except HubError as error:
            return expected_error(error)
        return contract_type(row)

    @strawberry.mutation(
        description="Replace a contract's tolerances (late, time-critical late, missed, minimum "
        "stay). Admins, or the contract's commissioner.",
        extensions=allow(*WRITERS),
    )
    async def set_contract_tolerances(
        self, info: Info, input: SetContractTolerancesInput
    ) -> SetContractTolerancesResult:
        context = info.context
        scope = AccessScope.of(context.require_principal())
        try:
            contract_id = expect_global_id(input.contract_id, "Contract", field="contractId")
            async with unit_of_work(context.sessions) as session:
                row = await service.set_tolerances(
                    session,
                    scope,
                    contract_id,
                    tolerances=input.tolerances.to_tolerances(),
                    actor=context.actor,
                    clock=context.clock,
                )
        except HubError as error:
            return expected_error(error)
        return contract_type(row)

    @strawberry.mutation(
        description="Add a resolution outcome to a contract, or replace the one with this code. "
        "Returns the contract. Admins, or the contract's commissioner.",
        extensions=allow(*WRITERS),
    )
    async def define_resolution_outcome(
        self, info: Info, input: DefineResolutionOutcomeInput
    ) -> DefineResolutionOutcomeResult:
        context = info.context
        scope = AccessScope.of(context.require_principal())
        try:
            contract_id = expect_global_id(input.contract_id, "Contract", field="contractId")
            async with unit_of_work(context.sessions) as session:
                await service.define_resolution_outcome(
                    session,
                    scope,
                    contract_id,
                    input.to_spec(),
                    actor=context.actor,
                    clock=context.clock,
                )
                row = await service.get(session, scope, contract_id)
        except HubError as error:
            return expected_error(error)
        return contract_type(row)

    @strawberry.mutation(
        description="Add a KPI (its evidence chain: source events, quality rule, exception "
        "rule, governance action) to a contract, or replace the one with this code. Returns the "
        "contract. Admins, or the contract's commissioner.",
        extensions=allow(*WRITERS),
    )
    async def define_kpi(self, info: Info, input: DefineKpiInput) -> DefineKpiResult:
        context = info.context
        scope = AccessScope.of(context.require_principal())
        try:
            contract_id = expect_global_id(input.contract_id, "Contract", field="contractId")
            async with unit_of_work(context.sessions) as session:
                await service.define_kpi(
                    session,
                    scope,
                    contract_id,
                    input.to_spec(),
                    actor=context.actor,
                    clock=context.clock,
                )
                row = await service.get(session, scope, contract_id)
        except HubError as error:
            return expected_error(error)
        return contract_type(row)


async def _load_contract(info: Info, contract_id: uuid.UUID) -> Contract | None:
    row = await contract_loader(info).load(contract_id)
    return contract_type(row) if row else None


def _sort_key(row: ContractRow) -> tuple[str, str]:
    return (row.reference, str(row.id))


register_node("Contract", _load_contract)
