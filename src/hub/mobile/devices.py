"""Devices: registration by the carer, revocation by the office, and what each contact tells
the hub (the device's clock, its outbox health, its app version).

A device id is the UUID the app creates at install. `register_device` binds it to the signed-in
carer and their employer; registering again from the same carer is idempotent (it refreshes the
app version), from another carer it is refused. A revoked device stays revoked: registering
again does not reactivate it, and its later commands are quarantined, not lost.

Outbox health: every upload and every `reportOutbox` ping says how many commands wait in the
device's outbox and since when. The hub stores it per device (a table, not events: it is
chatty), adjusted for what the upload itself settled, so the office can tell "offline with
unsynced work since 07:40" from "not there".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import Forbidden, InvalidInput
from hub.events.log import NewEvent, record
from hub.kit.time import Clock
from hub.mobile import repository
from hub.mobile.clock import DeviceTime, Measurement
from hub.mobile.errors import DeviceNotFound, DeviceNotRegistered, DeviceOfAnotherCarer
from hub.mobile.models import Device, DeviceStatus
from hub.mobile.versions import parse_app_version
from hub.staff import repository as staff_repository
from hub.tenancy import AccessScope

MAX_REASON_LENGTH = 500
MAX_LABEL_LENGTH = 100
MAX_OUTBOX_DEPTH = 10_000_000


@dataclass(frozen=True, slots=True)
class OutboxReport:
    """What the device says about its outbox: commands waiting, and the oldest one's time on
    the device's own clock (corrected with the measured offset before it is stored)."""

    depth: int
    oldest_pending_at: datetime | None

    def __post_init__(self) -> None:
        if not 0 <= self.depth <= MAX_OUTBOX_DEPTH:
            raise InvalidInput("outboxDepth", "must be a count of commands, >= 0")
        if self.oldest_pending_at is not None and (
            self.oldest_pending_at.tzinfo is None or self.oldest_pending_at.utcoffset() is None
        ):
            raise InvalidInput(
                "oldestPendingAt", "must carry a timezone offset", code="NAIVE_DATETIME"
            )


async def register_device(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    device_id: uuid.UUID,
    platform: str,
    model: str | None,
    app_version: str,
    protocol_version: int,
) -> Device:
    """Bind `device_id` to the signed-in carer (idempotent for the same carer)."""
    if not scope.is_carer or scope.staff_id is None or scope.organisation_id is None:
        raise Forbidden("only a carer with a staff record registers their device")
    parse_app_version(app_version)
    platform_name = _label("platform", platform, required=True)
    model_name = _label("model", model, required=False)
    staff = await staff_repository.get(session, scope, scope.staff_id)
    if staff is None or not staff.active:
        raise Forbidden("this staff record is not active; ask the office")
    existing = await repository.get_device(session, device_id, for_update=True)
    now = clock.now()
    if existing is not None:
        if existing.staff_id != scope.staff_id:
            raise DeviceOfAnotherCarer(
                "this device id is registered to another carer; reinstall the app to get a new one"
            )
        existing.app_version = app_version
        existing.protocol_version = protocol_version
        existing.platform = platform_name or existing.platform
        existing.model = model_name or existing.model
        existing.last_seen_at = now
        await session.flush()
        return existing
    device = await repository.add_device(
        session,
        Device(
            id=device_id,
            staff_id=staff.id,
            organisation_id=staff.organisation_id,
            registered_by=actor,
            platform=platform_name or "unknown",
            model=model_name,
            app_version=app_version,
            protocol_version=protocol_version,
            last_seen_at=now,
        ),
    )
    await _event(
        session,
        device,
        "mobile.device_registered",
        actor,
        now,
        {"platform": device.platform, "app_version": app_version},
    )
    return device


