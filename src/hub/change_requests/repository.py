"""Every query the change requests domain runs. Reads take an `AccessScope` and apply the
tenancy predicate from `hub.tenancy`; a change request outside the caller's scope is not there.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from hub.change_requests.lifecycle import ChangeRequestKind, ChangeRequestStatus
from hub.change_requests.models import ChangeDecision, ChangeRequest
from hub.contracts.models import Contract
from hub.packages.models import CarePackage
from hub.tenancy import AccessScope, change_request_visible, contract_visible, package_visible


async def get(
    session: AsyncSession,
    scope: AccessScope,
    change_request_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> ChangeRequest | None:
    """The change request if the caller may see it; `for_update` locks it until the unit of
    work ends, so two decisions on one change are applied one after the other."""
    query = select(ChangeRequest).where(
        ChangeRequest.id == change_request_id, change_request_visible(scope)
    )
    if for_update:
        query = query.with_for_update(of=ChangeRequest)
    result = await session.scalars(query)
    return result.one_or_none()


async def get_many(
    session: AsyncSession, scope: AccessScope, ids: Sequence[uuid.UUID]
) -> Sequence[ChangeRequest]:
    result = await session.scalars(
        select(ChangeRequest).where(ChangeRequest.id.in_(ids), change_request_visible(scope))
    )
    return result.all()


async def list_page(
    session: AsyncSession,
    scope: AccessScope,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
    kind: ChangeRequestKind | None = None,
    status: ChangeRequestStatus | None = None,
    contract_id: uuid.UUID | None = None,
) -> Sequence[ChangeRequest]:
    """Visible change requests, newest first, keyset-paginated on (created_at, id)."""
    query = (
        select(ChangeRequest)
        .where(change_request_visible(scope))
        .order_by(ChangeRequest.created_at.desc(), ChangeRequest.id.desc())
        .limit(limit)
    )
    if kind is not None:
        query = query.where(ChangeRequest.kind == kind)
    if status is not None:
        query = query.where(ChangeRequest.status == status)
    if contract_id is not None:
        query = query.where(ChangeRequest.contract_id == contract_id)
    if after is not None:
        query = query.where(tuple_(ChangeRequest.created_at, ChangeRequest.id) < tuple_(*after))
    result = await session.scalars(query)
    return result.all()


async def decisions_for(
    session: AsyncSession, scope: AccessScope, change_request_ids: Sequence[uuid.UUID]
) -> Sequence[ChangeDecision]:
    """The decisions of every visible change request among `change_request_ids`, oldest first,
    in one query (the decisions DataLoader's batch)."""
    result = await session.scalars(
        select(ChangeDecision)
        .join(ChangeRequest, ChangeRequest.id == ChangeDecision.change_request_id)
        .where(ChangeDecision.change_request_id.in_(change_request_ids))
        .where(change_request_visible(scope))
        .order_by(ChangeDecision.decided_at, ChangeDecision.id)
    )
    return result.all()


async def latest_decision_to(
    session: AsyncSession, change_request_id: uuid.UUID, status: ChangeRequestStatus
) -> ChangeDecision | None:
    """The most recent move of a change request into `status` (e.g. when it was approved)."""
    result = await session.scalars(
        select(ChangeDecision)
        .where(
            ChangeDecision.change_request_id == change_request_id,
            ChangeDecision.to_status == status,
        )
        .order_by(ChangeDecision.decided_at.desc(), ChangeDecision.id.desc())
        .limit(1)
    )
    return result.one_or_none()


def add(session: AsyncSession, row: ChangeRequest | ChangeDecision) -> None:
    session.add(row)


async def visible_contract(
    session: AsyncSession, scope: AccessScope, contract_id: uuid.UUID
) -> Contract | None:
    result = await session.scalars(
        select(Contract).where(Contract.id == contract_id, contract_visible(scope))
    )
    return result.one_or_none()


async def contract_parties(
    session: AsyncSession, contract_id: uuid.UUID
) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(commissioner, provider) of a contract, for deciding who approves a change on it.

    Unscoped on purpose: it answers "who is the approver", never shows the contract, and the
    caller has already been shown the change request that names it.
    """
    row = (
        await session.execute(
            select(Contract.commissioner_id, Contract.provider_id).where(Contract.id == contract_id)
        )
    ).one_or_none()
    return (row[0], row[1]) if row else None


async def visible_packages(
    session: AsyncSession, scope: AccessScope, package_ids: Sequence[uuid.UUID]
) -> Sequence[CarePackage]:
    if not package_ids:
        return []
    result = await session.scalars(
        select(CarePackage).where(CarePackage.id.in_(package_ids), package_visible(scope))
    )
    return result.all()
