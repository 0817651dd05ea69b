"""Every query on `contracts`, `resolution_outcomes` and `kpi_definitions`.

Each read takes an `AccessScope` and applies `contract_visible`; the outcome and KPI lists are
read through their contract, so they are exactly as visible as it is.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from enum import StrEnum

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.contracts.models import Contract, KpiDefinition, ResolutionOutcome, ServiceType
from hub.tenancy import AccessScope, contract_visible


class ContractStatus(StrEnum):
    """Where a contract is in its term on a given (Europe/London) day. Derived from the dates,
    never stored, so it cannot go stale; defined here because filtering by it is a query."""

    UPCOMING = "upcoming"
    ACTIVE = "active"
    ENDED = "ended"


def status_on(starts_on: date, ends_on: date | None, today: date) -> ContractStatus:
    """The status `_status_is` filters by, for one contract's dates."""
    if starts_on > today:
        return ContractStatus.UPCOMING
    if ends_on is not None and ends_on < today:
        return ContractStatus.ENDED
    return ContractStatus.ACTIVE


def _status_is(status: ContractStatus, today: date) -> ColumnElement[bool]:
    if status is ContractStatus.UPCOMING:
        return Contract.starts_on > today
    if status is ContractStatus.ENDED:
        return and_(Contract.ends_on.is_not(None), Contract.ends_on < today)
    return and_(
        Contract.starts_on <= today, or_(Contract.ends_on.is_(None), Contract.ends_on >= today)
    )


def _visible(scope: AccessScope) -> Select[Contract]:
    return select(Contract).where(contract_visible(scope))


async def get(
    session: AsyncSession, scope: AccessScope, contract_id: uuid.UUID, *, for_update: bool = False
) -> Contract | None:
    query = _visible(scope).where(Contract.id == contract_id)
    if for_update:
        query = query.with_for_update(of=Contract)
    result = await session.scalars(query)
    return result.one_or_none()


async def get_many(
    session: AsyncSession, scope: AccessScope, ids: Sequence[uuid.UUID]
) -> Sequence[Contract]:
    result = await session.scalars(_visible(scope).where(Contract.id.in_(ids)))
    return result.all()


async def reference_taken(session: AsyncSession, reference: str) -> bool:
    """Whether any contract (visible or not) has this reference: references are hub-wide."""
    found = await session.scalar(select(Contract.id).where(Contract.reference == reference))
    return found is not None


async def list_page(
    session: AsyncSession,
    scope: AccessScope,
    *,
    limit: int,
    today: date,
    after: tuple[str, uuid.UUID] | None = None,
    status: ContractStatus | None = None,
    service_type: ServiceType | None = None,
) -> Sequence[Contract]:
    """Contracts by reference then id, keyset-paginated; returns up to `limit` rows."""
    query = _visible(scope).order_by(Contract.reference, Contract.id).limit(limit)
    if status is not None:
        query = query.where(_status_is(status, today))
    if service_type is not None:
        query = query.where(Contract.service_type == service_type)
    if after is not None:
        query = query.where(
            or_(
                Contract.reference > after[0],
                and_(Contract.reference == after[0], Contract.id > after[1]),
            )
        )
    result = await session.scalars(query)
    return result.all()


async def outcomes_for(
    session: AsyncSession, scope: AccessScope, contract_ids: Sequence[uuid.UUID]
) -> Sequence[ResolutionOutcome]:
    """The resolution outcomes of these (visible) contracts, by contract then code."""
    result = await session.scalars(
        select(ResolutionOutcome)
        .join(Contract, Contract.id == ResolutionOutcome.contract_id)
        .where(ResolutionOutcome.contract_id.in_(contract_ids), contract_visible(scope))
        .order_by(ResolutionOutcome.contract_id, ResolutionOutcome.code)
    )
    return result.all()


async def kpis_for(
    session: AsyncSession, scope: AccessScope, contract_ids: Sequence[uuid.UUID]
) -> Sequence[KpiDefinition]:
    """The KPI definitions of these (visible) contracts, by contract then code."""
    result = await session.scalars(
        select(KpiDefinition)
        .join(Contract, Contract.id == KpiDefinition.contract_id)
        .where(KpiDefinition.contract_id.in_(contract_ids), contract_visible(scope))
        .order_by(KpiDefinition.contract_id, KpiDefinition.code)
    )
    return result.all()


async def get_outcome(
    session: AsyncSession, contract_id: uuid.UUID, code: str
) -> ResolutionOutcome | None:
    """By code within a contract the caller has already been shown (no scope needed)."""
    result = await session.scalars(
        select(ResolutionOutcome).where(
            ResolutionOutcome.contract_id == contract_id, ResolutionOutcome.code == code
        )
    )
    return result.one_or_none()


async def get_kpi(session: AsyncSession, contract_id: uuid.UUID, code: str) -> KpiDefinition | None:
    """By code within a contract the caller has already been shown (no scope needed)."""
    result = await session.scalars(
        select(KpiDefinition).where(
            KpiDefinition.contract_id == contract_id, KpiDefinition.code == code
        )
    )
    return result.one_or_none()


def add(session: AsyncSession, row: Contract | ResolutionOutcome | KpiDefinition) -> None:
    session.add(row)
