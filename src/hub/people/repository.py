"""Every query on `people`. Each read takes an `AccessScope` and applies `person_visible`.

`people_in_visit_window` reads visits, assignments and packages (never writes them): whether a
carer may see a key-safe code depends on the carer's own visits, and those tables are the only
record of them. It is a visibility rule like the ones in `hub.tenancy`, kept here beside its one
caller.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Select, and_, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from hub.packages.models import CarePackage
from hub.people.models import NhsNumberStatus, Person, PersonLink, PersonLinkHold
from hub.tenancy import AccessScope, person_link_hold_visible, person_visible
from hub.visits.models import Visit, VisitAssignment

# Statuses whose number identifies exactly one record (the partial unique index).
CHECKED_STATUSES = (NhsNumberStatus.VERIFIED, NhsNumberStatus.UNVERIFIED)


def _visible(scope: AccessScope) -> Select[Person]:
    return select(Person).where(person_visible(scope))


async def get(session: AsyncSession, scope: AccessScope, person_id: uuid.UUID) -> Person | None:
    result = await session.scalars(_visible(scope).where(Person.id == person_id))
    return result.one_or_none()


async def get_for_update(
    session: AsyncSession, scope: AccessScope, person_id: uuid.UUID
) -> Person | None:
    """The row locked for the rest of the transaction, so two edits apply one after the other."""
    result = await session.scalars(
        _visible(scope).where(Person.id == person_id).with_for_update(of=Person)
    )
    return result.one_or_none()


async def get_many(
    session: AsyncSession, scope: AccessScope, ids: Sequence[uuid.UUID]
) -> Sequence[Person]:
    result = await session.scalars(_visible(scope).where(Person.id.in_(ids)))
    return result.all()


async def get_by_checked_nhs_number(session: AsyncSession, nhs_number: str) -> Person | None:
    """The record holding this number as a checked identifier, whoever may see it: uniqueness
    is hub-wide. Callers must not show the row to a caller outside its scope."""
    result = await session.scalars(
        select(Person).where(
            Person.nhs_number == nhs_number, Person.nhs_number_status.in_(CHECKED_STATUSES)
        )
    )
    return result.one_or_none()


async def list_page(
    session: AsyncSession,
    scope: AccessScope,
    *,
    limit: int,
    after: tuple[str, str, uuid.UUID] | None = None,
    name_terms: Sequence[str] = (),
    nhs_number: str | None = None,
) -> Sequence[Person]:
    """People by family name, given name, id; keyset-paginated; up to `limit` rows.

    Every one of `name_terms` must appear (case-insensitive) in the given, family or preferred
    name; `nhs_number` (ten digits) matches the number exactly.
    """
    query = _visible(scope).order_by(Person.family_name, Person.given_name, Person.id).limit(limit)
    for term in name_terms:
        pattern = f"%{_escape_like(term)}%"
        query = query.where(
            or_(
                Person.family_name.ilike(pattern, escape="\\"),
                Person.given_name.ilike(pattern, escape="\\"),
                Person.preferred_name.ilike(pattern, escape="\\"),
            )
        )
    if nhs_number is not None:
        query = query.where(Person.nhs_number == nhs_number)
    if after is not None:
        query = query.where(
            tuple_(Person.family_name, Person.given_name, Person.id) > tuple_(*after)
        )
    result = await session.scalars(query)
    return result.all()


async def people_in_visit_window(
    session: AsyncSession,
    *,
    staff_id: uuid.UUID,
    person_ids: Sequence[uuid.UUID],
    now: datetime,
    margin: timedelta,
) -> set[uuid.UUID]:
    """Of `person_ids`, those with a visit assigned to `staff_id`, not cancelled, whose planned
    window widened by `margin` on both sides contains `now`."""
    result = await session.scalars(
        select(CarePackage.person_id)
        .distinct()
        .join(Visit, Visit.package_id == CarePackage.id)
        .join(
            VisitAssignment,
            and_(VisitAssignment.visit_id == Visit.id, VisitAssignment.staff_id == staff_id),
        )
        .where(
            CarePackage.person_id.in_(person_ids),
            Visit.cancelled_at.is_(None),
            Visit.planned_start <= now + margin,
            Visit.planned_end >= now - margin,
        )
    )
    return set(result.all())


def add(session: AsyncSession, person: Person) -> None:
    session.add(person)


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def add_link(session: AsyncSession, link: PersonLink) -> None:
    session.add(link)


def add_hold(session: AsyncSession, hold: PersonLinkHold) -> None:
    session.add(hold)


async def list_holds(
    session: AsyncSession,
    scope: AccessScope,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> Sequence[PersonLinkHold]:
    """Held writes the caller may see (`person_link_hold_visible`), newest first."""
    query = (
        select(PersonLinkHold)
        .where(person_link_hold_visible(scope))
        .order_by(PersonLinkHold.created_at.desc(), PersonLinkHold.id.desc())
        .limit(limit)
    )
    if after is not None:
        query = query.where(tuple_(PersonLinkHold.created_at, PersonLinkHold.id) < tuple_(*after))
    result = await session.scalars(query)
    return result.all()
