"""The event-log readers the hub used before `hub.events.feed.FeedPosition`: by event id.

They are no longer in the hub because an id cursor can pass, for good, an event whose
transaction took its transaction id early and inserted late (hub.events.feed's docstring).
Tests keep them to show exactly what such a reader would have lost."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import BigInteger, ColumnElement, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.events.models import Event

_SNAPSHOT_XMIN: ColumnElement[int] = literal_column(
    "(pg_snapshot_xmin(pg_current_snapshot())::text)::bigint", BigInteger
)


async def latest_event_id(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.coalesce(func.max(Event.id), 0))) or 0)


async def contract_events_after(
    session: AsyncSession, contract_id: uuid.UUID, after_id: int, *, limit: int = 100
) -> Sequence[Event]:
    """The contract's settled events after `after_id`, oldest first, by id."""
    result = await session.scalars(
        select(Event)
        .where(Event.contract_id == contract_id, Event.id > after_id, Event.txid < _SNAPSHOT_XMIN)
        .order_by(Event.id)
        .limit(limit)
    )
    return result.all()


async def settled_events_after(
    session: AsyncSession, after_id: int, *, types: Sequence[str], limit: int = 500
) -> Sequence[Event]:
    """Settled events of these types after `after_id`, oldest first, by id."""
    result = await session.scalars(
        select(Event)
        .where(Event.id > after_id, Event.txid < _SNAPSHOT_XMIN, Event.type.in_(list(types)))
        .order_by(Event.id)
        .limit(limit)
    )
    return result.all()
