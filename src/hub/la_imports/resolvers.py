"""GraphQL entry points of the la_imports domain (thin resolvers).

Commissioners import their councils' brokerage exports for their own contracts (admins for
any); the import's report is readable by the commissioner, the contract's provider office and
admins, filtered by tenancy in the repository.
"""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry

from hub.accounts.models import Role
from hub.db.uow import read_only
from hub.graphql.context import Info
from hub.graphql.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from hub.graphql.ids import expect_global_id
from hub.graphql.node import register_node
from hub.graphql.pagination import Connection, build_connection, page_size, time_id_cursor
from hub.graphql.permissions import allow
from hub.graphql.writes import write_result
from hub.la_imports import repository, service, tasks
from hub.la_imports.inputs import ImportPortalFileInput
from hub.la_imports.models import BatchStatus as BatchStatusValue
from hub.la_imports.models import ImportFormat
from hub.la_imports.models import PortalImportBatch as BatchRow
from hub.la_imports.types import PortalImport, PortalImportStatus
from hub.tenancy import AccessScope

IMPORTERS = (Role.COMMISSIONER, Role.ADMIN)
READERS = allow(Role.COMMISSIONER, Role.COORDINATOR, Role.REGISTERED_MANAGER, Role.ADMIN)

ImportPortalFileResult = Annotated[
    PortalImport | InvalidInputError | NotFoundError | ConflictError | ForbiddenError,
    strawberry.union("ImportPortalFileResult"),
]


@strawberry.type
class LaImportQuery:
    @strawberry.field(
        description="Brokerage exports imported, newest first, a page at a time: for a "
        "commissioner their contracts', for a provider office its contracts'.",
        extensions=READERS,
    )
    async def portal_imports(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        contract_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this contract's imports.")
        ] = None,
        status: Annotated[
            list[PortalImportStatus] | None,
            strawberry.argument(description="Only imports in these statuses."),
        ] = None,
    ) -> Connection[PortalImport]:
        limit = page_size(first)
        key = time_id_cursor(after)
        contract = (
            expect_global_id(contract_id, "Contract", field="contractId") if contract_id else None
        )
        scope = AccessScope.of(info.context.require_principal())
        async with read_only(info.context.sessions) as session:
            rows = await repository.list_batches(
                session,
                scope,
                limit=limit + 1,
                after=key,
                contract_id=contract,
                statuses=[BatchStatusValue[s.name] for s in status or ()],
            )
        return build_connection(
            rows, limit, PortalImport.from_model, lambda row: (row.started_at.isoformat(), row.id)
        )

    @strawberry.field(
        description="One import by id (with its progress and report), or null if there is "
        "none you may see.",
        extensions=READERS,
    )
    async def portal_import(self, info: Info, id: strawberry.ID) -> PortalImport | None:
        return await _load(info, expect_global_id(id, "PortalImport"))


@strawberry.type
class LaImportMutation:
    @strawberry.mutation(
        description="Import a council's brokerage export (CSV or JSON) of commissioned packages "
        "and changes for one of your contracts. Valid rows are applied, invalid rows kept with "
        "a row-level report for correction and re-import; a row already applied is left "
        "unchanged. Up to 500 rows are applied at once; a larger file is applied by the "
        "worker and the import returned PROCESSING (follow `processedRows`). A file that "
        "cannot be read is returned REJECTED with the reason.",
        extensions=allow(*IMPORTERS),
    )
    async def import_portal_file(
        self, info: Info, input: ImportPortalFileInput
    ) -> ImportPortalFileResult:
        async def run(scope: AccessScope) -> BatchRow:
            started = await service.start_import(
                info.context.sessions,
                scope=scope,
                actor=info.context.actor,
                clock=info.context.clock,
                contract_id=expect_global_id(input.contract_id, "Contract", field="contractId"),
                format=ImportFormat(input.format.value),
                filename=input.filename,
                content=input.content_bytes(),
            )
            batch_id = started.batch.id
            if started.parsed is not None:
                if started.batch.total_rows <= service.INLINE_ROW_LIMIT:
                    await service.process(
                        info.context.sessions,
                        batch_id=batch_id,
                        clock=info.context.clock,
                        parsed=started.parsed,
                    )
                else:
                    await info.context.redis.enqueue_job(
                        tasks.JOB_NAME, str(batch_id), _job_id=tasks.job_id(batch_id)
                    )
            async with read_only(info.context.sessions) as session:
                batch = await repository.get_batch(session, scope, batch_id)
            if batch is None:  # pragma: no cover - the caller opened it a moment ago
                raise LookupError(f"portal import {batch_id} vanished")
            return batch

        return await write_result(info, run, PortalImport.from_model)


async def _load(info: Info, batch_id: uuid.UUID) -> PortalImport | None:
    scope = AccessScope.of(info.context.require_principal())
    async with read_only(info.context.sessions) as session:
        row = await repository.get_batch(session, scope, batch_id)
    return PortalImport.from_model(row) if row is not None else None


register_node("PortalImport", _load)
