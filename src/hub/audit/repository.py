"""Every query on `access_log`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.models import AccessLogEntry
from hub.people.models import Person
from hub.tenancy import AccessScope, person_visible


def add(session: AsyncSession, entry: AccessLogEntry) -> None:
    session.add(entry)


async def for_person(
    session: AsyncSession, person_id: uuid.UUID, *, limit: int, before_id: int | None = None
) -> Sequence[AccessLogEntry]:
    """Newest first; `person_ids @> {id}` uses the GIN index."""
    query = (
        select(AccessLogEntry)
        .where(AccessLogEntry.person_ids.contains([person_id]))
        .order_by(AccessLogEntry.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(AccessLogEntry.id < before_id)
    return (await session.scalars(query)).all()


async def person_is_visible(
    session: AsyncSession, scope: AccessScope, person_id: uuid.UUID
) -> bool:
    found = await session.scalar(
        select(Person.id).where(Person.id == person_id, person_visible(scope))
    )
    return found is not None
