"""Every query the fhir domain runs. Submissions are read only after the referral they point at
has been found through the referrals repository's tenancy filter, so they need none of their
own; the referral lookups here apply `referral_visible` themselves."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.fhir.models import FhirSubmission
from hub.organisations.models import Organisation
from hub.referrals.models import Referral
from hub.tenancy import AccessScope, referral_visible


async def add_submission(session: AsyncSession, submission: FhirSubmission) -> bool:
    """Insert, unless this archived message already has its submission (two identical requests
    racing both get here; the first one's answer is the answer). True if inserted."""
    try:
        async with session.begin_nested():
            session.add(submission)
            await session.flush()
    except IntegrityError:
        return False
    return True


async def submission_for_payload(
    session: AsyncSession, payload_id: uuid.UUID
) -> FhirSubmission | None:
    result = await session.scalars(
        select(FhirSubmission).where(FhirSubmission.payload_id == payload_id)
    )
    return result.one_or_none()


async def first_submission(session: AsyncSession, referral_id: uuid.UUID) -> FhirSubmission | None:
    """The message that created the referral (the earliest, should a re-send exist too)."""
    result = await session.scalars(
        select(FhirSubmission)
        .where(FhirSubmission.referral_id == referral_id)
        .order_by(FhirSubmission.received_at, FhirSubmission.id)
        .limit(1)
    )
    return result.first()


async def visible_referral(
    session: AsyncSession, scope: AccessScope, referral_id: uuid.UUID
) -> Referral | None:
    result = await session.scalars(
        select(Referral).where(Referral.id == referral_id, referral_visible(scope))
    )
    return result.one_or_none()


async def visible_referrals_by_identifier(
    session: AsyncSession, scope: AccessScope, system: str | None, value: str, *, limit: int
) -> Sequence[Referral]:
    """Referrals the caller may see whose sender's identifier is `value` (in `system`, when
    given), oldest first."""
    query = (
        select(Referral)
        .where(Referral.source_identifier == value, referral_visible(scope))
        .order_by(Referral.received_at, Referral.id)
        .limit(limit)
    )
    if system is not None:
        query = query.where(Referral.source_system == system)
    result = await session.scalars(query)
    return result.all()


async def ods_codes(
    session: AsyncSession, organisation_ids: Sequence[uuid.UUID | None]
) -> dict[uuid.UUID, str]:
    """ODS codes of the organisations named (the public directory: unscoped)."""
    wanted = [value for value in organisation_ids if value is not None]
    if not wanted:
        return {}
    result = await session.execute(
        select(Organisation.id, Organisation.ods_code).where(Organisation.id.in_(wanted))
    )
    return {row.id: row.ods_code for row in result if row.ods_code}
