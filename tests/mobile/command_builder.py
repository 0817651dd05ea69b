"""A phone's outbox, as the carers' app keeps it, for the command-upload tests.

`Phone` models the three clocks the protocol relies on: the true time (the test's clock), the
phone's wall clock (true time + `wall_skew`, which a user can change) and its monotonic clock
(milliseconds since the current boot). It records commands the way the app does — gap-free
`seq`, a client UUIDv7 `commandId`, `prevHash` chaining each command to the one before — in
the canonical form of `hub.mobile.canonical` (the same object the hub hashes), and builds
`SubmitCommandsInput` batches from the head of its outbox.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hub.graphql.ids import encode_global_id
from hub.kit.ids import uuid7
from hub.mobile.canonical import GENESIS_HASH, canonical_time, command_hash
from hub.mobile.clock import DeviceTime
from hub.mobile.devices import OutboxReport
from hub.mobile.models import CommandLogEntry, CommandStatus, Device
from hub.mobile.upload import IncomingCommand, Upload


def visit_gid(visit_id: uuid.UUID) -> str:
    return encode_global_id("Visit", visit_id)


def gps(
    lat: float = 53.4810, lon: float = -2.2426, accuracy: float = 8, **extra: Any
) -> dict[str, Any]:
    return {"method": "GPS", "latitude": lat, "longitude": lon, "accuracyM": accuracy, **extra}


@dataclass
class Phone:
    device_id: uuid.UUID = field(default_factory=uuid.uuid4)
    boot_id: str = "boot-1"
    booted_at: datetime = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    wall_skew: timedelta = timedelta(0)
    app_version: str = "1.0.0"
    protocol_version: int = 2
    seq: int = 0
    head: str = GENESIS_HASH
    outbox: list[dict[str, Any]] = field(default_factory=list)
    queued_at: list[datetime] = field(default_factory=list)

    # --- clocks ---------------------------------------------------------------------------

    def reading(self, at: datetime) -> dict[str, Any]:
        """What the phone's clocks say at true time `at` (a DeviceTimeInput)."""
        return {
            "wall": canonical_time(at + self.wall_skew),
            "tzOffsetMin": 0,
            "bootId": self.boot_id,
            "monotonicMs": int((at - self.booted_at).total_seconds() * 1000),
        }

    def reboot(self, at: datetime, boot_id: str) -> None:
        self.boot_id = boot_id
        self.booted_at = at

    # --- recording ------------------------------------------------------------------------

    def record(
        self,
        member: str,
        body: dict[str, Any],
        *,
        at: datetime,
        supersedes: uuid.UUID | None = None,
        command_id: uuid.UUID | None = None,
    ) -> dict[str, Any]:
        """Append a command to the outbox (and return it)."""
        self.seq += 1
        command: dict[str, Any] = {
            "seq": self.seq,
            "commandId": str(command_id or uuid7()),
            "occurredAt": self.reading(at),
            "body": {member: body},
            "prevHash": self.head,
        }
        if supersedes is not None:
            command["supersedes"] = str(supersedes)
        self.head = command_hash(command)
        self.outbox.append(command)
        self.queued_at.append(at + self.wall_skew)
        return command

    def check_in(self, visit_id: uuid.UUID, at: datetime, **verification: Any) -> dict[str, Any]:
        return self.record(
            "checkInV1",
            {"visitId": visit_gid(visit_id), "verification": verification or gps()},
            at=at,
        )

    def check_out(self, visit_id: uuid.UUID, at: datetime, **verification: Any) -> dict[str, Any]:
        return self.record(
            "checkOutV1",
            {"visitId": visit_gid(visit_id), "verification": verification or gps()},
            at=at,
        )

    def hydration(self, visit_id: uuid.UUID, at: datetime, fluid_ml: int) -> dict[str, Any]:
        return self.record(
            "hydrationV1", {"visitId": visit_gid(visit_id), "fluidMl": fluid_ml}, at=at
        )

    # --- uploading ------------------------------------------------------------------------

    def batch(self, at: datetime, limit: int | None = None) -> dict[str, Any]:
        """`SubmitCommandsInput` for the head of the outbox, sent at true time `at`."""
        commands = self.outbox[:limit] if limit is not None else list(self.outbox)
        value: dict[str, Any] = {
            "protocolVersion": self.protocol_version,
            "appVersion": self.app_version,
            "deviceId": str(self.device_id),
            "sentAt": self.reading(at),
            "outboxDepth": len(self.outbox),
            "commands": commands,
        }
        if self.queued_at:
            value["oldestPendingAt"] = canonical_time(self.queued_at[0])
        return value

    def acknowledge(self, acked_through_seq: int) -> None:
        """Delete what the hub settled (after keeping the results, as the app does)."""
        while self.outbox and self.outbox[0]["seq"] <= acked_through_seq:
            self.outbox.pop(0)
            self.queued_at.pop(0)


def upload_of(value: dict[str, Any]) -> Upload:
    """The service's view of a `SubmitCommandsInput` already in canonical form."""
    sent = value["sentAt"]
    return Upload(
        device_id=uuid.UUID(value["deviceId"]),
        protocol_version=value["protocolVersion"],
        app_version=value["appVersion"],
        sent_at=DeviceTime(
            wall=datetime.fromisoformat(sent["wall"]),
            tz_offset_min=sent["tzOffsetMin"],
            boot_id=sent["bootId"],
            monotonic_ms=sent["monotonicMs"],
        ),
        outbox=OutboxReport(
            depth=value["outboxDepth"],
            oldest_pending_at=(
                datetime.fromisoformat(value["oldestPendingAt"])
                if value.get("oldestPendingAt")
                else None
            ),
        ),
        commands=tuple(IncomingCommand.of(command) for command in value["commands"]),
    )


async def seed_device_with_unsynced_and_quarantined(
    session: AsyncSession, *, staff_id: uuid.UUID, organisation_id: uuid.UUID, now: datetime
) -> Device:
    """A carer's device holding unsynced work, with one quarantined command: rows for the
    office's lists (tenancy checks), inserted directly like the other builders."""
    device = Device(
        id=uuid.uuid4(),
        staff_id=staff_id,
        organisation_id=organisation_id,
        registered_by=f"staff:{staff_id}",
        platform="android",
        app_version="1.0.0",
        protocol_version=2,
        last_seq=1,
        outbox_depth=3,
        oldest_pending_at=now - timedelta(hours=2),
        outbox_reported_at=now,
    )
    session.add(device)
    await session.flush()
    command_id = uuid7()
    payload: dict[str, Any] = {
        "seq": 1,
        "commandId": str(command_id),
        "body": {},
        "prevHash": GENESIS_HASH,
    }
    session.add(
        CommandLogEntry(
            id=uuid7(),
            device_id=device.id,
            seq=1,
            command_id=command_id,
            original=True,
            payload=payload,
            payload_sha256=command_hash(payload),
            status=CommandStatus.QUARANTINED,
            code="VALIDATION_FAILED",
            result={"status": "QUARANTINED", "code": "VALIDATION_FAILED"},
            staff_id=staff_id,
            organisation_id=organisation_id,
            received_at=now,
            actor=f"staff:{staff_id}",
            app_version="1.0.0",
            protocol_version=2,
        )
    )
    await session.flush()
    return device
