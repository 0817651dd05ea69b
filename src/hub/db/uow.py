"""The unit of work: the only place in the hub that commits.

    async with unit_of_work(sessions) as session:
        await visits_service.check_in(session, ...)   # business rows + events
    # committed here, or rolled back if the block raised

One transaction per mutation, per mobile command, per job. Services receive the session and
never commit; events are recorded in the same transaction as the rows they describe.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db.engine import SessionFactory


@asynccontextmanager
async def unit_of_work(sessions: SessionFactory) -> AsyncIterator[AsyncSession]:
    async with sessions() as session, session.begin():
        yield session


@asynccontextmanager
async def read_only(sessions: SessionFactory) -> AsyncIterator[AsyncSession]:
    """A session for reads. The transaction is READ ONLY so a stray write fails loudly."""
    async with sessions() as session, session.begin():
        await session.execute(text("SET TRANSACTION READ ONLY"))
        yield session
