"""GraphQL output types of the mobile field API and their mappers.

Every answer to the app carries the server's time (the authority), the minimum app version and
whether this app may only drain its outbox (`MobileAnswer`), refusals included, so the app can
correct its clock and prompt an upgrade from any response.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from hub.graphql.context import Info
from hub.graphql.errors import UserError
from hub.graphql.ids import encode_global_id
from hub.mobile.inputs import PresenceTagKind, QuarantineOutcome
from hub.mobile.models import CommandResolution as ResolutionRow
from hub.mobile.models import Device as DeviceRow
from hub.mobile.models import DeviceStatus as DeviceStatusValue
from hub.mobile.quarantine import QuarantinedCommand as QuarantinedRecord
from hub.mobile.upload import AnswerStatus, CommandAnswer, StopReason, UploadAnswer
from hub.visits.models import PresenceTag as PresenceTagRow

if TYPE_CHECKING:
    from hub.staff.types import StaffMember
    from hub.visits.types import Visit


@strawberry.interface(
    description="What every answer to the carers' app carries, refusals included."
)
class MobileAnswer:
    server_time: datetime = strawberry.field(
        description="The hub's time: the authority for every recorded time."
    )
    min_app_version: str = strawberry.field(description="Oldest app version that may read.")
    drain_only: bool = strawberry.field(
        description="True when this app is older than minAppVersion: it may upload its outbox "
        "but not read until upgraded."
    )


@strawberry.enum(description="Whether a device may still upload as itself.")
class DeviceStatus(Enum):
    ACTIVE = strawberry.enum_value(DeviceStatusValue.ACTIVE.value, description="In use.")
    REVOKED = strawberry.enum_value(
        DeviceStatusValue.REVOKED.value,
        description="Revoked by the office (lost, replaced); its commands are quarantined.",
    )


@strawberry.type(description="A carer's app installation.")
class Device:
    id: strawberry.ID
    device_id: uuid.UUID = strawberry.field(description="The UUID the app created at install.")
    platform: str
    model: str | None
    app_version: str
    protocol_version: int
    status: DeviceStatus
    registered_at: datetime
    revoked_at: datetime | None
    revoked_reason: str | None
    last_seq: int = strawberry.field(
        description="The highest command sequence number the hub has settled."
    )
    last_seen_at: datetime | None
    clock_offset_ms: int | None = strawberry.field(
        description="Server time minus device time at the last contact."
    )
    clock_measured_at: datetime | None
    outbox_depth: int = strawberry.field(
        description="Commands waiting on the device after its last contact."
    )
    oldest_pending_at: datetime | None = strawberry.field(
        description="Since when work has waited on the device (server time); null if none."
    )
    outbox_reported_at: datetime | None
    staff_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The carer the device is registered to.")
    async def carer(
        self, info: Info
    ) -> Annotated[StaffMember, strawberry.lazy("hub.staff.types")] | None:
        from hub.staff.loaders import staff_loader
        from hub.staff.types import StaffMember as StaffType

        row = await staff_loader(info).load(self.staff_id)
        return StaffType.from_model(row) if row is not None else None

    @classmethod
    def from_model(cls, row: DeviceRow) -> Device:
        return cls(
            id=strawberry.ID(encode_global_id("Device", row.id)),
            device_id=row.id,
            platform=row.platform,
            model=row.model,
            app_version=row.app_version,
            protocol_version=row.protocol_version,
            status=DeviceStatus(row.status.value),
            registered_at=row.created_at,
            revoked_at=row.revoked_at,
            revoked_reason=row.revoked_reason,
            last_seq=row.last_seq,
            last_seen_at=row.last_seen_at,
            clock_offset_ms=row.clock_offset_ms,
            clock_measured_at=row.clock_measured_at,
            outbox_depth=row.outbox_depth,
            oldest_pending_at=row.oldest_pending_at,
            outbox_reported_at=row.outbox_reported_at,
            staff_id=row.staff_id,
        )


@strawberry.enum(description="How the hub answered one command.")
class CommandStatus(Enum):
    APPLIED = strawberry.enum_value(AnswerStatus.APPLIED.value, description="Recorded (see flags).")
    DUPLICATE = strawberry.enum_value(
        AnswerStatus.DUPLICATE.value,
        description="Settled before; this is the stored answer again (see firstStatus).",
    )
    QUARANTINED = strawberry.enum_value(
        AnswerStatus.QUARANTINED.value,
        description="Kept whole for the office with a code; the queue moves on.",
    )


@strawberry.enum(description="Why an upload stopped before the end of its batch.")
class UploadStop(Enum):
    SEQ_GAP = strawberry.enum_value(
        StopReason.SEQ_GAP.value, description="A sequence number is missing: send expectedSeq."
    )
    DEFERRED = strawberry.enum_value(
        StopReason.DEFERRED.value,
        description="A transient failure: retry after retryAfterMs from ackedThroughSeq + 1.",
    )
    BATCH_LIMIT = strawberry.enum_value(
        StopReason.BATCH_LIMIT.value,
        description="The batch took too long; send the rest from ackedThroughSeq + 1.",
    )


@strawberry.type(description="The answer to one command. Keep it as the receipt.")
class CommandResult:
    seq: int
    command_id: uuid.UUID
    status: CommandStatus
    first_status: CommandStatus = strawberry.field(
        description="APPLIED or QUARANTINED: how the command was first settled."
    )
    code: str | None = strawberry.field(
        description="Why it was quarantined (e.g. REVOKED_DEVICE, VALIDATION_FAILED)."
    )
    message: str | None
    flags: list[str] = strawberry.field(
        description="Mismatches recorded with the fact (e.g. OUTSIDE_GEOFENCE, LATE_SYNC)."
    )
    receipt_id: uuid.UUID
    received_at: datetime
    entity_ids: list[str] = strawberry.field(description="Ids of what it recorded (the fact).")

    @classmethod
    def from_answer(cls, answer: CommandAnswer) -> CommandResult:
        return cls(
            seq=answer.seq,
            command_id=answer.command_id,
            status=CommandStatus(answer.status.value),
            first_status=CommandStatus(answer.first_status.value),
            code=answer.code,
            message=answer.message,
            flags=list(answer.flags),
            receipt_id=answer.receipt_id,
            received_at=answer.received_at,
            entity_ids=list(answer.entity_ids),
        )


@strawberry.type(
    description="What an upload settled. Delete outbox rows up to ackedThroughSeq (after "
    "keeping their results); send the rest from ackedThroughSeq + 1."
)
class SubmitCommandsPayload(MobileAnswer):
    clock_offset_ms: int = strawberry.field(
        description="Server receive time minus the device's sentAt.wall."
    )
    acked_through_seq: int
    results: list[CommandResult]
    stop: UploadStop | None
    expected_seq: int | None = strawberry.field(description="With SEQ_GAP: the next to send.")
    retry_after_ms: int | None = strawberry.field(description="With DEFERRED: when to retry.")

    @classmethod
    def from_answer(cls, answer: UploadAnswer) -> SubmitCommandsPayload:
        return cls(
            server_time=answer.server_time,
            min_app_version=answer.min_app_version,
            drain_only=answer.drain_only,
            clock_offset_ms=answer.clock_offset_ms,
            acked_through_seq=answer.acked_through_seq,
            results=[CommandResult.from_answer(result) for result in answer.results],
            stop=UploadStop(answer.stop.value) if answer.stop else None,
            expected_seq=answer.expected_seq,
            retry_after_ms=answer.retry_after_ms,
        )


@strawberry.type(description="The ping was recorded.")
class OutboxReported(MobileAnswer):
    clock_offset_ms: int
    device: Device


@strawberry.type(description="The device is registered to you (a second call changes nothing).")
class DeviceRegistration(MobileAnswer):
    device: Device


@strawberry.type(description="The device is not registered to you: call registerDevice.")
class DeviceNotRegisteredError(UserError, MobileAnswer):
    pass


@strawberry.type(description="Another upload from this device is running; retry shortly.")
class DeviceBusyError(UserError, MobileAnswer):
    retry_after_ms: int


@strawberry.type(description="This protocol version is not supported; nothing was applied.")
class UnsupportedProtocolError(UserError, MobileAnswer):
    supported_protocols: list[int]


@strawberry.type(description="The batch is over the limits; send smaller batches.")
class BatchTooLargeError(UserError, MobileAnswer):
    max_commands: int
    max_bytes: int


@strawberry.type(
    description="A settled sequence number came back with another command: the device's log "
    "does not match the hub's (restored backup, clone). Nothing more was applied."
)
class DeviceStateMismatchError(UserError, MobileAnswer):
    seq: int
    acked_through_seq: int


@strawberry.type(description="The office's decision on a quarantined command.")
class CommandResolution:
    outcome: QuarantineOutcome
    note: str
    resolved_by: str
    resolved_at: datetime

    @classmethod
    def from_model(cls, row: ResolutionRow) -> CommandResolution:
        return cls(
            outcome=QuarantineOutcome(row.outcome.value),
            note=row.note,
            resolved_by=row.resolved_by,
            resolved_at=row.resolved_at,
        )


@strawberry.type(
    description="A command the hub could not apply, kept exactly as received for the office."
)
class QuarantinedCommand:
    id: strawberry.ID
    receipt_id: uuid.UUID
    device_id: uuid.UUID
    seq: int | None = strawberry.field(
        description="Null for an altered resend of a settled command (kept as evidence)."
    )
    command_id: uuid.UUID
    code: str | None
    message: str | None
    flags: list[str]
    body_type: str | None = strawberry.field(description="The body member, e.g. checkInV1.")
    received_at: datetime
    device_occurred_at: datetime | None
    app_version: str
    protocol_version: int
    resolution: CommandResolution | None
    staff_id: strawberry.Private[uuid.UUID]
    visit_row_id: strawberry.Private[uuid.UUID | None]
    person_id: strawberry.Private[uuid.UUID | None]
    raw: strawberry.Private[dict[str, object]]

    @strawberry.field(
        description="The whole command as received (canonical form). It may describe a person: "
        "reading it is recorded in the access log."
    )
    def payload(self, info: Info) -> JSON:
        if self.person_id is not None:
            info.context.audit.person_read("quarantinedCommands", [self.person_id])
        return JSON(dict(self.raw))

    @strawberry.field(description="The carer whose device sent it.")
    async def carer(
        self, info: Info
    ) -> Annotated[StaffMember, strawberry.lazy("hub.staff.types")] | None:
        from hub.staff.loaders import staff_loader
        from hub.staff.types import StaffMember as StaffType

        row = await staff_loader(info).load(self.staff_id)
        return StaffType.from_model(row) if row is not None else None

    @strawberry.field(description="The visit it names, if it names one you may see.")
    async def visit(
        self, info: Info
    ) -> Annotated[Visit, strawberry.lazy("hub.visits.types")] | None:
        from hub.visits.loaders import visit_loader
        from hub.visits.types import Visit as VisitType

        if self.visit_row_id is None:
            return None
        found = await visit_loader(info).load(self.visit_row_id)
        return VisitType.resolve(info, found) if found is not None else None

    @classmethod
    def from_record(cls, record: QuarantinedRecord) -> QuarantinedCommand:
        entry = record.entry
        return cls(
            id=strawberry.ID(encode_global_id("QuarantinedCommand", entry.id)),
            receipt_id=entry.id,
            device_id=entry.device_id,
            seq=entry.seq,
            command_id=entry.command_id,
            code=entry.code,
            message=entry.result.get("message"),
            flags=list(entry.flags),
            body_type=entry.body_type,
            received_at=entry.received_at,
            device_occurred_at=entry.device_occurred_at,
            app_version=entry.app_version,
            protocol_version=entry.protocol_version,
            resolution=(
                CommandResolution.from_model(record.resolution) if record.resolution else None
            ),
            staff_id=entry.staff_id,
            visit_row_id=entry.visit_id,
            person_id=entry.person_id,
            raw=dict(entry.payload),
        )


@strawberry.type(description="An NFC tag or QR token fixed in a person's home.")
class PresenceTag:
    id: strawberry.ID
    kind: PresenceTagKind
    label: str | None
    active: bool
    registered_at: datetime

    @classmethod
    def from_model(cls, row: PresenceTagRow) -> PresenceTag:
        return cls(
            id=strawberry.ID(encode_global_id("PresenceTag", row.id)),
            kind=PresenceTagKind(row.kind.value),
            label=row.label,
            active=row.active,
            registered_at=row.created_at,
        )
