"""GraphQL entry points of the mobile domain (thin resolvers): permission → service → typed
result.

Carers: `registerDevice`, `submitCommands` (the command upload), `reportOutbox` (the ping) and
`devices` (their own). The office of the carer's employer (coordinator, registered manager) and
admins: `devices`, `unsyncedWork` (which carers hold unsynced work, since when),
`quarantinedCommands` and `resolveQuarantinedCommand`, `revokeDevice`, `registerPresenceTag`.

Request-level refusals of an upload are typed union members that carry the server time and the
version policy like every mobile answer (`hub.mobile.types.MobileAnswer`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry

from hub.accounts.models import Role
from hub.config import Settings
from hub.db.uow import read_only, unit_of_work
from hub.errors import InvalidInput
from hub.graphql.context import Info
from hub.graphql.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
)
from hub.graphql.ids import expect_global_id
from hub.graphql.pagination import (
    Connection,
    build_connection,
    decode_cursor,
    page_size,
    time_id_cursor,
)
from hub.graphql.permissions import OFFICE, allow
from hub.graphql.writes import write_result
from hub.mobile import devices as device_service
from hub.mobile import quarantine, repository
from hub.mobile import upload as upload_service
from hub.mobile.devices import OutboxReport
from hub.mobile.errors import (
    BatchTooLarge,
    DeviceBusy,
    DeviceNotRegistered,
    DeviceStateMismatch,
    UnsupportedProtocol,
)
from hub.mobile.inputs import (
    RegisterDeviceInput,
    RegisterPresenceTagInput,
    ReportOutboxInput,
    ResolveQuarantinedCommandInput,
    RevokeDeviceInput,
    SubmitCommandsInput,
    device_time,
    upload_of,
)
from hub.mobile.models import Device as DeviceRow
from hub.mobile.models import DeviceStatus as DeviceStatusValue
from hub.mobile.models import ResolutionOutcome as OutcomeValue
from hub.mobile.quarantine import QuarantinedCommand as QuarantinedRecord
from hub.mobile.types import (
    BatchTooLargeError,
    Device,
    DeviceBusyError,
    DeviceNotRegisteredError,
    DeviceRegistration,
    DeviceStateMismatchError,
    DeviceStatus,
    OutboxReported,
    PresenceTag,
    QuarantinedCommand,
    SubmitCommandsPayload,
    UnsupportedProtocolError,
)
from hub.mobile.versions import MobileVersions
from hub.tenancy import AccessScope
from hub.visits.models import PresenceTag as PresenceTagRow
from hub.visits.models import PresenceTagKind as TagKindValue
from hub.visits.presence import PresencePolicy, register_presence_tag

OFFICE_AND_ADMIN = (*OFFICE, Role.ADMIN)
DEVICE_READERS = (Role.CARER, *OFFICE, Role.ADMIN)

SubmitCommandsResult = Annotated[
    SubmitCommandsPayload
    | DeviceNotRegisteredError
    | DeviceBusyError
    | UnsupportedProtocolError
    | BatchTooLargeError
    | DeviceStateMismatchError
    | InvalidInputError
    | NotFoundError
    | ConflictError
    | ForbiddenError,
    strawberry.union("SubmitCommandsResult"),
]
RegisterDeviceResult = Annotated[
    DeviceRegistration | InvalidInputError | NotFoundError | ConflictError | ForbiddenError,
    strawberry.union("RegisterDeviceResult"),
]
ReportOutboxResult = Annotated[
    OutboxReported
    | DeviceNotRegisteredError
    | InvalidInputError
    | NotFoundError
    | ConflictError
    | ForbiddenError,
    strawberry.union("ReportOutboxResult"),
]
RevokeDeviceResult = Annotated[
    Device | InvalidInputError | NotFoundError | ConflictError | ForbiddenError,
    strawberry.union("RevokeDeviceResult"),
]
ResolveQuarantinedCommandResult = Annotated[
    QuarantinedCommand | InvalidInputError | NotFoundError | ConflictError | ForbiddenError,
    strawberry.union("ResolveQuarantinedCommandResult"),
]
RegisterPresenceTagResult = Annotated[
    PresenceTag | InvalidInputError | NotFoundError | ConflictError | ForbiddenError,
    strawberry.union("RegisterPresenceTagResult"),
]


def upload_policy(settings: Settings) -> upload_service.UploadPolicy:
    return upload_service.UploadPolicy(
        device_lock_wait_ms=settings.mobile_device_busy_wait_ms,
        command_lock_timeout_ms=settings.mobile_command_lock_timeout_ms,
        presence=PresencePolicy(geofence_metres=float(settings.mobile_geofence_metres)),
    )


@strawberry.type
class MobileQuery:
    @strawberry.field(
        description="Carers' devices, by registration. Carers see their own; the office sees "
        "its carers'.",
        extensions=allow(*DEVICE_READERS),
    )
    async def devices(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        carer_id: strawberry.ID | None = None,
        status: list[DeviceStatus] | None = None,
    ) -> Connection[Device]:
        limit = page_size(first)
        key = time_id_cursor(after)
        carer = expect_global_id(carer_id, "StaffMember", field="carerId") if carer_id else None
        async with read_only(info.context.sessions) as session:
            rows = await repository.devices_page(
                session,
                _scope(info),
                limit=limit + 1,
                after=key,
                staff_id=carer,
                statuses=[DeviceStatusValue[s.name] for s in status or ()],
            )
        return build_connection(rows, limit, Device.from_model, _registered_key)

    @strawberry.field(
        description="Devices holding work not yet synced, the longest-waiting first: which "
        "carers are offline with unsynced recordings, how many and since when.",
        extensions=allow(*OFFICE_AND_ADMIN),
    )
    async def unsynced_work(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Device]:
        limit = page_size(first)
        key = time_id_cursor(after)
        async with read_only(info.context.sessions) as session:
            rows = await repository.unsynced_page(session, _scope(info), limit=limit + 1, after=key)
        return build_connection(rows, limit, Device.from_model, _pending_key)

    @strawberry.field(
        description="Commands the hub could not apply, kept whole, in the order received. "
        "`resolved: false` lists those still waiting for the office.",
        extensions=allow(*OFFICE_AND_ADMIN),
    )
    async def quarantined_commands(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        resolved: bool | None = None,
    ) -> Connection[QuarantinedCommand]:
        limit = page_size(first)
        position = _server_seq_cursor(after)
        async with read_only(info.context.sessions) as session:
            records = await quarantine.quarantined_page(
                session, _scope(info), limit=limit + 1, after=position, resolved=resolved
            )
        return build_connection(
            records, limit, QuarantinedCommand.from_record, lambda r: (r.entry.server_seq,)
        )


@strawberry.type
class MobileMutation:
    @strawberry.mutation(
        description="Register this app installation (its UUID) to you. Safe to repeat.",
        extensions=allow(Role.CARER),
    )
    async def register_device(self, info: Info, input: RegisterDeviceInput) -> RegisterDeviceResult:
        versions = MobileVersions.of(info.context.settings)

        async def run(scope: AccessScope) -> DeviceRow:
            async with unit_of_work(info.context.sessions) as session:
                return await device_service.register_device(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    device_id=input.device_id,
                    platform=input.platform,
                    model=input.model,
                    app_version=input.app_version,
                    protocol_version=input.protocol_version,
                )

        return await write_result(
            info,
            run,
            lambda row: DeviceRegistration(
                device=Device.from_model(row), **_answer(info, versions, input.app_version)
            ),
        )

    @strawberry.mutation(
        description="Upload a batch of this device's commands (the outbox), in sequence order. "
        "Each is answered APPLIED, DUPLICATE or QUARANTINED; see mobile_contract/protocol.md.",
        extensions=allow(Role.CARER),
    )
    async def submit_commands(self, info: Info, input: SubmitCommandsInput) -> SubmitCommandsResult:
        settings = info.context.settings
        versions = MobileVersions.of(settings)

        async def run(scope: AccessScope) -> upload_service.UploadAnswer:
            return await upload_service.submit_commands(
                info.context.sessions,
                scope=scope,
                actor=info.context.actor,
                clock=info.context.clock,
                versions=versions,
                policy=upload_policy(settings),
                upload=upload_of(
                    input, document_id=info.context.document_id, schema=info.schema._schema
                ),
            )

        answer = _answer(info, versions, input.app_version)
        try:
            return await write_result(
                info,
                run,
                SubmitCommandsPayload.from_answer,
                passthrough=(
                    DeviceNotRegistered,
                    DeviceBusy,
                    UnsupportedProtocol,
                    BatchTooLarge,
                    DeviceStateMismatch,
                ),
            )
        except DeviceNotRegistered as error:
            return DeviceNotRegisteredError(code=error.code, message=error.message, **answer)
        except DeviceBusy as error:
            return DeviceBusyError(
                code=error.code,
                message=error.message,
                retry_after_ms=error.retry_after_ms,
                **answer,
            )
        except UnsupportedProtocol as error:
            return UnsupportedProtocolError(
                code=error.code,
                message=error.message,
                supported_protocols=list(error.supported),
                **answer,
            )
        except BatchTooLarge as error:
            return BatchTooLargeError(
                code=error.code,
                message=error.message,
                max_commands=error.max_commands,
                max_bytes=error.max_bytes,
                **answer,
            )
        except DeviceStateMismatch as error:
            return DeviceStateMismatchError(
                code=error.code,
                message=error.message,
                seq=error.seq,
                acked_through_seq=error.acked_through_seq,
                **answer,
            )

    @strawberry.mutation(
        description="The tiny ping for weak signal: the outbox's depth and oldest pending "
        "time, and the device's clock. Answers the server time.",
        extensions=allow(Role.CARER),
    )
    async def report_outbox(self, info: Info, input: ReportOutboxInput) -> ReportOutboxResult:
        versions = MobileVersions.of(info.context.settings)
        received_at = info.context.clock.now()

        async def run(scope: AccessScope) -> tuple[DeviceRow, int]:
            async with unit_of_work(info.context.sessions) as session:
                device, measurement = await device_service.report_outbox(
                    session,
                    scope=scope,
                    device_id=input.device_id,
                    received_at=received_at,
                    sent_at=device_time(input.sent_at),
                    app_version=input.app_version,
                    protocol_version=input.protocol_version,
                    outbox=OutboxReport(
                        depth=input.outbox_depth, oldest_pending_at=input.oldest_pending_at
                    ),
                )
                await session.refresh(device)
                return device, measurement.offset_ms

        answer = _answer(info, versions, input.app_version)
        try:
            return await write_result(
                info,
                run,
                lambda found: OutboxReported(
                    clock_offset_ms=found[1], device=Device.from_model(found[0]), **answer
                ),
                passthrough=(DeviceNotRegistered,),
            )
        except DeviceNotRegistered as error:
            return DeviceNotRegisteredError(code=error.code, message=error.message, **answer)

    @strawberry.mutation(
        description="Revoke a lost or replaced device. Its later commands are quarantined for "
        "review, never lost. Revoking again changes nothing.",
        extensions=allow(*OFFICE_AND_ADMIN),
    )
    async def revoke_device(self, info: Info, input: RevokeDeviceInput) -> RevokeDeviceResult:
        async def run(scope: AccessScope) -> DeviceRow:
            async with unit_of_work(info.context.sessions) as session:
                return await device_service.revoke_device(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    device_id=input.device_id,
                    reason=input.reason,
                )

        return await write_result(info, run, Device.from_model)

    @strawberry.mutation(
        description="Record how a quarantined command was settled (once; a note is required).",
        extensions=allow(*OFFICE_AND_ADMIN),
    )
    async def resolve_quarantined_command(
        self, info: Info, input: ResolveQuarantinedCommandInput
    ) -> ResolveQuarantinedCommandResult:
        async def run(scope: AccessScope) -> QuarantinedRecord:
            async with unit_of_work(info.context.sessions) as session:
                return await quarantine.resolve_quarantined_command(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    command_log_id=expect_global_id(input.id, "QuarantinedCommand"),
                    outcome=OutcomeValue[input.outcome.name],
                    note=input.note,
                )

        return await write_result(info, run, QuarantinedCommand.from_record)

    @strawberry.mutation(
        description="Register an NFC tag UID or QR token fixed in a person's home, as evidence "
        "of presence at check-in and check-out. One value proves one home.",
        extensions=allow(*OFFICE_AND_ADMIN),
    )
    async def register_presence_tag(
        self, info: Info, input: RegisterPresenceTagInput
    ) -> RegisterPresenceTagResult:
        async def run(scope: AccessScope) -> PresenceTagRow:
            async with unit_of_work(info.context.sessions) as session:
                return await register_presence_tag(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    person_id=expect_global_id(input.person_id, "Person", field="personId"),
                    kind=TagKindValue[input.kind.name],
                    value=input.value,
                    label=input.label,
                )

        return await write_result(info, run, PresenceTag.from_model)


def _scope(info: Info) -> AccessScope:
    return AccessScope.of(info.context.require_principal())


def _answer(info: Info, versions: MobileVersions, app_version: str) -> dict[str, Any]:
    """What every mobile answer carries: server time and the version policy for this app."""
    try:
        drain_only = versions.drain_only(app_version)
    except InvalidInput:
        drain_only = False
    return {
        "server_time": info.context.clock.now(),
        "min_app_version": versions.min_app_version,
        "drain_only": drain_only,
    }


def _registered_key(row: DeviceRow) -> tuple[str, str]:
    return (row.created_at.isoformat(), str(row.id))


def _pending_key(row: DeviceRow) -> tuple[str, str]:
    pending: datetime | None = row.oldest_pending_at
    assert pending is not None
    return (pending.isoformat(), str(row.id))


def _server_seq_cursor(after: str | None) -> int | None:
    cursor = decode_cursor(after)
    if cursor is None:
        return None
    if len(cursor) != 1 or not isinstance(cursor[0], int) or isinstance(cursor[0], bool):
        raise InvalidInput("after", "is not a cursor this list gave out", code="INVALID_CURSOR")
    return cursor[0]
