"""The live activity feed of a contract, for its commissioner and its provider's office, and the
pieces every live feed of the event log shares (governance's exception feed uses them too).

Resumable: every message carries its cursor; subscribe again with `after` set to the last one
received and nothing is missed or repeated — also when transactions commit out of order
(cursors are positions in (transaction, id) order: `hub.events.feed.FeedPosition`).

Live: a feed sleeps until the event notifier (one LISTEN connection per process, woken by
commits on any replica) or its fallback timer wakes it; then it reads the log itself.

Authorised: at subscribe time (another organisation's contract answers like a missing one) and
again for every event delivered (`authorised_events`)."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from datetime import datetime

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.models import Role
from hub.db.uow import read_only
from hub.errors import InvalidInput, NotFound
from hub.events import feed
from hub.events.models import Event
from hub.events.notify import EventNotifier, follow
from hub.graphql.context import Info
from hub.graphql.ids import encode_global_id, expect_global_id
from hub.graphql.permissions import OFFICE, allow
from hub.graphql.subscriptions import authorisation_lost, ends_when_revoked
from hub.tenancy import AccessScope

# An event is delivered under an authorisation decision at most this old (and never older than
# the batch it was read in): one check per batch, not one per event, keeps a replay of
# thousands of events from costing thousands of round trips.
AUTH_RECHECK_SECONDS = 1.0


@strawberry.type(description="Something that happened on a contract, from the event log.")
class ContractEvent:
    cursor: str = strawberry.field(description="Resume after this event with `after: cursor`.")
    type: str = strawberry.field(description="What happened, e.g. `visit.checked_in`.")
    subject_type: str
    subject_id: str = strawberry.field(description="The id of the thing it happened to.")
    occurred_at: datetime = strawberry.field(description="Business time.")
    recorded_at: datetime = strawberry.field(description="When the hub recorded it (server time).")
    actor: str


class ContractNotFound(NotFound):
    code = "CONTRACT_NOT_FOUND"


def subject_global_id(event: Event) -> str:
    """The subject as a global id: `care_package` → a `CarePackage` id."""
    type_name = "".join(part.capitalize() for part in event.subject_type.split("_"))
    return encode_global_id(type_name, event.subject_id)


def cursor_of(event: Event) -> str:
    return feed.FeedPosition.after(event).encode()


def live_notifier(info: Info) -> EventNotifier:
    notifier = info.context.notifier
    if notifier is None:  # every runtime has one; a context built without it is a wiring bug
        raise RuntimeError("live feeds need the runtime's event notifier on the context")
    return notifier


async def start_position(
    session: AsyncSession, after: str | None, *, field: str = "after"
) -> feed.FeedPosition:
    """Where a subscription starts: after the client's cursor, or (without one) now."""
    if after is None:
        return await feed.current_position(session)
    parsed = feed.parse_cursor(after, field=field)
    if isinstance(parsed, feed.FeedPosition):
        return parsed
    # A bare event id, from before cursors were positions: resume just after that event.
    position = await feed.position_of_legacy_cursor(session, parsed)
    if position is None:
        raise InvalidInput(field, "is not a cursor this feed gave out", code="INVALID_CURSOR")
    return position


async def require_visible(
    info: Info, session: AsyncSession, contracts: Sequence[uuid.UUID]
) -> None:
    """Every contract must be one the caller may see; the first that is not answers exactly
    like a contract that does not exist."""
    scope = AccessScope.of(info.context.require_principal())
    visible = await feed.visible_contracts(session, scope, contracts)
    for contract in contracts:
        if contract not in visible:
            raise ContractNotFound(f"no contract {encode_global_id('Contract', contract)}")


async def authorised_events(
    info: Info, contracts: Sequence[uuid.UUID], batches: AsyncIterator[Sequence[Event]]
) -> AsyncGenerator[Event, None]:
    """Deliver each event only under a fresh authorisation decision: the token unexpired and
    the account still active with the same role and organisation, and every watched contract
    still visible to it. Decided per batch and again whenever the last decision is more than
    `AUTH_RECHECK_SECONDS` old; a lost authorisation ends the stream with an error, before the
    event."""
    context = info.context
    principal = context.require_principal()
    watched = frozenset(contracts)
    decided_at: float | None = None
    # A quiet feed is watched too: switching the account off ends it while it waits.
    async with contextlib.aclosing(ends_when_revoked(info, batches)) as live:
        async for batch in live:
            decided_at = None
            for event in batch:
                if decided_at is None or time.monotonic() - decided_at >= AUTH_RECHECK_SECONDS:
                    now = context.clock.now()
                    if not await context.authenticator.still_valid(principal, now):
                        raise authorisation_lost()
                    async with read_only(context.sessions) as session:
                        await require_visible(info, session, contracts)
                    decided_at = time.monotonic()
                if event.contract_id not in watched:  # the reader filters; the last guard
                    continue
                yield event


@strawberry.type
class EventSubscription:
    @strawberry.subscription(
        description="Events on one contract as they happen. Without `after`, starts from now; "
        "with it, replays every event after that cursor first.",
        extensions=allow(Role.COMMISSIONER, *OFFICE, Role.ADMIN),
    )
    async def contract_events(
        self, info: Info, contract_id: strawberry.ID, after: str | None = None
    ) -> AsyncGenerator[ContractEvent, None]:
        context = info.context
        contract = expect_global_id(contract_id, "Contract", field="contractId")
        async with read_only(context.sessions) as session:
            # "Now" is taken first, as close as possible to the subscribe message's arrival.
            position = await start_position(session, after)
            await require_visible(info, session, [contract])
        batches = follow(
            context.sessions,
            live_notifier(info),
            position,
            feed.FeedFilter(contract_ids=(contract,)),
        )
        async with (
            contextlib.aclosing(batches),
            contextlib.aclosing(authorised_events(info, [contract], batches)) as events,
        ):
            async for row in events:
                yield ContractEvent(
                    cursor=cursor_of(row),
                    type=row.type,
                    subject_type=row.subject_type,
                    subject_id=subject_global_id(row),
                    occurred_at=row.occurred_at,
                    recorded_at=row.recorded_at,
                    actor=row.actor,
                )
