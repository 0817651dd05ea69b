"""Every query the mobile domain runs. Office reads go through `hub.tenancy.device_visible` and
`command_visible`; the upload path reads its own device by id (ownership is checked by the
service against the signed-in carer)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, insert, literal, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.mobile.models import (
    CommandLogEntry,
    CommandResolution,
    CommandStatus,
    Device,
    DeviceStatus,
)
from hub.tenancy import AccessScope, command_visible, device_visible

# --- devices ---------------------------------------------------------------------------------


async def get_device(
    session: AsyncSession, device_id: uuid.UUID, *, for_update: bool = False
) -> Device | None:
    """A device by id whoever it belongs to: the caller checks it is theirs."""
    query = select(Device).where(Device.id == device_id)
    if for_update:
        query = query.with_for_update()
    result = await session.scalars(query)
    return result.one_or_none()


async def get_visible_device(
    session: AsyncSession, scope: AccessScope, device_id: uuid.UUID, *, for_update: bool = False
) -> Device | None:
    query = select(Device).where(Device.id == device_id, device_visible(scope))
    if for_update:
        query = query.with_for_update()
    result = await session.scalars(query)
    return result.one_or_none()


async def add_device(session: AsyncSession, device: Device) -> Device:
    session.add(device)
    await session.flush()
    return device


# The upload runs these per command: Core statements built once (their compiled form is
# cached), no ORM instance per command.
_devices = cast(Table, Device.__table__)
_ADVANCE_DEVICE = (
    update(_devices)
    .where(_devices.c.id == bindparam("device_id"))
    .values(last_seq=bindparam("seq"), last_command_hash=bindparam("command_hash"))
    .returning(_devices.c.status)
)
_INSERT_LOG_ENTRY = insert(cast(Table, CommandLogEntry.__table__))


async def advance_device(
    session: AsyncSession, device_id: uuid.UUID, *, seq: int, command_hash: str
) -> DeviceStatus:
    """Settle `seq` on the device (its cursor and chain head) and return the device's status as
    committed now: one statement that both locks the row for the command's transaction and sees
    a revocation made a moment ago."""
    status: DeviceStatus | None = await session.scalar(
        _ADVANCE_DEVICE, {"device_id": device_id, "seq": seq, "command_hash": command_hash}
    )
    if status is None:
        raise LookupError(f"device {device_id} disappeared during an upload")
    return status


async def record_contact(session: AsyncSession, device_id: uuid.UUID, **values: Any) -> None:
    """Store what one contact measured: clock, outbox health, app version, last seen."""
    await session.execute(update(Device).where(Device.id == device_id).values(**values))


async def devices_page(
    session: AsyncSession,
    scope: AccessScope,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
    staff_id: uuid.UUID | None = None,
    statuses: Collection[DeviceStatus] = (),
) -> Sequence[Device]:
    """Visible devices, newest registration last, keyset by (created_at, id)."""
    query = (
        select(Device)
        .where(device_visible(scope))
        .order_by(Device.created_at, Device.id)
        .limit(limit)
    )
    if staff_id is not None:
        query = query.where(Device.staff_id == staff_id)
    if statuses:
        query = query.where(Device.status.in_(list(statuses)))
    if after is not None:
        query = query.where(tuple_(Device.created_at, Device.id) > tuple_(*after))
    result = await session.scalars(query)
    return result.all()


async def unsynced_page(
    session: AsyncSession,
    scope: AccessScope,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> Sequence[Device]:
    """Visible devices holding unsynced work, the longest-waiting first, keyset by
    (oldest_pending_at, id). A device reporting work is never without an oldest-pending time
    (the service stores the report time when the device sends none)."""
    query = (
        select(Device)
        .where(
            device_visible(scope), Device.outbox_depth > 0, Device.oldest_pending_at.is_not(None)
        )
        .order_by(Device.oldest_pending_at, Device.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(tuple_(Device.oldest_pending_at, Device.id) > tuple_(*after))
    result = await session.scalars(query)
    return result.all()


# --- the command log -------------------------------------------------------------------------


async def log_entries_for_batch(
    session: AsyncSession,
    device_id: uuid.UUID,
    seqs: Collection[int],
    command_ids: Collection[uuid.UUID],
) -> Sequence[CommandLogEntry]:
    """In one statement: the device's entries at the batch's sequence numbers, and every entry
    (any device) carrying one of the batch's command ids."""
    if not seqs and not command_ids:
        return ()
    result = await session.scalars(
        select(CommandLogEntry).where(
            or_(
                and_(
                    CommandLogEntry.device_id == device_id,
                    CommandLogEntry.seq.in_(list(seqs)),
                ),
                CommandLogEntry.command_id.in_(list(command_ids)),
            )
        )
    )
    return result.all()


async def insert_log_entry(session: AsyncSession, values: Mapping[str, Any]) -> None:
    """Append one command-log row (column name → value; `server_seq` and `recorded_at` are the
    database's)."""
    await session.execute(_INSERT_LOG_ENTRY, dict(values))


async def get_visible_command(
    session: AsyncSession, scope: AccessScope, entry_id: uuid.UUID
) -> CommandLogEntry | None:
    result = await session.scalars(
        select(CommandLogEntry).where(CommandLogEntry.id == entry_id, command_visible(scope))
    )
    return result.one_or_none()


async def quarantined_page(
    session: AsyncSession,
    scope: AccessScope,
    *,
    limit: int,
    after: int | None = None,
    resolved: bool | None = None,
) -> Sequence[CommandLogEntry]:
    """Visible quarantined commands in the order received (server_seq), optionally only the
    resolved or the unresolved ones."""
    query = (
        select(CommandLogEntry)
        .where(command_visible(scope), CommandLogEntry.status == CommandStatus.QUARANTINED)
        .order_by(CommandLogEntry.server_seq)
        .limit(limit)
    )
    if resolved is not None:
        settled = (
            select(CommandResolution.id)
            .where(CommandResolution.command_log_id == CommandLogEntry.id)
            .exists()
        )
        query = query.where(settled if resolved else ~settled)
    if after is not None:
        query = query.where(CommandLogEntry.server_seq > literal(after))
    result = await session.scalars(query)
    return result.all()


async def resolutions_of(
    session: AsyncSession, entry_ids: Collection[uuid.UUID]
) -> Sequence[CommandResolution]:
    if not entry_ids:
        return ()
    result = await session.scalars(
        select(CommandResolution).where(CommandResolution.command_log_id.in_(list(entry_ids)))
    )
    return result.all()


async def add_resolution(session: AsyncSession, resolution: CommandResolution) -> None:
    session.add(resolution)
    await session.flush()
