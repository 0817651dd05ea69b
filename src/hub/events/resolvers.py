"""The live activity feed of a contract, for its commissioner and its provider's office.

Resumable: every message carries its cursor; subscribe again with `after` set to the last one
received and nothing is missed or repeated. Authorisation is checked at subscribe time (another
organisation's contract answers like a missing one) and again before every event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry

from hub.accounts.models import Role
from hub.db.uow import read_only
from hub.errors import InvalidInput, NotFound
from hub.events import feed
from hub.graphql.context import Info
from hub.graphql.ids import encode_global_id, expect_global_id
from hub.graphql.permissions import OFFICE, allow
from hub.graphql.subscriptions import still_authorised
from hub.tenancy import AccessScope

POLL_SECONDS = 0.5


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


def _cursor(after: str | None) -> int | None:
    if after is None:
        return None
    if not after.isdigit():
        raise InvalidInput("after", "is not a cursor this feed gave out", code="INVALID_CURSOR")
    return int(after)


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
        scope = AccessScope.of(context.require_principal())
        async with read_only(context.sessions) as session:
            if not await feed.visible_contract(session, scope, contract):
                raise ContractNotFound(f"no contract {contract_id}")
            given = _cursor(after)
            position = given if given is not None else await feed.latest_event_id(session)

        async def settled_events() -> AsyncGenerator[ContractEvent, None]:
            nonlocal position
            while True:
                async with read_only(context.sessions) as session:
                    if not await feed.visible_contract(session, scope, contract):
                        raise ContractNotFound(f"no contract {contract_id}")
                    rows = await feed.contract_events_after(session, contract, position)
                for row in rows:
                    position = row.id
                    yield ContractEvent(
                        cursor=str(row.id),
                        type=row.type,
                        subject_type=row.subject_type,
                        subject_id=encode_global_id(_type_name(row.subject_type), row.subject_id),
                        occurred_at=row.occurred_at,
                        recorded_at=row.recorded_at,
                        actor=row.actor,
                    )
                if not rows:
                    await asyncio.sleep(POLL_SECONDS)

        async for event in still_authorised(info, settled_events()):
            yield event


def _type_name(subject_type: str) -> str:
    """`care_package` → `CarePackage`, the GraphQL type a global id names."""
    return "".join(part.capitalize() for part in subject_type.split("_"))
