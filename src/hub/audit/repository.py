"""Every query on `access_log`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.models import AccessLogEntry
from hub.people.models import Person
from hub.tenancy import AccessScope, person_visible


def add(session: AsyncSession, entry: AccessLogEntry) -> None:
    session.add(entry)


async def for_person(
    session: AsyncSession,
    person_id: uuid.UUID,
    *,
    limit: int,
    before_id: int | None = None,
    nhs_number: str | None = None,
) -> Sequence[AccessLogEntry]:
    """Newest first: reads naming the person record, and (given their NHS number) reads of
    records that carried that number before they were linked to the person. Both `@>` tests
    use GIN indexes."""
    about = AccessLogEntry.person_ids.contains([person_id])
    if nhs_number:
        about = or_(about, AccessLogEntry.nhs_numbers.contains([nhs_number]))
    query = select(AccessLogEntry).where(about).order_by(AccessLogEntry.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AccessLogEntry.id < before_id)
    return (await session.scalars(query)).all()


async def visible_person_nhs_number(
    session: AsyncSession, scope: AccessScope, person_id: uuid.UUID
) -> tuple[bool, str | None]:
    """Whether the caller may see this person, and the person's NHS number if known."""
    found = (
        await session.execute(
            select(Person.id, Person.nhs_number).where(
                Person.id == person_id, person_visible(scope)
            )
        )
    ).one_or_none()
    if found is None:
        return False, None
    return True, found.nhs_number
