"""Live streams re-check authorisation for every event they deliver: a token that expired or an
account switched off (or moved to another organisation) mid-stream stops the stream."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import TypeVar

from hub.errors import Forbidden
from hub.graphql.context import Info

T = TypeVar("T")


class StreamAuthorisationLost(Forbidden):
    code = "AUTHORISATION_LOST"


async def still_authorised(info: Info, events: AsyncIterator[T]) -> AsyncGenerator[T, None]:
    context = info.context
    principal = context.require_principal()
    async for event in events:
        if not await context.authenticator.still_valid(principal, context.clock.now()):
            raise StreamAuthorisationLost(
                "this stream's authorisation has expired or been withdrawn"
            )
        yield event
