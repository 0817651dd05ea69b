"""Organisation writes. Every write records an event in the caller's transaction."""

from __future__ import annotations

import re
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import InvalidInput
from hub.events.log import NewEvent, record
from hub.kit.time import Clock
from hub.organisations import repository
from hub.organisations.errors import DuplicateOdsCode, OrganisationNotFound
from hub.organisations.models import Organisation, OrganisationKind

# ODS codes are upper-case letters and digits: 3 (trusts, ICBs), 5-6 (GP practices,
# independent providers) and longer site codes. Lower case is accepted and kept as given.
_ODS_CODE = re.compile(r"^[A-Z0-9]{3,10}$")


def validate_ods_code(value: str | None) -> str | None:
    if value is None:
        return None
    trimmed = value.strip()
    if not trimmed:
        return None
    if not _ODS_CODE.match(trimmed.upper()):
        raise InvalidInput(
            "odsCode",
            "must be 3 to 10 letters or digits (e.g. RR8, A81001)",
            code="INVALID_ODS_CODE",
        )
    return trimmed


def validate_name(value: str) -> str:
    name = value.strip()
    if not name:
        raise InvalidInput("name", "must not be blank", code="REQUIRED")
    if len(name) > 200:
        raise InvalidInput("name", "must be at most 200 characters", code="TOO_LONG")
    return name


async def get(session: AsyncSession, organisation_id: uuid.UUID) -> Organisation:
    organisation = await repository.get(session, organisation_id)
    if organisation is None:
        raise OrganisationNotFound(f"no organisation {organisation_id}")
    return organisation


async def create(
    session: AsyncSession,
    *,
    kind: OrganisationKind,
    name: str,
    ods_code: str | None,
    actor: str,
    clock: Clock,
    organisation_id: uuid.UUID | None = None,
) -> Organisation:
    """Create an organisation; an ODS code already held by another organisation is refused."""
    ods = validate_ods_code(ods_code)
    if ods is not None and await repository.get_by_ods_code(session, ods) is not None:
        raise DuplicateOdsCode(f"ODS code {ods} already belongs to another organisation")
    organisation = Organisation(kind=kind, name=validate_name(name), ods_code=ods)
    if organisation_id is not None:
        organisation.id = organisation_id
    repository.add(session, organisation)
    await session.flush()
    await record(
        session,
        NewEvent(
            type="organisation.created",
            subject_type="organisation",
            subject_id=organisation.id,
            organisation_id=organisation.id,
            actor=actor,
            occurred_at=clock.now(),
            payload={"kind": kind.value, "name": organisation.name, "odsCode": ods},
        ),
    )
    return organisation


async def ensure(
    session: AsyncSession,
    *,
    organisation_id: uuid.UUID,
    kind: OrganisationKind,
    name: str,
    ods_code: str | None,
    actor: str,
    clock: Clock,
) -> Organisation:
    """Create the organisation with this id unless it exists (idempotent seeding and imports)."""
    existing = await repository.get(session, organisation_id)
    if existing is not None:
        return existing
    return await create(
        session,
        kind=kind,
        name=name,
        ods_code=ods_code,
        actor=actor,
        clock=clock,
        organisation_id=organisation_id,
    )
