"""Every query on `organisations`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from hub.organisations.models import Organisation, OrganisationKind


async def get(session: AsyncSession, organisation_id: uuid.UUID) -> Organisation | None:
    return await session.get(Organisation, organisation_id)


async def get_many(session: AsyncSession, ids: Sequence[uuid.UUID]) -> Sequence[Organisation]:
    result = await session.scalars(select(Organisation).where(Organisation.id.in_(ids)))
    return result.all()


async def get_by_ods_code(session: AsyncSession, ods_code: str) -> Organisation | None:
    result = await session.scalars(select(Organisation).where(Organisation.ods_code == ods_code))
    return result.one_or_none()


async def get_by_name(session: AsyncSession, name: str) -> Organisation | None:
    """By exact name, ignoring case (names are not unique: the first by id wins)."""
    result = await session.scalars(
        select(Organisation)
        .where(func.lower(Organisation.name) == name.strip().lower())
        .order_by(Organisation.id)
        .limit(1)
    )
    return result.first()


async def list_page(
    session: AsyncSession,
    *,
    limit: int,
    after: tuple[str, uuid.UUID] | None = None,
    kind: OrganisationKind | None = None,
) -> Sequence[Organisation]:
    """Organisations by name then id, keyset-paginated; returns up to `limit` rows."""
    query = select(Organisation).order_by(Organisation.name, Organisation.id).limit(limit)
    if kind is not None:
        query = query.where(Organisation.kind == kind)
    if after is not None:
        query = query.where(tuple_(Organisation.name, Organisation.id) > tuple_(*after))
    result = await session.scalars(query)
    return result.all()


def add(session: AsyncSession, organisation: Organisation) -> None:
    session.add(organisation)
