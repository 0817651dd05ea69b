"""Every query on `staff_members` and `competencies`. Each read takes the caller's AccessScope and
applies `hub.tenancy.staff_visible`, so a foreign staff member is simply not there."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import date

from sqlalchemy import ColumnElement, case, exists, literal, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from hub.staff.competency import CompetencyStatus
from hub.staff.models import Competency, StaffMember, StaffRole
from hub.tenancy import AccessScope, staff_visible

StaffCursor = tuple[str, str, uuid.UUID]
"""Keyset position in the staff list: (family name, given name, id)."""


def effective_status_sql(today: date) -> ColumnElement[CompetencyStatus]:
    """`hub.staff.competency.effective_status` in SQL: expired once past the expiry date
    (or with no expiry recorded, which is read as lapsed rather than as a permanent pass),
    else the stored status. Filters use this so pages hold exactly the rows they should."""
    status_type = Competency.__table__.c.status.type
    return case(
        (
            or_(Competency.expires_on.is_(None), Competency.expires_on < today),
            literal(CompetencyStatus.EXPIRED, status_type),
        ),
        else_=Competency.status,
    )


async def get(
    session: AsyncSession, scope: AccessScope, staff_id: uuid.UUID, *, for_update: bool = False
) -> StaffMember | None:
    """One staff member the caller may see; `for_update` locks the row, serialising writes to
    the member and their competencies."""
    query = select(StaffMember).where(StaffMember.id == staff_id, staff_visible(scope))
    if for_update:
        query = query.with_for_update()
    result = await session.scalars(query)
    return result.one_or_none()


async def get_many(
    session: AsyncSession, scope: AccessScope, ids: Collection[uuid.UUID]
) -> Sequence[StaffMember]:
    if not ids:
        return ()
    result = await session.scalars(
        select(StaffMember).where(StaffMember.id.in_(list(ids)), staff_visible(scope))
    )
    return result.all()


async def get_by_external_id(
    session: AsyncSession, external_source: str, external_id: str
) -> StaffMember | None:
    """Unscoped on purpose: the uniqueness of a supplier id holds across all organisations."""
    result = await session.scalars(
        select(StaffMember).where(
            StaffMember.external_source == external_source,
            StaffMember.external_id == external_id,
        )
    )
    return result.one_or_none()


async def list_page(
    session: AsyncSession,
    scope: AccessScope,
    *,
    today: date,
    limit: int,
    after: StaffCursor | None = None,
    competence: str | None = None,
    competency_statuses: Collection[CompetencyStatus] = (),
    roles: Collection[StaffRole] = (),
    active: bool | None = None,
) -> Sequence[StaffMember]:
    """Staff by family name, given name, id; keyset-paginated; up to `limit` rows.

    With `competence` and/or `competency_statuses`: only staff holding a competency matching
    both (the competence code; its *effective* status on `today`). `competence` alone finds
    everyone with any record of it; statuses alone, anyone with some competence in them.
    """
    query = (
        select(StaffMember)
        .where(staff_visible(scope))
        .order_by(StaffMember.family_name, StaffMember.given_name, StaffMember.id)
        .limit(limit)
    )
    if roles:
        query = query.where(StaffMember.role.in_(list(roles)))
    if active is not None:
        query = query.where(StaffMember.active.is_(active))
    if competence is not None or competency_statuses:
        matching = select(Competency.id).where(Competency.staff_id == StaffMember.id)
        if competence is not None:
            matching = matching.where(Competency.code == competence)
        if competency_statuses:
            matching = matching.where(effective_status_sql(today).in_(list(competency_statuses)))
        query = query.where(exists(matching))
    if after is not None:
        query = query.where(
            tuple_(StaffMember.family_name, StaffMember.given_name, StaffMember.id) > tuple_(*after)
        )
    result = await session.scalars(query)
    return result.all()


async def competencies_of(
    session: AsyncSession, scope: AccessScope, staff_ids: Collection[uuid.UUID]
) -> Sequence[Competency]:
    """Every competency of the given staff the caller may see, by staff then code."""
    if not staff_ids:
        return ()
    result = await session.scalars(
        select(Competency)
        .join(StaffMember, StaffMember.id == Competency.staff_id)
        .where(Competency.staff_id.in_(list(staff_ids)), staff_visible(scope))
        .order_by(Competency.staff_id, Competency.code)
    )
    return result.all()


async def get_competency(
    session: AsyncSession, staff_id: uuid.UUID, code: str
) -> Competency | None:
    """Unscoped: call only with a staff id already loaded through the caller's scope."""
    result = await session.scalars(
        select(Competency).where(Competency.staff_id == staff_id, Competency.code == code)
    )
    return result.one_or_none()


def add(session: AsyncSession, row: StaffMember | Competency) -> None:
    session.add(row)
