"""Accounts: registering who may use the hub, and as what, and the account lifecycle.

Lifecycle: an account is switched off (a leaver, a compromised login) and on again, and its
role changed, by an admin, or by a registered manager for the staff accounts of their own
organisation. Each change is an event. The rules that keep the hub administrable:

- nobody switches themselves off or changes their own role;
- the last active admin is never switched off nor given another role;
- a registered manager never grants `admin`, and changes only carer, coordinator and registered
  manager accounts of their own organisation (another organisation's accounts answer as
  missing);
- a switched-off account keeps its role until it is switched on (no role change while off);
- registering an existing subject again (`registerAccount`, `hub token`) never switches a
  switched-off account back on: only `switchOnAccount` does.

A switched-off account's requests are refused at once (`hub.auth.authenticate`), and its open
subscriptions end within about a second (`hub.auth.watch`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts import events, repository
from hub.accounts.errors import (
    AccountNotFound,
    AccountNotManageable,
    AccountSwitchedOff,
    LastAdmin,
    OwnAccount,
    RoleNotGrantable,
)
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
        if account.role is Role.ADMIN and role is not Role.ADMIN:
            admins = frozenset(await repository.lock_active_admins(session))
            _Managed(account, admins).keep_an_admin()
        account.role = role
        account.display_name = display_name
        account.organisation_id = organisation_id
        account.staff_id = staff_id
        account.allowed_scopes = sorted(granted)
        # Not `active = True`: re-registering a leaver must not let them back in.
    await session.flush()
    await record(
        session,
        NewEvent(
            type=events.ACCOUNT_REGISTERED if created else events.ACCOUNT_UPDATED,
            subject_type="account",
            subject_id=account.id,
            organisation_id=organisation_id,
            actor=actor,
            occurred_at=clock.now(),
            payload={
                "role": role.value,
                "subject": subject,
                "scopes": sorted(granted),
                "active": account.active,
            },
        ),
    )
    return account


# --- lifecycle --------------------------------------------------------------------------------

# What a registered manager may manage (and grant), within their own organisation.
MANAGER_MANAGED_ROLES = STAFF_ROLES


@dataclass(frozen=True, slots=True)
class AccountAdministrator:
    """Who is changing an account: their own account, role and organisation, and how the
    event log names them."""

    account_id: uuid.UUID
    role: Role
    organisation_id: uuid.UUID | None
    actor: str

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def is_manager(self) -> bool:
        return self.role is Role.REGISTERED_MANAGER and self.organisation_id is not None


def _may_see(by: AccountAdministrator, account: Account) -> bool:
    return by.is_admin or (by.is_manager and account.organisation_id == by.organisation_id)


async def list_accounts(
    session: AsyncSession,
    by: AccountAdministrator,
    *,
    organisation_id: uuid.UUID | None = None,
    role: Role | None = None,
    active: bool | None = None,
    after_id: uuid.UUID | None = None,
    limit: int,
) -> Sequence[Account]:
    """Accounts in creation order: all of them (or one organisation's) for an admin; their own
    organisation's for a registered manager (asking for another organisation's gives none)."""
    if by.is_admin:
        return await repository.list_accounts(
            session,
            organisation_id=organisation_id,
            only_organisation=organisation_id is not None,
            role=role,
            active=active,
            after_id=after_id,
            limit=limit,
        )
    if not by.is_manager or (organisation_id not in (None, by.organisation_id)):
        return []
    return await repository.list_accounts(
        session,
        organisation_id=by.organisation_id,
        only_organisation=True,
        role=role,
        active=active,
        after_id=after_id,
        limit=limit,
    )


@dataclass(frozen=True, slots=True)
class _Managed:
    account: Account
    active_admins: frozenset[uuid.UUID]

    def keep_an_admin(self) -> None:
        """Refuse a change that would leave the hub without an active admin."""
        account = self.account
        if account.role is Role.ADMIN and account.active and self.active_admins <= {account.id}:
            raise LastAdmin("this is the hub's last active admin; make another admin first")


async def _managed(
    session: AsyncSession, by: AccountAdministrator, account_id: uuid.UUID
) -> _Managed:
    """The account, locked, once the caller may change it at all. An admin's change first
    locks the active admins (always in the same order, so two admins switching each other off
    at once queue rather than deadlock, and the second sees one admin fewer)."""
    admins = frozenset(await repository.lock_active_admins(session)) if by.is_admin else frozenset()
    account = await repository.get_for_update(session, account_id)
    if account is None or not _may_see(by, account):
        raise AccountNotFound("no such account")
    if account.id == by.account_id:
        raise OwnAccount("you cannot switch off, switch on or change the role of your own account")
    if not by.is_admin and account.role not in MANAGER_MANAGED_ROLES:
        raise AccountNotManageable(
            f"a registered manager manages carer, coordinator and registered manager accounts; "
            f"ask an admin to change this {account.role.value} account"
        )
    return _Managed(account, admins)


async def switch_off(
    session: AsyncSession,
    by: AccountAdministrator,
    account_id: uuid.UUID,
    *,
    reason: str | None,
    clock: Clock,
) -> Account:
    """Switch an account off: its next request is refused and its live subscriptions end.
    Switching off an account that is already off changes nothing and records nothing."""
    managed = await _managed(session, by, account_id)
    account = managed.account
    if not account.active:
        return account
    managed.keep_an_admin()
    account.active = False
    await session.flush()
    await _record(session, by, account, events.ACCOUNT_SWITCHED_OFF, clock, reason=reason)
    return account


async def switch_on(
    session: AsyncSession,
    by: AccountAdministrator,
    account_id: uuid.UUID,
    *,
    reason: str | None,
    clock: Clock,
) -> Account:
    """Switch an account on again, with the role it had. Idempotent."""
    account = (await _managed(session, by, account_id)).account
    if account.active:
        return account
    account.active = True
    await session.flush()
    await _record(session, by, account, events.ACCOUNT_SWITCHED_ON, clock, reason=reason)
    return account


async def change_role(
    session: AsyncSession,
    by: AccountAdministrator,
    account_id: uuid.UUID,
    role: Role,
    *,
    reason: str | None,
    clock: Clock,
) -> Account:
    """Give an active account another role (its organisation, staff record and scopes must
    suit the new role). The same role again changes nothing and records nothing."""
    managed = await _managed(session, by, account_id)
    account = managed.account
    if not by.is_admin and role not in MANAGER_MANAGED_ROLES:
        raise RoleNotGrantable(
            f"a registered manager may not grant the {role.value} role; ask an admin"
        )
    if not account.active:
        raise AccountSwitchedOff("this account is switched off; switch it on first")
    if account.role is role:
        return account
    _check(role, account.organisation_id, account.staff_id, frozenset(account.allowed_scopes))
    managed.keep_an_admin()
    previous = account.role
    account.role = role
    await session.flush()
    await _record(
        session,
        by,
        account,
        events.ACCOUNT_ROLE_CHANGED,
        clock,
        reason=reason,
        extra={"from": previous.value, "to": role.value},
    )
    return account


async def _record(
    session: AsyncSession,
    by: AccountAdministrator,
    account: Account,
    event_type: str,
    clock: Clock,
    *,
    reason: str | None,
    extra: dict[str, str] | None = None,
) -> None:
    await record(
        session,
        NewEvent(
            type=event_type,
            subject_type="account",
            subject_id=account.id,
            organisation_id=account.organisation_id,
            actor=by.actor,
            occurred_at=clock.now(),
            payload={
                "subject": account.subject,
                "role": account.role.value,
                "reason": (reason or "").strip()[:500] or None,
                **(extra or {}),
            },
        ),
    )
