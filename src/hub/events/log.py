"""Recording events: `record(session, NewEvent(...))` inside the caller's transaction.

The write and its event commit together or not at all; there is no second channel."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.events.models import Event
from hub.kit.time import require_aware


@dataclass(frozen=True, slots=True)
class NewEvent:
    """What happened, to what, for whom, by whom and when (business time)."""

    type: str
    subject_type: str
    subject_id: uuid.UUID
    actor: str
    occurred_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    organisation_id: uuid.UUID | None = None
    contract_id: uuid.UUID | None = None
    person_id: uuid.UUID | None = None
    correlation_id: str | None = None

    def __post_init__(self) -> None:
        if "." not in self.type:
            raise ValueError(f"event type {self.type!r} must be 'entity.past_tense'")
        require_aware(self.occurred_at, "occurred_at")


async def record(session: AsyncSession, event: NewEvent) -> Event:
    """Append one event in the session's transaction and return the row with its id."""
    row = Event(
        type=event.type,
        subject_type=event.subject_type,
        subject_id=event.subject_id,
        organisation_id=event.organisation_id,
        contract_id=event.contract_id,
        person_id=event.person_id,
        actor=event.actor,
        occurred_at=event.occurred_at,
        correlation_id=event.correlation_id,
        payload=event.payload,
    )
    session.add(row)
    await session.flush()
    return row


async def events_for_subject(
    session: AsyncSession, subject_type: str, subject_id: uuid.UUID, *, limit: int = 500
) -> Sequence[Event]:
    """A subject's timeline, oldest first."""
    result = await session.scalars(
        select(Event)
        .where(Event.subject_type == subject_type, Event.subject_id == subject_id)
        .order_by(Event.id)
        .limit(limit)
    )
    return result.all()
