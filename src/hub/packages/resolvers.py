"""GraphQL face of the packages domain: permission → service → typed result.

Reading: carers (the packages of visits assigned to them), the provider's office, the
commissioner of the contract, admins — rows filtered by tenancy in the repository. Writing: the
provider's office (coordinator, registered manager) and admins.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

import strawberry

from hub.accounts.models import Role
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
    text_id_cursor,
)
from hub.graphql.permissions import OFFICE, allow
from hub.graphql.writes import write_result
from hub.packages import repository, service
from hub.packages.inputs import (
    ChangePackageStatusInput,
    CreateCarePackageInput,
    RecordPackageTransferInput,
    ReleaseTriageHoldInput,
    SetPackageScheduleInput,
    TriagePackageInput,
    optional_id,
    package_id,
)
from hub.packages.lifecycle import IllegalPackageTransition
from hub.packages.lifecycle import PackageStatus as StatusValue
from hub.packages.loaders import package_loader
from hub.packages.models import CarePackage as CarePackageRow
from hub.packages.triage import InformationGap as GapValue
from hub.packages.triage import Rag as RagValue
from hub.packages.types import CarePackage, IllegalPackageTransitionError, PackageStatus, Rag
from hub.tenancy import AccessScope

READERS = (Role.CARER, *OFFICE, Role.COMMISSIONER, Role.ADMIN)
WRITERS = (*OFFICE, Role.ADMIN)

CarePackageResult = Annotated[
    CarePackage | InvalidInputError | NotFoundError | ConflictError | ForbiddenError,
    strawberry.union("CarePackageResult"),
]
ChangePackageStatusResult = Annotated[
    CarePackage
    | IllegalPackageTransitionError
    | InvalidInputError
    | NotFoundError
    | ConflictError
    | ForbiddenError,
    strawberry.union("ChangePackageStatusResult"),
]


@strawberry.type
class PackageQuery:
    @strawberry.field(
        description="Care packages visible to you, by reference, a page at a time. Filter by "
        "contract, status, triage rating and whether they are held out of rota conversion.",
        extensions=allow(*READERS),
    )
    async def care_packages(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        contract_id: strawberry.ID | None = None,
        status: list[PackageStatus] | None = None,
        rag: list[Rag] | None = None,
        held_out_of_rota: bool | None = None,
    ) -> Connection[CarePackage]:
        limit = page_size(first)
        key = text_id_cursor(after)
        contract = optional_id(contract_id, "Contract", "contractId")
        scope = AccessScope.of(info.context.require_principal())
        async with read_only(info.context.sessions) as session:
            rows = await repository.list_page(
                session,
                scope,
                limit=limit + 1,
                after=key,
                contract_id=contract,
                statuses=[StatusValue[s.name] for s in status or ()],
                rags=[RagValue[r.name] for r in rag or ()],
                held_out_of_rota=held_out_of_rota,
            )
        return build_connection(rows, limit, CarePackage.from_model, _sort_key)

    @strawberry.field(
        description="One care package by id, or null if there is none you may see.",
        extensions=allow(*READERS),
    )
    async def care_package(self, info: Info, id: strawberry.ID) -> CarePackage | None:
        return await _load(info, expect_global_id(id, "CarePackage"))


@strawberry.type
class PackageMutation:
    @strawberry.mutation(
        description="Create a care package (status referred) for a person under a contract. "
        "The provider is the contract's; the dates must fall within the contract.",
        extensions=allow(*WRITERS),
    )
    async def create_care_package(
        self, info: Info, input: CreateCarePackageInput
    ) -> CarePackageResult:
        async def run(scope: AccessScope) -> CarePackageRow:
            async with unit_of_work(info.context.sessions) as session:
                return await service.create_package(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    person_id=_required_id(input.person_id, "Person", "personId"),
                    contract_id=_required_id(input.contract_id, "Contract", "contractId"),
                    provider_id=optional_id(input.provider_id, "Organisation", "providerId"),
                    starts_on=input.starts_on,
                    ends_on=input.ends_on,
                    reference=input.reference,
                )

        return await _write(info, run)

    @strawberry.mutation(
        description="Move a package to another status. Only the lifecycle's moves are allowed "
        "(an IllegalPackageTransitionError lists the allowed ones); suspending and ending need "
        "a reason; planning needs a weekly schedule.",
        extensions=allow(*WRITERS),
    )
    async def change_package_status(
        self, info: Info, input: ChangePackageStatusInput
    ) -> ChangePackageStatusResult:
        async def run(scope: AccessScope) -> CarePackageRow:
            async with unit_of_work(info.context.sessions) as session:
                return await service.change_status(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    package_id=package_id(input.package_id),
                    target=StatusValue[input.status.name],
                    reason=input.reason,
                )

        try:
            return await _write(info, run)
        except IllegalPackageTransition as error:
            return IllegalPackageTransitionError.from_error(error)

    @strawberry.mutation(
        description="Replace a package's weekly schedule (Europe/London times). A triaged "
        "package is re-triaged, since time-critical and double-handed visits change its rating.",
        extensions=allow(*WRITERS),
    )
    async def set_package_schedule(
        self, info: Info, input: SetPackageScheduleInput
    ) -> CarePackageResult:
        async def run(scope: AccessScope) -> CarePackageRow:
            async with unit_of_work(info.context.sessions) as session:
                change = await service.set_schedule(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    package_id=package_id(input.package_id),
                    entries=[entry.to_spec() for entry in input.entries],
                )
            return change.package

        return await _write(info, run)

    @strawberry.mutation(
        description="Triage a package: a Red/Amber/Green rating with every reason, from the "
        "person's risk flags, the schedule, the information gaps and any transfer. Red holds the "
        "package out of rota conversion until validated (releaseTriageHold).",
        extensions=allow(*WRITERS),
    )
    async def triage_package(self, info: Info, input: TriagePackageInput) -> CarePackageResult:
        async def run(scope: AccessScope) -> CarePackageRow:
            async with unit_of_work(info.context.sessions) as session:
                return await service.triage(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    package_id=package_id(input.package_id),
                    information_gaps=(
                        [GapValue[gap.name] for gap in input.information_gaps]
                        if input.information_gaps is not None
                        else None
                    ),
                )

        return await _write(info, run)

    @strawberry.mutation(
        description="Validate a red package so its visits may be generated: clears the hold, "
        "with how it was validated. Coordinators and registered managers.",
        extensions=allow(*WRITERS),
    )
    async def release_triage_hold(
        self, info: Info, input: ReleaseTriageHoldInput
    ) -> CarePackageResult:
        async def run(scope: AccessScope) -> CarePackageRow:
            async with unit_of_work(info.context.sessions) as session:
                return await service.release_hold(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    package_id=package_id(input.package_id),
                    reason=input.reason,
                )

        return await _write(info, run)

    @strawberry.mutation(
        description="Record that a package transferred from an incumbent provider on a date "
        "(with TUPE context); a triaged package is re-triaged.",
        extensions=allow(*WRITERS),
    )
    async def record_package_transfer(
        self, info: Info, input: RecordPackageTransferInput
    ) -> CarePackageResult:
        async def run(scope: AccessScope) -> CarePackageRow:
            async with unit_of_work(info.context.sessions) as session:
                return await service.record_transfer(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    package_id=package_id(input.package_id),
                    incumbent_provider_id=_required_id(
                        input.incumbent_provider_id, "Organisation", "incumbentProviderId"
                    ),
                    transferred_on=input.transferred_on,
                    note=input.note,
                )

        return await _write(info, run)


def _required_id(value: strawberry.ID, type_name: str, field: str) -> uuid.UUID:
    return expect_global_id(value, type_name, field=field)


async def _write(
    info: Info, run: Callable[[AccessScope], Awaitable[CarePackageRow]]
) -> CarePackage | InvalidInputError | NotFoundError | ConflictError | ForbiddenError:
    """IllegalPackageTransition is left to the caller that has a typed member for it."""
    return await write_result(
        info, run, CarePackage.from_model, passthrough=(IllegalPackageTransition,)
    )


def _sort_key(row: CarePackageRow) -> tuple[str, str]:
    return (row.reference, str(row.id))


async def _load(info: Info, value: uuid.UUID) -> CarePackage | None:
    row = await package_loader(info).load(value)
    return CarePackage.from_model(row) if row is not None else None


register_node("CarePackage", _load)
