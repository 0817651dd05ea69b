"""Recording events: `record(session, NewEvent(...))` inside the caller's transaction.

The write and its event commit together or not at all; there is no second channel."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Insert, Table, bindparam, insert, select
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


_events = cast(Table, Event.__table__)
# Every field of a NewEvent is the events column of the same name.
_COLUMNS = tuple(member.name for member in fields(NewEvent))
_INSERT = insert(_events).returning(_events.c.id, sort_by_parameter_order=True)


async def record_many(session: AsyncSession, events: Sequence[NewEvent]) -> list[int]:
    """Append events in the session's transaction with one Core statement and return their ids,
    in order. For write paths that run per command of a mobile upload and need only the ids:
    no `Event` instance is built or flushed (`record` returns the row)."""
    if not events:
        return []
    result = await session.execute(_INSERT, [_values(event) for event in events])
    return list(result.scalars().all())


def with_event(write: Insert) -> Insert:
    """One statement that runs `write` — an INSERT built once, its parameters bound by name, none
    starting with `event_` — as a data-modifying WITH query and appends one event, returning the
    event's id. For a hot path that writes a row and its event together (a fact and its
    `visit.*` event): one round trip instead of two. Build it once; execute it with the write's
    parameters and `event_parameters(event)`."""
    return (
        insert(_events)
        .values({name: bindparam(f"event_{name}") for name in _COLUMNS})
        .returning(_events.c.id)
        .add_cte(write.cte("written"))
    )


def event_parameters(event: NewEvent) -> dict[str, Any]:
    """The parameters of the event of a `with_event` statement."""
    return {f"event_{name}": value for name, value in _values(event).items()}


def _values(event: NewEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in _COLUMNS}


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
