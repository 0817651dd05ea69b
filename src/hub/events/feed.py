"""Reading the event log as a feed that never skips an event.

Event ids are assigned at INSERT, but transactions commit in any order: a reader that advanced
past id 10 while the transaction holding id 9 was still open would never see 9. So a reader only
takes events whose writing transaction is older than every transaction still running (its
snapshot's xmin). Events of a transaction still in flight — and any later ids — wait until it
ends; then they arrive in id order, and the last delivered id is a safe cursor.

That holds only while transaction ids and event ids rise together. They need not: a
transaction that took its id early (it updated a visit first) may insert its event *after* a
younger transaction inserted one with a lower id. When the older one commits first, its event is
settled while the younger one's lower id is not — and an id cursor moves past it for good. So
live feeds walk the log in (transaction id, event id) order instead, with a `FeedPosition` as
their cursor (`read_feed`, `settled_events_since`): every transaction that commits from now on
has an id at or above the snapshot's xmin, so nothing can ever appear behind a position."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    false,
    literal_column,
    or_,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession

from hub.contracts.models import Contract
from hub.errors import InvalidInput
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


async def visible_contracts(
    session: AsyncSession, scope: AccessScope, contract_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these contracts the caller may see (a foreign one is simply absent)."""
    found = await session.scalars(
        select(Contract.id).where(Contract.id.in_(list(contract_ids)), contract_visible(scope))
    )
    return set(found.all())


# --- positions: the order in which a cursor never passes a late commit -----------------------

MAX_EVENT_ID = 2**63 - 1


@dataclass(frozen=True, order=True, slots=True)
class FeedPosition:
    """A place in the log, just after the event `(txid, event_id)`, in the order feed readers
    walk it: by writing transaction, then by id.

    Events of transactions older than the snapshot's xmin are all committed (or never will be),
    and every transaction still to commit has an id at or above it; so once a reader has passed
    a position, nothing can appear behind it. The cursor a client holds is `encode()`."""

    txid: int
    event_id: int

    @classmethod
    def after(cls, event: Event) -> FeedPosition:
        return cls(event.txid, event.id)

    def encode(self) -> str:
        return f"{self.txid}.{self.event_id}"


ORIGIN = FeedPosition(0, 0)


def parse_cursor(cursor: str, *, field: str = "after") -> FeedPosition | int:
    """A cursor a feed gave out: a position (`"<txid>.<id>"`), or a bare event id from the
    time feeds used id cursors (resolve it with `position_of_legacy_cursor`)."""
    txid, dot, event_id = cursor.partition(".")
    if dot and txid.isdigit() and event_id.isdigit() and len(cursor) <= 41:
        return FeedPosition(int(txid), int(event_id))
    if not dot and cursor.isdigit() and len(cursor) <= 19:
        return int(cursor)
    raise InvalidInput(field, "is not a cursor this feed gave out", code="INVALID_CURSOR")


async def position_of_legacy_cursor(session: AsyncSession, event_id: int) -> FeedPosition | None:
    """The position just after event `event_id` (None if there is no such event)."""
    txid = await session.scalar(select(Event.txid).where(Event.id == event_id))
    return None if txid is None else FeedPosition(int(txid), event_id)


async def current_position(session: AsyncSession) -> FeedPosition:
    """The position of "now": after every settled event. Whatever settles later — including
    events already committed but held back by an older transaction — lies beyond it."""
    xmin = int(await session.scalar(select(_SNAPSHOT_XMIN)) or 0)
    return FeedPosition(xmin - 1, MAX_EVENT_ID)


@dataclass(frozen=True, slots=True)
class FeedFilter:
    """Which events a reader wants: of some contracts, of some types (exact or by prefix).
    `None` means any; an empty tuple means none."""

    contract_ids: tuple[uuid.UUID, ...] | None = None
    types: tuple[str, ...] | None = None
    type_prefixes: tuple[str, ...] | None = None

    def apply(self, query: Select[Event, bool]) -> Select[Event, bool]:
        if self.types is not None or self.type_prefixes is not None:
            wanted: list[ColumnElement[bool]] = []
            if self.types:
                wanted.append(Event.type.in_(self.types))
            wanted.extend(Event.type.startswith(prefix) for prefix in self.type_prefixes or ())
            query = query.where(or_(*wanted) if wanted else false())
        if self.contract_ids is not None:
            query = query.where(Event.contract_id.in_(self.contract_ids))
        return query


@dataclass(frozen=True, slots=True)
class FeedRead:
    """One read of the log past a position.

    `events` are settled, in order: deliver them and move to the last one. `held_back` says
    that a wanted event has committed beyond them but waits for an older transaction still
    running — read again soon, even with no notification (that transaction may write no event).
    `more` says the read stopped at its limit: read again at once."""

    events: Sequence[Event]
    held_back: bool
    more: bool


async def read_feed(
    session: AsyncSession, after: FeedPosition, where: FeedFilter, *, limit: int = 100
) -> FeedRead:
    """The wanted events past `after`, in (txid, id) order, in one statement.

    Settled events (txid below the statement's xmin) always sort before unsettled ones, so the
    settled ones form a prefix of the rows: that prefix is delivered, the rest only reported."""
    settled = (Event.txid < _SNAPSHOT_XMIN).label("settled")
    query = where.apply(
        select(Event, settled)
        .where(tuple_(Event.txid, Event.id) > tuple_(after.txid, after.event_id))
        .order_by(Event.txid, Event.id)
        .limit(limit)
    )
    rows = (await session.execute(query)).all()
    events = [event for event, is_settled in rows if is_settled]
    return FeedRead(
        events=events,
        held_back=len(events) < len(rows),
        more=len(rows) == limit and len(events) == limit,
    )


async def settled_events_since(
    session: AsyncSession,
    after: FeedPosition,
    *,
    types: Sequence[str] | None = None,
    type_prefixes: Sequence[str] | None = None,
    contract_ids: Sequence[uuid.UUID] | None = None,
    limit: int = 500,
) -> Sequence[Event]:
    """Settled events past `after`, in (txid, id) order: the reader that never skips a late
    commit. Continue from `FeedPosition.after(events[-1])`."""
    where = FeedFilter(
        contract_ids=None if contract_ids is None else tuple(contract_ids),
        types=None if types is None else tuple(types),
        type_prefixes=None if type_prefixes is None else tuple(type_prefixes),
    )
    return (await read_feed(session, after, where, limit=limit)).events
