"""Accounts: registering who may use the hub, and as what."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts import repository
from hub.accounts.models import Account, Role
from hub.errors import InvalidInput
from hub.events.log import NewEvent, record
from hub.kit.time import Clock
from hub.organisations import service as organisations

CLIENT_ROLES = frozenset({Role.PARTNER_CLIENT, Role.SUPPLIER_CLIENT})
STAFF_ROLES = frozenset({Role.CARER, Role.COORDINATOR, Role.REGISTERED_MANAGER})
# The scopes a client may be granted; a token's scopes are intersected with its account's.
KNOWN_SCOPES = frozenset(
    {
        "referrals:read",
        "referrals:write",
        "changes:read",
        "changes:write",
        "visits:read",
        "visits:write",
    }
)


def _check(
    role: Role,
    organisation_id: uuid.UUID | None,
    staff_id: uuid.UUID | None,
    scopes: frozenset[str],
) -> None:
    if role is not Role.ADMIN and organisation_id is None:
        raise InvalidInput("organisation", f"a {role.value} account belongs to an organisation")
    if role is Role.CARER and staff_id is None:
        raise InvalidInput("staff", "a carer account is linked to a staff record")
    if scopes and role not in CLIENT_ROLES:
        raise InvalidInput("scopes", "only partner and supplier clients hold scopes")
    unknown = sorted(scopes - KNOWN_SCOPES)
    if unknown:
        raise InvalidInput("scopes", f"unknown scope(s): {', '.join(unknown)}")


async def register(
    session: AsyncSession,
    *,
    issuer: str,
    subject: str,
    role: Role,
    display_name: str,
    organisation_id: uuid.UUID | None,
    staff_id: uuid.UUID | None = None,
    scopes: Iterable[str] = (),
    actor: str,
    clock: Clock,
) -> Account:
    """Create the account for (issuer, subject), or bring an existing one up to date."""
    granted = frozenset(scopes)
    _check(role, organisation_id, staff_id, granted)
    if not subject.strip():
        raise InvalidInput("subject", "must not be blank", code="REQUIRED")
    if not display_name.strip():
        raise InvalidInput("displayName", "must not be blank", code="REQUIRED")
    if organisation_id is not None:
        await organisations.get(session, organisation_id)  # NotFound when there is none
    account = await repository.get_by_subject(session, issuer, subject)
    created = account is None
    if account is None:
        account = Account(
            issuer=issuer,
            subject=subject,
            role=role,
            display_name=display_name,
            organisation_id=organisation_id,
            staff_id=staff_id,
            allowed_scopes=sorted(granted),
        )
        repository.add(session, account)
    else:
        account.role = role
        account.display_name = display_name
        account.organisation_id = organisation_id
        account.staff_id = staff_id
        account.allowed_scopes = sorted(granted)
        account.active = True
    await session.flush()
    await record(
        session,
        NewEvent(
            type="account.registered" if created else "account.updated",
            subject_type="account",
            subject_id=account.id,
            organisation_id=organisation_id,
            actor=actor,
            occurred_at=clock.now(),
            payload={"role": role.value, "subject": subject, "scopes": sorted(granted)},
        ),
    )
    return account
