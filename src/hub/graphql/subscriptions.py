"""Live streams re-check authorisation for every event they deliver, and a quiet stream is
watched too: a token that expired or an account switched off (or moved to another organisation
or role) mid-stream ends the stream with AUTHORISATION_LOST, within about a second even when no
event flows (`hub.auth.watch`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TypeVar

from hub.errors import Forbidden
from hub.graphql.context import Info

T = TypeVar("T")


class StreamAuthorisationLost(Forbidden):
    code = "AUTHORISATION_LOST"


def authorisation_lost() -> StreamAuthorisationLost:
    return StreamAuthorisationLost("this stream's authorisation has expired or been withdrawn")


async def ends_when_revoked(info: Info, source: AsyncIterator[T]) -> AsyncGenerator[T, None]:
    """`source`'s items, until the caller's account loses its authorisation: then, even while
    `source` is waiting for its next item, the wait is interrupted and the stream ends with
    AUTHORISATION_LOST."""
    context = info.context
    with context.authenticator.watch.watch(context.require_principal()) as stream:
        while True:
            if stream.revoked:
                if not stream.settle_interruption():
                    raise asyncio.CancelledError
                raise authorisation_lost()
            try:
                with stream.waiting():
                    item = await anext(source)
            except StopAsyncIteration:
                return
            except asyncio.CancelledError:
                # Ours (the account was switched off while waiting) becomes the stream's error;
                # anyone else's (the client completed, the server stops) stays a cancellation.
                if stream.interrupted and stream.settle_interruption():
                    raise authorisation_lost() from None
                raise
            yield item


async def still_authorised(info: Info, events: AsyncIterator[T]) -> AsyncGenerator[T, None]:
    context = info.context
    principal = context.require_principal()
    async with contextlib.aclosing(ends_when_revoked(info, events)) as watched:
        async for event in watched:
            if not await context.authenticator.still_valid(principal, context.clock.now()):
                raise authorisation_lost()
            yield event
