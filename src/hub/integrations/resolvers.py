"""GraphQL entry points of the integrations domain (thin resolvers).

The office (coordinators and registered managers) of a provider reads its connector instances
and the payloads received for it, retries a rejected payload and asks for a poll; registering
or switching an instance is for its registered manager and admins. Rows are filtered by
tenancy in the repository: another provider's instance answers like a missing one.
"""

from __future__ import annotations

from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.models import Role
from hub.db.uow import read_only, unit_of_work
from hub.graphql.context import Info
from hub.graphql.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from hub.graphql.pagination import (
    Connection,
    build_connection,
    page_size,
    text_id_cursor,
    time_id_cursor,
)
from hub.graphql.permissions import OFFICE, allow
from hub.graphql.writes import write_result
from hub.integrations import repository, service, tasks
from hub.integrations.inputs import (
    RegisterConnectorInstanceInput,
    RetryInboundPayloadInput,
    RunConnectorPollInput,
    SetConnectorInstanceEnabledInput,
    connector_instance_id,
    inbound_payload_id,
)
from hub.integrations.models import ConnectorInstance as InstanceRow
from hub.integrations.models import ConnectorKind as KindValue
from hub.integrations.models import InboundPayload as PayloadRow
from hub.integrations.models import InboundStatus as StatusValue
from hub.integrations.service import InstanceStatus
from hub.integrations.types import (
    ConnectorInstance,
    ConnectorPollRequested,
    InboundPayload,
    InboundStatus,
)
from hub.staff.inputs import optional_organisation_id
from hub.tenancy import AccessScope

READERS = allow(*OFFICE, Role.ADMIN)
CONFIGURERS = allow(Role.REGISTERED_MANAGER, Role.ADMIN)

ConnectorInstanceResult = Annotated[
    ConnectorInstance | InvalidInputError | NotFoundError | ConflictError | ForbiddenError,
    strawberry.union("ConnectorInstanceResult"),
]
ConnectorPollResult = Annotated[
    ConnectorPollRequested | InvalidInputError | NotFoundError | ConflictError | ForbiddenError,
    strawberry.union("ConnectorPollResult"),
]
InboundPayloadResult = Annotated[
    InboundPayload | InvalidInputError | NotFoundError | ConflictError | ForbiddenError,
    strawberry.union("InboundPayloadResult"),
]


