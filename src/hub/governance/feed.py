"""The exception feed: commissioners (and the provider's office) watch their contracts' exception
cases live over graphql-transport-ws, and resume after a disconnect without a gap or a repeat.

    subscription {
      exceptionFeed(contractIds: ["…"], after: "<last cursor>") {
        cursor type caseId contractId status severity rule level occurredAt recordedAt
      }
    }

- **Replay, then live.** With `after`, every visible event past that cursor is delivered
  first, then each new one as it commits; without it, the feed starts now. Every message
  carries its cursor; subscribing again with the last one received gives exactly what came
  after it, in order (`hub.events.feed.FeedPosition`: no event is passed when transactions
  commit out of order).
- **Across replicas.** Commits wake the feed through PostgreSQL LISTEN/NOTIFY, whichever hub
  process wrote them (`hub.events.notify`); the log is then read, never process memory.
- **Authorised.** The caller must be able to see every contract asked for (a contract of
  another organisation answers exactly like a missing one), and is checked again for every
  event delivered: an account switched off, moved or expired, or a contract no longer
  visible, ends the stream with an error (`hub.events.resolvers.authorised_events`).

By default only the governance events (`case.*`) are streamed; `includeAllEvents` adds every
other event on the contracts (visits, facts, rejected payloads), with no case fields set."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncGenerator, Sequence
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

import strawberry

from hub.accounts.models import Role
from hub.db.uow import read_only
from hub.errors import InvalidInput
from hub.events import feed
from hub.events.models import Event
from hub.events.notify import follow
from hub.events.resolvers import (
    authorised_events,
    cursor_of,
    live_notifier,
    require_visible,
    start_position,
    subject_global_id,
)
from hub.governance.types import CaseRule, CaseSeverity, CaseStatus
from hub.graphql.context import Info
from hub.graphql.ids import encode_global_id, expect_global_id
from hub.graphql.permissions import OFFICE, allow

CASE_EVENT_PREFIX = "case."
CASE_SUBJECT = "exception_case"
MAX_CONTRACTS = 50
# Events read per round trip; each is still authorised before it is delivered.
BATCH_SIZE = 100

E = TypeVar("E", bound=Enum)


@strawberry.type(
    description="One event on the exception feed: a case opened, acknowledged, escalated, "
    "resolved, … (or, with `includeAllEvents`, anything else on the contract)."
)
class ExceptionFeedEvent:
    cursor: str = strawberry.field(
        description="Resume after this event: subscribe again with `after: cursor`."
    )
    type: str = strawberry.field(description="What happened, e.g. `case.opened`.")
    case_id: strawberry.ID | None = strawberry.field(
        description="The exception case (an `ExceptionCase` id); null for other events."
    )
    contract_id: strawberry.ID = strawberry.field(description="The contract it happened on.")
    subject_type: str = strawberry.field(description="What it happened to, e.g. `visit`.")
    subject_id: strawberry.ID = strawberry.field(description="The id of the thing it happened to.")
    rule: CaseRule | None = strawberry.field(description="The rule that opened the case.")
    status: CaseStatus | None = strawberry.field(description="The case's status after this event.")
    severity: CaseSeverity | None = strawberry.field(description="How much harm it risks.")
    level: int | None = strawberry.field(description="The rung of the escalation ladder.")
    occurred_at: datetime = strawberry.field(description="Business time.")
    recorded_at: datetime = strawberry.field(description="When the hub recorded it (server time).")
    actor: str = strawberry.field(description="Who or what did it, as the event log names them.")

    @classmethod
    def from_event(cls, event: Event) -> ExceptionFeedEvent:
        is_case = event.subject_type == CASE_SUBJECT
        payload: dict[str, Any] = event.payload if is_case else {}
        assert event.contract_id is not None  # the feed reads by contract
        return cls(
            cursor=cursor_of(event),
            type=event.type,
            case_id=strawberry.ID(subject_global_id(event)) if is_case else None,
            contract_id=strawberry.ID(encode_global_id("Contract", event.contract_id)),
            subject_type=event.subject_type,
            subject_id=strawberry.ID(subject_global_id(event)),
            rule=_member(CaseRule, payload.get("rule")),
            status=_member(CaseStatus, payload.get("status")),
            severity=_member(CaseSeverity, payload.get("severity")),
            level=payload.get("level") if isinstance(payload.get("level"), int) else None,
            occurred_at=event.occurred_at,
            recorded_at=event.recorded_at,
            actor=event.actor,
        )


def _member(enum: type[E], value: object) -> E | None:
    """The payload's value as the schema's enum; an unknown one (a rule added later, a
    malformed payload) is shown as null rather than failing the whole feed."""
    try:
        return enum(value)
    except ValueError:
        return None


def watched_contracts(contract_ids: Sequence[strawberry.ID]) -> list[uuid.UUID]:
    """The contracts asked for, decoded, without repeats, in the order given (1 to 50)."""
    if not contract_ids:
        raise InvalidInput("contractIds", "name at least one contract", code="NO_CONTRACTS")
    if len(contract_ids) > MAX_CONTRACTS:
        raise InvalidInput(
            "contractIds", f"at most {MAX_CONTRACTS} contracts per feed", code="TOO_MANY_CONTRACTS"
        )
    return list(
        dict.fromkeys(expect_global_id(c, "Contract", field="contractIds") for c in contract_ids)
    )


def feed_filter(contracts: Sequence[uuid.UUID], *, include_all_events: bool) -> feed.FeedFilter:
    return feed.FeedFilter(
        contract_ids=tuple(contracts),
        type_prefixes=None if include_all_events else (CASE_EVENT_PREFIX,),
    )


@strawberry.type
class ExceptionFeedSubscription:
    @strawberry.subscription(
        description="Exception cases on these contracts (1-50) as they happen: every "
        "`case.*` event, each with its cursor. With `after`, replays everything after that "
        "cursor first; without it, starts now. `includeAllEvents` adds every other event on "
        "the contracts.",
        extensions=allow(Role.COMMISSIONER, *OFFICE, Role.ADMIN),
    )
    async def exception_feed(
        self,
        info: Info,
        contract_ids: list[strawberry.ID],
        after: str | None = None,
        include_all_events: bool = False,
    ) -> AsyncGenerator[ExceptionFeedEvent, None]:
        context = info.context
        contracts = watched_contracts(contract_ids)
        async with read_only(context.sessions) as session:
            # "Now" is taken first, as close as possible to the subscribe message's arrival.
            position = await start_position(session, after)
            await require_visible(info, session, contracts)
        batches = follow(
            context.sessions,
            live_notifier(info),
            position,
            feed_filter(contracts, include_all_events=include_all_events),
            batch_size=BATCH_SIZE,
        )
        async with (
            contextlib.aclosing(batches),
            contextlib.aclosing(authorised_events(info, contracts, batches)) as events,
        ):
            async for event in events:
                yield ExceptionFeedEvent.from_event(event)
