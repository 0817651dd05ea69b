"""Reading the event log as a feed that never skips an event.

Event ids are assigned at INSERT, but transactions commit in any order: a reader that advanced
past id 10 while the transaction holding id 9 was still open would never see 9. So a reader only
takes events whose writing transaction is older than every transaction still running (its
snapshot's xmin). Events of a transaction still in flight — and any later ids — wait until it
ends; then they arrive in id order, and the last delivered id is a safe cursor."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import BigInteger, ColumnElement, false, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.contracts.models import Contract
from hub.events.models import Event
from hub.tenancy import AccessScope, contract_visible

# (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint: the oldest transaction still running.
_SNAPSHOT_XMIN: ColumnElement[int] = literal_column(
    "(pg_snapshot_xmin(pg_current_snapshot())::text)::bigint", BigInteger
)


async def visible_contract(
    session: AsyncSession, scope: AccessScope, contract_id: uuid.UUID
) -> bool:
    found = await session.scalar(
        select(Contract.id).where(Contract.id == contract_id, contract_visible(scope))
    )
    return found is not None


async def contract_events_after(
    session: AsyncSession, contract_id: uuid.UUID, after_id: int, *, limit: int = 100
) -> Sequence[Event]:
    """The contract's settled events after `after_id`, oldest first."""
    result = await session.scalars(
        select(Event)
        .where(Event.contract_id == contract_id, Event.id > after_id, Event.txid < _SNAPSHOT_XMIN)
        .order_by(Event.id)
        .limit(limit)
    )
    return result.all()


async def settled_events_after(
    session: AsyncSession,
    after_id: int,
    *,
    types: Sequence[str] | None = None,
    type_prefixes: Sequence[str] | None = None,
    contract_ids: Sequence[uuid.UUID] | None = None,
    limit: int = 500,
) -> Sequence[Event]:
    """Settled events after `after_id`, oldest first, optionally only of some types (exact or
    by prefix, e.g. `case.`) or contracts. Rule runners and feeds read the log through this."""
    query = select(Event).where(Event.id > after_id, Event.txid < _SNAPSHOT_XMIN)
    if types is not None or type_prefixes is not None:
        wanted: list[ColumnElement[bool]] = []
        if types:
            wanted.append(Event.type.in_(list(types)))
        wanted.extend(Event.type.startswith(prefix) for prefix in type_prefixes or ())
        query = query.where(or_(*wanted) if wanted else false())
    if contract_ids is not None:
        query = query.where(Event.contract_id.in_(list(contract_ids)))
    result = await session.scalars(query.order_by(Event.id).limit(limit))
    return result.all()


async def latest_event_id(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.coalesce(func.max(Event.id), 0))) or 0)