@strawberry.type
class IntegrationQuery:
    @strawberry.field(
        description="Connector instances of your organisation (admins: all), by name, each "
        "with its status: breaker state, last success and error, backlog, rejected payloads, "
        "the last poll run's progress and each feed's position.",
        extensions=READERS,
    )
    async def connector_instances(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[ConnectorInstance]:
        limit = page_size(first)
        key = text_id_cursor(after)
        scope = AccessScope.of(info.context.require_principal())
        async with read_only(info.context.sessions) as session:
            rows = await repository.list_instances(session, scope, limit=limit + 1, after=key)
            found = await service.statuses(session, rows, info.context.clock.now())
        return build_connection(found, limit, ConnectorInstance.from_status, _instance_key)

    @strawberry.field(
        description="Payloads received from upstream systems for your organisation, newest "
        "first, with the exact body and, when rejected, why. `status: [REJECTED]` lists what "
        "needs the office (each also opens a data-quality case).",
        extensions=READERS,
    )
    async def inbound_payloads(
        self,
        info: Info,
        status: Annotated[
            list[InboundStatus] | None,
            strawberry.argument(description="Only payloads in these states."),
        ] = None,
        connector: Annotated[
            str | None, strawberry.argument(description="Only from this connector instance.")
        ] = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[InboundPayload]:
        limit = page_size(first)
        key = time_id_cursor(after)
        scope = AccessScope.of(info.context.require_principal())
        async with read_only(info.context.sessions) as session:
            rows = await repository.list_payloads(
                session,
                scope,
                limit=limit + 1,
                after=key,
                statuses=[StatusValue(s.value) for s in status or ()],
                connector=connector,
            )
        return build_connection(rows, limit, InboundPayload.from_model, _payload_key)


@strawberry.type
class IntegrationMutation:
    @strawberry.mutation(
        description="Configure an upstream system (a supplier's rostering system) for a "
        "provider. Name the environment variables holding its secrets; never send them.",
        extensions=CONFIGURERS,
    )
    async def register_connector_instance(
        self, info: Info, input: RegisterConnectorInstanceInput
    ) -> ConnectorInstanceResult:
        async def run(scope: AccessScope) -> InstanceStatus:
            async with unit_of_work(info.context.sessions) as session:
                instance = await service.register_instance(
                    session,
                    scope,
                    organisation_id=optional_organisation_id(
                        input.organisation_id, "organisationId"
                    ),
                    kind=KindValue(input.kind.value),
                    name=input.name,
                    base_url=input.base_url,
                    webhook_secrets_env=input.webhook_secrets_env,
                    credentials_env=input.credentials_env,
                    poll_interval_seconds=input.poll_interval_seconds,
                    enabled=input.enabled,
                    actor=info.context.actor,
                    clock=info.context.clock,
                )
                return await _status(session, instance, info)

        return await write_result(info, run, ConnectorInstance.from_status)

    @strawberry.mutation(
        description="Switch a connector instance on or off: a disabled instance is not polled "
        "and its webhook answers 404.",
        extensions=CONFIGURERS,
    )
    async def set_connector_instance_enabled(
        self, info: Info, input: SetConnectorInstanceEnabledInput
    ) -> ConnectorInstanceResult:
        async def run(scope: AccessScope) -> InstanceStatus:
            async with unit_of_work(info.context.sessions) as session:
                instance = await service.set_enabled(
                    session,
                    scope,
                    instance_id=connector_instance_id(input.connector_instance_id),
                    enabled=input.enabled,
                    actor=info.context.actor,
                    clock=info.context.clock,
                )
                return await _status(session, instance, info)

        return await write_result(info, run, ConnectorInstance.from_status)

    @strawberry.mutation(
        description="Ask the worker to poll a connector instance now (watch `lastRun` for its "
        "progress). Runs of one instance never overlap.",
        extensions=READERS,
    )
    async def run_connector_poll(
        self, info: Info, input: RunConnectorPollInput
    ) -> ConnectorPollResult:
        async def run(scope: AccessScope) -> ConnectorPollRequested:
            async with read_only(info.context.sessions) as session:
                instance = await service.get_instance(
                    session, scope, connector_instance_id(input.connector_instance_id)
                )
                found = await _status(session, instance, info)
            slot = f"office:{int(info.context.clock.now().timestamp()) // 10}"
            enqueued = await tasks.enqueue_poll(
                info.context.redis, instance.id, trigger="office", slot=slot
            )
            return ConnectorPollRequested(
                connector_instance=ConnectorInstance.from_status(found), enqueued=enqueued
            )

        return await write_result(info, run, lambda requested: requested)

    @strawberry.mutation(
        description="Apply a rejected payload again once its cause is fixed (a carer added, a "
        "package linked). It ends APPLIED, or REJECTED with this attempt's errors.",
        extensions=READERS,
    )
    async def retry_inbound_payload(
        self, info: Info, input: RetryInboundPayloadInput
    ) -> InboundPayloadResult:
        async def run(scope: AccessScope) -> PayloadRow:
            async with unit_of_work(info.context.sessions) as session:
                return await service.retry_payload(
                    session,
                    scope,
                    payload_id=inbound_payload_id(input.inbound_payload_id),
                    actor=info.context.actor,
                    clock=info.context.clock,
                )

        return await write_result(info, run, InboundPayload.from_model)


async def _status(session: AsyncSession, instance: InstanceRow, info: Info) -> InstanceStatus:
    (found,) = await service.statuses(session, [instance], info.context.clock.now())
    return found


def _instance_key(found: InstanceStatus) -> tuple[str, str]:
    return (found.instance.name, str(found.instance.id))


def _payload_key(row: PayloadRow) -> tuple[str, str]:
    return (row.received_at.isoformat(), str(row.id))
