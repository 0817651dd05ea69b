"""Every query on `accounts`."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.models import Account


async def get_by_subject(session: AsyncSession, issuer: str, subject: str) -> Account | None:
    result = await session.scalars(
        select(Account).where(Account.issuer == issuer, Account.subject == subject)
    )
    return result.one_or_none()


def add(session: AsyncSession, account: Account) -> None:
    session.add(account)


async def get_by_id(session: AsyncSession, account_id: uuid.UUID) -> Account | None:
    return await session.get(Account, account_id)
