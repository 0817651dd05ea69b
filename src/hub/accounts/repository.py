"""Every query on `accounts`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Row, Uuid, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.models import Account, Role


async def get_by_subject(session: AsyncSession, issuer: str, subject: str) -> Account | None:
    result = await session.scalars(
        select(Account).where(Account.issuer == issuer, Account.subject == subject)
    )
    return result.one_or_none()


def add(session: AsyncSession, account: Account) -> None:
    session.add(account)


async def get_by_id(session: AsyncSession, account_id: uuid.UUID) -> Account | None:
    return await session.get(Account, account_id)


async def get_for_update(session: AsyncSession, account_id: uuid.UUID) -> Account | None:
    """The account, locked until the transaction ends (two changes to it run one after the
    other)."""
    result = await session.scalars(
        select(Account)
        .where(Account.id == account_id)
        .with_for_update()
        # The row as it is once locked, even if this session had read it before.
        .execution_options(populate_existing=True)
    )
    return result.one_or_none()


async def lock_active_admins(session: AsyncSession) -> Sequence[uuid.UUID]:
    """The active admins, locked: a change that could leave the hub without one holds these
    locks, so two admins switching each other off at once are decided one after the other
    (the second re-reads the rows and sees one admin fewer)."""
    result = await session.scalars(
        select(Account.id)
        .where(Account.role == Role.ADMIN, Account.active.is_(True))
        .order_by(Account.id)
        .with_for_update()
    )
    return result.all()


async def list_accounts(
    session: AsyncSession,
    *,
    organisation_id: uuid.UUID | None,
    only_organisation: bool,
    role: Role | None,
    active: bool | None,
    after_id: uuid.UUID | None,
    limit: int,
) -> Sequence[Account]:
    """In id order (UUIDv7: creation order). `only_organisation` restricts to one
    organisation's accounts (a registered manager's own)."""
    query = select(Account).order_by(Account.id).limit(limit)
    if only_organisation:
        query = query.where(Account.organisation_id == organisation_id)
    if role is not None:
        query = query.where(Account.role == role)
    if active is not None:
        query = query.where(Account.active.is_(active))
    if after_id is not None:
        query = query.where(Account.id > after_id)
    return (await session.scalars(query)).all()


_IDS = bindparam("ids", type_=ARRAY(Uuid()))
# One statement text whatever the number of ids (an IN list would be a new prepared statement
# for every count): the live-subscription check runs it every second.
_AUTHORISATION_STATES = select(
    Account.id, Account.active, Account.role, Account.organisation_id
).where(Account.id == any_(_IDS))


async def authorisation_states(
    session: AsyncSession, account_ids: Sequence[uuid.UUID]
) -> Sequence[Row[uuid.UUID, bool, Role, uuid.UUID | None]]:
    """What decides whether these accounts may still use the hub, in one query."""
    result = await session.execute(_AUTHORISATION_STATES, {"ids": list(account_ids)})
    return result.all()
