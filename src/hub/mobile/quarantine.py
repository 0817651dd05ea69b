"""The office's side of quarantine: nothing a carer recorded is discarded by the hub.

A quarantined command stays in `command_log` exactly as received. An office person (the carer's
employer's coordinator or registered manager, or an admin) reads it whole and records how it
was settled — re-entered another way, not required (with why), or escalated — as one
append-only `command_resolutions` row and a `mobile.command_resolved` event. The command itself
is never changed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import Forbidden, InvalidInput
from hub.events.log import NewEvent, record
from hub.kit.ids import uuid7
from hub.kit.time import Clock
from hub.mobile import repository
from hub.mobile.errors import CommandAlreadyResolved, CommandNotFound, CommandNotQuarantined
from hub.mobile.models import (
    CommandLogEntry,
    CommandResolution,
    CommandStatus,
    ResolutionOutcome,
)
from hub.tenancy import AccessScope

MAX_NOTE_LENGTH = 2000


@dataclass(frozen=True, slots=True)
class QuarantinedCommand:
    entry: CommandLogEntry
    resolution: CommandResolution | None


async def quarantined_page(
    session: AsyncSession,
    scope: AccessScope,
    *,
    limit: int,
    after: int | None,
    resolved: bool | None,
) -> list[QuarantinedCommand]:
    """A page of visible quarantined commands with their resolutions (two statements)."""
    entries = await repository.quarantined_page(
        session, scope, limit=limit, after=after, resolved=resolved
    )
    return await _with_resolutions(session, entries)


async def resolve_quarantined_command(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    command_log_id: uuid.UUID,
    outcome: ResolutionOutcome,
    note: str,
) -> QuarantinedCommand:
    """Record how the office settled one quarantined command (once; the note is required)."""
    if not (scope.is_office or scope.is_admin):
        raise Forbidden("only the office resolves quarantined commands")
    text = (note or "").strip()
    if not text:
        raise InvalidInput("note", "say what was done about this command", code="REQUIRED")
    if len(text) > MAX_NOTE_LENGTH:
        raise InvalidInput("note", f"must be at most {MAX_NOTE_LENGTH} characters", code="TOO_LONG")
    entry = await repository.get_visible_command(session, scope, command_log_id)
    if entry is None:
        raise CommandNotFound(f"no quarantined command {command_log_id}")
    if entry.status is not CommandStatus.QUARANTINED:
        raise CommandNotQuarantined(f"command {command_log_id} was {entry.status}, not quarantined")
    now = clock.now()
    resolution = CommandResolution(
        id=uuid7(),
        command_log_id=entry.id,
        organisation_id=entry.organisation_id,
        outcome=outcome,
        note=text,
        resolved_by=actor,
        resolved_at=now,
    )
    try:
        async with session.begin_nested():
            await repository.add_resolution(session, resolution)
    except IntegrityError as exc:
        raise CommandAlreadyResolved(f"command {command_log_id} is already resolved") from exc
    await record(
        session,
        NewEvent(
            type="mobile.command_resolved",
            subject_type="device",
            subject_id=entry.device_id,
            organisation_id=entry.organisation_id,
            person_id=entry.person_id,
            actor=actor,
            occurred_at=now,
            payload={
                "command_log_id": str(entry.id),
                "command_id": str(entry.command_id),
                "code": entry.code,
                "outcome": outcome.value,
                "note": text,
            },
        ),
    )
    return QuarantinedCommand(entry, resolution)


async def _with_resolutions(
    session: AsyncSession, entries: Sequence[CommandLogEntry]
) -> list[QuarantinedCommand]:
    resolutions = {
        row.command_log_id: row
        for row in await repository.resolutions_of(session, [entry.id for entry in entries])
    }
    return [QuarantinedCommand(entry, resolutions.get(entry.id)) for entry in entries]