async def revoke_device(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    device_id: uuid.UUID,
    reason: str,
) -> Device:
    """Revoke a lost or replaced device (the carer's employer's office, or an admin). Its later
    commands are kept and quarantined for review. Revoking again changes nothing."""
    if not (scope.is_office or scope.is_admin):
        raise Forbidden("only the office revokes a device")
    why = _label("reason", reason, required=True, max_length=MAX_REASON_LENGTH)
    device = await repository.get_visible_device(session, scope, device_id, for_update=True)
    if device is None:
        raise DeviceNotFound(f"no device {device_id}")
    if device.status is DeviceStatus.REVOKED:
        return device
    now = clock.now()
    device.status = DeviceStatus.REVOKED
    device.revoked_at = now
    device.revoked_by = actor
    device.revoked_reason = why
    await session.flush()
    await _event(
        session,
        device,
        "mobile.device_revoked",
        actor,
        now,
        {"reason": why, "last_seq": device.last_seq},
    )
    return device


async def own_device(session: AsyncSession, scope: AccessScope, device_id: uuid.UUID) -> Device:
    """The signed-in carer's device, or DeviceNotRegistered (also for another carer's)."""
    device = await repository.get_device(session, device_id)
    if device is None or scope.staff_id is None or device.staff_id != scope.staff_id:
        raise DeviceNotRegistered(
            f"device {device_id} is not registered to you: call registerDevice first"
        )
    return device


async def report_outbox(
    session: AsyncSession,
    *,
    scope: AccessScope,
    device_id: uuid.UUID,
    received_at: datetime,
    sent_at: DeviceTime,
    app_version: str,
    protocol_version: int,
    outbox: OutboxReport,
) -> tuple[Device, Measurement]:
    """The tiny ping: store the device's outbox health and clock measurement."""
    parse_app_version(app_version)
    device = await own_device(session, scope, device_id)
    measurement = Measurement(received_at=received_at, sent=sent_at)
    await repository.record_contact(
        session,
        device.id,
        **contact_values(
            measurement,
            outbox,
            settled=0,
            next_pending_at=None,
            app_version=app_version,
            protocol_version=protocol_version,
        ),
    )
    return device, measurement


def contact_values(
    measurement: Measurement,
    outbox: OutboxReport,
    *,
    settled: int,
    next_pending_at: datetime | None,
    app_version: str,
    protocol_version: int,
) -> dict[str, Any]:
    """The device columns one contact updates.

    The reported depth counted the commands of this very upload, so the depth stored is what
    is left after the `settled` ones. When the upload settled the old head, the oldest pending
    time moves to `next_pending_at` (corrected): the first command left in the batch, or, when
    the batch held no more, the last command settled (the outbox is FIFO, so what waits was
    recorded no earlier). When nothing was settled it stays as reported (corrected with the
    measured offset); when work is left and no time is known, the report time stands in, so
    waiting work always shows.
    """
    received = measurement.received_at
    left = max(outbox.depth - settled, 0)
    reported_oldest = (
        outbox.oldest_pending_at + timedelta(milliseconds=measurement.offset_ms)
        if outbox.oldest_pending_at is not None
        else None
    )
    if left == 0:
        oldest = None
    elif settled == 0:
        oldest = reported_oldest or received
    else:
        oldest = next_pending_at or reported_oldest or received
    anchor = measurement.anchor
    return {
        "app_version": app_version,
        "protocol_version": protocol_version,
        "last_seen_at": received,
        "clock_offset_ms": measurement.offset_ms,
        "clock_boot_id": anchor.boot_id,
        "clock_anchor_server_at": anchor.server_at,
        "clock_anchor_monotonic_ms": anchor.monotonic_ms,
        "clock_measured_at": received,
        "outbox_depth": left,
        "oldest_pending_at": oldest,
        "outbox_reported_at": received,
    }


def _label(
    field: str, value: str | None, *, required: bool, max_length: int = MAX_LABEL_LENGTH
) -> str | None:
    cleaned = (value or "").strip()
    if not cleaned:
        if required:
            raise InvalidInput(field, "is required", code="REQUIRED")
        return None
    if len(cleaned) > max_length:
        raise InvalidInput(field, f"must be at most {max_length} characters", code="TOO_LONG")
    return cleaned


async def _event(
    session: AsyncSession,
    device: Device,
    event_type: str,
    actor: str,
    at: datetime,
    payload: dict[str, Any],
) -> None:
    await record(
        session,
        NewEvent(
            type=event_type,
            subject_type="device",
            subject_id=device.id,
            organisation_id=device.organisation_id,
            actor=actor,
            occurred_at=at,
            payload={"staff_id": str(device.staff_id), **payload},
        ),
    )
