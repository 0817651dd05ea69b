"""Every query the referrals domain runs. Reads take an `AccessScope` and apply the tenancy
predicate from `hub.tenancy`, so a referral outside the caller's scope is simply not there.

The lookups of contracts, people and packages here are the referral service's view of rows it
points at: each applies that table's own tenancy predicate, so a referral can only be tied to
something the caller could read anyway.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from hub.contracts.models import Contract
from hub.packages.models import CarePackage
from hub.people.models import Person
from hub.referrals.models import Referral, ReferralPriority, ReferralSource, ReferralStatus
from hub.tenancy import (
    AccessScope,
    contract_visible,
    package_visible,
    person_visible,
    referral_visible,
)


async def get(
    session: AsyncSession,
    scope: AccessScope,
    referral_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> Referral | None:
    """The referral if the caller may see it. `for_update` locks the row until the unit of work
    ends, so two concurrent decisions on one referral are applied one after the other."""
    query = select(Referral).where(Referral.id == referral_id, referral_visible(scope))
    if for_update:
        query = query.with_for_update(of=Referral)
    result = await session.scalars(query)
    return result.one_or_none()


async def get_many(
    session: AsyncSession, scope: AccessScope, ids: Sequence[uuid.UUID]
) -> Sequence[Referral]:
    result = await session.scalars(
        select(Referral).where(Referral.id.in_(ids), referral_visible(scope))
    )
    return result.all()


async def get_by_source(
    session: AsyncSession,
    sender_id: uuid.UUID | None,
    source_system: str,
    source_identifier: str,
) -> Referral | None:
    """The referral this sender's identifier already names (identifiers are unique per sender:
    another sender's referral with the same identifier is never found here)."""
    same_sender = (
        Referral.sent_by_organisation_id.is_(None)
        if sender_id is None
        else Referral.sent_by_organisation_id == sender_id
    )
    result = await session.scalars(
        select(Referral).where(
            same_sender,
            Referral.source_system == source_system,
            Referral.source_identifier == source_identifier,
        )
    )
    return result.one_or_none()


async def list_page(
    session: AsyncSession,
    scope: AccessScope,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
    sources: Collection[ReferralSource] = (),
    statuses: Collection[ReferralStatus] = (),
    priorities: Collection[ReferralPriority] = (),
    contract_id: uuid.UUID | None = None,
) -> Sequence[Referral]:
    """Visible referrals, oldest received first (the longest wait at the top of a worklist),
    keyset-paginated on (received_at, id); returns up to `limit` rows."""
    query = (
        select(Referral)
        .where(referral_visible(scope))
        .order_by(Referral.received_at, Referral.id)
        .limit(limit)
    )
    if sources:
        query = query.where(Referral.source.in_(list(sources)))
    if statuses:
        query = query.where(Referral.status.in_(list(statuses)))
    if priorities:
        query = query.where(Referral.priority.in_(list(priorities)))
    if contract_id is not None:
        query = query.where(Referral.contract_id == contract_id)
    if after is not None:
        query = query.where(tuple_(Referral.received_at, Referral.id) > tuple_(*after))
    result = await session.scalars(query)
    return result.all()


def add(session: AsyncSession, referral: Referral) -> None:
    session.add(referral)


async def visible_contract(
    session: AsyncSession, scope: AccessScope, contract_id: uuid.UUID
) -> Contract | None:
    result = await session.scalars(
        select(Contract).where(Contract.id == contract_id, contract_visible(scope))
    )
    return result.one_or_none()


async def visible_person(
    session: AsyncSession, scope: AccessScope, person_id: uuid.UUID
) -> Person | None:
    result = await session.scalars(
        select(Person).where(Person.id == person_id, person_visible(scope))
    )
    return result.one_or_none()


async def visible_package(
    session: AsyncSession, scope: AccessScope, package_id: uuid.UUID
) -> CarePackage | None:
    result = await session.scalars(
        select(CarePackage).where(CarePackage.id == package_id, package_visible(scope))
    )
    return result.one_or_none()
